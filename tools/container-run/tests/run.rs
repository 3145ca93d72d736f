//! container-run against the kernel: real namespaces, overlayfs, cgroups
//! and seccomp, each security property tried from inside a container.

use slipway_tests::{busybox_image, files_layer, ok, wait_for, Env};
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};

fn env() -> Env {
    let e = Env::new();
    busybox_image(&e, "bb", &[]);
    e
}

/// container-run --rm --network none ARGS…, stdin closed.
fn run(e: &Env, args: &[&str]) -> Output {
    let mut c = e.cmd("container-run");
    c.args(["--rm", "--network", "none"]).args(args);
    c.stdin(Stdio::null())
        .output()
        .expect("spawn container-run")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn sh(e: &Env, flags: &[&str], script: &str) -> Output {
    let mut args: Vec<&str> = flags.to_vec();
    args.extend(["bb", "sh", "-c", script]);
    run(e, &args)
}

fn sh_ok(e: &Env, flags: &[&str], script: &str) -> String {
    let o = sh(e, flags, script);
    assert!(
        o.status.success(),
        "{script}: {} {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(&o)
}

fn status_line(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in {status}"))
        .trim()
        .to_string()
}

#[test]
fn output_and_exit_status_pass_through() {
    let e = env();
    let o = sh(&e, &[], "echo out; echo err >&2; exit 7");
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(stdout(&o), "out\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "err\n");
}

#[test]
fn own_failures_are_125_126_127_with_one_line() {
    let e = env();
    let o = run(&e, &["bb", "no-such-command"]);
    assert_eq!(o.status.code(), Some(127));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("container-run: error: ") && err.contains("not found"),
        "{err}"
    );
    let o = run(&e, &["bb", "/etc/passwd"]);
    assert_eq!(
        o.status.code(),
        Some(126),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run(&e, &["no-such-image"]);
    assert_eq!(o.status.code(), Some(125));
    let o = run(&e, &["--bogus-flag", "bb"]);
    assert_eq!(o.status.code(), Some(125));
    let o = run(&e, &["-u", "nosuchuser", "bb", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unable to find user nosuchuser"));
    // Nothing of the failed containers is left behind.
    let left = std::fs::read_dir(e.store().join(".slipway/containers"))
        .unwrap()
        .filter(|d| {
            !d.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count();
    assert_eq!(left, 0);
}

#[test]
fn image_config_sets_env_workdir_user_and_command() {
    let e = Env::new();
    busybox_image(
        &e,
        "cfg",
        &[
            "-e",
            "GREETING=hello",
            "-e",
            "PATH=/bin",
            "-w",
            "/srv/app",
            "-u",
            "app",
            "--entrypoint",
            r#"["sh","-c"]"#,
            "--cmd",
            r#"["echo $GREETING from $(pwd) as $(id -un) home=$HOME"]"#,
        ],
    );
    let o = run(&e, &["cfg"]);
    assert_eq!(
        stdout(&o),
        "hello from /srv/app as app home=/home/app\n",
        "{o:?}"
    );
    // Flags override the image; --entrypoint drops the image's cmd.
    let o = run(
        &e,
        &[
            "-e",
            "GREETING=hi",
            "-w",
            "/tmp",
            "-u",
            "0",
            "cfg",
            "echo $GREETING $(pwd) $(id -u)",
        ],
    );
    assert_eq!(stdout(&o), "hi /tmp 0\n");
    let o = run(&e, &["--entrypoint", "pwd", "cfg"]);
    assert_eq!(stdout(&o), "/srv/app\n");
    let o = run(
        &e,
        &[
            "--env-file",
            "/dev/null",
            "-e",
            "HOSTNAME",
            "--hostname",
            "box",
            "cfg",
            "echo $HOSTNAME $(hostname)",
        ],
    );
    assert_eq!(stdout(&o), "box box\n");
}

#[test]
fn user_by_name_gets_its_groups_and_no_capabilities() {
    let e = env();
    let out = sh_ok(&e, &["-u", "app"], "id; cat /proc/self/status");
    assert!(
        out.starts_with("uid=1000(app) gid=1000(app) groups=10(wheel),29(audio)"),
        "{out}"
    );
    assert_eq!(status_line(&out, "CapEff"), "0000000000000000");
    assert_eq!(status_line(&out, "CapPrm"), "0000000000000000");
    assert_eq!(status_line(&out, "CapBnd"), "00000000a80425fb");
}

#[test]
fn root_gets_dockers_capabilities_no_new_privs_and_seccomp() {
    let e = env();
    let out = sh_ok(&e, &[], "cat /proc/self/status");
    for key in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(status_line(&out, key), "00000000a80425fb", "{key}");
    }
    assert_eq!(status_line(&out, "CapInh"), "0000000000000000");
    assert_eq!(status_line(&out, "CapAmb"), "0000000000000000");
    assert_eq!(status_line(&out, "NoNewPrivs"), "1");
    assert_eq!(status_line(&out, "Seccomp"), "2");
    let out = sh_ok(
        &e,
        &["--cap-drop", "ALL", "--cap-add", "chown"],
        "cat /proc/self/status",
    );
    assert_eq!(status_line(&out, "CapEff"), "0000000000000001");
    let out = sh_ok(&e, &["--privileged"], "cat /proc/self/status");
    assert_eq!(status_line(&out, "Seccomp"), "0");
    let out = sh_ok(
        &e,
        &["--security-opt", "seccomp=unconfined"],
        "cat /proc/self/status",
    );
    assert_eq!(status_line(&out, "Seccomp"), "0");
}

#[test]
fn the_container_has_its_own_namespaces() {
    let e = env();
    let out = sh_ok(
        &e,
        &["--hostname", "inside"],
        "echo pid=$$; hostname; ls /proc | grep -c '^[0-9]'; ls /sys/class/net; \
         for n in mnt pid uts ipc net; do readlink /proc/self/ns/$n; done",
    );
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("pid=1"));
    assert_eq!(lines.next(), Some("inside"));
    let procs: u32 = lines.next().unwrap().parse().unwrap();
    assert!(
        procs <= 3,
        "only the container's processes are visible: {out}"
    );
    assert_eq!(lines.next(), Some("lo"), "--network none has only loopback");
    for (ns, inside) in ["mnt", "pid", "uts", "ipc", "net"].iter().zip(lines) {
        let host = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        assert_ne!(
            inside,
            host.to_string_lossy(),
            "{ns} namespace is the host's"
        );
    }
}

#[test]
fn mount_module_loading_and_raw_devices_are_refused() {
    let e = env();
    let out = sh_ok(
        &e,
        &[],
        "mount -t tmpfs none /mnt 2>/dev/null && echo mounted; \
         umount /proc/sys 2>/dev/null && echo unmounted; \
         unshare -m true 2>/dev/null && echo unshared; \
         insmod /nonexistent.ko 2>/dev/null; rmmod loop 2>/dev/null && echo rmmod; \
         mknod /tmp/disk b 254 0 && head -c1 /tmp/disk >/dev/null 2>&1 && echo read-disk; \
         mknod /dev/disk2 b 8 0 && head -c1 /dev/disk2 >/dev/null 2>&1 && echo read-disk2; \
         echo x > /proc/sysrq-trigger 2>/dev/null && echo sysrq; \
         echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null && echo wrote-proc-sys; \
         touch /sys/kernel/x 2>/dev/null && echo wrote-sys; \
         echo done",
    );
    assert_eq!(out, "done\n", "something privileged worked: {out}");
}

#[test]
fn masked_paths_show_nothing_of_the_host() {
    let e = env();
    let out = sh_ok(
        &e,
        &[],
        "wc -c < /proc/keys; wc -c < /proc/timer_list; ls /sys/firmware | wc -l; \
         cat /proc/interrupts | wc -c",
    );
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "0", "0"],
        "{out}"
    );
    // --privileged masks nothing.
    let out = sh_ok(&e, &["--privileged"], "wc -c < /proc/timer_list");
    assert_ne!(out.trim(), "0");
}

#[test]
fn no_descriptor_of_ours_reaches_the_container() {
    let e = env();
    let leak = std::fs::File::open("/").unwrap();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&leak);
    let mut c = e.cmd("container-run");
    c.args(["--rm", "--network", "none", "bb", "ls", "/proc/self/fd"]);
    // SAFETY: only dup2 between fork and exec: fd 9 is inherited, as a
    // careless caller might leave it (the CVE-2024-21626 pattern).
    unsafe {
        c.pre_exec(move || {
            if libc::dup2(raw, 9) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = ok(c);
    // ls itself holds one descriptor for the directory it lists.
    let fds: Vec<&str> = out.lines().collect();
    assert_eq!(fds, ["0", "1", "2", "3"], "{out}");
}

#[test]
fn mount_targets_cannot_escape_through_symlinks() {
    let e = env();
    let host_dir = e.path("host-target");
    std::fs::create_dir(&host_dir).unwrap();
    // An image whose /mnt is an absolute symlink to a host path.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_mode(0o777);
    h.set_size(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    b.append_link(&mut h, "mnt", &host_dir).unwrap();
    let layer = e.path("evil.tar");
    std::fs::write(&layer, b.into_inner().unwrap()).unwrap();
    let mut c = e.cmd("image-assemble");
    c.args(["--base", "bb", "-t", "evil"]).arg(&layer);
    ok(c);
    let vol = e.path("vol");
    std::fs::create_dir(&vol).unwrap();
    std::fs::write(vol.join("f"), "in the volume").unwrap();
    let spec = format!("{}:/mnt/sub/dir", vol.display());
    let o = run(&e, &["-v", &spec, "evil", "cat", "/mnt/sub/dir/f"]);
    assert_eq!(
        stdout(&o),
        "in the volume",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        std::fs::read_dir(&host_dir).unwrap().count(),
        0,
        "the host dir was touched"
    );
}

#[test]
fn volumes_tmpfs_and_read_only_root() {
    let e = env();
    let vol = e.path("vol");
    std::fs::create_dir(&vol).unwrap();
    std::fs::write(vol.join("f"), "data\n").unwrap();
    let ro = format!("{}:/data:ro", vol.display());
    let rw = format!("{}:/rw", vol.display());
    let out = sh_ok(
        &e,
        &[
            "-v",
            &ro,
            "-v",
            &rw,
            "--tmpfs",
            "/scratch:size=1m",
            "--read-only",
        ],
        "cat /data/f; touch /data/x 2>/dev/null || echo ro-refused; \
         touch /root/x 2>/dev/null || echo root-ro; touch /scratch/x && echo tmpfs-ok; \
         echo new > /rw/written",
    );
    assert_eq!(out, "data\nro-refused\nroot-ro\ntmpfs-ok\n");
    assert_eq!(
        std::fs::read_to_string(vol.join("written")).unwrap(),
        "new\n"
    );
    // A named volume lives in the store and outlives the container.
    sh_ok(&e, &["-v", "cache:/cache"], "echo kept > /cache/k");
    assert_eq!(sh_ok(&e, &["-v", "cache:/cache"], "cat /cache/k"), "kept\n");
}

#[test]
fn the_writable_layer_lands_in_upper_for_layer_diff() {
    let e = env();
    let upper = e.path("upper");
    let spec = upper.to_string_lossy().into_owned();
    sh_ok(
        &e,
        &["--upper", &spec],
        "echo hi > /root/new; rm /bin/ls; mkdir -p /srv/a",
    );
    assert_eq!(
        std::fs::read_to_string(upper.join("root/new")).unwrap(),
        "hi\n"
    );
    assert!(upper.join("srv/a").is_dir());
    // The deleted file is an overlay whiteout, which layer-diff turns into
    // .wh.ls.
    let mut c = e.cmd("layer-diff");
    c.arg("--upper").arg(&upper);
    let out = c.output().unwrap();
    assert!(out.status.success());
    let mut names: Vec<String> = tar::Archive::new(&out.stdout[..])
        .entries()
        .unwrap()
        .map(|en| en.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.contains(&"bin/.wh.ls".to_string()), "{names:?}");
    assert!(names.contains(&"root/new".to_string()), "{names:?}");
    // The image's own layer is untouched.
    assert_eq!(sh_ok(&e, &[], "ls /bin/ls"), "/bin/ls\n");
    // The mount points the image lacks (/dev, /proc, /sys, the /etc files)
    // come from an init layer below, not into the writable one.
    let clean = e.path("clean-upper");
    let spec = clean.to_string_lossy().into_owned();
    let out = sh_ok(
        &e,
        &["--upper", &spec],
        "cat /etc/hostname; ls -d /proc/1 /sys/kernel /dev/null",
    );
    assert!(out.ends_with("/dev/null\n/proc/1\n/sys/kernel\n"), "{out}");
    let left: Vec<_> = std::fs::read_dir(&clean)
        .unwrap()
        .flatten()
        .map(|d| d.file_name())
        .collect();
    assert!(left.is_empty(), "the writable layer holds {left:?}");
    // So do the mount points of volumes and tmpfs mounts the image lacks,
    // unless the command put something in them.
    let stubs = e.path("stub-upper");
    let spec = stubs.to_string_lossy().into_owned();
    let secret = e.path("secret");
    std::fs::write(&secret, "s3cret").unwrap();
    let vol = format!("{}:/run/secrets/id:ro", secret.display());
    let out = sh_ok(
        &e,
        &[
            "--upper", &spec, "-v", &vol, "--tmpfs", "/cache/a", "--tmpfs", "/tmp/t",
        ],
        "cat /run/secrets/id; mkdir /tmp/kept",
    );
    assert_eq!(out, "s3cret");
    let mut left: Vec<String> = walk(&stubs);
    left.sort();
    assert_eq!(left, ["tmp", "tmp/kept"], "only what the command made");
    // A container that swaps a stub's parent for a symlink to the host
    // does not get a host directory removed.
    let victim = e.path("victim");
    std::fs::create_dir_all(victim.join("b/stub")).unwrap();
    let trap = e.path("trap-upper");
    let spec = trap.to_string_lossy().into_owned();
    sh_ok(
        &e,
        &["--upper", &spec, "--tmpfs", "/a/b/stub"],
        &format!("mv /a /a2 && ln -s {} /a", victim.display()),
    );
    assert!(
        victim.join("b/stub").is_dir(),
        "the host's directory is still there"
    );
}

/// Every path below `root`, relative.
fn walk(root: &std::path::Path) -> Vec<String> {
    let mut out = vec![];
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            if e.file_type().unwrap().is_dir() {
                todo.push(p);
            }
        }
    }
    out
}

#[test]
fn a_plain_directory_runs_with_rootfs() {
    let e = env();
    let root = e.path("rootfs");
    // The image's files as a plain tree, through layer-diff --apply.
    let layer = e.path("bb.tar");
    let mut c = e.cmd("layer-diff");
    c.arg("--apply")
        .arg(&root)
        .stdin(std::fs::File::open(layer).unwrap());
    std::fs::create_dir(&root).unwrap();
    assert!(c.status().unwrap().success());
    let o = run(
        &e,
        &[
            "--rootfs",
            root.to_str().unwrap(),
            "sh",
            "-c",
            "echo plain > /root/f; cat /root/f",
        ],
    );
    assert_eq!(
        stdout(&o),
        "plain\n",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        root.join("root/f").exists(),
        "without --upper, writes go to the directory"
    );
}

#[test]
fn memory_and_pids_limits_are_enforced() {
    let e = env();
    // A memory hog: tail must hold the whole line of zeros.
    let o = sh(
        &e,
        &["--memory", "32m"],
        "head -c 200000000 /dev/zero | tail > /dev/null",
    );
    assert_eq!(o.status.code(), Some(137), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("killed by its memory limit (--memory 33554432 bytes)"),
        "{err}"
    );
    // A fork bomb meets the pids limit.
    let out = sh_ok(
        &e,
        &["--pids-limit", "20"],
        "sh -c 'i=0; while [ $i -lt 60 ]; do sleep 10 & i=$((i+1)); done' 2>/dev/null; \
         set -- /proc/[0-9]*; echo running=$#",
    );
    let running: u32 = out
        .trim()
        .strip_prefix("running=")
        .unwrap()
        .parse()
        .unwrap();
    assert!(running <= 20, "{out}");
}

#[test]
fn cpu_limit_is_written_to_the_cgroup() {
    let e = env();
    let out = sh_ok(&e, &["--cpus", "0.5"], "cat /proc/self/cgroup");
    // On a v1 host the container sees its cgroup path; on v2 its own
    // namespace root. Read the limit through the host in both cases.
    let v2 = out.lines().any(|l| l.starts_with("0::"));
    if v2 {
        assert!(out.contains("0::/"), "{out}");
    } else {
        let line = out
            .lines()
            .find(|l| l.contains(":cpu,") || l.contains(":cpu:") || l.contains("cpu,cpuacct"))
            .unwrap();
        assert!(line.contains("/slipway/"), "{out}");
    }
    // While it runs, the host's cgroup holds the quota.
    let mut c = e.cmd("container-run");
    c.args([
        "--rm",
        "--network",
        "none",
        "--cpus",
        "0.5",
        "--name",
        "cpuq",
        "bb",
        "sleep",
        "5",
    ]);
    let mut child = c.spawn().unwrap();
    let quota = (0..100)
        .find_map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            let state = std::fs::read_dir(e.store().join(".slipway/containers")).ok()?;
            for d in state.flatten() {
                let id = d.file_name().to_string_lossy().into_owned();
                for f in [
                    format!("/sys/fs/cgroup/cpu/slipway/{id}/cpu.cfs_quota_us"),
                    format!("/sys/fs/cgroup/slipway/{id}/cpu.max"),
                ] {
                    if let Ok(q) = std::fs::read_to_string(&f) {
                        return Some(q);
                    }
                }
            }
            None
        })
        .expect("the container's cgroup appears");
    // SAFETY: kill with integer arguments.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
    assert!(quota.starts_with("50000"), "{quota}");
}

/// `container-run --rm --network none FLAGS… bb sh -c SCRIPT`, running
/// once SCRIPT has printed "ready"; its stdout for the rest.
fn spawn_ready(
    e: &Env,
    flags: &[&str],
    script: &str,
) -> (std::process::Child, std::process::ChildStdout) {
    let mut c = e.cmd("container-run");
    c.args(["--rm", "--network", "none"])
        .args(flags)
        .args(["bb", "sh", "-c", script])
        .stdout(Stdio::piped())
        .stdin(Stdio::null());
    let mut child = c.spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut buf = [0u8; 6];
    std::io::Read::read_exact(&mut out, &mut buf).unwrap();
    assert_eq!(&buf, b"ready\n");
    (child, out)
}

#[test]
fn signals_are_forwarded_to_the_container() {
    let e = env();
    let (mut child, mut out) = spawn_ready(
        &e,
        &[],
        "trap 'echo got TERM; exit 3' TERM; echo ready; while :; do sleep 0.05; done",
    );
    // SAFETY: kill with integer arguments.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(rest, "got TERM\n");
    assert_eq!(status.code(), Some(3));
}

#[test]
fn a_pid_1_that_ignores_sigterm_is_killed_after_the_stop_timeout() {
    let e = env();
    // sleep as PID 1 has no handler: the kernel drops SIGTERM for it.
    let (mut child, _out) = spawn_ready(&e, &["--stop-timeout", "1"], "echo ready; exec sleep 60");
    let sent = std::time::Instant::now();
    // SAFETY: kill with integer arguments.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(137), "killed");
    // Not a timing assertion: only that it did not wait for the sleep.
    assert!(sent.elapsed() < std::time::Duration::from_secs(50));
}

#[test]
fn stdin_is_closed_unless_interactive() {
    let e = env();
    let mut c = e.cmd("container-run");
    c.args(["--rm", "--network", "none", "bb", "cat"]);
    let o = slipway_tests::run_with_input(c, b"typed\n");
    assert_eq!(stdout(&o), "");
    let mut c = e.cmd("container-run");
    c.args(["--rm", "--network", "none", "-i", "bb", "cat"]);
    let o = slipway_tests::run_with_input(c, b"typed\n");
    assert_eq!(stdout(&o), "typed\n");
}

#[test]
fn a_container_without_rm_is_recorded_with_its_exit_code() {
    let e = env();
    let mut c = e.cmd("container-run");
    c.args([
        "--network",
        "none",
        "--name",
        "kept",
        "bb",
        "sh",
        "-c",
        "exit 4",
    ]);
    assert_eq!(c.status().unwrap().code(), Some(4));
    let dir = e.store().join(".slipway/containers");
    let states: Vec<serde_json::Value> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|d| d.path().join("state.json").exists())
        .map(|d| {
            serde_json::from_slice(&std::fs::read(d.path().join("state.json")).unwrap()).unwrap()
        })
        .collect();
    assert_eq!(states.len(), 1);
    assert_eq!(states[0]["name"], "kept");
    assert_eq!(states[0]["status"], "exited");
    assert_eq!(states[0]["exit_code"], 4);
    // The name is taken until the container is removed.
    let o = run(&e, &["--name", "kept", "bb", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already in use"));
}

#[test]
fn private_network_reaches_out_and_publishes_ports() {
    let e = env();
    if slipway_tests::which("slirp4netns").is_none() {
        panic!("slirp4netns is not installed: run scripts/test.sh, which installs it");
    }
    // A port published on loopback: the host connects to the container.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut c = e.cmd("container-run");
    let publish = format!("127.0.0.1:{port}:80");
    c.args([
        "--rm",
        "-p",
        &publish,
        "bb",
        "sh",
        "-c",
        "echo served | nc -l -p 80",
    ])
    .stdin(Stdio::null());
    let mut child = c.spawn().unwrap();
    let got = (0..100).find_map(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        let mut buf = String::new();
        std::io::Read::read_to_string(&mut s, &mut buf).ok()?;
        (!buf.is_empty()).then_some(buf)
    });
    child.wait().unwrap();
    assert_eq!(got.as_deref(), Some("served\n"));
    // The container has its own interface and an address of slirp4netns.
    let mut c = e.cmd("container-run");
    c.args([
        "--rm",
        "bb",
        "sh",
        "-c",
        "ip -4 addr show tap0 | grep -o 'inet [0-9.]*'",
    ]);
    assert_eq!(ok(c), "inet 10.0.2.100\n");
}

#[test]
fn nothing_is_left_mounted_or_running() {
    let e = env();
    sh_ok(&e, &["-v", "x:/x", "--tmpfs", "/t"], "sleep 0.1 & true");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let store = e.store().to_string_lossy().into_owned();
    assert!(
        !mounts.contains(&store),
        "a mount under the store is left: {mounts}"
    );
    let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&ps.stdout).contains("sleep 0.1"));
}

