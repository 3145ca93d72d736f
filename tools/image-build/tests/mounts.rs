//! RUN --mount end to end: cache mounts kept across builds, secrets that
//! never reach a layer or the history, bind mounts from the context (as
//! .dockerignore leaves it) and from a stage, tmpfs, and no mount point
//! left behind in the step's layer.

mod common;

use common::{build, run_in};
use slipway_tests::{env_with_bb, fails, ok, write_files, Env};

/// Every file of every layer blob of `app`, as (path, bytes).
fn layer_files(env: &Env) -> Vec<(String, Vec<u8>)> {
    let mut c = env.cmd("image-store");
    c.args(["inspect", "app"]);
    let img: serde_json::Value = serde_json::from_str(&ok(c)).unwrap();
    let mut out = vec![];
    for l in img[0]["manifest"]["layers"].as_array().unwrap() {
        let hex = l["digest"]
            .as_str()
            .unwrap()
            .strip_prefix("sha256:")
            .unwrap();
        let blob = std::fs::read(env.store().join("blobs/sha256").join(hex)).unwrap();
        // Base layers come gzip'd, the build's own uncompressed.
        let (_, plain) = slipway_common::compress::decompress(&blob[..]).unwrap();
        let mut a = tar::Archive::new(plain);
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = vec![];
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            out.push((path, data));
        }
    }
    out
}

#[test]
fn a_cache_mount_keeps_its_contents_across_builds_and_leaves_no_trace() {
    let (env, ctx) = env_with_bb();
    write_files(
        &ctx,
        &[(
            "Dockerfile",
            "FROM bb\n\
             ARG N\n\
             RUN --mount=type=cache,target=/var/cache/app,sharing=locked,uid=1000,mode=0700 \
             echo $N >> /var/cache/app/log && cat /var/cache/app/log | wc -l > /count \
             && stat -c '%u %a' /var/cache/app > /owner\n",
        )],
    );
    build(&env, &ctx, &["--build-arg", "N=1"]);
    assert_eq!(run_in(&env, "app", "cat /count /owner"), "1\n1000 700\n");
    // A second run (the step misses: N changed) sees the first's file.
    build(&env, &ctx, &["--build-arg", "N=2"]);
    assert_eq!(run_in(&env, "app", "cat /count"), "2\n");
    // The cache is not in the image, nor is its mount point.
    assert_eq!(
        run_in(&env, "app", "ls /var/cache 2>&1 || true"),
        "ls: /var/cache: No such file or directory\n"
    );
    assert!(layer_files(&env).iter().all(|(p, _)| !p.starts_with("var")));
    // gc --build-cache empties it.
    let mut c = env.cmd("image-store");
    c.args(["gc", "--build-cache"]);
    ok(c);
    build(&env, &ctx, &["--build-arg", "N=3"]);
    assert_eq!(run_in(&env, "app", "cat /count"), "1\n");
}

#[test]
fn a_cache_mount_from_a_stage_starts_with_its_files_and_keeps_what_runs_add() {
    let (env, ctx) = env_with_bb();
    write_files(
        &ctx,
        &[
            ("seed.txt", "seed\n"),
            (
                "Dockerfile",
                "FROM bb AS builder\n\
                 RUN mkdir -p /out/sub && chmod 750 /out/sub\n\
                 COPY seed.txt /out/sub/\n\
                 FROM bb\n\
                 ARG N\n\
                 RUN --mount=type=cache,from=builder,source=/out/sub,target=/c \
                 echo $N >> /c/log && cat /c/seed.txt /c/log > /seen && stat -c '%a' /c > /mode\n",
            ),
        ],
    );
    build(&env, &ctx, &["--build-arg", "N=1"]);
    assert_eq!(run_in(&env, "app", "cat /seen /mode"), "seed\n1\n750\n");
    // The seeded cache persists: the second build sees the first's write.
    build(&env, &ctx, &["--build-arg", "N=2"]);
    assert_eq!(run_in(&env, "app", "cat /seen"), "seed\n1\n2\n");
    // The builder stage is untouched, and the mount point left nothing.
    let files = layer_files(&env);
    assert!(
        files.iter().any(|(p, _)| p == "seen"),
        "the layers are read"
    );
    assert!(files.iter().all(|(p, _)| p != "c" && !p.starts_with("c/")));
}

