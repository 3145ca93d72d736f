//! image-build end to end, with the real tools: builds run containers
//! (as root) in a fresh store per test, and the results are checked by
//! running them and by `image-store inspect`.

use slipway_tests::{busybox_image, env_with_bb, fails, json, ok, write_files, Env};
use std::fs;
use std::path::Path;
use std::process::Command;

fn inspect(env: &Env, image: &str) -> serde_json::Value {
    let mut c = env.cmd("image-store");
    c.arg("inspect").arg(image);
    json(&ok(c))[0].clone()
}

const DOCKERFILE: &str = r#"# syntax=docker/dockerfile:1
FROM bb
ARG GREETING=hello
ENV APP_HOME=/srv/app MODE="two words"
WORKDIR $APP_HOME
RUN echo "$GREETING from $MODE" > greeting && echo built-as-$(id -u) > who
RUN ["sh", "-c", "echo exec-form > exec"]
RUN <<EOF
echo first > heredoc
echo second >> heredoc
EOF
COPY notes.txt ./
COPY src/ code/
COPY *.conf conf/
COPY --chown=1000:1000 --chmod=600 secret.txt owned/secret.txt
USER app
LABEL org.example.greeting=$GREETING "with space"=yes
EXPOSE 8080 53/udp
ENTRYPOINT ["sh", "-c"]
CMD ["id -u; pwd; echo $MODE; env | grep -c GREETING; cat greeting who exec heredoc notes.txt code/main.c code/lib/util.c conf/a.conf conf/b.conf; ls code conf; stat -c '%u:%g %a' owned/secret.txt"]
"#;

fn context(env: &Env) -> std::path::PathBuf {
    let ctx = env.path("ctx");
    write_files(
        &ctx,
        &[
            ("Dockerfile", DOCKERFILE),
            (".dockerignore", "src/*.o\nc.conf\n"),
            ("notes.txt", "notes\n"),
            ("src/main.c", "int main;\n"),
            ("src/main.o", "object\n"),
            ("src/lib/util.c", "util\n"),
            ("a.conf", "a-conf\n"),
            ("b.conf", "b-conf\n"),
            ("c.conf", "ignored-conf\n"),
            ("secret.txt", "secret\n"),
        ],
    );
    ctx
}

