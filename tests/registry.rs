//! Push and pull against Debian's docker-registry, with skopeo as the
//! oracle for what the registry holds.

use slipway_tests::*;
use std::process::Command;

#[test]
fn push_then_pull_keeps_every_digest_and_skopeo_agrees() {
    let reg = TestRegistry::start();
    let env = Env::new();
    let base = busybox_layer(env.dir.path());
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "--tag", "busybox:reg", "--cmd", r#"["sh"]"#])
        .arg(&base);
    let assembled = ok(c).trim().to_string();
    let dest = format!("docker://{}/tools/busybox:1", reg.host);
    let mut c = env.cmd("image-push");
    c.args(["-q", "busybox:reg", &dest]);
    assert_eq!(
        ok(c).trim(),
        assembled,
        "the pushed manifest is the assembled one"
    );
    // skopeo reads it back from the registry.
    let info = skopeo_inspect(&["--tls-verify=false", &dest]);
    assert_eq!(info["Digest"].as_str(), Some(assembled.as_str()));
    // Pushing again uploads nothing new and gives the same digest.
    let mut c = env.cmd("image-push");
    c.args(["busybox:reg", &dest]);
    let out = c.output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("already there"));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), assembled);

    // Pull into a fresh store: same digest, blobs verified, tagged by name.
    let other = Env::new();
    let mut c = other.cmd("image-pull");
    c.args(["-q", &dest, "--tag", "mine:1"]);
    assert_eq!(ok(c).trim(), assembled);
    let name = format!("{}/tools/busybox:1", reg.host);
    assert_eq!(validate_image(&other.store(), &name), assembled);
    validate_image(&other.store(), "docker.io/library/mine:1");
    // And by digest.
    let third = Env::new();
    let mut c = third.cmd("image-pull");
    c.args([
        "-q",
        &format!("{}/tools/busybox@{assembled}", reg.host),
        "--tag",
        "pinned",
    ]);
    assert_eq!(ok(c).trim(), assembled);
}

