//! image-build on the Dockerfiles under tests/fixtures: each directory is a
//! build context (its Dockerfile, its files, an optional `args` file of
//! extra image-build arguments, one per line) and `expected.txt`, what the
//! image must hold: its config, its history, and every path it adds or
//! changes on the busybox base (type, mode, owner, size, content digest,
//! link target; mtimes are SOURCE_DATE_EPOCH's and left out). A fixture
//! whose image differs fails with the difference; SLIPWAY_BLESS=1 writes
//! expected.txt from what was built (read the diff before committing it).

use slipway_tests::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut v: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("tests/fixtures")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Dockerfile").is_file())
        .collect();
    v.sort();
    v
}

/// The mounted image's tree, as lines.
fn tree(env: &Env, image: &str) -> BTreeMap<Vec<u8>, String> {
    let m = env.path(&format!("mnt-{}", image.replace([':', '/'], "-")));
    let mut c = env.cmd("image-store");
    c.arg("mount").arg(image).arg(&m);
    ok(c);
    let t = tree_manifest(&m);
    let mut c = env.cmd("image-store");
    c.arg("umount").arg(&m);
    ok(c);
    t
}

/// A manifest line without its mtime (the rest stays).
fn without_mtime(line: &str) -> String {
    line.split(' ')
        .filter(|w| !w.starts_with("mtime="))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What expected.txt says of an image.
fn describe(env: &Env, image: &str) -> String {
    let mut c = env.cmd("image-store");
    c.args(["inspect", image]);
    let img = json(&ok(c))[0].clone();
    let mut out = String::new();
    let cfg = &img["config"]["config"];
    out.push_str("## config\n");
    if let Some(o) = cfg.as_object() {
        for (k, v) in o {
            out.push_str(&format!("{k}: {v}\n"));
        }
    }
    out.push_str("## history\n");
    for h in img["config"]["history"].as_array().into_iter().flatten() {
        let layer = if h["empty_layer"] == true { "-" } else { "L" };
        out.push_str(&format!(
            "{layer} {}\n",
            h["created_by"].as_str().unwrap_or("")
        ));
    }
    out.push_str("## files (added or changed on the base)\n");
    let built = tree(env, image);
    // An image from scratch is all new: nothing of the base is deleted.
    let base = if built.contains_key(b"bin/busybox".as_slice()) {
        tree(env, "bb")
    } else {
        BTreeMap::new()
    };
    for (path, line) in &built {
        let line = without_mtime(line);
        if base.get(path).map(|b| without_mtime(b)) != Some(line.clone()) {
            out.push_str(&format!("{} {line}\n", String::from_utf8_lossy(path)));
        }
    }
    for path in base.keys().filter(|p| !built.contains_key(*p)) {
        out.push_str(&format!("{} deleted\n", String::from_utf8_lossy(path)));
    }
    out
}

#[test]
fn every_fixture_builds_the_image_it_expects() {
    let bless = std::env::var_os("SLIPWAY_BLESS").is_some();
    let mut failures = vec![];
    for dir in fixtures() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let env = Env::new();
        busybox_image(&env, "bb", &[]);
        let args: Vec<String> = fs::read_to_string(dir.join("args"))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect();
        let mut c = env.cmd("image-build");
        c.env("SOURCE_DATE_EPOCH", "1700000000")
            .args(["-q", "--network", "none", "-t", "fixture"])
            .args(&args)
            .arg(&dir);
        let out = c.output().unwrap();
        if !out.status.success() {
            failures.push(format!("{name}: {}", String::from_utf8_lossy(&out.stderr)));
            continue;
        }
        let got = describe(&env, "fixture");
        let expected = dir.join("expected.txt");
        if bless {
            fs::write(&expected, &got).unwrap();
            continue;
        }
        let want = fs::read_to_string(&expected).unwrap_or_default();
        if got != want {
            let mut diff = String::new();
            for l in want.lines().filter(|l| !got.lines().any(|g| g == *l)) {
                diff.push_str(&format!("  - {l}\n"));
            }
            for l in got.lines().filter(|l| !want.lines().any(|w| w == *l)) {
                diff.push_str(&format!("  + {l}\n"));
            }
            failures.push(format!(
                "{name}: the image differs from expected.txt:\n{diff}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
