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
    // A tar's URL as a named context: fetched, then a directory.
    let staged = env.path("staged");
    write_files(&staged, &[("e.txt", "from-the-url\n")]);
    let tar = std::process::Command::new("tar")
        .arg("-C")
        .arg(&staged)
        .args(["-cz", "."])
        .output()
        .unwrap()
        .stdout;
    let server = slipway_tests::http::FileServer::start(&[("/extra.tar.gz", &tar)]);
    let mut c = env.cmd("image-build");
    c.args(["-q", "--network", "none", "-t", "named-url"])
        .args(["--build-context", "base=docker-image://bb"])
        .arg("--build-context")
        .arg(format!("extra={}/extra.tar.gz", server.url))
        .arg("--build-context")
        .arg(format!("other=oci-layout://{}:v1", layout.display()))
        .arg(&ctx);
    ok(c);
    let mut c = env.cmd("container-run");
    c.args([
        "--rm",
        "--network",
        "none",
        "named-url",
        "cat",
        "/out/e.txt",
    ]);
    assert_eq!(ok(c), "from-the-url\n");
    let _ = fs::remove_dir_all(&layout);
}

/// The host's ssh-add and the libraries it loads, to run in a busybox
/// image by its own dynamic loader.
fn host_ssh_add(dir: &std::path::Path) {
    use std::process::Command;
    fs::create_dir_all(dir).unwrap();
    fs::copy("/usr/bin/ssh-add", dir.join("ssh-add")).unwrap();
    let ldd = Command::new("ldd")
        .arg("/usr/bin/ssh-add")
        .output()
        .unwrap();
    for lib in String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        let name = std::path::Path::new(lib).file_name().unwrap();
        fs::copy(lib, dir.join(name)).unwrap();
    }
}

#[test]
fn an_ssh_agent_reaches_the_run_that_mounts_it_and_nothing_else() {
    use std::process::Command;
    let (env, ctx) = env_with_bb();
    host_ssh_add(&ctx.join("tools"));
    let key = env.path("id_ed25519");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "the-build-key", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(made.success());
    // A real agent of the user's, holding the key.
    let sock = env.path("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    slipway_tests::wait_for(10, || sock.exists().then_some(()));
    let added = Command::new("ssh-add")
        .arg(&key)
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    assert!(added.status.success());
    let run = "/t/ld-linux-x86-64.so.2 --library-path /t /t/ssh-add -l";
    write_files(
        &ctx,
        &[(
            "Dockerfile",
            &format!(
                "FROM bb\nRUN --mount=type=bind,source=tools,target=/t --mount=type=ssh {run} > /with-agent\nRUN --mount=type=bind,source=tools,target=/t {run} > /without 2>&1 || echo none >> /without\n"
            ),
        )],
    );
    // --ssh default: the agent of SSH_AUTH_SOCK.
    let mut c = env.cmd("image-build");
    c.env("SSH_AUTH_SOCK", &sock)
        .args(["-q", "--network", "none", "--ssh", "default", "-t", "sshed"])
        .arg(&ctx);
    let out = c.output().unwrap();
    let _ = agent.kill();
    let _ = agent.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut c = env.cmd("container-run");
    c.args([
        "--rm",
        "--network",
        "none",
        "sshed",
        "sh",
        "-c",
        "cat /with-agent; tail -1 /without; ls /run/buildkit 2>&1 || true",
    ]);
    let seen = ok(c);
    assert!(seen.contains("the-build-key (ED25519)"), "{seen}");
    assert!(
        seen.contains("none"),
        "the next RUN reached the agent: {seen}"
    );
    assert!(
        seen.contains("No such file"),
        "the mount point stayed: {seen}"
    );
    // Key files: an agent of the build's own serves them.
    let mut c = env.cmd("image-build");
    c.args([
        "-q",
        "--network",
        "none",
        "--no-cache",
        "-t",
        "sshed2",
        "--ssh",
    ])
    .arg(format!("default={}", key.display()))
    .arg(&ctx);
    ok(c);
    // Without --ssh an ssh mount is refused by id.
    let mut c = env.cmd("image-build");
    c.args(["--network", "none", "--no-cache"]).arg(&ctx);
    let out = c.output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no SSH agent for id \"default\""));
}

