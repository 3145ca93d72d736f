//! The build cache, end to end: what a rebuild takes from the cache and
//! what it runs again. A wrong hit is worse than a miss, so each input a
//! step reads is changed once and must make that step (and only the steps
//! after it) run again.

mod common;

use common::{build_output, run_in};
use slipway_tests::{busybox_image, env_with_bb, ok, write_files, Env};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// One build: its manifest digest and, for each RUN, COPY and ADD in the
/// order of their numbers, whether it was CACHED or ran (DONE). Stages
/// that do not depend on each other run at once, so their lines mix: a
/// step's outcome is found by its number.
fn build(env: &Env, ctx: &Path, extra: &[&str]) -> (String, Vec<(String, String)>) {
    let (digest, stderr) = build_output(env, ctx, extra);
    let mut texts = std::collections::BTreeMap::new();
    let mut steps = std::collections::BTreeMap::new();
    for l in stderr.lines() {
        let Some((num, rest)) = l.split_once(' ') else {
            continue;
        };
        let Some(n) = num.strip_prefix('#').and_then(|n| n.parse::<usize>().ok()) else {
            continue;
        };
        if rest.starts_with('[') {
            let text = rest.split_once("] ").map(|(_, t)| t.to_string());
            if let Some(t) =
                text.filter(|t| ["RUN", "COPY", "ADD"].iter().any(|k| t.starts_with(k)))
            {
                texts.insert(n, t);
            }
        } else if rest == "CACHED" || rest.starts_with("DONE") {
            let text = texts
                .get(&n)
                .unwrap_or_else(|| panic!("{num} {rest} without a step:\n{stderr}"));
            steps.insert(
                n,
                (text.clone(), rest.split(' ').next().unwrap().to_string()),
            );
        }
    }
    (digest, steps.into_values().collect())
}

fn outcomes(steps: &[(String, String)]) -> Vec<&str> {
    steps.iter().map(|(_, o)| o.as_str()).collect()
}

const DOCKERFILE: &str = "FROM bb
ARG UNUSED_HERE
RUN cat /proc/sys/kernel/random/uuid > /first
COPY one /one
RUN cat /one > /seen-one
COPY dir /dir/
RUN ls -l /dir > /listing
";

fn context(env: &Env) -> std::path::PathBuf {
    let ctx = env.path("ctx");
    write_files(
        &ctx,
        &[
            ("Dockerfile", DOCKERFILE),
            ("one", "1\n"),
            ("dir/a", "a\n"),
            ("dir/b", "b\n"),
        ],
    );
    ctx
}

#[test]
fn an_unchanged_rebuild_takes_every_step_from_the_cache() {
    let env = Env::new();
    busybox_image(&env, "bb", &[]);
    let ctx = context(&env);
    let (d1, s1) = build(&env, &ctx, &[]);
    assert_eq!(outcomes(&s1), ["DONE"; 5]);
    let first = run_in(&env, "app", "cat /first");
    let (d2, s2) = build(&env, &ctx, &[]);
    assert_eq!(outcomes(&s2), ["CACHED"; 5]);
    assert_eq!(d1, d2, "the same image");
    // The RUN did not run again: its output is the first build's.
    assert_eq!(run_in(&env, "app", "cat /first"), first);
    // Touching files changes no content.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for f in ["one", "dir/a"] {
        fs::File::options()
            .write(true)
            .open(ctx.join(f))
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    let (d3, s3) = build(&env, &ctx, &[]);
    assert_eq!((d3, outcomes(&s3)), (d1, vec!["CACHED"; 5]));
    // --no-cache runs everything again.
    let (_, s4) = build(&env, &ctx, &["--no-cache"]);
    assert_eq!(outcomes(&s4), ["DONE"; 5]);
    assert_ne!(run_in(&env, "app", "cat /first"), first);
}

