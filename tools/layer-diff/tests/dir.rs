//! --dir: a whole tree as a layer, as COPY and ADD need it.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;

/// path -> (type char, mode, uid, gid)
fn entries(layer: &[u8]) -> BTreeMap<String, (char, u32, u64, u64)> {
    let mut ar = tar::Archive::new(layer);
    ar.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            let t = match h.entry_type() {
                tar::EntryType::Directory => 'd',
                tar::EntryType::Symlink => 'l',
                tar::EntryType::Link => 'h',
                _ => 'f',
            };
            (
                String::from_utf8_lossy(&e.path_bytes()).into_owned(),
                (t, h.mode().unwrap(), h.uid().unwrap(), h.gid().unwrap()),
            )
        })
        .collect()
}

fn src() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let s = t.path();
    fs::create_dir_all(s.join("lib/sub")).unwrap();
    fs::create_dir_all(s.join("tests/fixtures")).unwrap();
    fs::write(s.join("main.py"), b"print()\n").unwrap();
    fs::write(s.join("lib/sub/mod.py"), b"x\n").unwrap();
    fs::write(s.join("tests/test_a.py"), b"t\n").unwrap();
    fs::write(s.join("tests/fixtures/keep.json"), b"{}\n").unwrap();
    fs::write(s.join("notes.md"), b"#\n").unwrap();
    fs::set_permissions(s.join("main.py"), fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink("main.py", s.join("entry")).unwrap();
    fs::hard_link(s.join("notes.md"), s.join("notes-link.md")).unwrap();
    t
}

#[test]
fn a_tree_goes_under_its_destination_with_parents_written() {
    let s = src();
    let layer = ok(layer_diff(
        &[
            OsStr::new("--dir"),
            s.path().as_os_str(),
            OsStr::new("--to"),
            OsStr::new("/srv/app/"),
        ],
        None,
    ));
    let e = entries(&layer);
    assert_eq!(
        e["srv/"],
        ('d', 0o755, 0, 0),
        "parents are plain root directories"
    );
    assert_eq!(e["srv/app/"].0, 'd');
    assert_eq!(e["srv/app/main.py"].1, 0o700);
    assert_eq!(e["srv/app/entry"].0, 'l');
    assert!(e.contains_key("srv/app/lib/sub/mod.py"));
    // Hard links inside the tree stay links.
    let links = ["srv/app/notes-link.md", "srv/app/notes.md"]
        .iter()
        .filter(|p| e[**p].0 == 'h')
        .count();
    assert_eq!(links, 1);
}

