//! apply(diff(A, B)) onto a copy of A gives B exactly, for a tree that holds
//! every kind of entry; and the layers agree with umoci's.

mod common;

use common::*;
use slipway_tests::{manifest_diff, tree_manifest};
use std::ffi::OsStr;
use std::fs;
use std::process::Command;

fn cp_a(from: &std::path::Path, to: &std::path::Path) {
    let out = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn apply_of_diff_onto_a_copy_of_a_gives_b_exactly() {
    assert!(
        is_root(),
        "these tests need root (devices, owners, security xattrs)"
    );
    let t = tempfile::tempdir().unwrap();
    let (a, b, c) = (t.path().join("a"), t.path().join("b"), t.path().join("c"));
    tree_a(&a);
    tree_b(&a, &b);
    let _sock = add_socket(&b.join("new"));
    let out = layer_diff(&[a.as_os_str(), b.as_os_str()], None);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let layer = ok(out);
    assert!(stderr.contains("/new/sock: socket skipped"), "{stderr}");
    cp_a(&a, &c);
    ok(layer_diff(
        &[OsStr::new("--apply"), c.as_os_str()],
        Some(&layer),
    ));
    // The socket stays in B (removing it would change the directory's mtime).
    let (mut want, got) = (tree_manifest(&b), tree_manifest(&c));
    assert!(want.remove(&b"new/sock"[..]).is_some());
    assert!(want == got, "trees differ:\n{}", manifest_diff(&want, &got));
}

#[test]
fn the_same_trees_always_give_the_same_bytes() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    tree_a(&a);
    tree_b(&a, &b);
    let one = ok(layer_diff(&[a.as_os_str(), b.as_os_str()], None));
    let two = ok(layer_diff(&[a.as_os_str(), b.as_os_str()], None));
    assert_eq!(one, two);
    // A removed directory is one whiteout; entries are sorted.
    let mut ar = tar::Archive::new(&one[..]);
    let names: Vec<Vec<u8>> = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path_bytes().into_owned())
        .collect();
    assert!(names.contains(&b".wh.gone".to_vec()));
    assert!(!names.iter().any(|n| n.starts_with(b"gone/")));
    let pos = |n: &[u8]| names.iter().position(|x| x == n).unwrap();
    assert!(pos(b"new/") < pos(b"new/fifo"));
}

#[test]
fn changes_report_what_docker_diff_reports() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    tree_a(&a);
    tree_b(&a, &b);
    let out = ok(layer_diff(
        &[OsStr::new("--changes"), a.as_os_str(), b.as_os_str()],
        None,
    ));
    let lines: Vec<serde_json::Value> = out
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let has = |p: &str, k: &str| lines.iter().any(|l| l["path"] == p && l["kind"] == k);
    assert!(has("/etc/config", "modified"));
    assert!(has("/gone", "deleted"));
    assert!(has("/new", "added"));
    assert!(has("/new/fifo", "added"));
    assert!(has("/mode_changes", "modified"));
    assert!(has("/recreated/old_child", "deleted"));
    assert!(!lines.iter().any(|l| l["path"] == "/etc/unchanged"));
}