#[test]
fn an_image_skopeo_pushed_pulls_with_ours() {
    let reg = TestRegistry::start();
    let env = Env::new();
    let base = busybox_layer(env.dir.path());
    let mut c = env.cmd("image-assemble");
    c.args([
        "-q",
        "--output",
        &format!("oci:{}:v1", env.path("layout").display()),
    ])
    .arg(&base);
    ok(c);
    let dest = format!("docker://{}/from/skopeo:v1", reg.host);
    let mut c = Command::new(peer("skopeo"));
    c.args([
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        "--format",
        "v2s2",
    ])
    .arg(format!("oci:{}:v1", env.path("layout").display()))
    .arg(&dest);
    ok(c);
    let theirs = skopeo_inspect(&["--tls-verify=false", &dest]);
    let mut c = env.cmd("image-pull");
    c.args(["-q", &dest]);
    let digest = ok(c).trim().to_string();
    assert_eq!(Some(digest.as_str()), theirs["Digest"].as_str());
    let doc = json(&ok({
        let mut c = env.cmd("image-store");
        c.args(["inspect", &format!("{}/from/skopeo:v1", reg.host)]);
        c
    }));
    assert_eq!(
        doc[0]["manifest"]["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
}

#[test]
fn registry_errors_are_one_line() {
    let reg = TestRegistry::start();
    let env = Env::new();
    let mut c = env.cmd("image-pull");
    c.args([&format!("{}/no/such:thing", reg.host)]);
    let line = fails(c, "image-pull");
    assert!(line.contains("404") || line.contains("unknown"), "{line}");
    let mut c = env.cmd("image-push");
    c.args(["nope:1", &format!("docker://{}/x:1", reg.host)]);
    assert!(fails(c, "image-push").contains("no such image"));
    let mut c = env.cmd("image-pull");
    c.args(["registry.example.com/x:1"]);
    let line = fails(c, "image-pull");
    assert!(
        line.contains("registry.example.com") && line.contains("Dns Failed"),
        "{line}"
    );
}

#[test]
fn corrupt_blobs_are_refused_on_both_sides() {
    let reg = TestRegistry::start();
    let env = Env::new();
    let layer = files_layer(env.dir.path(), "l.tar", &[("f", &[b'x'; 10_000][..])]);
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "--tag", "c:1"]).arg(&layer);
    ok(c);
    let doc = json(&ok({
        let mut c = env.cmd("image-store");
        c.args(["inspect", "c:1"]);
        c
    }));
    let layer_digest = doc[0]["manifest"]["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    // Push: a damaged blob in the store never reaches the registry.
    let blob = env.store().join("blobs/sha256").join(&layer_digest[7..]);
    let good = std::fs::read(&blob).unwrap();
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x01;
    std::fs::write(&blob, &bad).unwrap();
    let dest = format!("docker://{}/c:1", reg.host);
    let mut c = env.cmd("image-push");
    c.args(["-q", "c:1", &dest]);
    let line = fails(c, "image-push");
    // Caught by our own check as it streams, not by the registry.
    assert!(line.contains("digest mismatch"), "{line}");
    let out = Command::new(peer("skopeo"))
        .args(["inspect", "--tls-verify=false", &dest])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "no manifest may be pushed after a failed blob"
    );
    // Pull: a blob the registry serves damaged is refused and not kept.
    std::fs::write(&blob, &good).unwrap();
    let mut c = env.cmd("image-push");
    c.args(["-q", "c:1", &dest]);
    ok(c);
    let data = reg_blob_path(&reg, &layer_digest);
    std::fs::write(&data, &bad).unwrap();
    let other = Env::new();
    let mut c = other.cmd("image-pull");
    c.args(["-q", &dest]);
    let line = fails(c, "image-pull");
    assert!(line.contains("digest mismatch"), "{line}");
    assert!(!other
        .store()
        .join("blobs/sha256")
        .join(&layer_digest[7..])
        .exists());
    // Nor is the layer that was unpacking as it arrived left behind.
    let layers = other.store().join(".slipway/layers");
    let left: Vec<_> = std::fs::read_dir(&layers)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_pulled_layer_is_unpacked_into_the_store_as_it_arrives() {
    let reg = TestRegistry::start();
    let env = Env::new();
    let layer = files_layer(
        env.dir.path(),
        "l.tar",
        &[("etc/motd", &b"hello\n"[..]), ("big", &[b'y'; 300_000][..])],
    );
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "--tag", "u:1"]).arg(&layer);
    ok(c);
    let dest = format!("docker://{}/u:1", reg.host);
    let mut c = env.cmd("image-push");
    c.args(["-q", "u:1", &dest]);
    ok(c);
    let other = Env::new();
    let mut c = other.cmd("image-pull");
    c.args(["-q", &dest]);
    ok(c);
    let doc = json(&ok({
        let mut c = other.cmd("image-store");
        c.args(["inspect", &format!("{}/u:1", reg.host)]);
        c
    }));
    let diff_id = doc[0]["config"]["rootfs"]["diff_ids"][0].as_str().unwrap();
    let dir = other.store().join(".slipway/layers").join(&diff_id[7..]);
    assert_eq!(std::fs::read(dir.join("etc/motd")).unwrap(), b"hello\n");
    assert_eq!(std::fs::metadata(dir.join("big")).unwrap().len(), 300_000);
    // An OCI layout has no unpacked layers: nothing is unpacked for it.
    let out = env.dir.path().join("layout");
    let mut c = env.cmd("image-pull");
    c.args(["-q", "--output", &format!("oci:{}", out.display()), &dest]);
    ok(c);
    assert!(!out.join(".slipway/layers").exists());
}

/// Where docker-registry's filesystem driver keeps a blob's bytes.
fn reg_blob_path(reg: &TestRegistry, digest: &str) -> std::path::PathBuf {
    let hex = &digest[7..];
    reg.data_dir().join(format!(
        "docker/registry/v2/blobs/sha256/{}/{hex}/data",
        &hex[..2]
    ))
}