#[test]
fn the_runtime_runs_from_a_sealed_copy_the_container_cannot_write() {
    let e = env();
    // A command that is `#!/proc/self/exe` makes the kernel run whatever
    // binary the container's first process was forked from: it must be the
    // sealed copy, not container-run's file on the host.
    let mut b = tar::Builder::new(Vec::new());
    let script = b"#!/proc/self/exe\n";
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(script.len() as u64);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_cksum();
    b.append_data(&mut h, "evil", &script[..]).unwrap();
    let layer = e.path("evil.tar");
    std::fs::write(&layer, b.into_inner().unwrap()).unwrap();
    let mut c = e.cmd("image-assemble");
    c.args(["--base", "bb", "-t", "evil"]).arg(&layer);
    ok(c);
    let before = std::fs::read(slipway_tests::bin("container-run")).unwrap();
    let mut c = e.cmd("container-run");
    c.args(["--rm", "--network", "none", "bb", "sleep", "2"]);
    let mut child = c.spawn().unwrap();
    // Until the runtime has re-executed itself from the sealed copy.
    wait_for(10, || {
        let exe = std::fs::read_link(format!("/proc/{}/exe", child.id())).ok()?;
        exe.to_string_lossy().starts_with("/memfd:").then_some(())
    });
    let w = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/{}/exe", child.id()));
    assert!(w.is_err(), "the running runtime's binary is writable");
    child.wait().unwrap();
    // Run the #! trick; whatever it does, the file on the host is intact.
    let _ = run(&e, &["evil", "/evil"]);
    assert_eq!(
        std::fs::read(slipway_tests::bin("container-run")).unwrap(),
        before
    );
}