#[test]
fn secrets_reach_the_command_but_no_layer_history_or_config() {
    let (env, ctx) = env_with_bb();
    let secret = env.path("token");
    std::fs::write(&secret, "hunter2-file").unwrap();
    write_files(
        &ctx,
        &[(
            "Dockerfile",
            "FROM bb\n\
             RUN --mount=type=secret,id=tok cp /run/secrets/tok /copied-by-mistake-no && \
             stat -c '%a %u' /run/secrets/tok > /mode && rm /copied-by-mistake-no\n\
             RUN --mount=type=secret,id=env,env=TOKEN,required echo ${#TOKEN} > /len\n\
             RUN --mount=type=secret,id=absent echo optional > /optional\n\
             RUN --mount=type=secret,id=tok,target=/etc/key,mode=0440,uid=1000 stat -c '%a %u' /etc/key > /mode2\n",
        )],
    );
    let secret_arg = format!("id=tok,src={}", secret.display());
    let mut c = env.cmd("image-build");
    c.args([
        "--network",
        "none",
        "-t",
        "app",
        "--secret",
        &secret_arg,
        "--secret",
        "id=env,env=MY_TOKEN",
    ])
    .env("MY_TOKEN", "hunter2-env")
    .arg(&ctx);
    ok(c);
    assert_eq!(
        run_in(&env, "app", "cat /mode /len /optional /mode2"),
        "400 0\n11\noptional\n440 1000\n"
    );
    // Nowhere in the image: not in a layer's bytes, not the config.
    for (path, data) in layer_files(&env) {
        let text = String::from_utf8_lossy(&data);
        assert!(!text.contains("hunter2"), "{path} holds the secret");
        assert!(
            !path.contains("secrets") && path != "etc/key",
            "{path} is a mount point"
        );
    }
    let mut c = env.cmd("image-store");
    c.args(["inspect", "app"]);
    assert!(!ok(c).contains("hunter2"));
    // A required secret that is not given: one line that says which
    // (once the step runs: a cached step needs no secret, as in BuildKit).
    let mut c = env.cmd("image-build");
    c.args([
        "-q",
        "--no-cache",
        "--network",
        "none",
        "-t",
        "app",
        "--secret",
        &secret_arg,
    ])
    .arg(&ctx);
    let line = fails(c, "image-build");
    assert!(
        line.contains("Dockerfile:3:") && line.contains("secret \"env\" is required"),
        "{line}"
    );
}

#[test]
fn bind_mounts_read_the_context_and_stages_and_keep_nothing() {
    let (env, ctx) = env_with_bb();
    write_files(
        &ctx,
        &[
            (
                "Dockerfile",
                "FROM bb AS gen\nRUN mkdir /out && echo generated > /out/g\n\
                 FROM bb\n\
                 RUN --mount=target=/src ls /src > /listing && (touch /src/x 2>/dev/null && echo writable || echo read-only) > /ro\n\
                 RUN --mount=type=bind,source=app,target=/app,rw touch /app/new && ls /app > /rw\n\
                 RUN --mount=type=bind,from=gen,source=/out,target=/gen cat /gen/g > /from-stage\n\
                 RUN --mount=type=tmpfs,target=/scratch mount | grep -c ' /scratch ' > /tmpfs\n",
            ),
            (".dockerignore", "secret.txt\n"),
            ("app/main", "main\n"),
            ("secret.txt", "not in the context\n"),
        ],
    );
    build(&env, &ctx, &[]);
    assert_eq!(
        run_in(&env, "app", "cat /listing /ro /rw /from-stage /tmpfs"),
        "Dockerfile\napp\nread-only\nmain\nnew\ngenerated\n1\n"
    );
    // The writable mount's writes went nowhere.
    assert!(!ctx.join("app/new").exists());
    assert!(layer_files(&env)
        .iter()
        .all(|(p, _)| !["src", "app", "gen", "scratch"].contains(&p.trim_end_matches('/'))));
    // What a bind mount reads is part of the step's key.
    let log = build(&env, &ctx, &[]);
    assert_eq!(log.matches("CACHED").count(), 5, "{log}");
    std::fs::write(ctx.join("app/main"), "changed\n").unwrap();
    let log = build(&env, &ctx, &[]);
    assert_eq!(log.matches("CACHED").count(), 1, "{log}");
}

#[test]
fn a_symlink_in_the_context_never_leads_out_of_it() {
    let (env, ctx) = env_with_bb();
    write_files(
        &ctx,
        &[(
            "Dockerfile",
            "FROM bb\n\
             RUN --mount=type=bind,source=up,target=/h test -f /h/Dockerfile && test ! -e /h/etc/shadow && echo inside > /seen\n\
             COPY up/Dockerfile /copied\n",
        )],
    );
    std::os::unix::fs::symlink("/", ctx.join("up")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", ctx.join("host-file")).unwrap();
    build(&env, &ctx, &[]);
    assert_eq!(
        run_in(&env, "app", "cat /seen; head -1 /copied"),
        "inside\nFROM bb\n"
    );
    // A link to a host file is a link to the context's own (missing) one.
    write_files(&ctx, &[("Dockerfile", "FROM bb\nCOPY host-file /x\n")]);
    let mut c = env.cmd("image-build");
    c.args(["-q", "--network", "none"]).arg(&ctx);
    let line = fails(c, "image-build");
    assert!(
        line.contains("\"host-file\": not found in the build context"),
        "{line}"
    );
}