#[test]
fn chunked_uploads_several_tags_and_mounts_between_repositories() {
    let reg = TestRegistry::start();
    let env = Env::new();
    let data = noise(3 << 20);
    let layer = files_layer(env.dir.path(), "l.tar", &[("noise", &data[..])]);
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "--tag", "big:1"]).arg(&layer);
    let digest = ok(c).trim().to_string();
    // Chunks of 1 MiB: the layer goes up in several PATCH requests.
    let one = format!("docker://{}/a/one", reg.host);
    let mut c = env.cmd("image-push");
    c.args([
        "--chunk-size",
        "1m",
        "big:1",
        &format!("{one}:1"),
        &format!("{one}:2"),
    ]);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), digest);
    for tag in ["1", "2"] {
        let info = skopeo_inspect(&["--tls-verify=false", &format!("{one}:{tag}")]);
        assert_eq!(info["Digest"].as_str(), Some(digest.as_str()), "tag {tag}");
    }
    // Another repository of the same registry: the blobs are mounted, not
    // uploaded again, because the store saw them go to a/one.
    let two = format!("docker://{}/b/two:1", reg.host);
    let mut c = env.cmd("image-push");
    c.args(["big:1", &two]);
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(err.matches("mounted from a/one").count(), 2, "{err}");
    let info = skopeo_inspect(&["--tls-verify=false", &two]);
    assert_eq!(info["Digest"].as_str(), Some(digest.as_str()));
    // And it pulls back whole, one blob at a time.
    let other = Env::new();
    let mut c = other.cmd("image-pull");
    c.args(["-q", "--jobs", "1", &two]);
    assert_eq!(ok(c).trim(), digest);
    validate_image(&other.store(), &format!("{}/b/two:1", reg.host));
}

#[test]
fn pulls_into_an_oci_layout_or_archive_that_skopeo_reads() {
    let reg = TestRegistry::start();
    let env = Env::new();
    let layer = files_layer(env.dir.path(), "l.tar", &[("a", b"a\n")]);
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "--tag", "o:1"]).arg(&layer);
    let digest = ok(c).trim().to_string();
    let src = format!("{}/out/o:1", reg.host);
    let mut c = env.cmd("image-push");
    c.args(["-q", "o:1", &format!("docker://{src}")]);
    ok(c);

    let other = Env::new();
    let dir = other.path("layout");
    let mut c = other.cmd("image-pull");
    c.args(["-q", "--output", &format!("oci:{}:v1", dir.display()), &src]);
    assert_eq!(ok(c).trim(), digest);
    let info = skopeo_inspect(&[&format!("oci:{}:v1", dir.display())]);
    assert_eq!(info["Digest"].as_str(), Some(digest.as_str()));
    assert!(!other.store().exists(), "the store is left alone");

    // An archive on stdout: nothing else goes there.
    let mut c = other.cmd("image-pull");
    c.args(["-q", "--output", "oci-archive:-:v1", &src]);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = other.path("o.tar");
    std::fs::write(&file, &out.stdout).unwrap();
    let info = skopeo_inspect(&[&format!("oci-archive:{}:v1", file.display())]);
    assert_eq!(info["Digest"].as_str(), Some(digest.as_str()));

    let mut c = other.cmd("image-pull");
    c.args(["--output", "docker://x/y:1", &src]);
    assert!(fails(c, "image-pull").contains("--output"));
}

