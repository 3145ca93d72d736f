//! `--runtime PROGRAM`: the container is prepared as always (image,
//! layers, overlay, user, mounts, Docker's security settings), then handed
//! to another OCI runtime (runc, crun) as a runtime bundle, as podman
//! --runtime does. The overlay is mounted in a mount namespace of our own,
//! which the runtime inherits, so nothing of it shows on the host or
//! outlives us.

use crate::config::{MountKind, Network, Plan, Prepared};
use crate::Error;
use serde_json::{json, Value};
use slipway_common::apply::mkdir_all_in_root;
use slipway_common::container::process::{block_signals, resolve_user};
use slipway_common::container::seccomp;
use slipway_common::container::state::Status;
use slipway_common::container::sys::{Loc, Syscall};
use std::ffi::CString;
use std::fs;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Command, Stdio};

fn os(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Os { what, source }
}

fn refuse(what: &str) -> Error {
    Error::Unsupported(format!("--runtime does not support {what} yet"))
}

/// What --runtime cannot do, refused before anything is made.
pub fn check(args: &crate::Args) -> Result<(), Error> {
    if args.detach {
        return Err(refuse("-d"));
    }
    if args.tty || args.interactive {
        return Err(refuse("-t or -i"));
    }
    if args.init {
        return Err(refuse("--init"));
    }
    if !args.secret_env.is_empty() {
        return Err(refuse(
            "--secret-env: the runtime's bundle would hold the secret",
        ));
    }
    Ok(())
}

/// `--network private` for a runtime that joins a namespace by path: a
/// process of ours holds a new network namespace (loopback up) that
/// slirp4netns serves, and the container joins it.
struct PrivateNet {
    holder: libc::pid_t,
    slirp: Option<crate::net::Slirp>,
}

impl PrivateNet {
    fn start(plan: &Plan) -> Result<PrivateNet, Error> {
        // SAFETY: the child only makes syscalls before it pauses.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(os("fork the network holder")(
                std::io::Error::last_os_error(),
            ));
        }
        if pid == 0 {
            // SAFETY: unshare, then wait to be killed (by us, or by the
            // kernel when we die, even of SIGKILL).
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if libc::unshare(libc::CLONE_NEWNET) < 0 {
                    libc::_exit(1);
                }
                let _ = crate::net::loopback_up();
                loop {
                    libc::pause();
                }
            }
        }
        let mut net = PrivateNet {
            holder: pid,
            slirp: None,
        };
        // The namespace exists once /proc shows it apart from ours.
        let ours = fs::read_link("/proc/self/ns/net").ok();
        for _ in 0..200 {
            if fs::read_link(format!("/proc/{pid}/ns/net")).ok() != ours {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let slirp = crate::net::Slirp::start(pid, &plan.id, &plan.publish, plan.rootless)
            .map_err(os("start slirp4netns"))?;
        net.slirp = Some(slirp);
        Ok(net)
    }

    fn path(&self) -> String {
        format!("/proc/{}/ns/net", self.holder)
    }
}

impl Drop for PrivateNet {
    fn drop(&mut self) {
        if let Some(s) = self.slirp.take() {
            s.stop();
        }
        slipway_common::container::process::kill_and_reap(self.holder);
    }
}

/// Mounts the root in our own mount namespace (which the runtime's
/// process inherits).
fn mount_root(plan: &Plan) -> Result<(), Error> {
    let sys = &slipway_common::container::sys::Linux;
    sys.unshare(libc::CLONE_NEWNS)
        .map_err(|e| os("a mount namespace")(e.into()))?;
    let slash = Loc::Path(Path::new("/"));
    sys.mount(None, slash, None, libc::MS_REC | libc::MS_PRIVATE, None)
        .map_err(|e| os("make / private")(e.into()))?;
    // The other runtime makes the mounts inside it: the root as
    // container-run's own child mounts it, without nodev.
    crate::mounts::mount_root(sys, plan, 0).map_err(os("mount the root"))
}

