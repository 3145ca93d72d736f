//! The peers as oracles: skopeo, umoci and oci-image-tool read what
//! image-assemble writes, and what skopeo writes serves as our base.

use slipway_tests::*;
use std::fs;
use std::process::Command;

/// A store holding busybox:1 (busybox on scratch) and app:1 on top of it.
fn store_with_app(env: &Env) {
    let base = busybox_layer(env.dir.path());
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "--tag", "busybox:1", "--cmd", r#"["sh"]"#])
        .arg(&base);
    ok(c);
    let app = files_layer(
        env.dir.path(),
        "app.tar",
        &[("srv/index.html", b"<h1>hi</h1>\n")],
    );
    let mut c = env.cmd("image-assemble");
    c.args([
        "-q",
        "--base",
        "busybox:1",
        "--tag",
        "app:1",
        "--label",
        "tier=web",
    ])
    .arg(&app);
    ok(c);
}

#[test]
fn skopeo_reads_the_store_as_an_oci_layout_and_copies_from_it() {
    let env = Env::new();
    store_with_app(&env);
    let store = env.store().display().to_string();
    let info = skopeo_inspect(&[&format!("oci:{store}:docker.io/library/app:1")]);
    assert_eq!(info["Labels"]["tier"], "web");
    assert_eq!(info["Layers"].as_array().unwrap().len(), 2);
    let cfg = skopeo_inspect(&["--config", &format!("oci:{store}:docker.io/library/app:1")]);
    assert_eq!(cfg["config"]["Cmd"], serde_json::json!(["sh"]));
    // skopeo copy reads and verifies every blob.
    let mut c = Command::new(peer("skopeo"));
    c.args([
        "copy",
        "--quiet",
        &format!("oci:{store}:docker.io/library/app:1"),
    ])
    .arg(format!("oci:{}:copied", env.path("copy").display()));
    ok(c);
    let copied = skopeo_inspect(&[&format!("oci:{}:copied", env.path("copy").display())]);
    assert_eq!(copied["Layers"], info["Layers"]);
}

#[test]
fn umoci_unpacks_our_image_to_the_expected_rootfs() {
    let env = Env::new();
    store_with_app(&env);
    let mut c = Command::new(peer("umoci"));
    c.args(["unpack", "--image"])
        .arg(format!("{}:docker.io/library/app:1", env.store().display()))
        .arg(env.path("bundle"));
    ok(c);
    let rootfs = env.path("bundle/rootfs");
    assert_eq!(
        fs::read(rootfs.join("bin/busybox")).unwrap(),
        fs::read(busybox()).unwrap()
    );
    assert_eq!(
        fs::read_link(rootfs.join("bin/sh")).unwrap().to_str(),
        Some("busybox")
    );
    assert_eq!(
        fs::read_to_string(rootfs.join("srv/index.html")).unwrap(),
        "<h1>hi</h1>\n"
    );
    let runtime: serde_json::Value =
        json(&fs::read_to_string(env.path("bundle/config.json")).unwrap());
    assert_eq!(runtime["process"]["args"], serde_json::json!(["sh"]));
}