#[test]
fn uncompressed_layers_are_compressed_once_as_they_leave() {
    let reg = TestRegistry::start();
    let env = Env::new();
    let layer = files_layer(env.dir.path(), "l.tar", &[("a", b"a\n"), ("b", b"b\n")]);
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "--compression", "none", "--tag", "plain:1"])
        .arg(&layer);
    let local = ok(c).trim().to_string();
    assert_eq!(
        validate_image(&env.store(), "docker.io/library/plain:1"),
        local
    );

    // Pushed: gzip layers, the same config (so the same image ID).
    let dest = format!("docker://{}/c/plain:1", reg.host);
    let mut c = env.cmd("image-push");
    c.args(["-q", "plain:1", &dest]);
    let pushed = ok(c).trim().to_string();
    assert_ne!(pushed, local, "a manifest of compressed layers");
    assert_eq!(
        skopeo_layer_types(&["--tls-verify=false"], &dest),
        ["application/vnd.oci.image.layer.v1.tar+gzip"]
    );
    let info = skopeo_inspect(&["--tls-verify=false", &dest]);
    assert_eq!(info["Digest"].as_str(), Some(pushed.as_str()));

    // Pulled back: the same files and config as the local image.
    let other = Env::new();
    let mut c = other.cmd("image-pull");
    c.args(["-q", &dest[9..], "--tag", "back:1"]);
    assert_eq!(ok(c).trim(), pushed);
    let inspect = |env: &Env, name: &str| {
        let mut c = env.cmd("image-store");
        c.args(["inspect", name]);
        let v: Vec<slipway_common::image::InspectRecord> = serde_json::from_str(&ok(c)).unwrap();
        v[0].id.to_string()
    };
    assert_eq!(inspect(&other, "back:1"), inspect(&env, "plain:1"));

    // Again, to another tag: the layer is not compressed again (its
    // record is not rewritten) and the digest is the same.
    let records: Vec<_> = std::fs::read_dir(env.store().join("blob-info"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(records.len(), 1);
    let before = std::fs::metadata(&records[0]).unwrap().modified().unwrap();
    let mut c = env.cmd("image-push");
    c.args(["-q", "plain:1", &format!("docker://{}/c/plain:2", reg.host)]);
    assert_eq!(ok(c).trim(), pushed);
    let after = std::fs::metadata(&records[0]).unwrap().modified().unwrap();
    assert_eq!(before, after);

    // gc takes the compressed blob (no local image names it); a push to
    // where it is already does not make it again only to find it there.
    let record = std::fs::read_to_string(&records[0]).unwrap();
    let gz = record.split(' ').next().unwrap().to_string();
    let gz_path = env.store().join("blobs/sha256").join(&gz[7..]);
    assert!(gz_path.exists());
    let mut c = env.cmd("image-store");
    c.arg("gc");
    ok(c);
    assert!(!gz_path.exists(), "gc keeps {gz}");
    let mut c = env.cmd("image-push");
    c.args(["plain:1", &format!("docker://{}/c/plain:3", reg.host)]);
    let out = c.output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), pushed);
    assert!(String::from_utf8_lossy(&out.stderr).contains("already there"));
    assert!(!gz_path.exists(), "compressed again");

    // --compression none: the tars go as they are, the local manifest.
    let none = format!("docker://{}/c/plain:tar", reg.host);
    let mut c = env.cmd("image-push");
    c.args(["-q", "--compression", "none", "plain:1", &none]);
    assert_eq!(ok(c).trim(), local);
    assert_eq!(
        skopeo_layer_types(&["--tls-verify=false"], &none),
        ["application/vnd.oci.image.layer.v1.tar"]
    );

    // zstd, from an OCI layout the user gave, which is left as it was.
    let dir = env.path("layout");
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "--compression", "none", "-o"])
        .arg(format!("oci:{}:v1", dir.display()))
        .arg(&layer);
    ok(c);
    let count = || std::fs::read_dir(dir.join("blobs/sha256")).unwrap().count();
    let blobs = count();
    let zst = format!("docker://{}/c/plain:zstd", reg.host);
    let mut c = env.cmd("image-push");
    c.args(["-q", "--compression", "zstd"])
        .arg(format!("oci:{}:v1", dir.display()))
        .arg(&zst);
    ok(c);
    assert_eq!(count(), blobs, "the source layout is not written to");
    assert_eq!(
        skopeo_layer_types(&["--tls-verify=false"], &zst),
        ["application/vnd.oci.image.layer.v1.tar+zstd"]
    );

    // A level out of range is refused before anything goes.
    let mut c = env.cmd("image-push");
    c.args(["--compression-level", "42", "plain:1", &dest]);
    assert!(fails(c, "image-push").contains("--compression-level 42"));
}

