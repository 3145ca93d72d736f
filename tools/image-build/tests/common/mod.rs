//! What the image-build test files share: a build that must succeed, and
//! a command run in the image it tagged.
#![allow(dead_code)]

use slipway_tests::{ok, Env};
use std::path::Path;

/// Builds CTX as `app` (RUN steps without a network); returns stderr.
pub fn build(env: &Env, ctx: &Path, extra: &[&str]) -> String {
    build_output(env, ctx, extra).1
}

/// The same, returning stdout (the manifest digest) and stderr.
pub fn build_output(env: &Env, ctx: &Path, extra: &[&str]) -> (String, String) {
    let mut c = env.cmd("image-build");
    c.args(["--network", "none", "-t", "app"])
        .args(extra)
        .arg(ctx);
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    // Shown when a test fails.
    eprintln!("{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap().trim().to_string();
    (stdout, stderr)
}

/// `sh -c SCRIPT` in `app`; its stdout.
pub fn run_in(env: &Env, image: &str, script: &str) -> String {
    let mut c = env.cmd("container-run");
    c.args(["--rm", "--network", "none", image, "sh", "-c", script]);
    ok(c)
}
