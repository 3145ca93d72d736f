//! Crafted malicious layers: whatever they hold, --apply changes nothing
//! outside its directory. Each case is a tar written byte by byte (so it
//! can hold what well-behaved writers refuse) and applied in a sandbox
//! whose contents outside DIR are compared before and after.

mod common;

use common::*;
use slipway_tests::{manifest_diff, tree_manifest};
use std::ffi::OsStr;
use std::fs;
use std::path::Path;

enum E<'a> {
    File(&'a str, &'a str),
    Dir(&'a str),
    Symlink(&'a str, String),
    Hardlink(&'a str, String),
}

fn raw_tar(entries: &[E]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut h = tar::Header::new_old();
        let (name, typ, link, data): (&str, tar::EntryType, &str, &str) = match e {
            E::File(n, d) => (n, tar::EntryType::Regular, "", d),
            E::Dir(n) => (n, tar::EntryType::Directory, "", ""),
            E::Symlink(n, t) => (n, tar::EntryType::Symlink, t, ""),
            E::Hardlink(n, t) => (n, tar::EntryType::Link, t, ""),
        };
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(typ);
        h.set_mode(if typ == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_size(data.len() as u64);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        if !data.is_empty() {
            let mut d = data.as_bytes().to_vec();
            d.resize(data.len().div_ceil(512) * 512, 0);
            out.extend_from_slice(&d);
        }
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// The sandbox minus DIR.
fn outside(sandbox: &Path) -> std::collections::BTreeMap<Vec<u8>, String> {
    let mut m = tree_manifest(sandbox);
    m.retain(|k, _| !k.starts_with(b"root"));
    m
}

#[test]
fn malicious_layers_never_touch_anything_outside_the_directory() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path();
    let sp = s.display().to_string();
    let cases: Vec<(&str, Vec<E>)> = vec![
        ("dot-dot path", vec![E::File("../outside.txt", "pwned")]),
        (
            "deep dot-dot",
            vec![E::Dir("a"), E::File("a/../../outside.txt", "pwned")],
        ),
        ("absolute path", vec![E::File("/outside.txt", "pwned")]),
        (
            "absolute symlink, file through it",
            vec![
                E::Symlink("esc", sp.clone()),
                E::File("esc/outside.txt", "pwned"),
            ],
        ),
        (
            "relative symlink up, file through it",
            vec![
                E::Symlink("up", "../../..".into()),
                E::File("up/outside.txt", "pwned"),
            ],
        ),
        (
            "symlink to a dir outside, dir then file",
            vec![
                E::Symlink("d", format!("{sp}/outside-dir")),
                E::File("d/new", "pwned"),
            ],
        ),
        (
            "proc magic link",
            vec![
                E::Symlink("p", "/proc/self/root".into()),
                E::File(
                    &*Box::leak(format!("p{sp}/outside.txt").into_boxed_str()),
                    "pwned",
                ),
            ],
        ),
        (
            "proc fd magic link",
            vec![
                E::Symlink("fd", "/proc/self/cwd".into()),
                E::File("fd/outside.txt", "pwned"),
            ],
        ),
        (
            "hard link with dot-dot",
            vec![E::Hardlink("hl", "../outside.txt".into())],
        ),
        (
            "hard link to an absolute outside file",
            vec![E::Hardlink("hl", format!("{sp}/outside.txt"))],
        ),
        (
            "hard link through a symlink",
            vec![
                E::Symlink("s", sp.clone()),
                E::Hardlink("hl", "s/outside.txt".into()),
                E::File("hl", "pwned"),
            ],
        ),
        ("whiteout climbing out", vec![E::File(".wh...", "")]),
        (
            "whiteout of dot-dot dir",
            vec![E::File("x/../.wh.outside.txt", "")],
        ),
        (
            "whiteout through a symlink",
            vec![
                E::Symlink("w", sp.clone()),
                E::File("w/.wh.outside.txt", ""),
            ],
        ),
        (
            "opaque through a symlink",
            vec![
                E::Symlink("o", format!("{sp}/outside-dir")),
                E::File("o/.wh..wh..opq", ""),
            ],
        ),
        (
            "overwrite a symlink to outside",
            vec![
                E::Symlink("victim", format!("{sp}/outside.txt")),
                E::File("victim", "pwned"),
            ],
        ),
        (
            "replace a symlinked dir",
            vec![
                E::Symlink("dd", format!("{sp}/outside-dir")),
                E::Dir("dd"),
                E::File("dd/inner", "pwned"),
            ],
        ),
        (
            "hard link to a symlink, then write",
            vec![
                E::Symlink("l", format!("{sp}/outside.txt")),
                E::Hardlink("h", "l".into()),
                E::File("h", "pwned"),
            ],
        ),
    ];
    let mut refused = Vec::new();
    for (what, entries) in &cases {
        fs::write(s.join("outside.txt"), b"precious").unwrap();
        fs::create_dir_all(s.join("outside-dir")).unwrap();
        fs::write(s.join("outside-dir/file"), b"precious too").unwrap();
        let root = s.join("root");
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        fs::write(root.join("inside.txt"), b"inside").unwrap();
        let before = outside(s);
        let out = layer_diff(
            &[OsStr::new("--apply"), root.as_os_str()],
            Some(&raw_tar(entries)),
        );
        let after = outside(s);
        assert!(
            before == after,
            "{what}: changed outside DIR:\n{}",
            manifest_diff(&before, &after)
        );
        assert_eq!(
            fs::read(s.join("outside.txt")).unwrap(),
            b"precious",
            "{what}"
        );
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr).to_string();
            assert_eq!(out.status.code(), Some(1), "{what}: {err}");
            assert_eq!(err.lines().count(), 1, "{what}: {err}");
            assert!(err.starts_with("layer-diff: error: "), "{what}: {err}");
            refused.push(*what);
        }
    }
    // The ones that cannot be confined are refused outright.
    // The others are confined: applied, inside.
    for fine in [
        "absolute path",
        "absolute symlink, file through it",
        "relative symlink up, file through it",
        "overwrite a symlink to outside",
        "replace a symlinked dir",
        "whiteout through a symlink",
        "opaque through a symlink",
        "hard link to a symlink, then write",
    ] {
        assert!(!refused.contains(&fine), "{fine} was refused, not confined");
    }
    for must in [
        "dot-dot path",
        "deep dot-dot",
        "hard link with dot-dot",
        "whiteout climbing out",
        "whiteout of dot-dot dir",
    ] {
        assert!(
            refused.contains(&must),
            "{must} was not refused (refused: {refused:?})"
        );
    }
}

#[test]
fn confined_paths_land_inside() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    let sp = t.path().display().to_string();
    let layer = raw_tar(&[
        E::File("/abs.txt", "a"),
        E::Symlink("esc", sp.clone()),
        E::File("esc/through.txt", "b"),
        E::Symlink("up", "../../..".into()),
        E::File("up/top.txt", "c"),
    ]);
    ok(layer_diff(
        &[OsStr::new("--apply"), root.as_os_str()],
        Some(&layer),
    ));
    assert_eq!(fs::read(root.join("abs.txt")).unwrap(), b"a");
    assert_eq!(
        fs::read(root.join(sp.trim_start_matches('/')).join("through.txt")).unwrap(),
        b"b"
    );
    assert_eq!(fs::read(root.join("top.txt")).unwrap(), b"c");
    assert!(!t.path().join("through.txt").exists() && !t.path().join("top.txt").exists());
}