#[test]
fn chown_and_chmod_apply_to_every_entry_but_symlink_modes() {
    let s = src();
    let layer = ok(layer_diff(
        &[
            OsStr::new("--dir"),
            s.path().as_os_str(),
            OsStr::new("--chown"),
            OsStr::new("1000:2000"),
            OsStr::new("--chmod"),
            OsStr::new("640"),
        ],
        None,
    ));
    for (path, (t, mode, uid, gid)) in entries(&layer) {
        assert_eq!((uid, gid), (1000, 2000), "{path}");
        if t != 'l' {
            assert_eq!(mode, 0o640, "{path}");
        }
    }
    let out = layer_diff(
        &[
            OsStr::new("--dir"),
            s.path().as_os_str(),
            OsStr::new("--chown"),
            OsStr::new("app"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("numeric"));
}

#[test]
fn excludes_follow_dockerignore_rules_with_exceptions() {
    let s = src();
    let layer = ok(layer_diff(
        &[
            OsStr::new("--dir"),
            s.path().as_os_str(),
            OsStr::new("--exclude"),
            OsStr::new("tests"),
            OsStr::new("--exclude"),
            OsStr::new("!tests/fixtures"),
            OsStr::new("--exclude"),
            OsStr::new("*.md"),
        ],
        None,
    ));
    let e = entries(&layer);
    let names: Vec<&String> = e.keys().collect();
    assert!(e.contains_key("tests/fixtures/keep.json"), "{names:?}");
    assert!(
        e.contains_key("tests/"),
        "the parent of an exception is written: {names:?}"
    );
    assert!(!e.contains_key("tests/test_a.py"), "{names:?}");
    assert!(!e.keys().any(|k| k.ends_with(".md")), "{names:?}");
    assert!(e.contains_key("lib/sub/mod.py"));
}

#[test]
fn a_single_file_lands_at_its_destination() {
    let s = src();
    let layer = ok(layer_diff(
        &[
            OsStr::new("--dir"),
            s.path().join("main.py").as_os_str(),
            OsStr::new("--to"),
            OsStr::new("/usr/local/bin/app"),
        ],
        None,
    ));
    let e = entries(&layer);
    assert_eq!(
        e.keys().collect::<Vec<_>>(),
        ["usr/", "usr/local/", "usr/local/bin/", "usr/local/bin/app"]
    );
}

#[test]
fn parents_in_keeps_what_the_root_has_and_owns_what_it_makes() {
    let s = src();
    let root = tempfile::tempdir().unwrap();
    fs::create_dir_all(root.path().join("tmp")).unwrap();
    fs::set_permissions(root.path().join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::create_dir_all(root.path().join("srv/real")).unwrap();
    std::os::unix::fs::symlink("real", root.path().join("srv/link")).unwrap();
    let layer = |to: &str| {
        ok(layer_diff(
            &[
                OsStr::new("--dir"),
                s.path().as_os_str(),
                OsStr::new("--to"),
                OsStr::new(to),
                OsStr::new("--chown"),
                OsStr::new("7:8"),
                OsStr::new("--parents-in"),
                root.path().as_os_str(),
            ],
            None,
        ))
    };
    let e = entries(&layer("/tmp/made/app"));
    // The root's /tmp goes in as it is (sticky, root's); what is made is
    // the --chown owner's.
    assert_eq!(e["tmp/"], ('d', 0o1777, 0, 0));
    assert_eq!(e["tmp/made/"], ('d', 0o755, 7, 8));
    assert_eq!(e["tmp/made/app/main.py"].2, 7);
    // A destination directory the root has keeps its metadata; a symlink
    // on the way is left alone, to be followed.
    let e = entries(&layer("/tmp"));
    assert_eq!(e["tmp/"], ('d', 0o1777, 0, 0));
    // A symlink on the way is followed inside the root: a usr-merged
    // /lib -> usr/lib keeps being a link, the files land in usr/lib.
    let e = entries(&layer("/srv/link/app"));
    assert!(!e.contains_key("srv/link/"), "{e:?}");
    assert_eq!(e["srv/real/app/main.py"].0, 'f', "{e:?}");
    fs::create_dir_all(root.path().join("usr/lib")).unwrap();
    std::os::unix::fs::symlink("usr/lib", root.path().join("lib")).unwrap();
    let e = entries(&layer("/lib/x86_64/"));
    assert!(!e.keys().any(|k| k.starts_with("lib")), "{e:?}");
    assert_eq!(e["usr/lib/x86_64/main.py"].2, 7, "{e:?}");
    assert_eq!(e["usr/lib/"], ('d', 0o755, 0, 0));
}

#[test]
fn skip_existing_writes_nothing_for_a_directory_there_and_keeps_parents_owners() {
    let empty = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    fs::create_dir_all(root.path().join("etc")).unwrap();
    fs::create_dir_all(root.path().join("srv")).unwrap();
    fs::set_permissions(root.path().join("srv"), fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::chown(root.path().join("srv"), Some(5), Some(6)).unwrap();
    fs::write(
        root.path().join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
    )
    .unwrap();
    let layer = |to: &str| {
        ok(layer_diff(
            &[
                OsStr::new("--dir"),
                empty.path().as_os_str(),
                OsStr::new("--to"),
                OsStr::new(to),
                OsStr::new("--chown"),
                OsStr::new("app"),
                OsStr::new("--chmod"),
                OsStr::new("755"),
                OsStr::new("--parents-in"),
                root.path().as_os_str(),
                OsStr::new("--skip-existing"),
            ],
            None,
        ))
    };
    let e = entries(&layer("/srv/app/data"));
    assert_eq!(
        e.into_iter().collect::<Vec<_>>(),
        [
            // The parent the root has goes in as it is there, as an
            // overlay's copy-up: stacked alone, the layer keeps its owner.
            ("srv/".to_string(), ('d', 0o750, 5, 6)),
            ("srv/app/".to_string(), ('d', 0o755, 1000, 1000)),
            ("srv/app/data/".to_string(), ('d', 0o755, 1000, 1000)),
        ]
    );
    assert!(entries(&layer("/srv")).is_empty(), "it is all there");
    // Names need a root to be looked up in.
    let o = layer_diff(
        &[
            OsStr::new("--dir"),
            empty.path().as_os_str(),
            OsStr::new("--chown"),
            OsStr::new("app"),
        ],
        None,
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("names need --parents-in"));
}

#[test]
fn a_file_whose_destination_is_a_directory_there_goes_inside_it() {
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("file1.txt"), "one\n").unwrap();
    let root = tempfile::tempdir().unwrap();
    fs::create_dir_all(root.path().join("subdir")).unwrap();
    let layer = |to: &str| {
        entries(&ok(layer_diff(
            &[
                OsStr::new("--dir"),
                src.path().join("file1.txt").as_os_str(),
                OsStr::new("--to"),
                OsStr::new(to),
                OsStr::new("--parents-in"),
                root.path().as_os_str(),
            ],
            None,
        )))
    };
    // WORKDIR /subdir, then COPY file1.txt /subdir: BuildKit puts it in.
    let e = layer("/subdir");
    assert_eq!(e["subdir/"].0, 'd', "{e:?}");
    assert_eq!(e["subdir/file1.txt"].0, 'f', "{e:?}");
    // Where nothing is, the destination is the file's new name.
    let e = layer("/renamed");
    assert_eq!(e["renamed"].0, 'f', "{e:?}");
}