/// A process's command line, its arguments joined by spaces ("" for a
/// zombie or a process gone).
fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// The processes below `pid` with their states, from the host's /proc.
fn descendants(pid: u32) -> Vec<(u32, char)> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(child) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
                continue;
            };
            let rest = &stat[stat.rfind(')').unwrap() + 2..];
            let mut f = rest.split(' ');
            let state = f.next().unwrap().chars().next().unwrap();
            let ppid: u32 = f.next().unwrap().parse().unwrap();
            if ppid == p {
                out.push((child, state));
                todo.push(child);
            }
        }
    }
    out
}

#[test]
fn init_reaps_orphans_and_forwards_signals() {
    let e = env();
    // An orphan lands on PID 1; `sleep` as PID 1 never reaps it.
    let zombies = |flags: &[&str], want: usize| {
        let mut c = e.cmd("container-run");
        c.args(["--rm", "--network", "none"]).args(flags);
        // (Not `sleep 0.1`: another test looks for that one host-wide.)
        c.args(["bb", "sh", "-c", "(sleep 0.25 &); exec sleep 2"]);
        let mut child = c.spawn().unwrap();
        // Once `sleep 2` runs the orphan was forked; once no live orphan
        // is left it has exited, a zombie or reaped. Then the count
        // settles where it will stay (a reaping init may lag a moment).
        let settled = wait_for(10, || {
            let procs = descendants(child.id());
            let started = procs.iter().any(|(p, _)| cmdline(*p) == "sleep 2");
            // (Before its exec the orphan is still a copy of the shell.)
            let orphan_alive = procs.iter().any(|(p, s)| {
                let c = cmdline(*p);
                *s != 'Z' && (c == "sleep 0.25" || c.starts_with("sh -c"))
            });
            let z = procs.iter().filter(|(_, s)| *s == 'Z').count();
            (started && !orphan_alive && z == want).then_some(z)
        });
        child.wait().unwrap();
        settled
    };
    assert_eq!(
        zombies(&[], 1),
        1,
        "without --init the orphan stays a zombie"
    );
    assert_eq!(zombies(&["--init"], 0), 0);
    // PID 1 ignores SIGTERM without a handler; behind the init, the command
    // gets it and its death by signal is the exit status.
    let mut c = e.cmd("container-run");
    c.args(["--rm", "--network", "none", "--init", "bb", "sleep", "30"]);
    let mut child = c.spawn().unwrap();
    // Until the init has started the command (its handlers are in place).
    wait_for(10, || {
        descendants(child.id())
            .iter()
            .any(|(p, _)| cmdline(*p) == "sleep 30")
            .then_some(())
    });
    // SAFETY: kill with integer arguments.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(143));
    // Failures of the command still come out as Docker's codes.
    let o = run(&e, &["--init", "bb", "no-such-command"]);
    assert_eq!(o.status.code(), Some(127));
}