#[test]
fn oci_image_tool_validates_our_layouts() {
    let env = Env::new();
    store_with_app(&env);
    let mut c = Command::new(peer("oci-image-tool"));
    c.args([
        "validate",
        "--type",
        "image",
        "--ref",
        "name=docker.io/library/app:1",
    ])
    .arg(env.store());
    ok(c);
    let out_dir = env.path("out");
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "--base", "app:1", "--output"])
        .arg(format!("oci:{}:v2", out_dir.display()));
    ok(c);
    let mut c = Command::new(peer("oci-image-tool"));
    c.args(["validate", "--type", "image", "--ref", "name=v2"])
        .arg(&out_dir);
    ok(c);
    // The oracle does catch a broken layout: drop a blob and it fails.
    let idx = json(&fs::read_to_string(out_dir.join("index.json")).unwrap());
    let m = idx["manifests"][0]["digest"].as_str().unwrap()[7..].to_string();
    let manifest = json(&fs::read_to_string(out_dir.join("blobs/sha256").join(&m)).unwrap());
    fs::remove_file(
        out_dir
            .join("blobs/sha256")
            .join(&manifest["config"]["digest"].as_str().unwrap()[7..]),
    )
    .unwrap();
    let out = Command::new(peer("oci-image-tool"))
        .args(["validate", "--type", "image", "--ref", "name=v2"])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn docker_archive_output_is_accepted_by_skopeo() {
    let env = Env::new();
    store_with_app(&env);
    let archive = env.path("app.tar");
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "--base", "app:1", "--env", "X=1", "--output"])
        .arg(format!(
            "docker-archive:{}:example/app:v9",
            archive.display()
        ));
    ok(c);
    let info = skopeo_inspect(&[&format!("docker-archive:{}", archive.display())]);
    let mut c = Command::new("tar");
    c.arg("-xOf").arg(&archive).arg("manifest.json");
    let manifest = json(&ok(c));
    assert_eq!(
        manifest[0]["RepoTags"],
        serde_json::json!(["example/app:v9"])
    );
    assert!(info["Env"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("X=1")));
    let mut c = Command::new(peer("skopeo"));
    c.args([
        "copy",
        "--quiet",
        &format!("docker-archive:{}", archive.display()),
    ])
    .arg(format!("oci:{}:x", env.path("fromarchive").display()));
    ok(c);
    let cfg = skopeo_inspect(&[
        "--config",
        &format!("oci:{}:x", env.path("fromarchive").display()),
    ]);
    let ours = skopeo_inspect(&[
        "--config",
        &format!("oci:{}:docker.io/library/app:1", env.store().display()),
    ]);
    assert_eq!(
        cfg["rootfs"]["diff_ids"], ours["rootfs"]["diff_ids"],
        "layers keep their diff IDs"
    );
    // And the archive serves as a base again.
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "--tag", "again"])
        .arg(format!("--base=docker-archive:{}", archive.display()));
    ok(c);
    let again = skopeo_inspect(&[
        "--config",
        &format!(
            "oci:{}:docker.io/library/again:latest",
            env.store().display()
        ),
    ]);
    assert_eq!(again["rootfs"]["diff_ids"], ours["rootfs"]["diff_ids"]);
}

#[test]
fn oci_archive_to_stdout_is_read_by_skopeo() {
    let env = Env::new();
    store_with_app(&env);
    let mut c = env.cmd("image-assemble");
    c.args([
        "-q",
        "--base",
        "app:1",
        "--digestfile",
        "digest",
        "--output",
        "oci-archive:-:v1",
    ]);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::write(env.path("a.tar"), &out.stdout).unwrap();
    let info = skopeo_inspect(&[&format!("oci-archive:{}:v1", env.path("a.tar").display())]);
    assert_eq!(info["Labels"]["tier"], "web");
    assert_eq!(
        info["Digest"].as_str().unwrap(),
        fs::read_to_string(env.path("digest")).unwrap()
    );
}

#[test]
fn a_layout_skopeo_wrote_serves_as_our_base() {
    let env = Env::new();
    store_with_app(&env);
    // skopeo writes its own layout (recompressed, its own index.json).
    let theirs = env.path("theirs");
    let mut c = Command::new(peer("skopeo"));
    c.args(["copy", "--quiet", "--dest-compress-format", "zstd"])
        .arg(format!(
            "oci:{}:docker.io/library/app:1",
            env.store().display()
        ))
        .arg(format!("oci:{}:base", theirs.display()));
    ok(c);
    let extra = files_layer(env.dir.path(), "x.tar", &[("x", b"x")]);
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "--tag", "on-theirs"])
        .arg(format!("--base=oci:{}:base", theirs.display()))
        .arg(&extra);
    ok(c);
    let info = skopeo_inspect(&[&format!(
        "oci:{}:docker.io/library/on-theirs:latest",
        env.store().display()
    )]);
    assert_eq!(info["Layers"].as_array().unwrap().len(), 3);
    // skopeo reads every blob back, zstd layers from its side included.
    let mut c = Command::new(peer("skopeo"));
    c.args(["copy", "--quiet"])
        .arg(format!(
            "oci:{}:docker.io/library/on-theirs:latest",
            env.store().display()
        ))
        .arg(format!("oci:{}:back", env.path("back").display()));
    ok(c);
    let theirs_info = skopeo_inspect(&[&format!("oci:{}:base", theirs.display())]);
    assert_eq!(
        info["Layers"].as_array().unwrap()[..2],
        theirs_info["Layers"].as_array().unwrap()[..],
        "base layers carried over verbatim"
    );
}
