//! The commands a Docker user types, through `slipway`.

use slipway_tests::*;

fn slipway(env: &Env, args: &[&str]) -> std::process::Output {
    let mut c = env.cmd("slipway");
    c.args(args);
    c.output().unwrap()
}

fn stdout(o: &std::process::Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn a_docker_users_daily_commands_work_through_slipway() {
    let env = Env::new();
    busybox_image(&env, "bb", &[]);
    let ctx = env.path("ctx");
    write_files(
        &ctx,
        &[(
            "Dockerfile",
            "FROM bb\nRUN echo built > /msg\nCMD [\"cat\", \"/msg\"]\n",
        )],
    );
    let ctx = ctx.to_str().unwrap();
    stdout(&slipway(
        &env,
        &["build", "-q", "--network", "none", "-t", "app:1", ctx],
    ));
    assert!(stdout(&slipway(&env, &["images"])).contains("app"));
    assert_eq!(
        stdout(&slipway(
            &env,
            &["run", "--rm", "--network", "none", "app:1"]
        )),
        "built\n"
    );
    // A detached container, seen by ps, inspect and logs, then removed.
    let id = stdout(&slipway(
        &env,
        &[
            "run",
            "-d",
            "--name",
            "web",
            "--network",
            "none",
            "app:1",
            "sh",
            "-c",
            "echo up; sleep 60",
        ],
    ));
    assert!(!id.trim().is_empty());
    assert!(stdout(&slipway(&env, &["ps"])).contains("web"));
    wait_for(10, || {
        stdout(&slipway(&env, &["logs", "web"]))
            .contains("up")
            .then_some(())
    });
    let doc = json(&stdout(&slipway(&env, &["inspect", "web"])));
    assert!(doc.to_string().contains("web"), "{doc}");
    stdout(&slipway(&env, &["rm", "-f", "web"]));
    assert!(!stdout(&slipway(&env, &["ps", "-a"])).contains("web"));
    // inspect of an image, when no container has the name.
    let doc = json(&stdout(&slipway(&env, &["inspect", "app:1"])));
    assert!(doc[0]["config"].is_object(), "{doc}");
    // tag, rmi, save.
    stdout(&slipway(&env, &["tag", "app:1", "app:2"]));
    assert!(stdout(&slipway(&env, &["image", "ls"])).contains('2'));
    stdout(&slipway(&env, &["rmi", "app:2"]));
    let tar = env.path("app.tar");
    stdout(&slipway(
        &env,
        &["save", "-o", tar.to_str().unwrap(), "app:1"],
    ));
    assert!(std::fs::metadata(&tar).unwrap().len() > 0);
    // The verb's own help is its tool's.
    assert!(stdout(&slipway(&env, &["run", "--help"])).contains("container-run"));
    assert!(stdout(&slipway(&env, &["version"])).contains("image-build"));
}

#[test]
fn an_unknown_verb_or_image_command_is_one_clear_error() {
    let env = Env::new();
    let o = slipway(&env, &["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    let o = slipway(&env, &["image", "frobnicate"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("slipway: error: image frobnicate"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn completion_scripts_name_the_verbs_for_each_shell() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish"] {
        let script = stdout(&slipway(&env, &["completion", shell]));
        for verb in ["build", "run", "images", "push"] {
            assert!(script.contains(verb), "{shell}: no {verb}");
        }
    }
    assert_eq!(
        slipway(&env, &["completion", "tcsh"]).status.code(),
        Some(2)
    );
}

#[test]
fn the_container_verbs_a_docker_user_types_reach_container_ctl() {
    let env = Env::new();
    busybox_image(&env, "bb", &["--expose", "80"]);
    let id = stdout(&slipway(
        &env,
        &[
            "run",
            "-d",
            "--name",
            "web",
            "-P",
            "bb",
            "sh",
            "-c",
            "echo page > /index.html; httpd -f -p 80 -h /",
        ],
    ));
    assert_eq!(id.trim().len(), 64);
    // -P published the image's EXPOSE on a random port.
    let port = stdout(&slipway(&env, &["port", "web", "80/tcp"]));
    assert!(port.starts_with("0.0.0.0:"), "{port}");
    let top = wait_for(10, || {
        let t = stdout(&slipway(&env, &["top", "web"]));
        t.contains("httpd").then_some(t)
    });
    assert!(top.starts_with("UID"), "{top}");
    let copy = env.path("index.html");
    stdout(&slipway(
        &env,
        &["cp", "web:/index.html", copy.to_str().unwrap()],
    ));
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), "page\n");
    assert!(stdout(&slipway(&env, &["diff", "web"])).contains("A /index.html"));
    stdout(&slipway(&env, &["rename", "web", "site"]));
    let ls = stdout(&slipway(
        &env,
        &["container", "ls", "--format", "{{.Names}} {{.Ports}}"],
    ));
    assert!(
        ls.starts_with("site 0.0.0.0:") && ls.contains("->80/tcp"),
        "{ls}"
    );
    stdout(&slipway(&env, &["pause", "site"]));
    stdout(&slipway(&env, &["unpause", "site"]));
    // httpd is the container's PID 1, which SIGTERM does not end: KILL.
    stdout(&slipway(&env, &["kill", "site"]));
    let code = stdout(&slipway(&env, &["wait", "site"]));
    assert_eq!(code.trim(), "137", "{code}");
    stdout(&slipway(&env, &["rm", "site"]));

    // save and load, as docker's: a docker-archive out and back in.
    let tar = env.path("bb.tar");
    stdout(&slipway(&env, &["save", "-o", tar.to_str().unwrap(), "bb"]));
    stdout(&slipway(&env, &["rmi", "bb"]));
    assert_eq!(
        stdout(&slipway(&env, &["load", "-i", tar.to_str().unwrap()])),
        "Loaded image: bb:latest\n"
    );
    assert!(stdout(&slipway(&env, &["image", "history", "bb"])).starts_with("IMAGE"));
    // system prune: the stopped container, then what no tag reaches.
    stdout(&slipway(
        &env,
        &["run", "--network", "none", "--name", "done", "bb", "true"],
    ));
    let pruned = stdout(&slipway(&env, &["system", "prune", "-f"]));
    assert!(pruned.starts_with("Deleted Containers:\n"), "{pruned}");
    assert_eq!(stdout(&slipway(&env, &["ps", "-a", "-q"])), "");
    assert!(!stdout(&slipway(&env, &["system", "df"])).is_empty());
    assert_eq!(stdout(&slipway(&env, &["volume", "create", "v1"])), "v1\n");
    assert_eq!(stdout(&slipway(&env, &["volume", "ls", "-q"])), "v1\n");
    stdout(&slipway(&env, &["volume", "rm", "v1"]));

    // create, then start -a: docker's two steps of run.
    let made = stdout(&slipway(
        &env,
        &[
            "create",
            "--network",
            "none",
            "--name",
            "two",
            "bb",
            "echo",
            "step",
        ],
    ));
    assert_eq!(made.trim().len(), 64);
    assert_eq!(stdout(&slipway(&env, &["start", "-a", "two"])), "step\n");
    stdout(&slipway(&env, &["container", "rm", "two"]));

    // A network, and a container that finds another by name on it.
    stdout(&slipway(&env, &["network", "create", "front-door"]));
    stdout(&slipway(
        &env,
        &[
            "run",
            "-d",
            "--name",
            "db",
            "--network",
            "front-door",
            "bb",
            "sleep",
            "60",
        ],
    ));
    let found = stdout(&slipway(
        &env,
        &[
            "run",
            "--rm",
            "--network",
            "front-door",
            "bb",
            "ping",
            "-c1",
            "-W2",
            "db",
        ],
    ));
    assert!(found.contains("1 packets received"), "{found}");
    stdout(&slipway(&env, &["rm", "-f", "db"]));
    assert_eq!(
        stdout(&slipway(&env, &["network", "ls", "-q"]))
            .lines()
            .count(),
        1
    );
    stdout(&slipway(&env, &["network", "rm", "front-door"]));
}

