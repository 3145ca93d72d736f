//! Bad input and faults: one clear error line, exit 1, and the store as it
//! was; a kill -9 mid-write leaves a store that reads; concurrent writers
//! never lose a tag, and gc running beside them never breaks an image.

use slipway_tests::*;
use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Everything a test can observe of a store: index.json's bytes, the blob
/// names, and leftover temp files.
fn snapshot(store: &Path) -> (Vec<u8>, BTreeSet<String>, usize) {
    let blobs = fs::read_dir(store.join("blobs/sha256"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    let tmp = fs::read_dir(store.join(".slipway/tmp"))
        .map(|rd| rd.count())
        .unwrap_or(0);
    (
        fs::read(store.join("index.json")).unwrap_or_default(),
        blobs,
        tmp,
    )
}

fn env_with_base() -> Env {
    let env = Env::new();
    let base = busybox_layer(env.dir.path());
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "--tag", "base"]).arg(&base);
    ok(c);
    env
}

fn assemble_fails(env: &Env, args: &[&str]) -> String {
    let before = snapshot(&env.store());
    let mut c = env.cmd("image-assemble");
    c.arg("-q").args(args);
    let line = fails(c, "image-assemble");
    assert_eq!(
        snapshot(&env.store()),
        before,
        "the store changed after: {line}"
    );
    line
}

#[test]
fn layers_that_are_not_whole_tars_are_refused() {
    let env = env_with_base();
    let layer = files_layer(env.dir.path(), "l.tar", &[("f", &[7u8; 5000])]);
    let tar = fs::read(&layer).unwrap();
    fs::write(env.path("cut.tar"), &tar[..1500]).unwrap();
    fs::write(
        env.path("text.tar"),
        b"this is not a tar archive at all, just words\n".repeat(30),
    )
    .unwrap();
    fs::write(env.path("empty.tar"), b"").unwrap();
    let gz = Command::new("gzip")
        .arg("-c")
        .arg(&layer)
        .output()
        .unwrap()
        .stdout;
    fs::write(env.path("cut.tar.gz"), &gz[..gz.len() / 2]).unwrap();
    for (file, expect) in [
        ("cut.tar", "truncated tar"),
        ("text.tar", "not a tar archive"),
        ("empty.tar", "empty"),
        ("cut.tar.gz", "cut.tar.gz"),
        ("missing.tar", "missing.tar"),
    ] {
        let line = assemble_fails(&env, &["--base", "base", "--tag", "x", file]);
        assert!(line.contains(expect), "{file}: {line}");
    }
}

#[test]
fn bad_references_and_missing_bases_are_refused() {
    let env = env_with_base();
    let layer = files_layer(env.dir.path(), "l.tar", &[("f", b"x")]);
    let l = layer.to_str().unwrap();
    for (args, expect) in [
        (vec!["--tag", "Bad/Name", l], "must be lowercase"),
        (vec!["--tag", "x:", l], "tag"),
        (vec!["--base", "nope:1", "--tag", "x", l], "no such image"),
        (
            vec!["--base", "oci:/does/not/exist", "--tag", "x", l],
            "not an OCI image layout",
        ),
        (
            vec!["--base", "docker://example.com/a", "--tag", "x", l],
            "image-pull",
        ),
        (vec!["--tag", "x@sha256:abc", l], "digest"),
        (vec!["--output", "registry.example/x", l], "--tag"),
        (vec!["--env", "NOVALUE", "--tag", "x", l], "KEY=VALUE"),
        (
            vec![
                "--compression",
                "zstd",
                "--format",
                "docker",
                "--tag",
                "x",
                l,
            ],
            "zstd",
        ),
        (
            vec!["--compression-level", "12", "--tag", "x", l],
            "compression-level",
        ),
    ] {
        let line = assemble_fails(&env, &args);
        assert!(line.contains(expect), "{args:?}: {line}");
    }
    // Bad usage is exit 2 with one line.
    let mut c = env.cmd("image-assemble");
    c.arg("--no-such-flag");
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("image-assemble: error: "));
}

#[test]
fn a_corrupt_blob_is_caught_and_nothing_is_written() {
    let env = env_with_base();
    // A base layout (as skopeo would write one) whose layer was damaged.
    let layout = env.path("theirs");
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "--base", "base", "--output"])
        .arg(format!("oci:{}:b", layout.display()));
    ok(c);
    let m = json(&ok({
        let mut c = env.cmd("image-store");
        c.args(["inspect", "base"]);
        c
    }))[0]["manifest"]
        .clone();
    let layer_blob = layout
        .join("blobs/sha256")
        .join(&m["layers"][0]["digest"].as_str().unwrap()[7..]);
    let mut bytes = fs::read(&layer_blob).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    // The blob may be a hard link into the store: replace, never edit in place.
    fs::remove_file(&layer_blob).unwrap();
    fs::write(&layer_blob, &bytes).unwrap();
    fs::create_dir_all(env.path("other")).unwrap();
    let line = assemble_fails(
        &env,
        &[
            "--base",
            &format!("oci:{}:b", layout.display()),
            "--tag",
            "fresh",
            "--store",
            "other-store",
        ],
    );
    assert!(line.contains("digest mismatch"), "{line}");
    // Into the store that already holds a verified copy of that layer, the
    // damaged one is never read: content addressing makes it the same blob.
    // A corrupt config in the store itself.
    let cfg = env
        .store()
        .join("blobs/sha256")
        .join(&m["config"]["digest"].as_str().unwrap()[7..]);
    let mut c = fs::read(&cfg).unwrap();
    c[2] ^= 0x20;
    fs::write(&cfg, &c).unwrap();
    let line = assemble_fails(&env, &["--base", "base", "--tag", "y"]);
    assert!(line.contains("digest mismatch"), "{line}");
}