#[test]
fn content_comparison_adds_the_bytes_to_the_metadata_comparison() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    fs::create_dir_all(&a).unwrap();
    fs::write(a.join("touched"), b"same").unwrap();
    fs::write(a.join("edited"), b"aaaa").unwrap();
    let null = std::ffi::CString::new(a.join("null").as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid C string; tests run as root.
    let rc = unsafe { libc::mknod(null.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
    assert_eq!(rc, 0, "mknod: {}", std::io::Error::last_os_error());
    cp_a(&a, &b);
    set_mtime(&b.join("touched"), 1_000_000_000, 0);
    set_mtime(&b.join("null"), 1_000_000_000, 0);
    fs::write(b.join("edited"), b"bbbb").unwrap();
    set_mtime(&b.join("edited"), 1_000_000_000, 0);
    set_mtime(&a.join("edited"), 1_000_000_000, 0);
    let args = |mode: &'static str| {
        vec![
            OsStr::new("--changes"),
            OsStr::new("--compare"),
            OsStr::new(mode),
            a.as_os_str(),
            b.as_os_str(),
        ]
    };
    let by_meta = String::from_utf8(ok(layer_diff(&args("metadata"), None))).unwrap();
    let by_content = String::from_utf8(ok(layer_diff(&args("content"), None))).unwrap();
    assert!(
        by_meta.contains("/touched") && !by_meta.contains("/edited"),
        "{by_meta}"
    );
    // Only an mtime changed, for a file and a device node: applying the
    // layer must give NEW's tree, so content mode keeps them too.
    for changed in ["/touched", "/edited", "/null"] {
        assert!(by_content.contains(changed), "{changed}: {by_content}");
    }
}

#[test]
fn mtime_clamp_makes_layers_reproducible() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    fs::create_dir_all(&a).unwrap();
    fs::create_dir_all(b.join("x")).unwrap();
    fs::write(b.join("x/f"), b"f").unwrap();
    let one = ok(layer_diff(
        &[
            OsStr::new("--mtime"),
            OsStr::new("1000"),
            a.as_os_str(),
            b.as_os_str(),
        ],
        None,
    ));
    set_mtime(&b.join("x/f"), 2_000_000_000, 7);
    let two = ok(layer_diff(
        &[
            OsStr::new("--mtime"),
            OsStr::new("1000"),
            a.as_os_str(),
            b.as_os_str(),
        ],
        None,
    ));
    assert_eq!(one, two);
    let mut ar = tar::Archive::new(&one[..]);
    for e in ar.entries().unwrap() {
        assert!(e.unwrap().header().mtime().unwrap() <= 1000);
    }
}

#[test]
fn a_sparse_file_over_8_gib_round_trips_through_pax_size() {
    let t = tempfile::tempdir().unwrap();
    let (a, b, c) = (t.path().join("a"), t.path().join("b"), t.path().join("c"));
    fs::create_dir_all(&a).unwrap();
    fs::create_dir_all(&b).unwrap();
    let big = b.join("big.img");
    let f = fs::File::create(&big).unwrap();
    let size: u64 = (8 << 30) + 12345; // past the 8 GiB - 1 of a ustar size field
    f.set_len(size).unwrap();
    use std::io::{Seek, SeekFrom, Write};
    let mut f = f;
    f.seek(SeekFrom::Start(size - 5)).unwrap();
    f.write_all(b"tail!").unwrap();
    f.seek(SeekFrom::Start(1 << 20)).unwrap();
    f.write_all(b"head").unwrap();
    drop(f);
    // Stream the layer straight into --apply: 9 GiB never sits in memory.
    fs::create_dir_all(&c).unwrap();
    let mut diff = Command::new(slipway_tests::bin("layer-diff"))
        .arg(&a)
        .arg(&b)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = Command::new(slipway_tests::bin("layer-diff"))
        .arg("--apply")
        .arg(&c)
        .stdin(diff.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(diff.wait().unwrap().success());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = c.join("big.img");
    assert_eq!(fs::metadata(&got).unwrap().len(), size);
    let mut g = fs::File::open(&got).unwrap();
    let mut buf = [0u8; 5];
    use std::io::Read;
    g.seek(SeekFrom::Start(size - 5)).unwrap();
    g.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"tail!");
    g.seek(SeekFrom::Start(1 << 20)).unwrap();
    g.read_exact(&mut buf[..4]).unwrap();
    assert_eq!(&buf[..4], b"head");
    // Written sparse: far less disk than its size.
    use std::os::unix::fs::MetadataExt;
    assert!(fs::metadata(&got).unwrap().blocks() * 512 < 64 << 20);
}

#[test]
fn apply_reads_gzip_and_zstd_layers() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    fs::create_dir_all(&a).unwrap();
    fs::create_dir_all(b.join("d")).unwrap();
    fs::write(b.join("d/f"), b"compressed layers too").unwrap();
    let layer = ok(layer_diff(&[a.as_os_str(), b.as_os_str()], None));
    for (name, prog) in [("gz", "gzip"), ("zst", "zstd")] {
        let comp = Command::new("sh")
            .arg("-c")
            .arg(format!("{prog} -c"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn();
        let Ok(mut child) = comp else { continue };
        let mut stdin = child.stdin.take().unwrap();
        let data = layer.clone();
        let w = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &data));
        let out = child.wait_with_output().unwrap();
        w.join().unwrap().unwrap();
        if !out.status.success() {
            assert_eq!(prog, "zstd", "gzip is always there");
            continue;
        }
        let dest = t.path().join(name);
        ok(layer_diff(
            &[OsStr::new("--apply"), dest.as_os_str()],
            Some(&out.stdout),
        ));
        assert_eq!(
            fs::read(dest.join("d/f")).unwrap(),
            b"compressed layers too"
        );
    }
}