#[test]
fn login_checks_the_password_keeps_it_for_the_tools_and_logout_takes_it_away() {
    const PASS: &str = "front-door-Pa55";
    let reg = TestRegistry::start_tls_basic("dev", PASS);
    let env = Env::new();
    let auth = env.path("auth/config.json");
    let login = |pass: &str| {
        let mut c = env.cmd("slipway");
        c.env("REGISTRY_AUTH_FILE", &auth).args([
            "login",
            "-u",
            "dev",
            "--password-stdin",
            &reg.host,
        ]);
        let out = run_with_input(c, format!("{pass}\n").as_bytes());
        for s in [&out.stdout, &out.stderr] {
            assert!(
                !String::from_utf8_lossy(s).contains(PASS),
                "a secret leaked"
            );
        }
        out
    };
    let out = login("wrong");
    assert_eq!(out.status.code(), Some(1));
    assert!(assert_one_error(&out, "slipway").contains("login refused"));
    assert!(!auth.exists(), "a refused login wrote the auth file");

    assert_eq!(stdout(&login(PASS)), "Login Succeeded\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&auth).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // image-push finds the credentials there, with no --creds.
    let layer = files_layer(env.dir.path(), "l.tar", &[("f", b"x\n")]);
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "--tag", "app:1"]).arg(&layer);
    ok(c);
    let dest = format!("docker://{}/t/app:1", reg.host);
    let push = || {
        let mut c = env.cmd("image-push");
        c.env("REGISTRY_AUTH_FILE", &auth)
            .args(["-q", "app:1", &dest]);
        c.output().unwrap()
    };
    let out = push();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut c = env.cmd("slipway");
    c.env("REGISTRY_AUTH_FILE", &auth)
        .args(["logout", &reg.host]);
    assert_eq!(
        ok(c),
        format!("Removing login credentials for {}\n", reg.host)
    );
    let out = push();
    assert!(assert_one_error(&out, "image-push").contains("authentication required"));
}