#[test]
fn tty_gives_the_container_a_terminal_of_its_own() {
    let e = env();
    // script(1) gives container-run a terminal of 33 rows and 99 columns.
    let cr = slipway_tests::bin("container-run");
    // Unpacked before, so that no progress line is shown on the terminal.
    run(&e, &["bb", "true"]);
    let cmd = format!(
        "stty rows 33 cols 99; {} --rm -t --network none bb sh -c 'tty; stty size; echo $TERM; exit 6'",
        cr.display()
    );
    let mut c = Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"])
        .env("SLIPWAY_STORE", e.store())
        .stdin(Stdio::null());
    let o = c.output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).replace('\r', "");
    assert_eq!(out, "/dev/pts/0\n33 99\nxterm\n", "{o:?}");
    assert_eq!(o.status.code(), Some(6));
    // Without a terminal of ours, -t still gives the container one.
    let o = run(&e, &["-t", "bb", "tty"]);
    assert_eq!(stdout(&o).replace('\r', ""), "/dev/pts/0\n");
}

#[test]
fn detached_containers_log_both_streams_and_record_their_end() {
    let e = env();
    let mut c = e.cmd("container-run");
    c.args([
        "-d",
        "--network",
        "none",
        "--name",
        "bg",
        "bb",
        "sh",
        "-c",
        "echo out; echo err >&2; sleep 0.3; exit 5",
    ]);
    let id = ok(c).trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    let dir = e.store().join(".slipway/containers").join(&id);
    let state = || -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.join("state.json")).unwrap()).unwrap()
    };
    assert_eq!(state()["status"], "running");
    let done = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        state()["status"] == "exited"
    });
    assert!(done, "the monitor records the end");
    assert_eq!(state()["exit_code"], 5);
    let log = std::fs::read_to_string(dir.join("container.log")).unwrap();
    let recs: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 2, "{log}");
    let find = |s: &str| recs.iter().find(|r| r["stream"] == s).unwrap()["log"].clone();
    assert_eq!(find("stdout"), "out\n");
    assert_eq!(find("stderr"), "err\n");
    // A detached start that fails says so at once, with Docker's code.
    let o = run(&e, &["-d", "bb", "no-such-command"]);
    assert_eq!(o.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not found"));
    let rm = std::fs::remove_dir_all(&dir);
    assert!(rm.is_ok());
}

