//! image-build with a real registry (Debian's docker-registry on a free
//! loopback port): bases pulled when the store lacks them or --pull asks.

mod common;

use common::build;
use slipway_tests::registry::TestRegistry;
use slipway_tests::{busybox_image, env_with_bb, ok, write_files, Env};

/// Pushes the store's `bb` to REG/base/bb:1 and returns that name.
fn push_base(env: &Env, reg: &TestRegistry) -> String {
    let name = format!("{}/base/bb:1", reg.host);
    let mut c = env.cmd("image-push");
    c.args(["-q", "bb", &format!("docker://{name}")]);
    ok(c);
    name
}

#[test]
fn a_missing_base_is_pulled_and_pull_fetches_a_newer_one() {
    let reg = TestRegistry::start();
    let pusher = Env::new();
    busybox_image(&pusher, "bb", &["--label", "version=1"]);
    let base = push_base(&pusher, &reg);

    let env = Env::new();
    let ctx = env.path("ctx");
    write_files(
        &ctx,
        &[
            (
                "Dockerfile",
                &format!("FROM {base}\nRUN echo built > /built\n"),
            ),
            (
                "Copy.Dockerfile",
                &format!("FROM scratch\nCOPY --from={base} /etc/passwd /passwd\n"),
            ),
        ],
    );
    let log = build(&env, &ctx, &[]);
    assert!(log.contains(&format!("pulling {base}")), "{log}");
    let mut c = env.cmd("image-store");
    c.args(["inspect", &base]);
    assert!(ok(c).contains("\"version\": \"1\""));
    // Now in the store: not pulled again, and the step is cached.
    let log = build(&env, &ctx, &[]);
    assert!(!log.contains("pulling"), "{log}");
    assert!(log.contains("CACHED"), "{log}");

    // A new image under the same tag: only --pull sees it, and the steps
    // on it run again.
    busybox_image(&pusher, "bb", &["--label", "version=2"]);
    push_base(&pusher, &reg);
    let log = build(&env, &ctx, &[]);
    assert!(log.contains("CACHED"), "{log}");
    let log = build(&env, &ctx, &["--pull"]);
    assert!(log.contains(&format!("pulling {base}")), "{log}");
    assert!(!log.contains("CACHED"), "{log}");
    let mut c = env.cmd("image-store");
    c.args(["inspect", "app"]);
    assert!(ok(c).contains("\"version\": \"2\""));

    // COPY --from an image pulls it too.
    let other = Env::new();
    let mut c = other.cmd("image-build");
    c.args(["-q", "-t", "copied", "-f"])
        .arg(ctx.join("Copy.Dockerfile"))
        .arg(&ctx);
    ok(c);

    // A base that is nowhere: one line that says so.
    write_files(
        &ctx,
        &[("Missing", &format!("FROM {}/no/such:1\n", reg.host))],
    );
    let mut c = env.cmd("image-build");
    c.args(["-q", "-f"]).arg(ctx.join("Missing")).arg(&ctx);
    let line = slipway_tests::fails(c, "image-build");
    assert!(
        line.contains("Missing:1: FROM") && line.contains("pulling it failed"),
        "{line}"
    );
}

#[test]
fn push_sends_every_tag_to_its_registry() {
    let reg = TestRegistry::start();
    let (env, ctx) = env_with_bb();
    write_files(&ctx, &[("Dockerfile", "FROM bb\nRUN echo pushed > /p\n")]);
    let (one, two) = (
        format!("{}/app/x:1", reg.host),
        format!("{}/app/y:2", reg.host),
    );
    let mut c = env.cmd("image-build");
    c.args(["-q", "--network", "none", "--push", "-t", &one, "-t", &two])
        .arg(&ctx);
    let digest = ok(c).trim().to_string();
    for name in [&one, &two] {
        let seen =
            slipway_tests::skopeo_inspect(&["--tls-verify=false", &format!("docker://{name}")]);
        assert_eq!(seen["Digest"], digest.as_str(), "{name}");
    }
    // --push without a name to push to is a usage error.
    let mut c = env.cmd("image-build");
    c.args(["--push"]).arg(&ctx);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_cache_pushed_by_one_runner_is_used_by_another() {
    let reg = TestRegistry::start();
    let base_env = Env::new();
    busybox_image(&base_env, "bb", &[]);
    let base = push_base(&base_env, &reg);
    let cache = format!("{}/cache/app:main", reg.host);
    let dockerfile = format!(
        "FROM {base} AS build\nRUN cat /proc/sys/kernel/random/uuid > /id\n\
         FROM {base}\nCOPY --from=build /id /id\nCOPY src /src\nRUN cat /src /id > /both\n"
    );
    let build_in = |env: &Env, extra: &[&str]| {
        let ctx = env.path("ctx");
        write_files(&ctx, &[("Dockerfile", &dockerfile), ("src", "source\n")]);
        let mut c = env.cmd("image-build");
        c.args(["--network", "none", "-t", "app", "--iidfile"])
            .arg(env.path("iid"))
            .args(extra)
            .arg(&ctx);
        let out = c.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        // The image's ID: its config. Runner one's layers stay
        // uncompressed in its store; runner two has them as they were
        // pushed, compressed, so the manifests differ.
        (std::fs::read_to_string(env.path("iid")).unwrap(), stderr)
    };
    // Runner one builds and exports.
    let one = Env::new();
    let (d1, _) = build_in(&one, &["--cache-to", &cache]);
    // Runner two, an empty store, imports: nothing runs again.
    let two = Env::new();
    let (d2, log) = build_in(&two, &["--cache-from", &cache]);
    assert_eq!(d1, d2, "the same image");
    assert!(!log.contains("DONE"), "{log}");
    assert_eq!(log.matches("CACHED").count(), 4, "{log}");
    // Now recorded locally: the next build needs no registry.
    let (_, log) = build_in(&two, &[]);
    assert_eq!(log.matches("CACHED").count(), 4, "{log}");
    // A cache that is not there yet is a warning, not a failure.
    let three = Env::new();
    let (_, log) = build_in(
        &three,
        &["--cache-from", &format!("{}/cache/none:x", reg.host)],
    );
    assert!(log.contains("warning: --cache-from"), "{log}");
}
