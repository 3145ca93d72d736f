//! Builds for another platform than the host's: a foreign stage's RUN
//! steps run under qemu's user-mode emulator (registered with
//! binfmt_misc by scripts/test.sh), a `FROM --platform=$BUILDPLATFORM`
//! stage natively, the predefined platform ARGs per stage, and the cache
//! kept apart per platform.

use slipway_tests::{
    env_with_bb, fails, foreign_busybox_image, json, ok, peer, skopeo_inspect, write_files,
    TestRegistry,
};

#[test]
fn a_foreign_stage_runs_emulated_and_a_cross_stage_natively() {
    let (env, ctx) = env_with_bb();
    foreign_busybox_image(&env, "bb-arm64", "arm64");
    write_files(
        &ctx,
        &[(
            "Dockerfile",
            "FROM --platform=$BUILDPLATFORM bb AS cross\nARG TARGETARCH\nARG BUILDPLATFORM\nRUN echo \"$(uname -m) $BUILDPLATFORM for $TARGETARCH\" > /note\nFROM bb-arm64\nARG TARGETPLATFORM\nCOPY --from=cross /note /note\nRUN echo \"$(uname -m) $TARGETPLATFORM\" > /arch\n",
        )],
    );
    let mut c = env.cmd("image-build");
    c.args([
        "-q",
        "--network",
        "none",
        "--platform",
        "linux/arm64",
        "-t",
        "app",
    ])
    .arg(&ctx);
    ok(c);
    let mut c = env.cmd("container-run");
    c.args([
        "--rm",
        "--network",
        "none",
        "--platform",
        "linux/arm64",
        "app",
        "cat",
        "/note",
        "/arch",
    ]);
    assert_eq!(ok(c), "x86_64 linux/amd64 for arm64\naarch64 linux/arm64\n");
    let mut c = env.cmd("image-store");
    c.args([
        "ls",
        "--format",
        "{{.Repository}} {{.Platform}}",
        "--filter",
        "reference=app",
    ]);
    assert_eq!(ok(c), "app linux/arm64\n");
    // A foreign image run without --platform: docker's warning.
    let mut c = env.cmd("container-run");
    c.args(["--rm", "--network", "none", "app", "true"]);
    let out = c.output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not match the host's"));
}

