//! The sizes image-store shows: what docker shows for an image, and every
//! byte under the store for du.

use slipway_tests::*;
use std::process::Command;

fn store(env: &Env, args: &[&str]) -> String {
    let mut c = env.cmd("image-store");
    c.args(args);
    ok(c)
}

#[test]
fn ls_size_is_the_layers_uncompressed_size_as_docker_shows_it() {
    let env = Env::new();
    // A megabyte of zeros: a few kilobytes once gzipped.
    let layer = files_layer(env.dir.path(), "zeros.tar", &[("zeros", &[0u8; 1 << 20])]);
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "-t", "zeros"]).arg(&layer);
    ok(c);
    let tar_size = std::fs::metadata(&layer).unwrap().len();
    let size = |env: &Env| -> u64 {
        let rows = json(&store(env, &["ls", "--json"]));
        rows[0]["size"].as_u64().unwrap()
    };
    assert_eq!(size(&env), tar_size, "the layer as a tar, not its gzip");
    // Counted again from the blob when the store has no record of it.
    std::fs::remove_dir_all(env.store().join(".slipway/sizes")).unwrap();
    assert_eq!(size(&env), tar_size);
    let shown = store(&env, &["ls", "--format", "{{.Size}}"]);
    assert!(shown.trim().ends_with("MB"), "{shown}");
}

#[test]
fn du_accounts_for_every_byte_under_the_store() {
    let env = Env::new();
    busybox_image(&env, "bb", &[]);
    // Unpacked layers and a container's leftovers are bytes too.
    let m = env.path("m");
    store(&env, &["mount", "bb", m.to_str().unwrap()]);
    store(&env, &["umount", m.to_str().unwrap()]);
    let d = json(&store(&env, &["du", "--json"]));
    let parts = d["parts"].as_object().unwrap();
    let sum: u64 = parts.values().map(|v| v.as_u64().unwrap()).sum();
    let total = d["total_bytes"].as_u64().unwrap();
    assert_eq!(sum, total);
    assert!(
        parts["unpacked layers"].as_u64().unwrap() > 1_000_000,
        "{parts:?}"
    );
    let out = Command::new("du")
        .arg("-sb")
        .arg(env.store())
        .output()
        .unwrap();
    let du: u64 = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(total, du, "what du -sb counts");
    let table = store(&env, &["du"]);
    assert!(
        table.contains("unpacked layers") && table.contains("total"),
        "{table}"
    );
}