/// The runtime-spec config.json for the plan.
fn spec(plan: &Plan, root: &Path, netns: Option<&str>) -> Result<Value, Error> {
    let rootfd = fs::File::open(root).map_err(os("open the root"))?;
    // Inside the root, never through a symlink out of it, and bounded.
    let read = |p: &str| -> Result<String, Error> {
        let opened = slipway_common::apply::openat_in_root(
            rootfd.as_raw_fd(),
            p.as_bytes(),
            libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
            0,
        )
        .map(fs::File::from);
        slipway_common::container::process::read_account_file(&format!("/{p}"), opened)
            .map_err(Error::Invalid)
    };
    let user = resolve_user(
        if plan.user.is_empty() {
            "0"
        } else {
            &plan.user
        },
        &read("etc/passwd")?,
        &read("etc/group")?,
    )
    .map_err(|e| Error::Invalid(format!("--user {}: {e}", plan.user)))?;
    // The working directory is made if missing, as ours does.
    mkdir_all_in_root(
        rootfd.as_raw_fd(),
        plan.cwd.trim_start_matches('/').as_bytes(),
    )
    .map_err(os(format!("create the working directory {}", plan.cwd)))?;
    let caps: Vec<String> = plan.caps.iter().map(|c| c.to_string()).collect();
    let mounts = spec_mounts(plan);
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    match (plan.network, netns) {
        (Network::None, _) => namespaces.push(json!({"type": "network"})),
        (Network::Private, Some(path)) => namespaces.push(json!({"type": "network", "path": path})),
        _ => {}
    }
    let resources = spec_resources(plan);
    let mut linux = json!({
        "namespaces": namespaces,
        "resources": resources,
        "maskedPaths": plan.masked,
        "readonlyPaths": plan.readonly,
    });
    // --device: the node, for the other runtime to make.
    if !plan.devices.is_empty() {
        linux["devices"] = plan
            .devices
            .iter()
            .map(|d| {
                json!({
                    "path": d.target,
                    "type": d.kind.to_string(),
                    "major": libc::major(d.rdev),
                    "minor": libc::minor(d.rdev),
                    "fileMode": d.mode,
                    "uid": d.uid,
                    "gid": d.gid,
                })
            })
            .collect();
    }
    if plan.seccomp {
        linux["seccomp"] = seccomp::docker_default_spec(plan.caps);
    }
    let mut groups = user.groups.clone();
    groups.extend(&plan.extra_groups);
    Ok(json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": user.uid, "gid": user.gid, "additionalGids": groups},
            "args": plan.argv,
            "env": plan.env,
            "cwd": plan.cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": !plan.privileged,
            "rlimits": plan.rlimits.iter().map(|(r, soft, hard)| json!({
                "type": rlimit_name(*r), "soft": soft, "hard": hard
            })).collect::<Vec<_>>(),
        },
        "root": {"path": root, "readonly": plan.read_only},
        "hostname": plan.hostname,
        "mounts": mounts,
        "linux": linux,
    }))
}

/// The spec's mounts: runc's standard ones, then ours (/etc files,
/// volumes, tmpfs) in order.
fn spec_mounts(plan: &Plan) -> Vec<Value> {
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", if plan.privileged { "rw" } else { "ro" }]}),
    ];
    for (target, file) in &plan.etc {
        mounts.push(json!({"destination": target, "type": "bind", "source": file, "options": ["rbind", "rprivate"]}));
    }
    for m in &plan.mounts {
        mounts.push(match &m.kind {
            MountKind::Bind {
                source,
                read_only,
                recursive,
                options,
            } => {
                let mut o = vec![if *recursive { "rbind" } else { "bind" }];
                if options.is_empty() {
                    o.push("rprivate");
                } else {
                    o.extend(options.split(','));
                }
                o.push(if *read_only { "ro" } else { "rw" });
                json!({"destination": m.target, "type": "bind", "source": source, "options": o})
            }
            MountKind::Tmpfs { options } => json!({
                "destination": m.target, "type": "tmpfs", "source": "tmpfs",
                "options": options.split(',').collect::<Vec<_>>()
            }),
        });
    }
    mounts
}

/// linux.resources: the cgroup limits, and the same device policy as
/// ours for the other runtime to apply.
fn spec_resources(plan: &Plan) -> serde_json::Map<String, Value> {
    let mut resources = serde_json::Map::new();
    if let Some(m) = plan.limits.memory {
        resources.insert("memory".into(), json!({"limit": m, "swap": m * 2}));
    }
    if let Some(p) = plan.limits.pids {
        resources.insert("pids".into(), json!({"limit": p}));
    }
    if let Some(n) = plan.limits.nano_cpus {
        resources.insert(
            "cpu".into(),
            json!({"period": 100_000, "quota": n / 10_000}),
        );
    }
    if plan.limits.devices {
        let rules: Vec<Value> = plan
            .limits
            .device_rules()
            .iter()
            .map(|r| {
                let mut v = json!({"allow": r.allow, "access": r.access});
                if r.kind != 'a' {
                    v["type"] = json!(r.kind.to_string());
                }
                if let Some(m) = r.major {
                    v["major"] = json!(m);
                }
                if let Some(m) = r.minor {
                    v["minor"] = json!(m);
                }
                v
            })
            .collect();
        resources.insert("devices".into(), Value::Array(rules));
    }
    resources
}