#[test]
fn container_run_pulls_an_image_the_store_lacks_as_pull_says() {
    let reg = TestRegistry::start();
    let env = Env::new();
    let base = busybox_layer(env.dir.path());
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "--tag", "bb:1", "--cmd", r#"["sh"]"#])
        .arg(&base);
    ok(c);
    let name = format!("{}/tools/bb:1", reg.host);
    let mut c = env.cmd("image-push");
    c.args(["-q", "bb:1", &format!("docker://{name}")]);
    ok(c);

    let other = Env::new();
    let run = |pull: &str| {
        let mut c = other.cmd("container-run");
        c.args(["--rm", "--network", "none", "--pull", pull, &name])
            .args(["echo", "hi"]);
        c.output().unwrap()
    };
    // never: the store lacks it, and nothing is pulled.
    let out = run("never");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such image"));
    assert!(other
        .cmd("image-store")
        .arg("inspect")
        .arg(&name)
        .output()
        .map(|o| !o.status.success())
        .unwrap());
    // missing: pulled first (image-pull's progress on stderr), then run.
    let out = run("missing");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    assert!(err.contains("unable to find image"), "{err}");
    validate_image(&other.store(), &name);
    // missing, again: the store has it, no pull.
    let out = run("missing");
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("unable to find"));
    // always: asks the registry again, which has nothing new.
    let out = run("always");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("already there"), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
}

#[test]
fn short_names_and_mirrors_follow_registries_conf() {
    let reg = TestRegistry::start();
    let env = Env::new();
    busybox_image(&env, "bb", &["--cmd", r#"["echo", "from the registry"]"#]);
    let mut c = env.cmd("image-push");
    c.args(["-q", "bb", &format!("docker://{}/bb:1", reg.host)]);
    let pushed = ok(c).trim().to_string();
    // A dead registry first: the search goes on to the next, and a
    // mirror that does not answer falls back to the location.
    let conf = env.path("registries.conf");
    std::fs::write(
        &conf,
        format!(
            r#"unqualified-search-registries = ["127.0.0.1:9", "{host}"]
[[registry]]
prefix = "images.example"
location = "{host}"
[[registry.mirror]]
location = "127.0.0.1:9"
[[registry]]
location = "blocked.example"
blocked = true
"#,
            host = reg.host
        ),
    )
    .unwrap();
    let other = Env::new();
    let cmd = |tool: &str, args: &[&str]| {
        let mut c = other.cmd(tool);
        c.env("CONTAINERS_REGISTRIES_CONF", &conf).args(args);
        c
    };
    assert_eq!(ok(cmd("image-pull", &["-q", "bb:1"])).trim(), pushed);
    // Kept under the name it was found by.
    validate_image(&other.store(), &format!("{}/bb:1", reg.host));
    // The short name finds it in the store, as podman does.
    assert_eq!(
        ok(cmd(
            "container-run",
            &["--rm", "--network", "none", "--pull", "never", "bb:1"]
        )),
        "from the registry\n"
    );
    // A registry's location and mirrors: pulled from where it says,
    // named as asked.
    assert_eq!(
        ok(cmd("image-pull", &["-q", "images.example/bb:1"])).trim(),
        pushed
    );
    validate_image(&other.store(), "images.example/bb:1");
    let err = fails(cmd("image-pull", &["blocked.example/bb:1"]), "image-pull");
    assert!(err.contains("blocked"), "{err}");
    // Not anywhere: each place's failure, in one line.
    let err = fails(cmd("image-pull", &["nosuch:1"]), "image-pull");
    assert!(
        err.contains("127.0.0.1:9/nosuch:1") && err.contains(&reg.host),
        "{err}"
    );
    // A build FROM the short name, pulled there too.
    let ctx = other.path("ctx");
    write_files(&ctx, &[("Dockerfile", "FROM bb:1\nRUN echo built > /b\n")]);
    let fresh = Env::new();
    let mut b = fresh.cmd("image-build");
    b.env("CONTAINERS_REGISTRIES_CONF", &conf)
        .args(["-q", "--network", "none", "-t", "app:1"])
        .arg(&ctx);
    ok(b);
    validate_image(&fresh.store(), &format!("{}/bb:1", reg.host));
    // And a run of a short name the store lacks pulls it from there.
    let third = Env::new();
    let mut c = third.cmd("container-run");
    c.env("CONTAINERS_REGISTRIES_CONF", &conf)
        .args(["--rm", "--network", "none", "bb:1"]);
    assert_eq!(ok(c), "from the registry\n");
}
