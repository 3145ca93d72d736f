//! Builds for another platform than the host's: a foreign stage's RUN
//! steps run under qemu's user-mode emulator (registered with
//! binfmt_misc by scripts/test.sh), a `FROM --platform=$BUILDPLATFORM`
//! stage natively, the predefined platform ARGs per stage, and the cache
//! kept apart per platform.

use slipway_tests::{env_with_bb, foreign_busybox_image, ok, write_files};

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
    // Several platforms at once are refused by name.
    let mut c = env.cmd("image-build");
    c.args(["--platform", "linux/amd64,linux/arm64"]).arg(&ctx);
    let out = c.output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("several platforms"));
}