fn rlimit_name(r: i32) -> &'static str {
    match r as u32 {
        libc::RLIMIT_NOFILE => "RLIMIT_NOFILE",
        libc::RLIMIT_NPROC => "RLIMIT_NPROC",
        libc::RLIMIT_CORE => "RLIMIT_CORE",
        libc::RLIMIT_STACK => "RLIMIT_STACK",
        _ => "RLIMIT_AS",
    }
}

/// Runs the prepared container with `program`; returns its exit status.
pub fn run(mut p: Prepared, program: &Path) -> Result<u8, Error> {
    let id = p.state.id.clone();
    let result = (|| {
        mount_root(&p.plan)?;
        p.layers_lock = None;
        let bundle = p.container_dir.join("bundle");
        fs::create_dir_all(&bundle).map_err(os("create the bundle"))?;
        let net = match p.plan.network {
            Network::Private => Some(PrivateNet::start(&p.plan)?),
            _ => None,
        };
        let netns = net.as_ref().map(PrivateNet::path);
        let config = spec(&p.plan, &p.plan.mountpoint, netns.as_deref())?;
        fs::write(bundle.join("config.json"), config.to_string())
            .map_err(os("write config.json"))?;
        let mut child = Command::new(program)
            .arg("run")
            .arg("--bundle")
            .arg(&bundle)
            .arg(&id)
            .stdin(Stdio::null())
            .spawn()
            .map_err(os(format!("run {}", program.display())))?;
        p.state.pid = Some(child.id() as i32);
        p.state.status = Status::Running;
        let _ = p.containers.save(&p.state);
        let status = forward_until_exit(&mut child, program, &id, p.plan.stop_timeout);
        // The runtime's own record of the container goes too.
        let _ = Command::new(program)
            .args(["delete", "--force", &id])
            .stderr(Stdio::null())
            .status();
        Ok(status)
    })();
    // Our mount namespace dies with us, but the state dir is removed now.
    if let Ok(mp) = CString::new(p.plan.mountpoint.as_os_str().as_encoded_bytes()) {
        let _ = slipway_common::mount::umount(&mp, libc::MNT_DETACH);
    }
    crate::stubs::remove(&p.plan);
    if let Some(w) = p.own_work.take() {
        let _ = fs::remove_dir_all(w);
    }
    match &result {
        Ok(code) if !p.state.auto_remove => {
            p.state.status = Status::Exited;
            p.state.exit_code = Some(i32::from(*code));
            let _ = p.containers.save(&p.state);
        }
        _ => {
            let _ = p.containers.remove(&id);
        }
    }
    result
}

/// Waits for the runtime, passing SIGINT and SIGTERM to it; after a
/// SIGTERM the container has `stop_timeout` seconds, then it is killed.
fn forward_until_exit(
    child: &mut std::process::Child,
    program: &Path,
    id: &str,
    stop_timeout: u32,
) -> u8 {
    let set = block_signals(&[libc::SIGINT, libc::SIGTERM, libc::SIGHUP]);
    let mut deadline: Option<std::time::Instant> = None;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            use std::os::unix::process::ExitStatusExt;
            return match (status.code(), status.signal()) {
                (Some(c), _) => c as u8,
                (None, Some(s)) => (128 + s) as u8,
                _ => 125,
            };
        }
        let ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 50_000_000,
        };
        // SAFETY: siginfo is written by the kernel; set and timeout valid.
        let sig = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::sigtimedwait(&set, &mut info, &ts)
        };
        if sig > 0 {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(child.id() as i32, sig) };
            if sig == libc::SIGTERM && deadline.is_none() {
                deadline = Some(
                    std::time::Instant::now() + std::time::Duration::from_secs(stop_timeout.into()),
                );
            }
        }
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            let _ = Command::new(program).args(["kill", id, "KILL"]).status();
            deadline = None;
        }
    }
}