#[test]
fn builds_every_basic_instruction_and_the_script_builds_the_same_image() {
    let env = Env::new();
    busybox_image(&env, "bb", &[]);
    let ctx = context(&env);
    let iid = env.path("iid");
    let started = std::time::Instant::now();
    let mut c = env.cmd("image-build");
    c.env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["-t", "app:1", "-t", "app:other", "--iidfile"])
        .arg(&iid)
        .arg(&ctx);
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    eprintln!("build took {:.1}s", started.elapsed().as_secs_f64());
    let digest = String::from_utf8(out.stdout).unwrap();
    let digest = digest.trim();
    // Progress: one line per step, BuildKit's numbering.
    assert!(stderr.contains("#1 [stage-0 1/16] FROM bb"), "{stderr}");
    assert!(
        stderr.contains("#5 [stage-0 5/16] RUN echo \"$GREETING"),
        "{stderr}"
    );

    // The container shows what the steps made.
    let mut c = env.cmd("container-run");
    c.args(["--rm", "--network", "none", "app:1"]);
    let shown = ok(c);
    let want = [
        "1000\n/srv/app\ntwo words\n0\n",
        "hello from two words\nbuilt-as-0\nexec-form\nfirst\nsecond\nnotes\nint main;\nutil\na-conf\nb-conf\n",
        "1000:1000 600\n",
    ];
    for w in want {
        assert!(shown.contains(w), "{w:?} not in:\n{shown}");
    }
    // Directory contents, a glob, and what .dockerignore leaves out.
    let listing = shown.split("b-conf\n").nth(1).unwrap();
    assert!(listing.contains("lib\nmain.c\n"), "{listing}");
    assert!(
        !listing.contains("main.o") && !listing.contains("c.conf"),
        "{listing}"
    );

    // The config and the history.
    let img = inspect(&env, "app:1");
    assert_eq!(img["digest"], digest);
    assert_eq!(
        fs::read_to_string(&iid).unwrap(),
        img["id"].as_str().unwrap()
    );
    let cfg = &img["config"]["config"];
    assert_eq!(
        cfg["Env"],
        json(r#"["APP_HOME=/srv/app", "MODE=two words"]"#)
    );
    assert_eq!(
        cfg["Labels"],
        json(r#"{"org.example.greeting": "hello", "with space": "yes"}"#)
    );
    assert_eq!(
        cfg["ExposedPorts"],
        json(r#"{"8080/tcp": {}, "53/udp": {}}"#)
    );
    assert_eq!(cfg["User"], "app");
    assert_eq!(cfg["WorkingDir"], "/srv/app");
    assert_eq!(cfg["Entrypoint"], json(r#"["sh", "-c"]"#));
    assert!(cfg["Cmd"][0].as_str().unwrap().starts_with("id -u;"));
    let history = img["config"]["history"].as_array().unwrap();
    let entry = |prefix: &str| {
        history
            .iter()
            .find(|h| h["created_by"].as_str().unwrap_or("").starts_with(prefix))
            .unwrap_or_else(|| panic!("no history entry {prefix:?}: {history:?}"))
    };
    for meta in [
        "ARG GREETING=hello",
        "ENV APP_HOME=/srv/app MODE=two words",
        "USER app",
        "EXPOSE map[53/udp:{} 8080/tcp:{}]",
        "ENTRYPOINT [\"sh\" \"-c\"]",
        "CMD [\"id -u;",
    ] {
        assert_eq!(entry(meta)["empty_layer"], true, "{meta}");
    }
    for layer in [
        // The image lacks it: WORKDIR makes it, in a layer of its own.
        "WORKDIR /srv/app",
        "RUN |1 GREETING=hello /bin/sh -c echo",
        "RUN |1 GREETING=hello sh -c echo exec-form > exec # buildkit",
        "COPY --chown=1000:1000 --chmod=600 secret.txt owned/secret.txt # buildkit",
    ] {
        assert!(entry(layer).get("empty_layer").is_none(), "{layer}");
    }
    // The base's layer, WORKDIR's, three RUNs and four COPYs.
    let layers = img["config"]["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(layers.len(), 9);
    // The build leaves no intermediate names behind.
    let mut c = env.cmd("image-store");
    c.arg("ls");
    assert!(!ok(c).contains("image-build"));

    // The same build as a script of tool calls gives the same image.
    let mut c = env.cmd("image-build");
    c.args(["--print-script", "-t", "app:script"]).arg(&ctx);
    let script = ok(c);
    for call in [
        "container-run --rm --stop-timeout 1 --upper",
        "layer-diff --upper",
        "layer-diff --dir",
        "image-assemble -q --compression none --base",
        "image-store tag",
    ] {
        assert!(script.contains(call), "{call} not in:\n{script}");
    }
    let path = env.path("build.sh");
    fs::write(&path, &script).unwrap();
    let out = Command::new("sh")
        .arg("-e")
        .arg(&path)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env_remove("SLIPWAY_STORE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_script = inspect(&env, "app:script");
    let strip = |v: &serde_json::Value| {
        let mut v = v["config"].clone();
        v.as_object_mut().unwrap().remove("created");
        for h in v["history"].as_array_mut().unwrap() {
            h.as_object_mut().unwrap().remove("created");
        }
        v
    };
    assert_eq!(strip(&from_script), strip(&img));
    assert_eq!(from_script["id"], img["id"], "the same layers and config");
}

#[test]
fn target_builds_only_the_stages_it_needs_and_copies_from_them() {
    let (env, ctx) = env_with_bb();
    write_files(&ctx,
        &[
            (
                "Dockerfile",
                "FROM bb AS deps\n\
                 RUN echo deps > /deps && mkdir /out && echo o > /out/f && chown -R 1000:1000 /out\n\
                 FROM bb AS unused\nRUN echo unused > /unused\n\
                 FROM deps AS app\nENV FROM_APP=1\nRUN cat /deps > /app-saw\n\
                 COPY --from=deps /out /copied/\n\
                 COPY --from=bb /etc/group /from-image/\n\
                 COPY --chown=app:wheel file /named\n\
                 FROM app AS last\nRUN echo last > /last\n",
            ),
            ("file", "f\n"),
        ],
    );
    let mut c = env.cmd("image-build");
    c.args(["-t", "multi", "--target", "app"]).arg(&ctx);
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stages: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with('#') && l.contains(" FROM "))
        .collect();
    assert_eq!(
        stages,
        ["#1 [deps 1/2] FROM bb", "#3 [app 1/6] FROM deps"],
        "{stderr}"
    );
    assert!(
        !stderr.contains("unused") && !stderr.contains("[last"),
        "{stderr}"
    );
    let mut c = env.cmd("container-run");
    c.args(["--rm", "--network", "none", "multi", "sh", "-c"])
        .arg(
            "cat /app-saw; echo $FROM_APP; ls /unused /last 2>&1 | wc -l; \
         stat -c %u:%g /copied/f /named; head -1 /from-image/group",
        );
    assert_eq!(ok(c), "deps\n1\n2\n1000:1000\n1000:10\nroot:x:0:\n");
}

#[test]
fn a_failing_run_names_its_line_and_a_command_to_debug_it() {
    let (env, ctx) = env_with_bb();
    write_files(&ctx,
        &[(
            "Dockerfile",
            "FROM bb\nENV STATE=before\nRUN echo kept > /marker\nRUN echo partial > /partial; echo out; exit 3\nRUN echo never\n",
        )],
    );
    let mut c = env.cmd("image-build");
    c.args(["--progress", "quiet", "-t", "never"]).arg(&ctx);
    let line = fails(c, "image-build");
    assert!(
        line.starts_with("image-build: error: Dockerfile:4: RUN echo partial > /partial; echo out; exit 3: exit status 3; to debug it: container-run --rm -it "),
        "{line}"
    );
    // The hint opens a shell in the state the step failed in (what it
    // wrote before it failed, on what it started from): run it with a
    // command instead of the shell.
    let hint = line.split("to debug it: ").nth(1).unwrap();
    let words: Vec<&str> = hint.split(' ').collect();
    assert_eq!(*words.last().unwrap(), "/bin/sh");
    let image = words[words.len() - 2];
    let mut c = env.cmd("container-run");
    c.args([
        "--rm",
        "--network",
        "none",
        image,
        "sh",
        "-c",
        "cat /marker /partial; echo $STATE",
    ]);
    assert_eq!(ok(c), "kept\npartial\nbefore\n");
    // Only that step's image keeps a name (listed with -a, as the
    // build's own).
    let mut c = env.cmd("image-store");
    c.args(["ls", "-a"]);
    let names = ok(c);
    assert_eq!(names.matches("image-build").count(), 1, "{names}");
    assert!(!names.contains("never"), "{names}");
}

#[test]
fn what_the_slice_does_not_do_is_refused_in_one_line() {
    let (env, ctx) = env_with_bb();
    for (file, dockerfile, want) in [
        (
            "missing",
            "FROM nothere:1\nRUN true\n",
            "missing:1: FROM nothere:1: no such image in the store, and pulling it failed: ",
        ),
        (
            "parents",
            "FROM bb\nCOPY --parents **/file /x/\n",
            "parents:2: COPY --parents **/file /x/: \"**/file\": COPY --parents with ** is not supported yet",
        ),
        (
            "git",
            "FROM bb\nADD https://example.invalid/repo.git /x\n",
            "git:2: ADD https://example.invalid/repo.git /x: https://example.invalid/repo.git: git ls-remote: ",
        ),
        (
            "ssh",
            "FROM bb\nRUN --mount=type=ssh true\n",
            "ssh:2: RUN --mount=type=ssh true: no SSH agent for id \"default\"",
        ),
        (
            "chown",
            "FROM bb\nCOPY --chown=nosuch file /x\n",
            "--chown=nosuch: no \"nosuch\" in the image's /etc/passwd",
        ),
        (
            "syntax",
            "FROM bb\nNOPE x\n",
            "syntax:2:1: unknown instruction: NOPE",
        ),
    ] {
        write_files(&ctx, &[(file, dockerfile), ("file", "x")]);
        let mut c = env.cmd("image-build");
        c.args(["--progress", "quiet", "-f"])
            .arg(ctx.join(file))
            .arg(&ctx);
        let line = fails(c, "image-build");
        assert!(line.contains(want), "{want:?} not in {line}");
    }
    // A script cannot name what only the build knows.
    write_files(
        &ctx,
        &[(
            "Dockerfile",
            "FROM bb AS a\nFROM bb\nCOPY --from=a /bin/sh /x\n",
        )],
    );
    let mut c = env.cmd("image-build");
    c.arg("--print-script").arg(&ctx);
    let line = fails(c, "image-build");
    assert!(
        line.contains("--print-script cannot write COPY --from yet"),
        "{line}"
    );
}

#[test]
fn onbuild_triggers_run_in_the_child_build_and_not_after() {
    let (env, ctx) = env_with_bb();
    write_files(
        &ctx,
        &[
            (
                "Base",
                "FROM bb\nONBUILD ARG WHO=child\nONBUILD COPY hello.txt /from-child/\n\
                 ONBUILD RUN echo \"triggered in $WHO\" > /triggered\n",
            ),
            (
                "Child",
                "FROM base\nRUN cat /triggered /from-child/hello.txt > /both\n",
            ),
            (
                "Grandchild",
                "FROM child\nRUN ls /from-child | wc -l > /count\n",
            ),
            ("hello.txt", "hello\n"),
        ],
    );
    for (file, tag) in [
        ("Base", "base"),
        ("Child", "child"),
        ("Grandchild", "grandchild"),
    ] {
        let mut c = env.cmd("image-build");
        c.args(["-q", "--network", "none", "-t", tag, "-f"])
            .arg(ctx.join(file))
            .arg(&ctx);
        ok(c);
    }
    let onbuild = |image: &str| inspect(&env, image)["config"]["config"]["OnBuild"].clone();
    assert_eq!(onbuild("base").as_array().map(Vec::len), Some(3));
    assert!(onbuild("child").is_null(), "{}", onbuild("child"));
    let mut c = env.cmd("container-run");
    c.args([
        "--rm",
        "--network",
        "none",
        "grandchild",
        "cat",
        "/both",
        "/count",
    ]);
    assert_eq!(ok(c), "triggered in child\nhello\n1\n");
}

#[test]
fn output_writes_layouts_and_archives_and_stdin_gives_the_context() {
    let (env, ctx) = env_with_bb();
    write_files(
        &ctx,
        &[
            ("Dockerfile", "FROM bb\nCOPY f /f\n"),
            ("f", "from the context\n"),
        ],
    );
    let layout = env.path("layout");
    let mut c = env.cmd("image-build");
    c.args(["-q", "-o", &format!("oci:{}:v1", layout.display())])
        .arg("--iidfile")
        .arg(env.path("iid-layout"))
        .arg(&ctx);
    let digest = ok(c).trim().to_string();
    let seen = slipway_tests::skopeo_inspect(&[&format!("oci:{}:v1", layout.display())]);
    assert_eq!(seen["Digest"], digest.as_str());
    // To stdout, stdout carries the archive alone.
    let mut c = env.cmd("image-build");
    c.args(["-q", "-o", "docker-archive:-"]).arg(&ctx);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tarball = env.path("image.tar");
    fs::write(&tarball, &out.stdout).unwrap();
    slipway_tests::skopeo_inspect(&[&format!("docker-archive:{}", tarball.display())]);
    // The context as a tar on stdin, and a Dockerfile alone on stdin.
    let packed = Command::new("tar")
        .arg("-C")
        .arg(&ctx)
        .args(["-cz", "."])
        .output()
        .unwrap()
        .stdout;
    let mut c = env.cmd("image-build");
    c.args(["-q", "-t", "from-stdin", "--iidfile"])
        .arg(env.path("iid-stdin"))
        .arg("-");
    let out = slipway_tests::run_with_input(c, &packed);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same image: the same config (the layout's layers are
    // compressed, the store's not, so the manifests differ).
    let iid = |f| fs::read_to_string(env.path(f)).unwrap();
    assert_eq!(iid("iid-stdin"), iid("iid-layout"), "the same image");
    let mut c = env.cmd("image-build");
    c.args(["-q", "--network", "none", "-t", "df-only", "-"]);
    let out = slipway_tests::run_with_input(c, b"FROM bb\nRUN echo only > /only\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A base image of another platform than the one asked for, which
    // no registry here has: one line that says so.
    let mut c = env.cmd("image-build");
    c.args(["--progress", "quiet", "--platform", "linux/s390x"])
        .arg(&ctx);
    let line = fails(c, "image-build");
    assert!(line.contains("is linux/amd64, not linux/s390x"), "{line}");
}

#[test]
fn with_source_date_epoch_two_empty_stores_get_the_same_image() {
    // The same base in both stores (made once: it has a time of its own).
    let base = Env::new();
    busybox_image(&base, "bb", &[]);
    let digests: Vec<String> = (0..2)
        .map(|_| {
            let env = Env::new();
            let cp = Command::new("cp")
                .arg("-a")
                .arg(base.store())
                .arg(env.store())
                .status()
                .unwrap();
            assert!(cp.success());
            let ctx = context(&env);
            let mut c = env.cmd("image-build");
            c.env("SOURCE_DATE_EPOCH", "1700000000")
                .args(["-q", "--network", "none", "-t", "app"])
                .arg(&ctx);
            ok(c);
            // The layers and config, to show what differs.
            let img = inspect(&env, "app");
            serde_json::to_string_pretty(&(&img["manifest"]["layers"], &img["config"])).unwrap()
        })
        .collect();
    assert_eq!(digests[0], digests[1]);
}

#[test]
fn the_readmes_example_builds_and_runs() {
    let env = Env::new();
    busybox_image(&env, "busybox:latest", &[]);
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello");
    let mut c = env.cmd("image-build");
    c.args(["-q", "--network", "none", "-t", "hello"])
        .arg(&example);
    ok(c);
    let mut c = env.cmd("container-run");
    c.args(["--rm", "--network", "none", "hello"]);
    let out = ok(c);
    assert!(out.starts_with("hello, world from "), "{out}");
    assert!(out.ends_with("run by container-run\n"), "{out}");
}

#[test]
fn sigint_stops_the_build_and_leaves_nothing_behind() {
    let (env, ctx) = env_with_bb();
    write_files(
        &ctx,
        &[(
            "Dockerfile",
            "FROM bb AS first\nRUN echo one > /one\n\
             FROM bb\nCOPY --from=first /one /one\nRUN echo started > /dev/stderr; sleep 60\nRUN never\n",
        )],
    );
    let tmp = env.path("tmp");
    fs::create_dir_all(&tmp).unwrap();
    let mut c = env.cmd("image-build");
    c.env("TMPDIR", &tmp)
        .args(["--network", "none", "-t", "interrupted"])
        .arg(&ctx)
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    // Wait until the long RUN is running, then interrupt.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
        assert!(n > 0, "the build ended early:\n{seen}");
        seen.push_str(&line);
        if line.trim() == "started" {
            break;
        }
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen}{rest}");
    assert!(
        rest.contains("image-build: error: interrupted by SIGINT"),
        "{rest}"
    );
    assert!(!rest.contains("never"), "{rest}");
    // No mounts, containers, names or temp dirs are left.
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let store = env.store().display().to_string();
    assert!(
        !mounts.contains(&store) && !mounts.contains(&tmp.display().to_string()),
        "{mounts}"
    );
    let mut c = env.cmd("container-ctl");
    c.args(["ps", "-a", "-q"]);
    assert_eq!(ok(c), "");
    let mut c = env.cmd("image-store");
    c.arg("ls");
    let names = ok(c);
    assert!(
        !names.contains("image-build") && !names.contains("interrupted"),
        "{names}"
    );
    assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0, "temp dirs left");
    let builds = env.store().join(".slipway/builds");
    assert_eq!(fs::read_dir(&builds).unwrap().count(), 0, "build dirs left");
    // The store is whole: gc finds nothing broken and a build still runs.
    let mut c = env.cmd("image-store");
    c.arg("gc");
    ok(c);
    write_files(
        &ctx,
        &[("Dockerfile", "FROM bb\nRUN echo after > /after\n")],
    );
    let mut c = env.cmd("image-build");
    c.args(["-q", "--network", "none", "-t", "after"]).arg(&ctx);
    ok(c);
}

#[test]
fn independent_stages_run_at_the_same_time_and_a_failure_stops_the_rest() {
    let (env, ctx) = env_with_bb();
    // Each stage waits (up to a minute) for the other's mark in a shared
    // cache mount: one after the other, the first would never see it.
    let wait_for = |me: &str, other: &str| {
        format!(
            "RUN --mount=type=cache,id=rendezvous,target=/r touch /r/{me} && \
             i=0; while [ ! -e /r/{other} ]; do i=$((i+1)); [ $i -lt 600 ] || exit 1; sleep 0.1; done; \
             echo {me} > /{me}\n"
        )
    };
    write_files(
        &ctx,
        &[
            (
                "Dockerfile",
                &format!(
                    "FROM bb AS a\n{}FROM bb AS b\n{}FROM bb\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n",
                    wait_for("a", "b"),
                    wait_for("b", "a")
                ),
            ),
            (
                "Failing",
                "FROM bb AS slow\nRUN sleep 60\nFROM bb AS broken\nRUN exit 7\n\
                 FROM bb\nCOPY --from=slow /bin/sh /x\nCOPY --from=broken /bin/sh /y\n",
            ),
        ],
    );
    let mut c = env.cmd("image-build");
    c.args(["-q", "--network", "none", "-t", "both"]).arg(&ctx);
    ok(c);
    let mut c = env.cmd("container-run");
    c.args(["--rm", "--network", "none", "both", "cat", "/a", "/b"]);
    assert_eq!(ok(c), "a\nb\n");
    // The broken stage's error is the build's; the slow one is stopped,
    // not waited for (its sleep would take a minute).
    let started = std::time::Instant::now();
    let mut c = env.cmd("image-build");
    c.args(["-q", "--network", "none", "-f"])
        .arg(ctx.join("Failing"))
        .arg(&ctx);
    let line = fails(c, "image-build");
    assert!(
        line.contains("Failing:4: RUN exit 7: exit status 7"),
        "{line}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(50));
    let mut c = env.cmd("container-ctl");
    c.args(["ps", "-a", "-q"]);
    assert_eq!(ok(c), "");
}

#[test]
fn runtime_runs_the_run_steps_with_runc_and_the_image_is_the_same() {
    let (env, ctx) = env_with_bb();
    write_files(
        &ctx,
        &[(
            "Dockerfile",
            "FROM bb\nWORKDIR /w\nRUN echo \"$(id -u) in $(pwd)\" > made && grep -c Seccomp:.2 /proc/self/status >> made\nUSER 1000\nRUN id -u > /tmp/who\n",
        )],
    );
    let mut digests = vec![];
    for extra in [&["--runtime", "runc"][..], &[][..]] {
        let mut c = env.cmd("image-build");
        c.env("SOURCE_DATE_EPOCH", "1700000000")
            .args(["-q", "--no-cache", "--network", "none", "-t", "rt"])
            .args(extra)
            .arg(&ctx);
        digests.push(ok(c).trim().to_string());
        let mut c = env.cmd("container-run");
        c.args([
            "--rm",
            "--network",
            "none",
            "rt",
            "cat",
            "/w/made",
            "/tmp/who",
        ]);
        assert_eq!(ok(c), "0 in /w\n1\n1000\n");
    }
    assert_eq!(
        digests[0], digests[1],
        "runc and container-run make the same layers"
    );
}

/// What `image-store mount` shows of an image: each path's type, mode,
/// owner and content.
fn mounted_tree(env: &Env, image: &str) -> std::collections::BTreeMap<Vec<u8>, String> {
    let m = env.path("m");
    let mut c = env.cmd("image-store");
    c.arg("mount").arg(image).arg(&m);
    ok(c);
    let t = slipway_tests::tree_manifest(&m);
    let mut c = env.cmd("image-store");
    c.arg("umount").arg(&m);
    ok(c);
    t
}

#[test]
fn a_run_steps_upper_dir_kept_as_its_layer_is_what_extracting_the_layer_gives() {
    for epoch in [None, Some("1700000000")] {
        let env = Env::new();
        busybox_image(&env, "bb", &[]);
        let ctx = env.path("ctx");
        write_files(
            &ctx,
            &[(
                "Dockerfile",
                "FROM bb\n\
                 RUN mkdir -p /a/b /gone/deep && echo x > /a/b/f && ln -s f /a/b/l && ln /a/b/f /a/b/hard \
                 && echo y > /gone/deep/z && chmod 0640 /a/b/f && chown 1000:1000 /a/b/f && mkfifo /a/fifo\n\
                 RUN rm -rf /gone /bin/ls && mkdir /a/b2 && echo z > /etc/passwd-extra && touch /etc/passwd\n\
                 RUN rm -rf /a/b && mkdir /a/b && echo new > /a/b/only\n",
            )],
        );
        let mut c = env.cmd("image-build");
        if let Some(e) = epoch {
            c.env("SOURCE_DATE_EPOCH", e);
        }
        c.args(["-q", "--network", "none", "-t", "kept"]).arg(&ctx);
        ok(c);
        let layers = env.store().join(".slipway/layers");
        let kept = mounted_tree(&env, "kept");
        // The three RUN layers were kept from their upper dirs (besides
        // the base's): no extraction made them. (Dot entries are the
        // store's bookkeeping, init- ones container-run's.)
        let names = |dir: &std::path::Path| -> Vec<String> {
            fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with("init-") && !n.starts_with('.'))
                .collect()
        };
        assert_eq!(names(&layers).len(), 4, "{:?}", names(&layers));
        fs::remove_dir_all(&layers).unwrap();
        let extracted = mounted_tree(&env, "kept");
        let diff = slipway_tests::manifest_diff(&kept, &extracted);
        assert!(diff.is_empty(), "epoch {epoch:?}: {diff}");
    }
}

#[test]
fn a_copy_is_unpacked_as_it_is_stored_and_is_what_extracting_it_gives() {
    let env = Env::new();
    busybox_image(&env, "bb", &[]);
    let ctx = env.path("ctx");
    write_files(
        &ctx,
        &[
            (
                "Dockerfile",
                "FROM bb\n\
                 COPY --chown=1000:1000 app/ /srv/app/\n\
                 COPY top.txt /etc/\n",
            ),
            ("app/a.txt", "a\n"),
            ("app/sub/b.txt", "b\n"),
            ("top.txt", "top\n"),
        ],
    );
    let mut c = env.cmd("image-build");
    c.args(["-q", "--network", "none", "-t", "copied"])
        .arg(&ctx);
    ok(c);
    let layers = env.store().join(".slipway/layers");
    let names = || -> Vec<String> {
        fs::read_dir(&layers)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("init-") && !n.starts_with('.'))
            .collect()
    };
    // The base's (mounted to find the COPYs' parents) and the two COPYs',
    // unpacked as image-assemble stored them: no container ran.
    assert_eq!(names().len(), 3, "{:?}", names());
    let mut c = env.cmd("container-run");
    c.args(["--rm", "--network", "none", "copied"]).args([
        "sh",
        "-c",
        "cat /srv/app/sub/b.txt /etc/top.txt; stat -c %u /srv/app/a.txt",
    ]);
    assert_eq!(ok(c), "b\ntop\n1000\n");
    let kept = mounted_tree(&env, "copied");
    fs::remove_dir_all(&layers).unwrap();
    let extracted = mounted_tree(&env, "copied");
    let diff = slipway_tests::manifest_diff(&kept, &extracted);
    assert!(diff.is_empty(), "{diff}");
}

#[test]
fn tty_progress_redraws_steps_in_place_and_keeps_a_failures_output() {
    let (env, ctx) = env_with_bb();
    write_files(
        &ctx,
        &[(
            "Dockerfile",
            "FROM bb\nENV X=1\nRUN echo line-one; echo line-two\nRUN echo before-the-end; exit 4\n",
        )],
    );
    let mut c = env.cmd("image-build");
    c.args(["--progress", "tty", "--network", "none"]).arg(&ctx);
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    // Finished steps stay as one line each; the live block is redrawn
    // with cursor movements.
    assert!(err.contains("=> [stage-0 1/4] FROM bb\n"), "{err}");
    assert!(
        err.contains("=> [stage-0 3/4] RUN echo line-one; echo line-two "),
        "{err}"
    );
    assert!(
        err.contains("\x1b[2m   line-two"),
        "the running step's output: {err}"
    );
    assert!(err.contains("\x1b[1A") || err.contains("\x1b[2A"), "{err}");
    // A failed step keeps its output above the error.
    let failed = err.split("=> ERROR [stage-0 4/4]").nth(1).expect(&err);
    assert!(failed.contains("   before-the-end"), "{err}");
    assert!(
        err.trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("image-build: error: Dockerfile:4:"),
        "{err}"
    );
}

#[test]
fn workdir_makes_a_missing_directory_owned_by_the_user_and_nothing_for_one_there() {
    let (env, ctx) = env_with_bb();
    write_files(
        &ctx,
        &[(
            "Dockerfile",
            "FROM bb\n\
             USER app\n\
             WORKDIR /data/work\n\
             RUN touch made-by-app\n\
             WORKDIR /tmp\n\
             CMD stat -c '%n %u:%g %a' /data /data/work /data/work/made-by-app\n",
        )],
    );
    let mut c = env.cmd("image-build");
    c.args(["-q", "-t", "wd"]).arg(&ctx);
    ok(c);
    let mut c = env.cmd("container-run");
    c.args(["--rm", "--network", "none", "wd"]);
    assert_eq!(
        ok(c),
        "/data 1000:1000 755\n/data/work 1000:1000 755\n/data/work/made-by-app 1000:1000 644\n",
        "the USER can write in the WORKDIR made for it, as with BuildKit"
    );
    let img = inspect(&env, "wd");
    let history = img["config"]["history"].as_array().unwrap();
    let entry = |text: &str| {
        history
            .iter()
            .find(|h| h["created_by"] == text)
            .unwrap_or_else(|| panic!("no {text:?} in {history:?}"))
            .clone()
    };
    assert!(entry("WORKDIR /data/work").get("empty_layer").is_none());
    assert_eq!(entry("WORKDIR /tmp")["empty_layer"], true, "/tmp was there");
    assert_eq!(
        history
            .iter()
            .filter(|h| h["created_by"] == "WORKDIR /tmp")
            .count(),
        1
    );
}

#[test]
fn workdir_leaves_existing_parents_to_their_owners() {
    let (env, ctx) = env_with_bb();
    write_files(
        &ctx,
        &[(
            "Dockerfile",
            "FROM bb\n\
             RUN mkdir -p /home/app && chown 1001:1002 /home/app && chmod 700 /home/app\n\
             USER 1001:1002\n\
             WORKDIR /home/app/work\n\
             RUN touch /home/app/x\n\
             CMD stat -c '%n %u:%g %a' /home/app /home/app/work /home/app/x\n",
        )],
    );
    let mut c = env.cmd("image-build");
    c.args(["-q", "-t", "wd"]).arg(&ctx);
    ok(c);
    let mut c = env.cmd("container-run");
    c.args(["--rm", "--network", "none", "wd"]);
    assert_eq!(
        ok(c),
        "/home/app 1001:1002 700\n/home/app/work 1001:1002 755\n/home/app/x 1001:1002 644\n",
        "WORKDIR makes only the missing directory, as BuildKit's mkdir -p"
    );
}

#[test]
fn an_image_from_scratch_has_the_default_path_in_its_config() {
    let (env, ctx) = env_with_bb();
    write_files(
        &ctx,
        &[
            ("Dockerfile", "FROM scratch\nCOPY notes.txt /\n"),
            ("notes.txt", "notes\n"),
            ("Dockerfile.empty", "FROM scratch\n"),
        ],
    );
    let mut c = env.cmd("image-build");
    c.args(["-q", "-t", "s1"]).arg(&ctx);
    ok(c);
    let mut c = env.cmd("image-build");
    c.args(["-q", "-t", "s0", "--label", "only-a-key", "-f"])
        .arg(ctx.join("Dockerfile.empty"))
        .arg(&ctx);
    ok(c);
    let path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for image in ["s1", "s0"] {
        let img = inspect(&env, image);
        assert_eq!(
            img["config"]["config"]["Env"],
            serde_json::json!([path]),
            "{image}: BuildKit's empty image sets the default PATH"
        );
    }
    let img = inspect(&env, "s0");
    assert_eq!(img["config"]["config"]["Labels"]["only-a-key"], "");
}

/// The entry names of the image's top layer.
fn top_layer_names(env: &Env, image: &str) -> Vec<String> {
    let img = inspect(env, image);
    let layers = img["manifest"]["layers"].as_array().unwrap();
    let digest = layers.last().unwrap()["digest"].as_str().unwrap();
    let blob = env
        .store()
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    let mut c = Command::new("tar");
    c.arg("-tf").arg(blob);
    ok(c).lines().map(str::to_string).collect()
}

#[test]
fn a_run_layer_hides_what_a_recreated_directory_held_with_whiteouts_not_an_opaque_marker() {
    let (env, ctx) = env_with_bb();
    write_files(
        &ctx,
        &[(
            "Dockerfile",
            "FROM bb\n\
             RUN mkdir /emptied && touch /emptied/old\n\
             RUN rm -rf /emptied && mkdir /emptied /fresh && touch /emptied/new /fresh/f\n",
        )],
    );
    let mut c = env.cmd("image-build");
    c.args(["-q", "-t", "opq"]).arg(&ctx);
    ok(c);
    let names = top_layer_names(&env, "opq");
    assert!(
        !names.iter().any(|n| n.ends_with(".wh..wh..opq")),
        "BuildKit writes no opaque markers: {names:?}"
    );
    for n in ["emptied/.wh.old", "emptied/new", "fresh/f"] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }
    let mut c = env.cmd("container-run");
    c.args(["--rm", "--network", "none", "opq", "ls", "/emptied"]);
    assert_eq!(ok(c), "new\n");
}

#[test]
fn check_error_true_fails_the_build_on_a_warning_and_check_builds_nothing() {
    let (env, ctx) = env_with_bb();
    write_files(
        &ctx,
        &[("Dockerfile", "# check=error=true\nFROM bb\nCMD echo hi\n")],
    );
    let mut c = env.cmd("image-build");
    c.args(["-q", "-t", "linted"]).arg(&ctx);
    let err = fails(c, "image-build");
    assert!(err.contains("Dockerfile:3"), "{err}");
    assert!(err.contains("JSONArgsRecommended"), "{err}");
    // --check: the checks alone, nothing built.
    write_files(&ctx, &[("Dockerfile", "FROM bb\nCMD echo hi\n")]);
    let mut c = env.cmd("image-build");
    c.args(["--check", "-t", "checked"]).arg(&ctx);
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("warning: Dockerfile:2: JSONArgsRecommended"),
        "{stderr}"
    );
    write_files(&ctx, &[("Dockerfile", "FROM bb\nCMD [\"echo\", \"hi\"]\n")]);
    let mut c = env.cmd("image-build");
    c.args(["--check", "-t", "checked"]).arg(&ctx);
    assert!(ok(c).is_empty());
    let mut c = env.cmd("image-store");
    c.args(["ls", "-q", "--filter", "reference=checked"]);
    assert_eq!(ok(c), "", "--check builds nothing");
}

#[test]
fn a_failed_builds_state_is_hidden_from_ls_and_collected_by_gc() {
    let (env, ctx) = env_with_bb();
    write_files(
        &ctx,
        &[("Dockerfile", "FROM bb\nRUN echo partial > /p && false\n")],
    );
    let mut c = env.cmd("image-build");
    c.args(["-q"]).arg(&ctx);
    let err = fails(c, "image-build");
    let failed = err
        .split_whitespace()
        .find(|w| w.ends_with("-failed"))
        .unwrap_or_else(|| panic!("no failed state in {err}"))
        .to_string();
    let ls = |all: bool| {
        let mut c = env.cmd("image-store");
        c.args(["ls", "--format", "{{.Repository}}:{{.Tag}}"]);
        if all {
            c.arg("-a");
        }
        ok(c)
    };
    assert!(!ls(false).contains("-failed"), "{}", ls(false));
    assert!(ls(true).contains(failed.as_str()), "{}", ls(true));
    // The state the hint names stays until gc, unless gc keeps it.
    let mut c = env.cmd("container-run");
    c.args(["--rm", "--network", "none", &failed, "cat", "/p"]);
    assert_eq!(ok(c), "partial\n");
    let gc = |flags: &[&str]| {
        let mut c = env.cmd("image-store");
        c.arg("gc").args(flags);
        ok(c)
    };
    gc(&["--keep-failed"]);
    assert!(ls(true).contains(failed.as_str()));
    gc(&[]);
    assert!(!ls(true).contains("image-build/"), "{}", ls(true));
    // A build with no --tag keeps its result under a name of its own,
    // listed as any image and kept by gc.
    write_files(&ctx, &[("Dockerfile", "FROM bb\nRUN echo ok > /ok\n")]);
    let mut c = env.cmd("image-build");
    c.args(["-q"]).arg(&ctx);
    ok(c);
    gc(&[]);
    let shown = ls(false);
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("localhost/image-build/") && l.ends_with(":latest")),
        "{shown}"
    );
}