#[test]
fn a_changed_file_reruns_the_step_that_reads_it_and_the_steps_after() {
    let env = Env::new();
    busybox_image(&env, "bb", &[]);
    let ctx = context(&env);
    build(&env, &ctx, &[]);
    fs::write(ctx.join("one"), "2\n").unwrap();
    let (_, s) = build(&env, &ctx, &[]);
    assert_eq!(outcomes(&s), ["CACHED", "DONE", "DONE", "DONE", "DONE"]);
    assert_eq!(run_in(&env, "app", "cat /seen-one"), "2\n");
    // A mode is content too; only the last COPY and RUN read it.
    fs::set_permissions(ctx.join("dir/b"), fs::Permissions::from_mode(0o600)).unwrap();
    let (_, s) = build(&env, &ctx, &[]);
    assert_eq!(outcomes(&s), ["CACHED", "CACHED", "CACHED", "DONE", "DONE"]);
    assert!(run_in(&env, "app", "cat /listing").contains("-rw-------"));
    // So is a new file in a copied directory, and a removed one.
    fs::write(ctx.join("dir/c"), "c\n").unwrap();
    let (_, s) = build(&env, &ctx, &[]);
    assert_eq!(outcomes(&s), ["CACHED", "CACHED", "CACHED", "DONE", "DONE"]);
    assert!(run_in(&env, "app", "cat /listing").contains(" c\n"));
    // Back to contents built before: those steps' images come back.
    fs::remove_file(ctx.join("dir/c")).unwrap();
    let (_, s) = build(&env, &ctx, &[]);
    assert_eq!(outcomes(&s), ["CACHED"; 5]);
    assert!(!run_in(&env, "app", "cat /listing").contains(" c\n"));
    // A file .dockerignore leaves out is not read at all.
    write_files(&ctx, &[(".dockerignore", "dir/ignored\n")]);
    build(&env, &ctx, &[]);
    fs::write(ctx.join("dir/ignored"), "x\n").unwrap();
    let (_, s) = build(&env, &ctx, &[]);
    assert_eq!(outcomes(&s), ["CACHED"; 5]);
}

#[test]
fn a_changed_base_or_build_arg_misses() {
    let (env, ctx) = env_with_bb();
    write_files(
        &ctx,
        &[(
            "Dockerfile",
            "FROM bb\nRUN echo base > /b\nARG V=1\nRUN echo $V > /v\nRUN echo after > /after\n",
        )],
    );
    build(&env, &ctx, &[]);
    // A build arg the step sees: from its ARG on, the steps run again.
    let (_, s) = build(&env, &ctx, &["--build-arg", "V=2"]);
    assert_eq!(outcomes(&s), ["CACHED", "DONE", "DONE"]);
    assert_eq!(run_in(&env, "app", "cat /v"), "2\n");
    // Back to the first value: those steps are still cached.
    let (_, s) = build(&env, &ctx, &[]);
    assert_eq!(outcomes(&s), ["CACHED"; 3]);
    // A build arg that no instruction declares changes nothing.
    let (_, s) = build(&env, &ctx, &["--build-arg", "OTHER=x"]);
    assert_eq!(outcomes(&s), ["CACHED"; 3]);
    // A new base under the same name: everything runs again.
    busybox_image(&env, "bb", &["--label", "rebuilt=yes"]);
    let (_, s) = build(&env, &ctx, &[]);
    assert_eq!(outcomes(&s), ["DONE"; 3]);
}

#[test]
fn a_changed_earlier_stage_misses_the_copy_from_it_and_an_unchanged_one_hits() {
    let (env, ctx) = env_with_bb();
    write_files(&ctx,
        &[
            (
                "Dockerfile",
                "FROM bb AS gen\nCOPY src /src\nRUN cp /src /out\n\
                 FROM bb AS other\nRUN echo other > /other\n\
                 FROM bb\nCOPY --from=other /other /other\nCOPY --from=gen /out /out\nRUN cat /out /other > /both\n",
            ),
            ("src", "v1\n"),
        ],
    );
    build(&env, &ctx, &[]);
    fs::write(ctx.join("src"), "v2\n").unwrap();
    let (_, s) = build(&env, &ctx, &[]);
    let mut got: Vec<(&str, &str)> = s.iter().map(|(t, o)| (t.as_str(), o.as_str())).collect();
    got.sort();
    let mut want = [
        ("COPY src /src", "DONE"),
        ("RUN cp /src /out", "DONE"),
        ("RUN echo other > /other", "CACHED"),
        ("COPY --from=other /other /other", "CACHED"),
        ("COPY --from=gen /out /out", "DONE"),
        ("RUN cat /out /other > /both", "DONE"),
    ];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(run_in(&env, "app", "cat /both"), "v2\nother\n");
}

