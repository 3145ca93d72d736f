//! container-runtime: container-run behind runc's command line, driven as
//! an engine drives a runtime (create, state, start, kill, delete) on a
//! bundle umoci unpacks from a busybox image.

use oci_spec::runtime::{ContainerState, State};
use slipway_tests::{busybox_image, wait_for, Env};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct Rt {
    env: Env,
    root: PathBuf,
}

/// A failed test leaves no container waiting on its FIFO.
impl Drop for Rt {
    fn drop(&mut self) {
        if let Ok(o) = self.cmd(&["list", "-q"]).output() {
            for id in String::from_utf8_lossy(&o.stdout).lines() {
                let _ = self.cmd(&["delete", "--force", id]).output();
            }
        }
    }
}

impl Rt {
    fn new() -> Rt {
        let env = Env::new();
        busybox_image(&env, "bb", &[]);
        let root = env.path("run");
        Rt { env, root }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(slipway_tests::bin("container-runtime"));
        c.arg("--root").arg(&self.root).args(args);
        c.stdin(Stdio::null());
        c
    }

    fn out(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("spawn container-runtime")
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.out(args);
        assert!(o.status.success(), "{args:?}: {o:?}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// One line on stderr and runc's exit code 1.
    fn fails(&self, args: &[&str]) -> String {
        let o = self.out(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {o:?}");
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("container-runtime: error: "), "{err}");
        err
    }

    /// A create that succeeds: its output goes to files, since the
    /// container keeps create's stdout and stderr open while it lives.
    fn create(&self, args: &[&str]) {
        let log = self.env.path("create.log");
        let f = std::fs::File::create(&log).unwrap();
        let mut c = self.cmd(&[&["create"], args].concat());
        c.stdout(f.try_clone().unwrap()).stderr(f);
        let st = c.status().unwrap();
        assert!(
            st.success(),
            "{args:?}: {}",
            std::fs::read_to_string(&log).unwrap()
        );
    }

    fn state(&self, id: &str) -> State {
        serde_json::from_str(&self.ok(&["state", id])).expect("runtime-spec state")
    }

    /// A bundle of the busybox image running `script`.
    fn bundle(&self, name: &str, script: &str) -> PathBuf {
        let bundle = self.env.path(name);
        slipway_tests::umoci_bundle(&self.env, "docker.io/library/bb:latest", &bundle);
        let path = bundle.join("config.json");
        let mut cfg: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        cfg["process"]["args"] = serde_json::json!(["sh", "-c", script]);
        cfg["process"]["terminal"] = serde_json::json!(false);
        cfg["root"]["readonly"] = serde_json::json!(false);
        std::fs::write(&path, cfg.to_string()).unwrap();
        bundle
    }
}

fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn create_waits_for_start_and_delete_takes_it_down() {
    let rt = Rt::new();
    let b = rt.bundle("b", "echo ran > /ran; exec sleep 60");
    let pid_file = rt.env.path("pid");
    rt.create(&["--bundle", arg(&b), "--pid-file", arg(&pid_file), "c1"]);
    let pid: i64 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    let s = rt.state("c1");
    assert_eq!(*s.status(), ContainerState::Created);
    assert_eq!(s.pid().map(i64::from), Some(pid));
    assert_eq!(s.id(), "c1");
    assert_eq!(s.bundle(), &b);
    // Set up, but nothing of the command has run.
    assert!(!b.join("rootfs/ran").exists());
    assert!(rt.ok(&["list", "-q"]).contains("c1"));
    rt.fails(&["create", "--bundle", arg(&b), "c1"]);

    rt.ok(&["start", "c1"]);
    assert_eq!(*rt.state("c1").status(), ContainerState::Running);
    wait_for(10, || b.join("rootfs/ran").exists().then_some(()));
    rt.fails(&["start", "c1"]);
    let err = rt.fails(&["delete", "c1"]);
    assert!(err.contains("not stopped: running"), "{err}");

    rt.ok(&["kill", "c1", "KILL"]);
    wait_for(10, || {
        (*rt.state("c1").status() == ContainerState::Stopped).then_some(())
    });
    rt.ok(&["delete", "c1"]);
    let err = rt.fails(&["state", "c1"]);
    assert!(err.contains("does not exist"), "{err}");
    assert_eq!(rt.ok(&["list", "-q"]), "");
}

#[test]
fn a_created_container_is_deleted_whole_and_run_gives_the_status() {
    let rt = Rt::new();
    let b = rt.bundle("b", "exit 7");
    rt.create(&["--bundle", arg(&b), "c2"]);
    let pid = rt.state("c2").pid().unwrap();
    rt.ok(&["delete", "c2"]);
    // Killed, and reaped by whoever inherited it.
    wait_for(10, || {
        (!Path::new(&format!("/proc/{pid}")).exists()).then_some(())
    });
    // run: create, start and wait; the command's status is ours.
    let o = rt.out(&["run", "--bundle", arg(&b), "c3"]);
    assert_eq!(o.status.code(), Some(7), "{o:?}");
    assert_eq!(rt.ok(&["list", "-q"]), "");
    let err = rt.fails(&["kill", "nope"]);
    assert!(err.contains("does not exist"), "{err}");
    // spec writes a default config that features describe.
    let dir = rt.env.path("spec");
    std::fs::create_dir_all(&dir).unwrap();
    rt.ok(&["spec", "--bundle", arg(&dir)]);
    let cfg: oci_spec::runtime::Spec =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg.root().as_ref().unwrap().path(), Path::new("rootfs"));
    let f: oci_spec::runtime::Features = serde_json::from_str(&rt.ok(&["features"])).unwrap();
    let linux = f.linux().clone().unwrap();
    assert!(linux
        .capabilities()
        .clone()
        .unwrap()
        .contains(&"CAP_CHOWN".to_string()));
    let ns = linux.namespaces().clone().unwrap();
    assert!(ns.contains(&oci_spec::runtime::LinuxNamespaceType::User));
    let hooks = f.hooks().clone().unwrap();
    assert!(
        hooks.contains(&"prestart".to_string()) && hooks.contains(&"startContainer".to_string())
    );
    assert!(f
        .mount_options()
        .clone()
        .unwrap()
        .contains(&"rslave".to_string()));
}

#[test]
fn namespaced_sysctls_and_oom_score_adj_are_applied_and_host_sysctls_refused() {
    let rt = Rt::new();
    let b = rt.bundle("b", "cat /proc/sys/kernel/shmmax /proc/self/oom_score_adj");
    let path = b.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    cfg["linux"]["sysctl"] = serde_json::json!({"kernel.shmmax": "123456"});
    cfg["process"]["oomScoreAdj"] = serde_json::json!(321);
    std::fs::write(&path, cfg.to_string()).unwrap();
    let o = rt.out(&["run", "--bundle", arg(&b), "s1"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "123456\n321\n");
    // vm.swappiness is the host's: refused, not applied.
    cfg["linux"]["sysctl"] = serde_json::json!({"vm.swappiness": "1"});
    std::fs::write(&path, cfg.to_string()).unwrap();
    let err = rt.fails(&["run", "--bundle", arg(&b), "s2"]);
    assert!(err.contains("vm.swappiness"), "{err}");
}

#[test]
fn the_specs_umask_is_the_process_umask_and_a_misshapen_field_is_named() {
    let rt = Rt::new();
    let b = rt.bundle("b", "umask");
    let path = b.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    cfg["process"]["user"]["umask"] = serde_json::json!(0o027);
    std::fs::write(&path, cfg.to_string()).unwrap();
    let o = rt.out(&["run", "--bundle", arg(&b), "u1"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "0027\n");
    cfg["process"]["user"]["uid"] = serde_json::json!("root");
    std::fs::write(&path, cfg.to_string()).unwrap();
    let err = rt.fails(&["run", "--bundle", arg(&b), "u2"]);
    assert!(err.contains("process.user.uid"), "{err}");
}

#[test]
fn spec_mounts_go_in_their_order_with_their_options_and_flags_a_bundle_decides_are_refused() {
    let rt = Rt::new();
    let b = rt.bundle(
        "b",
        "awk '$5 ~ /^\\/m/ {print $5, $6}' /proc/self/mountinfo",
    );
    let src = rt.env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    let path = b.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let mounts = cfg["mounts"].as_array_mut().unwrap();
    mounts.push(serde_json::json!({"destination": "/m2", "type": "tmpfs", "source": "tmpfs", "options": ["size=1k"]}));
    mounts.push(serde_json::json!({"destination": "/m1", "source": src, "options": ["bind", "nosuid", "ro"]}));
    mounts.push(
        serde_json::json!({"destination": "/m2/in", "source": src, "options": ["rbind", "noexec"]}),
    );
    std::fs::write(&path, cfg.to_string()).unwrap();
    let o = rt.out(&["run", "--bundle", arg(&b), "m"]);
    assert!(o.status.success(), "{o:?}");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let lines: Vec<(&str, &str)> = out.lines().filter_map(|l| l.split_once(' ')).collect();
    let points: Vec<&str> = lines.iter().map(|l| l.0).collect();
    assert_eq!(points, ["/m2", "/m1", "/m2/in"], "{out}");
    let opts = |i: usize| lines[i].1.split(',').collect::<Vec<_>>();
    assert!(
        opts(1).contains(&"ro") && opts(1).contains(&"nosuid"),
        "{out}"
    );
    assert!(
        opts(2).contains(&"rw") && opts(2).contains(&"noexec"),
        "{out}"
    );

    let o = Command::new(slipway_tests::bin("container-run"))
        .args(["--store", arg(&rt.env.path("store")), "--bundle", arg(&b)])
        .args(["-v", "/tmp:/x"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(125), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--volume does not apply to --bundle"), "{err}");
}

/// Kills the process when dropped: a failed test leaves no sleeper.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn namespaces_given_by_path_are_joined_instead_of_made() {
    let rt = Rt::new();
    let ns = |pid: &str, kind: &str| std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).ok();
    // unshare(1) makes the namespaces its own before it forks the sleep.
    let holder = Reaped(
        Command::new("unshare")
            .args(["--net", "--uts", "--fork", "sleep", "60"])
            .spawn()
            .unwrap(),
    );
    let pid = holder.0.id().to_string();
    let (net, uts) = wait_for(10, || {
        let (n, u) = (ns(&pid, "net")?, ns(&pid, "uts")?);
        (Some(&n) != ns("self", "net").as_ref() && Some(&u) != ns("self", "uts").as_ref())
            .then_some((n, u))
    });
    let b = rt.bundle(
        "b",
        "readlink /proc/self/ns/net; readlink /proc/self/ns/uts",
    );
    let path = b.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for n in cfg["linux"]["namespaces"].as_array_mut().unwrap() {
        match n["type"].as_str() {
            Some("network") => n["path"] = format!("/proc/{pid}/ns/net").into(),
            Some("uts") => n["path"] = format!("/proc/{pid}/ns/uts").into(),
            _ => {}
        }
    }
    std::fs::write(&path, cfg.to_string()).unwrap();
    let o = rt.out(&["run", "--bundle", arg(&b), "j"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("{}\n{}\n", net.display(), uts.display())
    );
    // A user namespace is not joined: refused by name.
    for n in cfg["linux"]["namespaces"].as_array_mut().unwrap() {
        if n["type"] == "network" {
            *n = serde_json::json!({"type": "user", "path": format!("/proc/{pid}/ns/user")});
        }
    }
    std::fs::write(&path, cfg.to_string()).unwrap();
    let err = rt.fails(&["run", "--bundle", arg(&b), "j2"]);
    assert!(err.contains("joining an existing user namespace"), "{err}");
}

#[test]
fn namespaces_left_out_are_shared_with_the_runtime_and_its_mounts_go_at_delete() {
    let rt = Rt::new();
    let ns = |pid: &str, kind: &str| std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
    let b = rt.bundle(
        "b",
        "for k in mnt pid ipc uts; do readlink /proc/self/ns/$k; done; exec sleep 60",
    );
    let path = b.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    cfg["linux"]["namespaces"] = serde_json::json!([]);
    cfg["linux"]["maskedPaths"] = serde_json::json!([]);
    cfg["linux"]["readonlyPaths"] = serde_json::json!([]);
    cfg.as_object_mut().unwrap().remove("hostname");
    std::fs::write(&path, cfg.to_string()).unwrap();
    let mounted_under_root = || {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let root = rt.root.to_str().unwrap().to_string();
        info.lines().filter(|l| l.contains(&root)).count()
    };
    rt.create(&["--bundle", arg(&b), "h"]);
    // Its root, /proc, /dev… are mounts of the host's namespace now.
    assert!(mounted_under_root() > 3);
    rt.ok(&["start", "h"]);
    let want: String = ["mnt", "pid", "ipc", "uts"]
        .iter()
        .map(|k| format!("{}\n", ns("self", k).display()))
        .collect();
    let log = rt.env.path("create.log");
    wait_for(10, || {
        let said = std::fs::read_to_string(&log).ok()?;
        said.starts_with(&want).then_some(())
    });
    rt.ok(&["delete", "--force", "h"]);
    assert_eq!(mounted_under_root(), 0, "delete takes its mounts away");

    // What would change the host is refused by name.
    cfg["hostname"] = "inside".into();
    std::fs::write(&path, cfg.to_string()).unwrap();
    let err = rt.fails(&["run", "--bundle", arg(&b), "h2"]);
    assert!(err.contains("UTS namespace"), "{err}");
    cfg.as_object_mut().unwrap().remove("hostname");
    cfg["linux"]["maskedPaths"] = serde_json::json!(["/proc/kcore"]);
    std::fs::write(&path, cfg.to_string()).unwrap();
    let err = rt.fails(&["run", "--bundle", arg(&b), "h3"]);
    assert!(
        err.contains("mount namespace of the container's own"),
        "{err}"
    );
    cfg["linux"]["maskedPaths"] = serde_json::json!([]);
    cfg["linux"]["sysctl"] = serde_json::json!({"kernel.shmmax": "1000"});
    std::fs::write(&path, cfg.to_string()).unwrap();
    let err = rt.fails(&["run", "--bundle", arg(&b), "h4"]);
    assert!(err.contains("linux.sysctl kernel.shmmax"), "{err}");
}

#[test]
fn no_pivot_enters_the_root_by_moving_it_over_slash() {
    let rt = Rt::new();
    // Its root is the bundle's, and /proc the container's own.
    let b = rt.bundle("b", "echo moved > /ran; cat /proc/self/comm");
    let o = rt.out(&["run", "--no-pivot", "--bundle", arg(&b), "np"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "cat\n");
    assert_eq!(
        std::fs::read_to_string(b.join("rootfs/ran")).unwrap(),
        "moved\n"
    );
}

#[test]
fn exec_runs_a_process_in_the_container_as_its_process_file_says() {
    let rt = Rt::new();
    let b = rt.bundle("b", "exec sleep 60");
    rt.create(&["--bundle", arg(&b), "x"]);
    rt.ok(&["start", "x"]);
    // What engines pass: a runtime-spec Process.
    let process = rt.env.path("process.json");
    let doc = serde_json::json!({
        "args": ["sh", "-c", "id -u; id -g; pwd; echo $GREETING; grep CapBnd /proc/self/status; umask"],
        "env": ["PATH=/bin:/usr/bin", "GREETING=hello"],
        "cwd": "/tmp",
        "user": {"uid": 1000, "gid": 1001, "umask": 63},
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
        "noNewPrivileges": true
    });
    std::fs::write(&process, doc.to_string()).unwrap();
    let out = rt.ok(&["exec", "--process", arg(&process), "x"]);
    assert_eq!(
        out,
        "1000\n1001\n/tmp\nhello\nCapBnd:\t0000000000000020\n0077\n"
    );
    // The command line's way, over the container's own process; the
    // status is the process's.
    let o = rt.out(&["exec", "--cwd", "/etc", "x", "sh", "-c", "pwd; exit 3"]);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "/etc\n");
    // --detach leaves it running, its PID in the file, in the container.
    let pid_file = rt.env.path("exec.pid");
    // (Its output is its own: not ours to wait on.)
    let st = rt
        .cmd(&[
            "exec",
            "-d",
            "--pid-file",
            arg(&pid_file),
            "x",
            "sleep",
            "30",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    let ns = |p: String| std::fs::read_link(format!("/proc/{p}/ns/pid")).unwrap();
    let init = rt.state("x").pid().unwrap();
    assert_eq!(ns(pid.to_string()), ns(init.to_string()));
    // SAFETY: kill with integer arguments; the child is ours to reap.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let err = rt.fails(&["exec", "nope", "true"]);
    assert!(err.contains("does not exist"), "{err}");
    rt.ok(&["kill", "x", "KILL"]);
    wait_for(10, || {
        (*rt.state("x").status() == ContainerState::Stopped).then_some(())
    });
    let err = rt.fails(&["exec", "x", "true"]);
    assert!(err.contains("not running"), "{err}");
}

#[test]
fn a_user_namespace_maps_the_containers_root_to_the_host_ids_the_spec_gives() {
    let rt = Rt::new();
    let b = rt.bundle(
        "b",
        "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; readlink /proc/self/ns/cgroup",
    );
    // The container's root is host user 100000 here: the bundle must be
    // its to reach, as under runc,
    use std::os::unix::fs::PermissionsExt;
    let open = std::fs::Permissions::from_mode(0o755);
    for dir in [b.parent().unwrap(), &b] {
        std::fs::set_permissions(dir, open.clone()).unwrap();
    }
    // And the root filesystem its own, as an engine shifts it.
    let st = Command::new("chown")
        .args(["-R", "100000:200000"])
        .arg(b.join("rootfs"))
        .status()
        .unwrap();
    assert!(st.success());
    let path = b.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let ns = cfg["linux"]["namespaces"].as_array_mut().unwrap();
    ns.push(serde_json::json!({"type": "user"}));
    ns.push(serde_json::json!({"type": "cgroup"}));
    cfg["linux"]["uidMappings"] =
        serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    cfg["linux"]["gidMappings"] =
        serde_json::json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    std::fs::write(&path, cfg.to_string()).unwrap();
    let o = rt.out(&["run", "--bundle", arg(&b), "u"]);
    assert!(o.status.success(), "{o:?}");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["0", "100000", "65536"], "{out}");
    assert_eq!(lines[1], ["0", "200000", "65536"], "{out}");
    assert_eq!(lines[2], ["0"], "{out}");
    assert_eq!(lines[3], ["0"], "{out}");
    // A cgroup namespace of its own, as asked.
    let ours = std::fs::read_link("/proc/self/ns/cgroup").unwrap();
    assert_ne!(lines[4], [ours.to_str().unwrap()], "{out}");
    // Maps without the namespace are refused.
    cfg["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "user");
    std::fs::write(&path, cfg.to_string()).unwrap();
    let err = rt.fails(&["run", "--bundle", arg(&b), "u2"]);
    assert!(err.contains("need a user namespace"), "{err}");
}

#[test]
fn run_detached_leaves_the_container_running_for_kill_and_delete() {
    let rt = Rt::new();
    let b = rt.bundle("b", "exec sleep 60");
    let o = rt
        .cmd(&["run", "-d", "--bundle", arg(&b), "d"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(o.success());
    assert_eq!(*rt.state("d").status(), ContainerState::Running);
    rt.ok(&["kill", "d", "KILL"]);
    wait_for(10, || {
        (*rt.state("d").status() == ContainerState::Stopped).then_some(())
    });
    rt.ok(&["delete", "d"]);
    assert_eq!(rt.ok(&["list", "-q"]), "");
}

#[test]
fn hooks_in_the_runtime_namespace_get_the_state_at_each_step_and_a_failed_prestart_fails_create() {
    let rt = Rt::new();
    let b = rt.bundle("b", "exit 0");
    let dir = rt.env.path("hooks");
    std::fs::create_dir_all(&dir).unwrap();
    let hook = |name: &str| serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}/{name}.json", dir.display())]});
    let path = b.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    cfg["hooks"] = serde_json::json!({
        "prestart": [hook("prestart")],
        "createRuntime": [hook("createRuntime")],
        "poststart": [hook("poststart")],
        "poststop": [hook("poststop")],
    });
    std::fs::write(&path, cfg.to_string()).unwrap();
    rt.create(&["--bundle", arg(&b), "h"]);
    let read = |name: &str| -> Option<State> {
        serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.json"))).ok()?).ok()
    };
    let pid = rt.state("h").pid().unwrap();
    for name in ["prestart", "createRuntime"] {
        let s = read(name).unwrap_or_else(|| panic!("no {name} state"));
        assert_eq!(*s.status(), ContainerState::Created);
        assert_eq!((s.id().as_str(), *s.pid()), ("h", Some(pid)));
    }
    assert!(read("poststart").is_none());
    rt.ok(&["start", "h"]);
    assert_eq!(
        *read("poststart").unwrap().status(),
        ContainerState::Running
    );
    wait_for(10, || {
        (*rt.state("h").status() == ContainerState::Stopped).then_some(())
    });
    rt.ok(&["delete", "h"]);
    assert_eq!(*read("poststop").unwrap().status(), ContainerState::Stopped);

    // A prestart hook that fails fails the create, saying why.
    cfg["hooks"] = serde_json::json!({"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "echo no network >&2; exit 2"]}]});
    std::fs::write(&path, cfg.to_string()).unwrap();
    let err = rt.fails(&["create", "--bundle", arg(&b), "h2"]);
    assert!(
        err.contains("prestart hook /bin/sh") && err.contains("no network"),
        "{err}"
    );
    assert_eq!(rt.ok(&["list", "-q"]), "");
}

#[test]
fn hooks_in_the_container_namespaces_run_before_pivot_root_and_before_the_command() {
    let rt = Rt::new();
    // The command sees what startContainer left in its root.
    let b = rt.bundle("b", "cat /started > /after");
    let dir = rt.env.path("hooks");
    std::fs::create_dir_all(&dir).unwrap();
    let path = b.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    cfg["hostname"] = serde_json::json!("inside");
    // createContainer: the host's /bin/sh and a host directory, in the
    // container's UTS and PID namespaces. startContainer: the container's
    // /bin/sh, writing into its root.
    let create = format!(
        "cat > {d}/create.json; hostname > {d}/create.host",
        d = dir.display()
    );
    cfg["hooks"] = serde_json::json!({
        "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", create]}],
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "cat > /started"]}],
    });
    std::fs::write(&path, cfg.to_string()).unwrap();
    rt.create(&["--bundle", arg(&b), "h"]);
    let created: State =
        serde_json::from_slice(&std::fs::read(dir.join("create.json")).unwrap()).unwrap();
    assert_eq!(created.id(), "h");
    assert_eq!(*created.pid(), Some(1), "the PID as the container sees it");
    assert_eq!(created.bundle(), &b);
    assert_eq!(
        std::fs::read_to_string(dir.join("create.host")).unwrap(),
        "inside\n"
    );
    assert!(
        !b.join("rootfs/started").exists(),
        "startContainer before start"
    );
    rt.ok(&["start", "h"]);
    wait_for(10, || {
        (*rt.state("h").status() == ContainerState::Stopped).then_some(())
    });
    let started: State =
        serde_json::from_slice(&std::fs::read(b.join("rootfs/after")).unwrap()).unwrap();
    assert_eq!(*started.status(), ContainerState::Created);
    assert_eq!(started.id(), "h");
    rt.ok(&["delete", "h"]);

    // A startContainer hook that fails keeps the command from running.
    std::fs::remove_file(b.join("rootfs/after")).unwrap();
    cfg["hooks"] = serde_json::json!({"startContainer": [{"path": "/bin/false"}]});
    std::fs::write(&path, cfg.to_string()).unwrap();
    rt.create(&["--bundle", arg(&b), "h2"]);
    rt.ok(&["start", "h2"]);
    wait_for(10, || {
        (*rt.state("h2").status() == ContainerState::Stopped).then_some(())
    });
    assert!(!b.join("rootfs/after").exists());
    rt.ok(&["delete", "h2"]);
}

#[test]
fn a_setup_that_hangs_gives_way_to_sigterm_and_leaves_nothing() {
    let rt = Rt::new();
    let b = rt.bundle("b", "exit 0");
    let path = b.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let marker = rt.env.path("hook-started");
    let hang = format!("touch {}; exec sleep 600", marker.display());
    cfg["hooks"] = serde_json::json!({
        "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", hang]}],
    });
    std::fs::write(&path, cfg.to_string()).unwrap();
    let child = rt
        .cmd(&["run", "--bundle", arg(&b), "hang"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(30, || marker.exists().then_some(()));
    // SAFETY: kill with a PID we spawned and have not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("stopped by SIGTERM while the container was set up"),
        "{err}"
    );
    assert_eq!(rt.ok(&["list", "-q"]), "");
    let hung = Command::new("pgrep")
        .args(["-f", &format!("touch {}", marker.display())])
        .output()
        .unwrap();
    assert!(hung.stdout.is_empty(), "the hook went with the container");
}

#[test]
fn preserve_fds_passes_exactly_those_descriptors_and_run_writes_its_pid_file() {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let rt = Rt::new();
    // ls's own directory descriptor takes the lowest free number: 4 when
    // only 3 came through.
    let b = rt.bundle(
        "b",
        "echo through-3 >&3; ls /proc/self/fd | tr '\\n' ' ' > /fds",
    );
    let (mut r, w) = std::io::pipe().unwrap();
    let extra = std::fs::File::open("/etc/hostname").unwrap();
    let pid_file = rt.env.path("pid");
    let run = |n: &str| {
        let mut c = rt.cmd(&[
            "run",
            "--preserve-fds",
            n,
            "--pid-file",
            arg(&pid_file),
            "--bundle",
            arg(&b),
            "p",
        ]);
        let (w, extra) = (w.as_raw_fd(), extra.as_raw_fd());
        // SAFETY: dup2 only, between fork and exec.
        unsafe {
            c.pre_exec(move || {
                // Both without close-on-exec: only the first is passed on.
                if libc::dup2(w, 3) < 0 || libc::dup2(extra, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        c.output().unwrap()
    };
    let o = run("1");
    assert!(o.status.success(), "{o:?}");
    let mut said = [0u8; 10];
    r.read_exact(&mut said).unwrap();
    assert_eq!(&said, b"through-3\n");
    assert_eq!(
        std::fs::read_to_string(b.join("rootfs/fds")).unwrap(),
        "0 1 2 3 4 "
    );
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert!(pid > 0);
    // A descriptor that is not open is refused, not replaced by ours.
    let o = run("3");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--preserve-fds 3: descriptor 5 is not open"),
        "{err}"
    );
    assert_eq!(rt.ok(&["list", "-q"]), "");
}

#[test]
fn exec_with_a_terminal_sends_its_master_to_the_console_socket() {
    use std::io::Read;
    let rt = Rt::new();
    let b = rt.bundle("b", "exec sleep 60");
    rt.create(&["--bundle", arg(&b), "t"]);
    rt.ok(&["start", "t"]);
    let sock = rt.env.path("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    // The engine's side: take the master, read what the process writes.
    let reader = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let master = slipway_common::container::tty::recv_fd(&std::os::fd::OwnedFd::from(conn))
            .unwrap()
            .expect("a pty master");
        let mut f = std::fs::File::from(master);
        let mut out = Vec::new();
        // EIO once the process's side of the pty is closed.
        let _ = f.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    });
    let o = rt.out(&[
        "exec",
        "-t",
        "--console-socket",
        arg(&sock),
        "t",
        "sh",
        "-c",
        "tty; echo done",
    ]);
    assert!(o.status.success(), "{o:?}");
    let out = reader.join().unwrap();
    assert!(out.contains("/dev/pts/") && out.contains("done"), "{out:?}");
    rt.ok(&["delete", "--force", "t"]);
}

#[test]
fn exec_flags_change_the_containers_process_and_debug_logs_each_command() {
    let rt = Rt::new();
    let b = rt.bundle("b", "exec sleep 60");
    rt.create(&["--bundle", arg(&b), "f"]);
    rt.ok(&["start", "f"]);
    let probe = "id -u; id -G; echo $GREETING; grep -E 'CapBnd|NoNewPrivs' /proc/self/status";
    let plain = rt.ok(&["exec", "f", "sh", "-c", probe]);
    let flagged = rt.ok(&[
        "exec",
        "-u",
        "1000:1000",
        "-g",
        "5",
        "-e",
        "GREETING=hi",
        "--cap",
        "CAP_SYS_ADMIN",
        "--no-new-privs",
        "f",
        "sh",
        "-c",
        probe,
    ]);
    let lines: Vec<&str> = flagged.lines().collect();
    assert_eq!(&lines[..3], ["1000", "1000 5", "hi"], "{flagged}");
    let bounding = |out: &str| {
        let l = out.lines().find(|l| l.starts_with("CapBnd:")).unwrap();
        u64::from_str_radix(l.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    // CAP_SYS_ADMIN (21) added to what the container's process has.
    assert_eq!(bounding(&plain) & (1 << 21), 0, "{plain}");
    assert_eq!(
        bounding(&flagged),
        bounding(&plain) | (1 << 21),
        "{flagged}"
    );
    assert!(flagged.contains("NoNewPrivs:\t1"), "{flagged}");

    let log = rt.env.path("debug.log");
    let o = rt.out(&[
        "--debug",
        "--log",
        arg(&log),
        "--log-format",
        "json",
        "state",
        "nope",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let levels: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["level"].to_string())
        .collect();
    assert_eq!(
        levels,
        ["\"debug\"", "\"debug\"", "\"error\""],
        "{levels:?}"
    );
    rt.ok(&["delete", "--force", "f"]);
}