#[test]
fn truncated_or_corrupt_layers_stop_with_one_error_line() {
    let t = tempfile::tempdir().unwrap();
    let good = raw_tar(&[E::File("f", &"x".repeat(2000))]);
    let mut corrupt = good.clone();
    corrupt[0] ^= 0x55; // breaks the header checksum
    for (what, bytes) in [
        ("truncated", &good[..1000]),
        ("corrupt", &corrupt[..]),
        ("text", &b"hello, not a tar\n".repeat(64)[..]),
    ] {
        let out = layer_diff(
            &[OsStr::new("--apply"), t.path().join(what).as_os_str()],
            Some(bytes),
        );
        assert_eq!(out.status.code(), Some(1), "{what}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("layer-diff: error: ") && err.lines().count() == 1,
            "{what}: {err}"
        );
    }
}

#[test]
fn bad_usage_and_missing_trees_are_errors() {
    let t = tempfile::tempdir().unwrap();
    let out = layer_diff(&[], None);
    assert_eq!(out.status.code(), Some(2));
    // --compare only means something for two trees.
    let out = layer_diff(
        &[
            OsStr::new("--upper"),
            t.path().as_os_str(),
            OsStr::new("--compare"),
            OsStr::new("content"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("layer-diff: error: ") && err.lines().count() == 1 && err.contains("OLD"),
        "{err}"
    );
    let out = layer_diff(
        &[t.path().join("nope").as_os_str(), t.path().as_os_str()],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("layer-diff: error: "));
}

#[test]
fn unprivileged_apply_skips_devices_and_owners_with_a_warning() {
    assert!(is_root(), "needs root to drop to nobody");
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("owned"), b"x").unwrap();
    lchown(&src.join("owned"), 1234, 1234);
    mknod(&src.join("null"), libc::S_IFCHR, 1, 3);
    let layer = ok(layer_diff(&[OsStr::new("--dir"), src.as_os_str()], None));
    let dest = t.path().join("dest");
    fs::create_dir_all(&dest).unwrap();
    lchown(&dest, 65534, 65534);
    // SAFETY: valid path.
    unsafe { libc::chmod(c(t.path()).as_ptr(), 0o755) };
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(slipway_tests::bin("layer-diff"))
        .arg("--apply")
        .arg(&dest);
    let out = slipway_tests::run_with_input(cmd, &layer);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning: not privileged: file ownership is not restored"),
        "{err}"
    );
    assert!(
        err.contains("warning: not privileged: device nodes are skipped"),
        "{err}"
    );
    assert_eq!(fs::read(dest.join("owned")).unwrap(), b"x");
    assert!(!dest.join("null").exists());
}
