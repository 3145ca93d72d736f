//! umoci as the oracle: our layers unpack with umoci to the tree we
//! expect, and a layer umoci writes applies with ours to the tree umoci had.

mod common;

use common::*;
use slipway_tests::{manifest_diff, peer, tree_manifest, Env};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::process::Command;

/// umoci's layers carry whole-second mtimes (rounded, no PAX fraction)
/// and leave out unchanged parent directories, whose mtimes the apply
/// then sets to now: compare mtimes to the second, and not those of dirs.
fn coarse(m: BTreeMap<Vec<u8>, String>) -> BTreeMap<Vec<u8>, String> {
    m.into_iter()
        .map(|(k, v)| {
            let (head, rest) = v.split_once(" mtime=").unwrap();
            let (time, tail) = rest.split_once(' ').unwrap();
            let secs: f64 = time.parse().unwrap();
            let t = if head.starts_with("dir") {
                "-".to_string()
            } else {
                format!("{}", secs.round())
            };
            (k, format!("{head} mtime={t} {tail}"))
        })
        .collect()
}

fn run(c: &mut Command) {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{c:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn umoci_unpacks_our_layers_to_the_same_tree() {
    assert!(is_root(), "needs root");
    let env = Env::new();
    let (a, b) = (env.path("a"), env.path("b"));
    tree_a(&a);
    tree_b(&a, &b);
    fs::write(
        env.path("base.tar"),
        ok(layer_diff(&[OsStr::new("--dir"), a.as_os_str()], None)),
    )
    .unwrap();
    fs::write(
        env.path("diff.tar"),
        ok(layer_diff(&[a.as_os_str(), b.as_os_str()], None)),
    )
    .unwrap();
    let mut c = env.cmd("image-assemble");
    run(c.args(["-q", "--tag", "rt", "base.tar", "diff.tar"]));
    let bundle = env.path("bundle");
    run(Command::new(peer("umoci"))
        .args(["unpack", "--image"])
        .arg(format!(
            "{}:docker.io/library/rt:latest",
            env.store().display()
        ))
        .arg(&bundle));
    let (want, got) = (tree_manifest(&b), tree_manifest(&bundle.join("rootfs")));
    assert!(
        want == got,
        "umoci's rootfs differs from B:\n{}",
        manifest_diff(&want, &got)
    );
}

#[test]
fn a_layer_umoci_writes_applies_with_ours() {
    assert!(is_root(), "needs root");
    let env = Env::new();
    let a = env.path("a");
    tree_a(&a);
    fs::write(
        env.path("base.tar"),
        ok(layer_diff(&[OsStr::new("--dir"), a.as_os_str()], None)),
    )
    .unwrap();
    let mut c = env.cmd("image-assemble");
    run(c.args(["-q", "--tag", "u", "base.tar"]));
    let image = format!("{}:docker.io/library/u:latest", env.store().display());
    let bundle = env.path("bundle");
    run(Command::new(peer("umoci"))
        .args(["unpack", "--image", &image])
        .arg(&bundle));
    let before = env.path("before");
    run(Command::new("cp")
        .arg("-a")
        .arg(bundle.join("rootfs"))
        .arg(&before));
    // Change the rootfs the way B changes A, then let umoci make the layer.
    let rootfs = bundle.join("rootfs");
    let b = env.path("b");
    tree_b(&a, &b);
    run(Command::new("rm").arg("-rf").arg(&rootfs));
    run(Command::new("cp").arg("-a").arg(&b).arg(&rootfs));
    run(Command::new(peer("umoci"))
        .args([
            "repack",
            "--image",
            &format!("{}:docker.io/library/u:repacked", env.store().display()),
        ])
        .arg(&bundle));
    // umoci's new layer is the last one of the repacked image.
    let mut c = env.cmd("image-store");
    c.args(["inspect", "u:repacked"]);
    let doc = slipway_tests::json(&slipway_tests::ok(c));
    let layers = doc[0]["manifest"]["layers"].as_array().unwrap();
    let last = layers.last().unwrap()["digest"].as_str().unwrap();
    let blob = fs::read(env.store().join("blobs/sha256").join(&last[7..])).unwrap();
    ok(layer_diff(
        &[OsStr::new("--apply"), before.as_os_str()],
        Some(&blob),
    ));
    let (want, got) = (
        coarse(tree_manifest(&rootfs)),
        coarse(tree_manifest(&before)),
    );
    assert!(
        want == got,
        "applying umoci's layer differs:\n{}",
        manifest_diff(&want, &got)
    );
}
