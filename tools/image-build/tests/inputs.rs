//! What CI pipelines pass to a build, as buildx takes it: named build
//! contexts (a directory, an image by another name, an OCI layout) for
//! FROM, COPY --from and RUN --mount from=.

use slipway_tests::{env_with_bb, ok, write_files};
use std::fs;

#[test]
fn named_contexts_stand_in_for_images_of_their_name() {
    let (env, ctx) = env_with_bb();
    let extra = env.path("extra");
    write_files(
        &extra,
        &[
            ("e.txt", "from-extra\n"),
            ("skip.log", "no\n"),
            (".dockerignore", "*.log\n"),
        ],
    );
    // An OCI layout holding the base under the tag v1.
    let layout = env.path("layout");
    let mut c = env.cmd("image-store");
    c.args(["save", "bb"])
        .arg(format!("oci:{}:v1", layout.display()));
    ok(c);
    write_files(
        &ctx,
        &[(
            "Dockerfile",
            "FROM base\nCOPY --from=extra / /extra/\nRUN --mount=from=extra,target=/m cat /m/e.txt > /seen\nFROM other\nCOPY --from=0 /seen /extra/e.txt /out/\n",
        )],
    );
    let mut c = env.cmd("image-build");
    c.args(["-q", "--network", "none", "-t", "named"])
        .args(["--build-context", "base=docker-image://bb"])
        .arg("--build-context")
        .arg(format!("extra={}", extra.display()))
        .arg("--build-context")
        .arg(format!("other=oci-layout://{}:v1", layout.display()))
        .arg(&ctx);
    ok(c);
    let mut c = env.cmd("container-run");
    c.args([
        "--rm",
        "--network",
        "none",
        "named",
        "sh",
        "-c",
        "cat /out/seen /out/e.txt; ls /out; ls /bin/busybox",
    ]);
    assert_eq!(ok(c), "from-extra\nfrom-extra\ne.txt\nseen\n/bin/busybox\n");
    // The build's private images of the contexts are gone with it.
    let mut c = env.cmd("image-store");
    c.args(["ls", "-a", "--format", "{{.Repository}}:{{.Tag}}"]);
    let all = ok(c);
    assert!(!all.contains("context-"), "{all}");
    // A URL is refused by name.
    let mut c = env.cmd("image-build");
    c.args(["--build-context", "x=https://example.invalid/c.tar"])
        .arg(&ctx);
    let out = c.output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not supported yet"));
    let _ = fs::remove_dir_all(&layout);
}