#[test]
fn a_malformed_index_is_reported_and_left_alone() {
    let env = env_with_base();
    fs::write(
        env.store().join("index.json"),
        b"{\"schemaVersion\": 2, \"manifests\": [",
    )
    .unwrap();
    let layer = files_layer(env.dir.path(), "l.tar", &[("f", b"x")]);
    let line = assemble_fails(&env, &["--tag", "x", layer.to_str().unwrap()]);
    assert!(
        line.contains("index.json") && line.contains("malformed"),
        "{line}"
    );
    let mut c = env.cmd("image-store");
    c.arg("ls");
    assert!(fails(c, "image-store").contains("index.json"));
}

/// An endless stream of incompressible bytes inside one big tar entry.
fn write_big_layer(mut w: impl Write, data_len: u64, write_len: u64) {
    let mut h = tar::Header::new_gnu();
    h.set_size(data_len);
    h.set_mode(0o644);
    h.set_path("big.bin").unwrap();
    h.set_cksum();
    if w.write_all(h.as_bytes()).is_err() {
        return;
    }
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let mut buf = vec![0u8; 1 << 16];
    let mut sent = 0;
    while sent < write_len {
        for b in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.copy_from_slice(&x.to_le_bytes()[..b.len()]);
        }
        if w.write_all(&buf).is_err() {
            return;
        }
        sent += buf.len() as u64;
    }
}

#[test]
fn kill_9_in_the_middle_of_a_large_layer_leaves_a_readable_store() {
    let env = env_with_base();
    let before = snapshot(&env.store());
    let mut c = env.cmd("image-assemble");
    c.args([
        "-q",
        "--base",
        "base",
        "--tag",
        "big",
        "--compression-level",
        "1",
        "-",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || write_big_layer(stdin, 1 << 30, 1 << 30));
    // Wait until the compressed blob is being written, then kill -9.
    let tmp = env.store().join(".slipway/tmp");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let written: u64 = fs::read_dir(&tmp)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        if written > 4 << 20 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "image-assemble never started writing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    feeder.join().unwrap();
    let after = snapshot(&env.store());
    assert_eq!(after.0, before.0, "index.json untouched");
    assert!(after.2 >= 1, "the temp blob is what is left");
    // The store still reads, for us and for skopeo.
    let mut c = env.cmd("image-store");
    c.args(["ls", "--format", "{{.Repository}}"]);
    assert_eq!(ok(c).trim(), "base");
    skopeo_inspect(&[&format!(
        "oci:{}:docker.io/library/base:latest",
        env.store().display()
    )]);
    // A rerun succeeds, and gc clears the leftover.
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "--base", "base", "--tag", "big", "-"]);
    let mut small = Vec::new();
    write_big_layer(&mut small, 1 << 20, 1 << 20);
    small.extend_from_slice(&[0u8; 1024]);
    let out = run_with_input(c, &small);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut c = env.cmd("image-store");
    c.args(["gc", "--json"]);
    assert!(json(&ok(c))["temp_files"].as_u64().unwrap() >= 1);
    skopeo_inspect(&[&format!(
        "oci:{}:docker.io/library/big:latest",
        env.store().display()
    )]);
}

#[test]
fn eight_concurrent_assemblies_keep_all_eight_tags_while_gc_runs() {
    let env = env_with_base();
    let mut children = Vec::new();
    for i in 0..8 {
        let layer = files_layer(
            env.dir.path(),
            &format!("l{i}.tar"),
            &[("n", format!("{i}").as_bytes())],
        );
        let mut c = env.cmd("image-assemble");
        c.args(["-q", "--base", "base", "--tag", &format!("c{i}")])
            .arg(layer)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        children.push(c.spawn().unwrap());
    }
    // gc alongside the writers must never take a blob they are about to use.
    for _ in 0..5 {
        let mut c = env.cmd("image-store");
        c.args(["gc", "--json"]);
        ok(c);
    }
    for ch in children {
        let out = ch.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut c = env.cmd("image-store");
    c.args(["ls", "--format", "{{.Repository}}"]);
    let names: BTreeSet<String> = ok(c).lines().map(str::to_string).collect();
    let want: BTreeSet<String> = (0..8)
        .map(|i| format!("c{i}"))
        .chain(["base".to_string()])
        .collect();
    assert_eq!(names, want);
    for i in 0..8 {
        // skopeo copy reads every blob of each image.
        let mut c = Command::new(peer("skopeo"));
        c.args(["copy", "--quiet"])
            .arg(format!(
                "oci:{}:docker.io/library/c{i}:latest",
                env.store().display()
            ))
            .arg(format!("oci:{}:c", env.path(&format!("copy{i}")).display()));
        ok(c);
    }
}