#[test]
fn the_cache_is_kept_apart_per_platform() {
    let (env, ctx) = env_with_bb();
    foreign_busybox_image(&env, "bb-arm64", "arm64");
    let mut c = env.cmd("image-store");
    c.args(["tag", "bb", "bb-amd64"]);
    ok(c);
    write_files(
        &ctx,
        &[(
            "Dockerfile",
            "ARG TARGETARCH\nFROM bb-$TARGETARCH\nRUN uname -m > /m\n",
        )],
    );
    let build = |platform: &str| {
        let mut c = env.cmd("image-build");
        c.args([
            "--progress",
            "plain",
            "--network",
            "none",
            "--platform",
            platform,
            "-t",
        ])
        .arg(format!("m-{}", platform.replace('/', "-")))
        .arg(&ctx);
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    build("linux/amd64");
    let arm = build("linux/arm64");
    assert!(
        !arm.contains("CACHED"),
        "the arm64 build took the amd64 step: {arm}"
    );
    assert!(build("linux/arm64").contains("CACHED"));
    for (tag, want) in [
        ("m-linux-amd64", "x86_64\n"),
        ("m-linux-arm64", "aarch64\n"),
    ] {
        let mut c = env.cmd("container-run");
        c.args(["--rm", "--network", "none", "--platform"])
            .arg(if tag.ends_with("arm64") {
                "linux/arm64"
            } else {
                "linux/amd64"
            })
            .args([tag, "cat", "/m"]);
        assert_eq!(ok(c), want);
    }
}

/// `docker buildx build --platform linux/amd64,linux/arm64`: a cross
/// stage native for each, a final stage per platform (arm64's RUN
/// emulated), one index named, pushed and written out.
#[test]
fn several_platforms_make_one_index_named_pushed_and_written_out() {
    let reg = TestRegistry::start();
    let (env, ctx) = env_with_bb();
    foreign_busybox_image(&env, "bb-arm64", "arm64");
    let mut c = env.cmd("image-store");
    c.args(["manifest", "create", "base", "bb", "bb-arm64"]);
    ok(c);
    write_files(
        &ctx,
        &[(
            "Dockerfile",
            "FROM --platform=$BUILDPLATFORM base AS cross\nARG TARGETARCH\nRUN echo \"$(uname -m) for $TARGETARCH\" > /note\nFROM base\nCOPY --from=cross /note /note\nRUN uname -m > /arch\n",
        )],
    );
    let meta = env.path("meta.json");
    let out_dir = env.path("files");
    let dest = format!("{}/app/multi:1", reg.host);
    let build = |extra: &[&str]| {
        let mut c = env.cmd("image-build");
        c.args([
            "--progress",
            "plain",
            "--network",
            "none",
            "--platform",
            "linux/amd64,linux/arm64",
            "--annotation",
            "index:org.opencontainers.image.title=multi",
            "--annotation",
            "manifest-descriptor:org.opencontainers.image.description=one of two",
            "--metadata-file",
        ])
        .arg(&meta)
        .args(extra)
        .arg(&ctx);
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (digest, _) = build(&["-t", "app"]);
    let mut c = env.cmd("image-store");
    c.args(["manifest", "inspect", "app"]);
    let index = json(&ok(c));
    assert_eq!(
        index["annotations"]["org.opencontainers.image.title"].as_str(),
        Some("multi")
    );
    let archs: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(archs, ["amd64", "arm64"]);
    for m in index["manifests"].as_array().unwrap() {
        assert_eq!(
            m["annotations"]["org.opencontainers.image.description"],
            "one of two"
        );
    }
    let mut c = env.cmd("image-store");
    c.args([
        "ls",
        "--digests",
        "--format",
        "{{.Digest}} {{.Platform}}",
        "--filter",
        "reference=app",
    ]);
    assert_eq!(ok(c), format!("{digest} linux/amd64,linux/arm64\n"));
    let m = json(&std::fs::read_to_string(&meta).unwrap());
    assert_eq!(m["containerimage.digest"].as_str(), Some(digest.as_str()));
    // Each platform's image: the cross stage ran natively for both.
    for (platform, want) in [
        ("linux/amd64", "x86_64 for amd64\nx86_64\n"),
        ("linux/arm64", "x86_64 for arm64\naarch64\n"),
    ] {
        let mut c = env.cmd("container-run");
        c.args([
            "--rm",
            "--network",
            "none",
            "--platform",
            platform,
            "app",
            "cat",
            "/note",
            "/arch",
        ]);
        assert_eq!(ok(c), want, "{platform}");
    }
    // Again: every step of both platforms from the cache; pushed whole
    // and written out per platform, as buildx's local output does.
    let (again, log) = build(&["--push", "-t", &dest]);
    // Three keyed steps per platform (the cross RUN, the COPY, the RUN),
    // each taken from the cache.
    assert_eq!(log.matches("CACHED").count(), 6, "{log}");
    let m = json(&std::fs::read_to_string(&meta).unwrap());
    assert_eq!(
        m["slipway.cache.misses"].as_array().map(Vec::len),
        Some(0),
        "{m}"
    );
    build(&["-o", &format!("type=local,dest={}", out_dir.display())]);
    assert_eq!(
        std::fs::read_to_string(out_dir.join("linux_amd64/arch")).unwrap(),
        "x86_64\n"
    );
    assert_eq!(
        std::fs::read_to_string(out_dir.join("linux_arm64/arch")).unwrap(),
        "aarch64\n"
    );
    // What went out is the index with its layers compressed: skopeo reads
    // each platform's image from it.
    assert_eq!(m["containerimage.digest"].as_str(), Some(again.as_str()));
    let raw = std::process::Command::new(peer("skopeo"))
        .args([
            "inspect",
            "--tls-verify=false",
            "--raw",
            &format!("docker://{dest}"),
        ])
        .output()
        .unwrap();
    let pushed = json(&String::from_utf8_lossy(&raw.stdout));
    assert_eq!(pushed["manifests"].as_array().unwrap().len(), 2);
    let info = skopeo_inspect(&[
        "--tls-verify=false",
        "--override-arch",
        "arm64",
        &format!("docker://{dest}"),
    ]);
    assert_eq!(info["Architecture"].as_str(), Some("arm64"));
    // --format docker: Docker manifests joined into a manifest list.
    let mut c = env.cmd("image-build");
    c.args([
        "-q",
        "--network",
        "none",
        "--format",
        "docker",
        "--platform",
        "linux/amd64,linux/arm64",
        "-t",
        "app-docker",
    ])
    .arg(&ctx);
    ok(c);
    let mut c = env.cmd("image-store");
    c.args(["manifest", "inspect", "app-docker"]);
    let list = json(&ok(c));
    assert_eq!(
        list["mediaType"].as_str(),
        Some("application/vnd.docker.distribution.manifest.list.v2+json")
    );
    assert!(list["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"));
    // With provenance: an attestation about each platform's image.
    let mut c = env.cmd("image-build");
    c.args([
        "-q",
        "--network",
        "none",
        "--provenance",
        "mode=max",
        "--platform",
        "linux/amd64,linux/arm64",
        "-t",
        "app-prov",
    ])
    .arg(&ctx);
    ok(c);
    let mut c = env.cmd("image-store");
    c.args(["manifest", "inspect", "app-prov"]);
    let index = json(&ok(c));
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 4, "{index}");
    for (image, att) in [(&entries[0], &entries[2]), (&entries[1], &entries[3])] {
        assert_eq!(
            att["annotations"]["vnd.docker.reference.digest"],
            image["digest"]
        );
    }
    let mut c = env.cmd("image-store");
    c.args([
        "ls",
        "--format",
        "{{.Platform}}",
        "--filter",
        "reference=app-prov",
    ]);
    assert_eq!(ok(c), "linux/amd64,linux/arm64\n");
    // A single platform has no index to annotate.
    let mut c = env.cmd("image-build");
    c.args(["--annotation", "index:a=b"]).arg(&ctx);
    assert!(fails(c, "image-build").contains("makes no index"));
}