#[test]
fn gc_keeps_the_cache_until_it_is_told_to_forget_it() {
    let env = Env::new();
    busybox_image(&env, "bb", &[]);
    let ctx = context(&env);
    build(&env, &ctx, &[]);
    let mut c = env.cmd("image-store");
    c.args(["rm", "app"]);
    ok(c);
    let mut c = env.cmd("image-store");
    c.arg("gc");
    ok(c);
    let (_, s) = build(&env, &ctx, &[]);
    assert_eq!(outcomes(&s), ["CACHED"; 5]);
    assert_eq!(run_in(&env, "app", "cat /seen-one"), "1\n");
    let mut c = env.cmd("image-store");
    c.args(["gc", "--build-cache", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&ok(c)).unwrap();
    assert!(report["cache_records"].as_u64().unwrap() >= 5, "{report}");
    let (_, s) = build(&env, &ctx, &[]);
    assert_eq!(outcomes(&s), ["DONE"; 5]);
}

#[test]
fn a_copy_link_layer_is_reused_on_a_changed_base_without_copying_again() {
    let (env, ctx) = env_with_bb();
    write_files(
        &ctx,
        &[
            ("Dockerfile", "FROM bb\nARG V=1\nRUN echo $V > /v\nCOPY --link app /opt/app/\nCOPY plain /plain\n"),
            ("app/bin", "#!/bin/sh\n"),
            ("plain", "p\n"),
        ],
    );
    let layers = |env: &Env| {
        let mut c = env.cmd("image-store");
        c.args(["inspect", "app"]);
        let v: serde_json::Value = serde_json::from_str(&slipway_tests::ok(c)).unwrap();
        v[0]["manifest"]["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let (_, s) = build(&env, &ctx, &[]);
    assert_eq!(outcomes(&s), ["DONE", "DONE", "DONE"]);
    let before = layers(&env);
    // The RUN below it changes: the --link layer is the same blob,
    // rebased; the plain COPY after it is made again.
    let (_, s) = build(&env, &ctx, &["--build-arg", "V=2"]);
    assert_eq!(outcomes(&s), ["DONE", "CACHED", "DONE"]);
    let after = layers(&env);
    assert_ne!(before[1], after[1], "the RUN layer changed");
    assert_eq!(before[2], after[2], "the --link layer did not");
    assert_eq!(
        run_in(&env, "app", "cat /v /opt/app/bin; stat -c %a /opt"),
        "2\n#!/bin/sh\n755\n"
    );
}

#[test]
fn a_build_arg_reaches_run_through_its_environment_and_copy_only_where_expanded() {
    let (env, ctx) = env_with_bb();
    write_files(
        &ctx,
        &[
            (
                "Dockerfile",
                "FROM bb\nARG A=1\nCOPY one /one\nRUN echo ran > /ran\nCOPY one /one-$A\n",
            ),
            ("one", "1\n"),
        ],
    );
    build(&env, &ctx, &[]);
    // As BuildKit: the COPY that never names A keeps its layer although
    // the ARG's history above it changed; RUN sees A in its environment.
    let (_, s) = build(&env, &ctx, &["--build-arg", "A=2"]);
    assert_eq!(outcomes(&s), ["CACHED", "DONE", "DONE"]);
    assert_eq!(run_in(&env, "app", "cat /one /one-2 /ran"), "1\n1\nran\n");
    let history = inspect_history(&env, "app");
    assert!(history.iter().any(|h| h == "ARG A=2"), "{history:?}");
}

#[test]
fn a_changed_label_above_a_step_keeps_its_layer() {
    let (env, ctx) = env_with_bb();
    let dockerfile = |label: &str| {
        format!(
            "FROM bb\nLABEL version={label}\nRUN cat /proc/sys/kernel/random/uuid > /id\nCOPY one /one\n"
        )
    };
    write_files(&ctx, &[("Dockerfile", &dockerfile("1")), ("one", "1\n")]);
    build(&env, &ctx, &[]);
    let id = run_in(&env, "app", "cat /id");
    write_files(&ctx, &[("Dockerfile", &dockerfile("2"))]);
    let (_, s) = build(&env, &ctx, &[]);
    assert_eq!(outcomes(&s), ["CACHED", "CACHED"]);
    assert_eq!(run_in(&env, "app", "cat /id"), id, "the same layer");
    let mut c = env.cmd("image-store");
    c.args(["inspect", "app"]);
    let v = slipway_tests::json(&ok(c));
    assert_eq!(v[0]["config"]["config"]["Labels"]["version"], "2");
}

fn inspect_history(env: &Env, image: &str) -> Vec<String> {
    let mut c = env.cmd("image-store");
    c.args(["inspect", image]);
    let v = slipway_tests::json(&ok(c));
    v[0]["config"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["created_by"].as_str().unwrap_or("").to_string())
        .collect()
}