/// Runs layer-diff on one core, where OLD is read by the walk itself
/// rather than by a second thread.
fn layer_diff_one_core(args: &[&OsStr]) -> Vec<u8> {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(slipway_tests::bin("layer-diff"));
    cmd.args(args).env_remove("SOURCE_DATE_EPOCH");
    // SAFETY: only sched_setaffinity runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(0, &mut set);
            if libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    ok(cmd.output().unwrap())
}

#[test]
fn a_wide_tree_diffs_to_the_same_bytes_on_one_core_and_applies_back() {
    let t = tempfile::tempdir().unwrap();
    let (a, b, c) = (t.path().join("a"), t.path().join("b"), t.path().join("c"));
    // More directories than OLD's reader reads ahead of the walk.
    for d in 0..300 {
        for f in 0..3 {
            let p = a.join(format!("d{d:03}/s/f{f}"));
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, format!("{d}/{f}")).unwrap();
        }
    }
    cp_a(&a, &b);
    fs::remove_dir_all(b.join("d010")).unwrap();
    fs::remove_dir_all(b.join("d020")).unwrap();
    fs::write(b.join("d020"), b"a file now").unwrap();
    fs::remove_dir_all(b.join("d299/s")).unwrap();
    fs::write(b.join("d200/s/f1"), b"edited").unwrap();
    fs::create_dir_all(b.join("d150/s/new/deeper")).unwrap();
    fs::write(b.join("d150/s/new/deeper/x"), b"x").unwrap();
    fs::remove_file(b.join("d000/s/f0")).unwrap();
    let args = [a.as_os_str(), b.as_os_str()];
    let two = ok(layer_diff(&args, None));
    assert_eq!(layer_diff_one_core(&args), two);
    let changes = [OsStr::new("--changes"), a.as_os_str(), b.as_os_str()];
    assert_eq!(
        layer_diff_one_core(&changes),
        ok(layer_diff(&changes, None))
    );
    cp_a(&a, &c);
    ok(layer_diff(
        &[OsStr::new("--apply"), c.as_os_str()],
        Some(&two),
    ));
    let (want, got) = (tree_manifest(&b), tree_manifest(&c));
    assert!(want == got, "trees differ:\n{}", manifest_diff(&want, &got));
}

#[test]
fn a_hard_linked_copy_and_the_tree_itself_diff_to_an_empty_layer() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    fs::create_dir_all(a.join("d/e")).unwrap();
    fs::write(a.join("d/e/f"), b"shared").unwrap();
    fs::write(a.join("g"), b"shared too").unwrap();
    let out = Command::new("cp")
        .arg("-al")
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    assert!(out.status.success());
    let empty = vec![0u8; 1024];
    assert_eq!(ok(layer_diff(&[a.as_os_str(), b.as_os_str()], None)), empty);
    assert_eq!(ok(layer_diff(&[a.as_os_str(), a.as_os_str()], None)), empty);
}

#[test]
fn archive_mode_unpacks_compressed_tars_and_keeps_wh_names_as_files() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(src.join("d")).unwrap();
    fs::write(src.join("d/.wh.kept"), "literal\n").unwrap();
    fs::write(src.join("f"), "f\n").unwrap();
    for (flag, name) in [
        ("-z", "a.tgz"),
        ("-j", "a.tbz2"),
        ("-J", "a.txz"),
        ("--zstd", "a.tzst"),
        ("", "a.tar"),
    ] {
        let archive = t.path().join(name);
        let mut tar = Command::new("tar");
        tar.arg("-C").arg(&src).arg("-c").arg("-f").arg(&archive);
        if !flag.is_empty() {
            tar.arg(flag);
        }
        assert!(tar.arg(".").status().unwrap().success(), "tar {flag}");
        let out_dir = t.path().join(format!("out-{name}"));
        let out = Command::new(slipway_tests::bin("layer-diff"))
            .arg("--apply")
            .arg(&out_dir)
            .arg("--archive")
            .stdin(fs::File::open(&archive).unwrap())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            fs::read_to_string(out_dir.join("d/.wh.kept")).unwrap(),
            "literal\n",
            "{name}"
        );
        assert_eq!(
            fs::read_to_string(out_dir.join("f")).unwrap(),
            "f\n",
            "{name}"
        );
    }
}