#[test]
fn a_container_in_setup_is_stopped_by_stop_and_its_run_d_by_sigterm() {
    let e = env();
    let bundle = e.path("bundle");
    slipway_tests::umoci_bundle(&e, "docker.io/library/bb:latest", &bundle);
    let cfg_path = bundle.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
    cfg["process"]["terminal"] = serde_json::json!(false);
    // A setup that never ends: a hook that hangs, as a dead NFS volume.
    let marker = e.path("hook-ran");
    let hang = format!("touch {}; exec sleep 3737", marker.display());
    cfg["hooks"] = serde_json::json!({
        "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", hang]}],
    });
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let hook_alive = || {
        Command::new("pgrep")
            .args(["-f", "sleep 3737"])
            .output()
            .unwrap()
            .status
            .success()
    };
    let start = |name: &str| {
        let _ = std::fs::remove_file(&marker);
        let mut c = e.cmd("container-run");
        c.args(["-d", "--name", name, "--bundle"])
            .arg(&bundle)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut front = c.spawn().unwrap();
        slipway_tests::wait_for(30, || {
            if let Ok(Some(st)) = front.try_wait() {
                let mut err = String::new();
                std::io::Read::read_to_string(front.stderr.as_mut().unwrap(), &mut err).unwrap();
                panic!("run -d ended before its setup hung: {st}: {err}");
            }
            marker.exists().then_some(())
        });
        front
    };
    // container-ctl stop acts on it: its PID is known from the start.
    let front = start("setup1");
    let mut c = e.cmd("container-ctl");
    c.args(["stop", "setup1"]);
    assert_eq!(ok(c), "setup1\n");
    slipway_tests::wait_for(30, || (!hook_alive()).then_some(()));
    drop(front.wait_with_output().unwrap());
    // run -d told to stop while it waits gives up the container with it.
    let front = start("setup2");
    // SAFETY: kill with a PID we spawned and have not reaped.
    unsafe { libc::kill(front.id() as i32, libc::SIGTERM) };
    let o = front.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(125));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("stopped by SIGTERM while the container was set up"),
        "{err}"
    );
    slipway_tests::wait_for(30, || (!hook_alive()).then_some(()));
}