#[test]
fn a_killed_build_takes_its_running_step_with_it_and_the_next_build_its_dir() {
    let (env, ctx) = env_with_bb();
    // A command line no other test runs, to find its process by.
    write_files(
        &ctx,
        &[("Dockerfile", "FROM bb\nRUN sleep 3131 && echo never\n")],
    );
    let mut c = env.cmd("image-build");
    c.args(["-q", "--network", "none"]).arg(&ctx);
    let mut build = c.spawn().unwrap();
    let running = || {
        Command::new("pgrep")
            .args(["-f", "sleep 3131"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    let wait = |want: bool| {
        let t = std::time::Instant::now();
        while running() != want {
            assert!(t.elapsed().as_secs() < 30, "the step never became {want}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    wait(true);
    build.kill().unwrap();
    build.wait().unwrap();
    // Its container-run got SIGTERM and stopped the container.
    wait(false);
    // Its temp dir outlived it (kill -9 runs no cleanup); the next build
    // removes it, and leaves its own to nobody.
    let builds = slipway_common::buildcache::builds_dir(&env.store());
    let left = || {
        std::fs::read_dir(&builds)
            .map(|d| d.flatten().count())
            .unwrap_or(0)
    };
    assert_eq!(left(), 1);
    write_files(&ctx, &[("Dockerfile", "FROM bb\nRUN true\n")]);
    let mut c = env.cmd("image-build");
    c.args(["-q", "--network", "none"]).arg(&ctx);
    assert!(c.status().unwrap().success());
    assert_eq!(left(), 0);
}

#[test]
fn compression_says_what_the_builds_layers_become_as_they_leave() {
    let (env, ctx) = env_with_bb();
    write_files(
        &ctx,
        &[("Dockerfile", "FROM bb\nCOPY f /f\n"), ("f", "x\n")],
    );
    let layout = env.path("layout");
    let mut c = env.cmd("image-build");
    c.args(["-q", "--compression", "zstd", "-t", "z:1", "-o"])
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(&ctx);
    ok(c);
    let types = slipway_tests::skopeo_layer_types(&[], &format!("oci:{}:v1", layout.display()));
    // The base's layer went in gzip'd and leaves as it is; the COPY's,
    // kept uncompressed in the store, leaves as zstd.
    assert_eq!(
        types,
        [
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar+zstd"
        ]
    );
    // In the store the COPY's layer is a plain tar.
    let mut c = env.cmd("image-store");
    c.args(["inspect", "z:1"]);
    let v: Vec<slipway_common::image::InspectRecord> = serde_json::from_str(&ok(c)).unwrap();
    let local = v[0].manifest.layers()[1].media_type().to_string();
    assert_eq!(local, "application/vnd.oci.image.layer.v1.tar");
    let mut c = env.cmd("image-build");
    c.args(["--compression-level", "42"]).arg(&ctx);
    assert!(fails(c, "image-build").contains("--compression-level 42"));
}