/// A repository with a Dockerfile in sub/, committed and tagged v1,
/// cloned bare to repo.git; the commit.
fn repository(env: &slipway_tests::Env) -> String {
    use std::process::Command;
    let src = env.path("gsrc");
    write_files(
        &src,
        &[
            ("sub/Dockerfile", "FROM bb\nCOPY . /ctx\n"),
            ("sub/hello.txt", "hello\n"),
            ("top.txt", "top\n"),
        ],
    );
    let git = |args: &[&str], dir: &std::path::Path| {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.email=t@example.invalid", "-c", "user.name=t"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    git(&["init", "-q", "-b", "main"], &src);
    git(&["add", "-A"], &src);
    git(&["commit", "-qm", "one"], &src);
    git(&["tag", "v1"], &src);
    git(
        &[
            "clone",
            "-q",
            "--bare",
            ".",
            env.path("repo.git").to_str().unwrap(),
        ],
        &src,
    );
    git(&["rev-parse", "HEAD"], &src)
}

#[test]
fn a_git_repository_is_a_context_and_an_add_source() {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let (env, ctx) = env_with_bb();
    let commit = repository(&env);
    // git daemon on a loopback port of its own.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut daemon = Command::new("git")
        .args([
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--listen=127.0.0.1",
        ])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", env.dir.path().display()))
        .arg(env.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    slipway_tests::wait_for(10, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    let url = format!("git://127.0.0.1:{port}/repo.git");
    let meta = env.path("meta.json");
    let mut c = env.cmd("image-build");
    c.args([
        "-q",
        "--network",
        "none",
        "-t",
        "fromgit",
        "--metadata-file",
    ])
    .arg(&meta)
    .arg(format!("{url}#v1:sub"));
    let built = c.output().unwrap();
    // The daemon and the children it forked per connection.
    // SAFETY: kill of the process group the daemon leads.
    unsafe { libc::kill(-(daemon.id() as i32), libc::SIGKILL) };
    let _ = daemon.wait();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let mut c = env.cmd("container-run");
    c.args(["--rm", "--network", "none", "fromgit", "ls", "-a", "/ctx"]);
    assert_eq!(ok(c), ".\n..\nDockerfile\nhello.txt\n");
    let m = slipway_tests::json(&fs::read_to_string(&meta).unwrap());
    assert_eq!(m["slipway.context.git.commit"], commit.as_str());

    // ADD of a repository (file://): its tree, a subdirectory of it, the
    // .git kept on request, and --checksum as the commit.
    let repo = format!("file://{}", env.path("repo.git").display());
    write_files(
        &ctx,
        &[(
            "Dockerfile",
            &format!(
                "FROM bb\nADD {repo}#main:sub /sub\nADD --keep-git-dir=true --checksum={} {repo}#v1 /whole\n",
                &commit[..12]
            ),
        )],
    );
    let mut c = env.cmd("image-build");
    c.args(["-q", "--network", "none", "-t", "addgit"])
        .arg(&ctx);
    ok(c);
    let mut c = env.cmd("container-run");
    c.args([
        "--rm",
        "--network",
        "none",
        "addgit",
        "sh",
        "-c",
        "ls /sub; ls -a /whole | grep -c .git; cat /whole/top.txt",
    ]);
    assert_eq!(ok(c), "Dockerfile\nhello.txt\n1\ntop\n");
    write_files(
        &ctx,
        &[(
            "Dockerfile",
            &format!("FROM bb\nADD --checksum=deadbeef0 {repo} /x\n"),
        )],
    );
    let mut c = env.cmd("image-build");
    c.args(["--network", "none"]).arg(&ctx);
    let out = c.output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("the commit is {commit}")));
}

#[test]
fn a_tarball_or_dockerfile_url_is_a_context() {
    let (env, _ctx) = env_with_bb();
    let staged = env.path("staged");
    write_files(
        &staged,
        &[
            ("Dockerfile", "FROM bb\nCOPY f /f\n"),
            ("f", "from-the-url\n"),
        ],
    );
    let tar = std::process::Command::new("tar")
        .arg("-C")
        .arg(&staged)
        .args(["-cz", "."])
        .output()
        .unwrap()
        .stdout;
    let server = slipway_tests::http::FileServer::start(&[
        ("/ctx.tar.gz", &tar),
        ("/Dockerfile", b"FROM bb\nRUN echo only > /only\n"),
    ]);
    let mut c = env.cmd("image-build");
    c.args(["-q", "--network", "none", "-t", "fromurl"])
        .arg(format!("{}/ctx.tar.gz", server.url));
    ok(c);
    let mut c = env.cmd("container-run");
    c.args(["--rm", "--network", "none", "fromurl", "cat", "/f"]);
    assert_eq!(ok(c), "from-the-url\n");
    let mut c = env.cmd("image-build");
    c.args(["-q", "--network", "none", "-t", "dfurl"])
        .arg(format!("{}/Dockerfile", server.url));
    ok(c);
}