#[test]
fn a_runtime_bundle_runs_as_runc_runs_it() {
    let e = env();
    // umoci unpacks the image into a bundle with a runtime-spec config.
    let bundle = e.path("bundle");
    slipway_tests::umoci_bundle(&e, "docker.io/library/bb:latest", &bundle);
    let probe = "id; hostname; grep -E 'Cap(Eff|Bnd)|NoNewPrivs|Seccomp:' /proc/self/status; \
                 ls /sys/class/net; ulimit -n; pwd";
    let cfg_path = bundle.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
    cfg["process"]["args"] = serde_json::json!(["sh", "-c", probe]);
    cfg["process"]["terminal"] = serde_json::json!(false);
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let mut c = e.cmd("container-run");
    c.arg("--rm").arg("--bundle").arg(&bundle);
    let ours = ok(c);
    let theirs = Command::new(slipway_tests::peer("runc"))
        .args(["run", "-b"])
        .arg(&bundle)
        .arg(format!("slipway-test-{}", std::process::id()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(theirs.status.success(), "{theirs:?}");
    assert_eq!(ours, String::from_utf8_lossy(&theirs.stdout));
    // What the runtime cannot honour is refused by name.
    cfg["process"]["apparmorProfile"] = serde_json::json!("docker-default");
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let mut c = e.cmd("container-run");
    c.arg("--rm").arg("--bundle").arg(&bundle);
    let o = c.stdin(Stdio::null()).output().unwrap();
    assert_eq!(o.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&o.stderr).contains("process.apparmorProfile"));
    // As is an option the spec decides, rather than dropped.
    let o = run(&e, &["--bundle", bundle.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(125));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--network does not apply to --bundle"),
        "{err}"
    );
}

#[test]
fn each_container_has_a_session_keyring_of_its_own() {
    let e = env();
    // /proc/keys is masked unless privileged; privileged root sees every
    // keyring, so look for this container's: named after its ID, which
    // its default hostname also is.
    let out = sh_ok(
        &e,
        &["--privileged"],
        "grep -c \"keyring *_ses\\.$(hostname):\" /proc/keys",
    );
    assert_eq!(out.trim(), "1", "{out}");
}

#[test]
fn another_oci_runtime_runs_the_same_container() {
    let e = env();
    let secret = e.path("vol");
    std::fs::create_dir_all(&secret).unwrap();
    std::fs::write(secret.join("f"), "from the host\n").unwrap();
    let vol = format!("{}:/vol:ro", secret.display());
    for runtime in ["runc", "crun"] {
        let upper = e.path(&format!("upper-{runtime}"));
        let spec = upper.to_string_lossy().into_owned();
        let o = run(
            &e,
            &[
                "--runtime", runtime, "--upper", &spec, "-v", &vol, "-w", "/made", "-u", "1000",
                "bb", "sh", "-c",
                "id -u; pwd; cat /vol/f; grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status; \
                 touch /tmp/x; exit 5",
            ],
        );
        let out = stdout(&o);
        assert_eq!(
            o.status.code(),
            Some(5),
            "{runtime}: {out} {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            out.starts_with("1000\n/made\nfrom the host\n"),
            "{runtime}: {out}"
        );
        // Docker's capabilities, seccomp and no_new_privs, as ours.
        assert!(
            out.contains("CapEff:\t0000000000000000"),
            "{runtime}: {out}"
        );
        assert!(
            out.contains("Seccomp:\t2") && out.contains("NoNewPrivs:\t1"),
            "{runtime}: {out}"
        );
        assert!(
            upper.join("tmp/x").exists(),
            "{runtime}: the writes are in --upper"
        );
        assert!(!upper.join("vol").exists(), "{runtime}: no mount stub left");
    }
    // Root's capabilities are Docker's set.
    let o = run(
        &e,
        &[
            "--runtime",
            "runc",
            "bb",
            "grep",
            "CapEff",
            "/proc/self/status",
        ],
    );
    assert_eq!(stdout(&o), "CapEff:\t00000000a80425fb\n");
    // What it cannot do is refused before anything is made.
    let o = run(&e, &["--runtime", "runc", "-d", "bb", "true"]);
    assert_eq!(o.status.code(), Some(125));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--runtime does not support -d"), "{err}");
    let mut c = e.cmd("container-ctl");
    c.args(["ps", "-a", "-q"]);
    assert_eq!(stdout(&c.output().unwrap()), "");
}

#[test]
fn a_secret_variable_reaches_the_process_but_not_the_record() {
    let e = env();
    let mut c = e.cmd("container-run");
    c.args([
        "--rm",
        "--network",
        "none",
        "--secret-env",
        "TOKEN",
        "bb",
        "sh",
        "-c",
        "echo $TOKEN",
    ])
    .env("TOKEN", "s3cret-value");
    assert_eq!(stdout(&c.output().unwrap()), "s3cret-value\n");
    let mut c = e.cmd("container-run");
    c.args([
        "-d",
        "--name",
        "keeps",
        "--network",
        "none",
        "--secret-env",
        "TOKEN",
        "-e",
        "PLAIN=1",
        "bb",
        "sleep",
        "30",
    ])
    .env("TOKEN", "s3cret-value");
    assert!(c.output().unwrap().status.success());
    let mut c = e.cmd("container-ctl");
    c.args(["inspect", "keeps"]);
    let shown = stdout(&c.output().unwrap());
    let mut c = e.cmd("container-ctl");
    c.args(["rm", "-f", "keeps"]);
    c.output().unwrap();
    assert!(shown.contains("PLAIN=1"), "{shown}");
    assert!(!shown.contains("s3cret"), "{shown}");
    let states = walk(&e.store().join(".slipway"));
    assert!(
        states.iter().all(|p| !p.ends_with("state.json")),
        "removed: {states:?}"
    );
}

#[test]
fn gc_leaves_a_running_containers_layers_alone() {
    let e = env();
    let base = slipway_tests::files_layer(e.dir.path(), "gc.tar", &[("gc-marker", b"here")]);
    let mut c = e.cmd("image-assemble");
    c.args(["-q", "--base", "bb", "-t", "doomed"]).arg(&base);
    ok(c);
    let mut c = e.cmd("container-run");
    c.args(["-d", "--network", "none", "doomed", "sleep", "30"]);
    let id = ok(c).trim().to_string();
    let mut c = e.cmd("image-store");
    c.args(["rm", "doomed"]);
    ok(c);
    let mut c = e.cmd("image-store");
    c.args(["gc", "--json"]);
    let report = ok(c);
    let mut c = e.cmd("container-ctl");
    c.args(["exec", &id, "cat", "/gc-marker"]);
    let seen = ok(c);
    let mut c = e.cmd("container-ctl");
    c.args(["rm", "-f", &id]);
    ok(c);
    assert!(report.contains("\"unpacked_layers\":0"), "{report}");
    assert_eq!(seen, "here");
    let mut c = e.cmd("image-store");
    c.args(["gc", "--json"]);
    let after = ok(c);
    assert!(after.contains("\"unpacked_layers\":1"), "{after}");
}

#[test]
fn an_image_that_lists_one_layer_twice_runs() {
    let e = env();
    let dir = e.path("layer");
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::write(dir.join("etc/twice"), "once\n").unwrap();
    let tar = e.path("twice.tar");
    ok({
        let mut c = Command::new("tar");
        c.arg("-C").arg(&dir).arg("-cf").arg(&tar).arg(".");
        c
    });
    let mut c = e.cmd("image-assemble");
    c.args(["--base", "bb", "--tag", "twice"])
        .arg(&tar)
        .arg(&tar);
    ok(c);
    let out = run(&e, &["twice", "cat", "/etc/twice"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out), "once\n");
}

#[test]
fn a_uid_of_minus_one_is_refused_not_run_as_root() {
    let e = env();
    // (uid_t)-1 means "unchanged" to setresuid: it would stay root.
    for flags in [
        &["-u", "4294967295:4294967295"][..],
        &["-u", "0:4294967295"],
    ] {
        let mut args = flags.to_vec();
        args.extend(["bb", "id", "-u"]);
        let o = run(&e, &args);
        assert_ne!(o.status.code(), Some(0), "{flags:?}: {}", stdout(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("out of range"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // The same through an image's USER.
    busybox_image(&e, "minus-one", &["--user", "4294967295"]);
    let o = run(&e, &["minus-one", "id", "-u"]);
    assert_ne!(o.status.code(), Some(0), "{}", stdout(&o));
    // The largest that is an ID runs as it.
    assert_eq!(sh_ok(&e, &["-u", "2147483647"], "id -u"), "2147483647\n");
}

/// A tmpfs mounted at `dir` on the host for as long as it lives.
struct HostTmpfs(std::path::PathBuf);

impl HostTmpfs {
    fn at(dir: std::path::PathBuf) -> HostTmpfs {
        std::fs::create_dir_all(&dir).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "t"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(st.success(), "mount a tmpfs at {}", dir.display());
        HostTmpfs(dir)
    }
}

impl Drop for HostTmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn devices_cannot_be_opened_below_a_volume_or_in_a_dev_tmpfs() {
    let e = env();
    let src = e.path("v");
    let _sub = HostTmpfs::at(src.join("sub"));
    let vol = format!("{}:/vol", src.display());
    // A null device made where a mount below the volume's source would
    // have allowed it: mknod is Docker's default capability, opening the
    // node must fail all the same (runc's device cgroup refuses it).
    let probe = "mknod $D c 1 3 && echo MADE; (exec 3<$D) 2>/dev/null && echo OPENED; true";
    let o = sh_ok(&e, &["-v", &vol], &probe.replace("$D", "/vol/sub/n"));
    assert!(
        o.contains("MADE") && !o.contains("OPENED"),
        "a device under a volume: {o}"
    );
    let o = sh_ok(&e, &["--tmpfs", "/x:dev"], &probe.replace("$D", "/x/n"));
    assert!(
        o.contains("MADE") && !o.contains("OPENED"),
        "a device in a dev tmpfs: {o}"
    );
}

#[test]
fn a_read_only_volume_is_read_only_all_the_way_down() {
    let e = env();
    let src = e.path("ro");
    let _sub = HostTmpfs::at(src.join("sub"));
    let vol = format!("{}:/host:ro", src.display());
    let o = sh_ok(
        &e,
        &["-v", &vol],
        "echo x > /host/sub/p 2>/dev/null && echo WROTE; true",
    );
    assert!(!o.contains("WROTE"), "{o}");
    assert!(!src.join("sub/p").exists(), "the host's mount was written");
}

/// bb with one more layer whose /etc/group is `kind`: a symlink, a FIFO.
fn bb_with_group(e: &Env, tag: &str, kind: tar::EntryType, link: Option<&str>) {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(0);
    if let Some(l) = link {
        h.set_link_name(l).unwrap();
    }
    h.set_cksum();
    b.append_data(&mut h, "etc/group", std::io::empty())
        .unwrap();
    let layer = e.path(&format!("{tag}.tar"));
    std::fs::write(&layer, b.into_inner().unwrap()).unwrap();
    let mut c = e.cmd("image-assemble");
    c.args(["-q", "--base", "bb", "-t", tag]).arg(&layer);
    ok(c);
}

#[test]
fn a_hostile_etc_group_is_refused_in_one_line_not_read_for_ever() {
    let e = env();
    bb_with_group(&e, "urandom", tar::EntryType::Symlink, Some("/dev/urandom"));
    bb_with_group(&e, "fifo", tar::EntryType::Fifo, None);
    for (image, says) in [("urandom", "a device"), ("fifo", "a FIFO")] {
        // Bounded by a memory limit too: without the check the first
        // grows until the limit kills it.
        let o = run(&e, &["-m", "256m", image, "true"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_ne!(o.status.code(), Some(0), "{image}");
        assert!(
            err.contains("/etc/group is ") && err.contains(says),
            "{image}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // An ordinary large file is refused past the cap.
    let big = format!("root:x:0:\n{}", "x".repeat(2 << 20));
    let layer = files_layer(e.dir.path(), "big.tar", &[("etc/group", big.as_bytes())]);
    let mut c = e.cmd("image-assemble");
    c.args(["-q", "--base", "bb", "-t", "big"]).arg(&layer);
    ok(c);
    let o = run(&e, &["big", "true"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("larger than"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn slirp4netns_dies_with_a_killed_container_run_and_leaves_no_socket() {
    let e = env();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let publish = format!("127.0.0.1:{port}:80");
    let mut c = e.cmd("container-run");
    c.args(["--rm", "-p", &publish, "bb", "sleep", "4242"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut run = c.spawn().unwrap();
    let pids = |pattern: &str| -> Vec<String> {
        let o = Command::new("pgrep")
            .args(["-f", pattern])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    };
    let until = |what: &str, f: &dyn Fn() -> bool| {
        let t = std::time::Instant::now();
        while !f() {
            assert!(t.elapsed().as_secs() < 30, "{what}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    until("the container started", &|| pids("^sleep 4242$").len() == 1);
    let pid = pids("^sleep 4242$").remove(0);
    let slirp = format!("slirp4netns .* {pid} tap0");
    until("slirp4netns started", &|| !pids(&slirp).is_empty());
    // Its API socket served the publishing, and is gone already: nothing
    // is left for a kill -9 to leave behind.
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", pids(&slirp)[0])).unwrap();
    let api = String::from_utf8_lossy(&cmdline)
        .split('\0')
        .find_map(|a| a.strip_prefix("--api-socket=").map(str::to_string))
        .expect("slirp4netns has an API socket for -p");
    until(
        "the API socket is removed once ports are published",
        &|| !std::path::Path::new(&api).exists(),
    );
    run.kill().unwrap();
    run.wait().unwrap();
    until("slirp4netns went with container-run", &|| {
        pids(&slirp).is_empty()
    });
    let _ = Command::new("kill").arg("-9").arg(&pid).status();
}

#[test]
fn a_container_runs_under_dockers_device_policy() {
    let e = env();
    if !std::path::Path::new("/sys/fs/cgroup/devices/devices.allow").exists() {
        eprintln!("skipped: no cgroup v1 devices controller on this host");
        return;
    }
    // /dev is the one place nodes work, and only those container-run
    // puts there: the device cgroup is the second wall, as Docker's.
    let mut c = e.cmd("container-run");
    c.args([
        "-d",
        "--network",
        "none",
        "--name",
        "devs",
        "bb",
        "sleep",
        "60",
    ]);
    ok(c);
    let mut c = e.cmd("container-ctl");
    c.args(["inspect", "devs"]);
    let doc = slipway_tests::json(&ok(c));
    let pid = doc[0]["State"]["Pid"].as_i64().unwrap();
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let rel = cgroups
        .lines()
        .find_map(|l| l.split_once(":devices:").map(|(_, p)| p.to_string()))
        .unwrap_or_else(|| panic!("no devices cgroup in {cgroups}"));
    let list =
        std::fs::read_to_string(format!("/sys/fs/cgroup/devices{rel}/devices.list")).unwrap();
    let mut c = e.cmd("container-ctl");
    c.args(["rm", "-f", "devs"]);
    ok(c);
    let lines: Vec<&str> = list.lines().collect();
    assert!(!lines.contains(&"a *:* rwm"), "everything allowed: {list}");
    for want in ["c 1:3 rwm", "c *:* m", "c 136:* rwm"] {
        assert!(lines.contains(&want), "{want} missing: {list}");
    }
    assert!(!lines.iter().any(|l| l.starts_with("b 7:")), "{list}");
    // The same rules go to another runtime in the bundle's spec: a node
    // made in runc's /dev (not nodev) cannot be opened either.
    if slipway_tests::which("runc").is_some() {
        let probe = "mknod /dev/probe b 7 0 && echo MADE; (exec 3</dev/probe) 2>/dev/null && echo OPENED; true";
        let o = sh_ok(&e, &["--runtime", "runc"], probe);
        assert!(o.contains("MADE") && !o.contains("OPENED"), "runc: {o}");
    }
}

#[test]
fn device_gives_one_host_device_and_the_policy_still_denies_the_rest() {
    let e = env();
    let fuse = std::path::Path::new("/dev/fuse");
    if !fuse.exists() {
        eprintln!("skipped: the host has no /dev/fuse");
        return;
    }
    // Without --device the node is not there.
    let o = sh_ok(&e, &[], "ls /dev/fuse 2>&1; true");
    assert!(o.contains("No such file"), "{o}");
    // With it, at the path asked for, usable; /dev/loop-control, not
    // granted, cannot be opened even when a node for it is made.
    let probe = "(exec 3</dev/myfuse) && echo FUSE; mknod /dev/lc c 10 237 && (exec 3</dev/lc) 2>/dev/null && echo LOOPCTL; true";
    let o = sh_ok(&e, &["--device", "/dev/fuse:/dev/myfuse"], probe);
    assert!(o.contains("FUSE") && !o.contains("LOOPCTL"), "{o}");
    // Read-only permission: a write open is refused by the cgroup.
    let o = sh_ok(
        &e,
        &["--device", "/dev/fuse:r"],
        "(exec 3>/dev/fuse) 2>/dev/null && echo WROTE; (exec 3</dev/fuse) && echo READ; true",
    );
    assert!(o.contains("READ") && !o.contains("WROTE"), "{o}");
    // Bad specs are one clear line.
    for (spec, want) in [
        ("/dev/fuse:/x:rwz", "PERMS"),
        ("/etc/passwd", "not a device node"),
        ("/dev", "directory"),
        ("relative", "absolute"),
    ] {
        let o = run(&e, &["--device", spec, "bb", "true"]);
        // Docker's code for the runtime's own failure, with one line.
        assert_eq!(o.status.code(), Some(125), "{spec}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{spec}: {err}");
        assert!(err.contains(want), "{spec}: {err}");
    }
}

#[test]
fn a_volume_target_through_a_link_out_of_the_root_is_named_as_such() {
    let e = env();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    h.set_mtime(0);
    b.append_link(&mut h, "escape", "/proc/self/root/etc")
        .unwrap();
    let layer = e.path("escape.tar");
    std::fs::write(&layer, b.into_inner().unwrap()).unwrap();
    let mut c = e.cmd("image-assemble");
    c.args(["--base", "bb", "-t", "escape"]).arg(&layer);
    ok(c);
    let src = e.path("vol");
    std::fs::create_dir_all(&src).unwrap();
    let v = format!("{}:/escape/x", src.display());
    let o = run(&e, &["-v", &v, "escape", "true"]);
    assert_eq!(o.status.code(), Some(125));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("/escape/x: a symlink on its path leads out of the container's root"),
        "{err}"
    );
}

#[test]
fn add_host_and_dns_flags_write_the_containers_name_files() {
    let e = env();
    let out = sh_ok(
        &e,
        &[
            "--hostname",
            "box",
            "--add-host",
            "db:10.1.2.3",
            "--add-host",
            "gw:host-gateway",
            "--dns",
            "9.9.9.9",
            "--dns-search",
            "corp.example",
            "--dns-option",
            "ndots:3",
        ],
        "grep -v '^#' /etc/hosts | tail -3; grep -E '^(nameserver|search|options)' /etc/resolv.conf",
    );
    assert_eq!(
        out,
        "10.1.2.3\tdb\n10.0.2.2\tgw\n127.0.1.1\tbox\n\
         search corp.example\noptions ndots:3\nnameserver 9.9.9.9\n"
    );
    // A bad address is refused before anything runs.
    let o = sh(&e, &["--add-host", "db:not-an-ip"], "true");
    assert_eq!(o.status.code(), Some(125));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("container-run: error: --add-host"), "{err}");
}

#[test]
fn ulimit_and_sysctl_flags_reach_the_containers_process() {
    let e = env();
    let out = sh_ok(
        &e,
        &[
            "--ulimit",
            "nofile=1000:2000",
            "--ulimit",
            "core=-1",
            "--sysctl",
            "kernel.shmmax=123456789",
            "--sysctl",
            "net.ipv4.ip_forward=1",
        ],
        "ulimit -n; ulimit -Hn; ulimit -c; cat /proc/sys/kernel/shmmax /proc/sys/net/ipv4/ip_forward",
    );
    assert_eq!(out, "1000\n2000\nunlimited\n123456789\n1\n");
    // A sysctl that would change the host is refused by name.
    let o = sh(&e, &["--sysctl", "vm.swappiness=1"], "true");
    assert_eq!(o.status.code(), Some(125));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("container-run: error: --sysctl"), "{err}");
}

#[test]
fn mount_flags_bind_volume_and_tmpfs_as_docker_has_them() {
    let e = env();
    let host = e.path("shared");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("in"), "from the host\n").unwrap();
    let bind = format!("type=bind,source={},target=/data,readonly", host.display());
    let out = sh_ok(
        &e,
        &[
            "--mount",
            &bind,
            "--mount",
            "type=volume,source=notes,target=/notes",
            "--mount",
            "type=tmpfs,target=/scratch,tmpfs-size=1m,tmpfs-mode=1770",
        ],
        "cat /data/in; touch /data/x 2>/dev/null || echo read-only; echo kept > /notes/n; \
         stat -c %a /scratch; grep ' /scratch ' /proc/mounts | grep -o 'size=[0-9]*k'",
    );
    assert_eq!(out, "from the host\nread-only\n1770\nsize=1024k\n");
    // The named volume outlives the container.
    let out = sh_ok(&e, &["--mount", "type=volume,src=notes,dst=/n"], "cat /n/n");
    assert_eq!(out, "kept\n");
}

#[test]
fn a_volume_from_a_missing_host_path_makes_the_directory_as_docker_does() {
    let e = env();
    let host = e.path("made/by/run");
    let vol = format!("{}:/out", host.display());
    let out = sh_ok(&e, &["-v", &vol], "echo hi > /out/f; echo ok");
    assert_eq!(out, "ok\n");
    assert_eq!(std::fs::read_to_string(host.join("f")).unwrap(), "hi\n");
}

#[test]
fn shm_size_sets_dev_shm_and_docker_s_64m_is_the_default() {
    let e = env();
    let size = "grep ' /dev/shm ' /proc/mounts | grep -o 'size=[0-9]*k'";
    assert_eq!(sh_ok(&e, &["--shm-size", "8m"], size), "size=8192k\n");
    assert_eq!(sh_ok(&e, &[], size), "size=65536k\n");
    let o = sh(&e, &["--shm-size", "lots"], "true");
    assert_eq!(o.status.code(), Some(125));
}

#[test]
fn group_add_takes_gids_and_names_from_the_containers_group_file() {
    let e = env();
    let out = sh_ok(
        &e,
        &["-u", "app", "--group-add", "4242", "--group-add", "audio"],
        "id -G",
    );
    let groups: Vec<&str> = out.split_whitespace().collect();
    assert!(groups.contains(&"4242") && groups.contains(&"29"), "{out}");
    let o = sh(&e, &["--group-add", "no-such-group"], "true");
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--group-add no-such-group"), "{err}");
}

#[test]
fn pid_ipc_and_uts_namespaces_are_shared_with_the_host_or_a_container() {
    let e = env();
    let ns = |kind: &str| {
        std::fs::read_link(format!("/proc/self/ns/{kind}"))
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    // Its own by default; the host's when asked.
    let own = sh_ok(
        &e,
        &[],
        "for n in ipc uts pid; do readlink /proc/self/ns/$n; done",
    );
    assert!(
        !own.contains(&ns("ipc")) && !own.contains(&ns("pid")),
        "{own}"
    );
    let shared = sh_ok(
        &e,
        &["--pid", "host", "--ipc", "host", "--uts", "host"],
        "for n in ipc uts pid; do readlink /proc/self/ns/$n; done; hostname; cat /proc/1/comm",
    );
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    for want in [
        ns("ipc"),
        ns("uts"),
        ns("pid"),
        host_name.trim().to_string(),
    ] {
        assert!(shared.contains(&want), "{want} not in {shared}");
    }
    // PID 1 is the host's init, not the container's shell.
    assert_ne!(shared.lines().last(), Some("sh"), "{shared}");

    // Another container's PID namespace: its processes are seen.
    let mut d = e.cmd("container-run");
    d.args([
        "-d",
        "--network",
        "none",
        "--name",
        "peer",
        "bb",
        "sleep",
        "1234",
    ]);
    ok(d);
    let seen = wait_for(10, || {
        let o = sh(&e, &["--pid", "container:peer"], "ps");
        let out = stdout(&o);
        out.contains("sleep 1234").then_some(out)
    });
    assert!(seen.contains("sleep 1234"), "{seen}");
    let mut rm = e.cmd("container-ctl");
    rm.args(["rm", "-f", "peer"]);
    ok(rm);

    // What slipway does not make is refused by name.
    for (flags, what) in [
        (&["--userns", "keep-id"][..], "--userns"),
        (&["--ipc", "none"][..], "--ipc"),
        (&["--uts", "host", "--hostname", "x"][..], "--hostname"),
        (&["--pid", "container:nosuch"][..], "nosuch"),
    ] {
        let o = sh(&e, flags, "true");
        assert_eq!(o.status.code(), Some(125), "{flags:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(what),
            "{flags:?}"
        );
    }
}
