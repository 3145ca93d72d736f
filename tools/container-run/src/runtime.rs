//! `--runtime PROGRAM`: the container is prepared as always (image,
//! layers, overlay, user, mounts, Docker's security settings), then handed
//! to another OCI runtime (runc, crun) as a runtime bundle, as podman
//! --runtime does. The overlay is mounted in a mount namespace of our own,
//! which the runtime inherits, so nothing of it shows on the host or
//! outlives us.

use crate::config::{MountKind, Network, Plan, Prepared};
use crate::Error;
use oci_spec::runtime::{
    Capabilities, Capability, Linux, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder,
    LinuxDeviceBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxMemoryBuilder,
    LinuxNamespaceBuilder, LinuxNamespaceType, LinuxPidsBuilder, LinuxResources,
    LinuxResourcesBuilder, MountBuilder, PosixRlimitBuilder, PosixRlimitType, Process,
    ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
};
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
    if !matches!(
        args.network.as_str(),
        "none" | "host" | "private" | "bridge" | "default"
    ) {
        return Err(refuse(
            "--network with a user-defined network or container:NAME",
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
fn spec(plan: &Plan, root: &Path, netns: Option<&str>) -> Result<Spec, Error> {
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
    let group_file = read("etc/group")?;
    let mut groups = user.groups.clone();
    groups.extend(&plan.extra_groups);
    for g in &plan.group_add {
        let gid = slipway_common::container::process::resolve_group(g, &group_file)
            .map_err(Error::Invalid)?;
        if !groups.contains(&gid) {
            groups.push(gid);
        }
    }
    let process = spec_process(plan, &user, groups)?;
    let linux = spec_linux(plan, netns)?;
    let spec = SpecBuilder::default()
        .version("1.0.2")
        .process(process)
        .root(
            RootBuilder::default()
                .path(root)
                .readonly(plan.read_only)
                .build()
                .map_err(bad)?,
        )
        .hostname(plan.hostname.clone())
        .mounts(spec_mounts(plan)?)
        .linux(linux)
        .build()
        .map_err(bad)?;
    Ok(spec)
}

/// A spec that oci-spec refuses to build is our mistake, said plainly.
fn bad(e: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("the spec for the other runtime: {e}"))
}

/// process: the command, its user, capabilities and limits.
fn spec_process(
    plan: &Plan,
    user: &slipway_common::container::process::User,
    groups: Vec<u32>,
) -> Result<Process, Error> {
    let caps = plan
        .caps
        .iter()
        .map(|c| {
            let name = c.to_string();
            name.trim_start_matches("CAP_")
                .parse::<Capability>()
                .map_err(|_| bad(format!("capability {name}")))
        })
        .collect::<Result<Capabilities, Error>>()?;
    let mut capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .build()
        .map_err(bad)?;
    capabilities.set_inheritable(None).set_ambient(None);
    let rlimits = plan
        .rlimits
        .iter()
        .map(|(r, soft, hard)| {
            PosixRlimitBuilder::default()
                .typ(rlimit_type(*r)?)
                .soft(*soft)
                .hard(*hard)
                .build()
                .map_err(bad)
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let user = UserBuilder::default()
        .uid(user.uid)
        .gid(user.gid)
        .additional_gids(groups)
        .build()
        .map_err(bad)?;
    ProcessBuilder::default()
        .terminal(false)
        .user(user)
        .args(plan.argv.clone())
        .env(plan.env.clone())
        .cwd(&plan.cwd)
        .capabilities(capabilities)
        .no_new_privileges(!plan.privileged)
        .rlimits(rlimits)
        .build()
        .map_err(bad)
}

/// linux: namespaces, resources, masks, --device nodes, seccomp.
fn spec_linux(plan: &Plan, netns: Option<&str>) -> Result<Linux, Error> {
    let ns = |typ, path: Option<&str>| {
        let b = LinuxNamespaceBuilder::default().typ(typ);
        match path {
            Some(p) => b.path(p),
            None => b,
        }
        .build()
        .map_err(bad)
    };
    let mut namespaces = vec![
        ns(LinuxNamespaceType::Pid, None)?,
        ns(LinuxNamespaceType::Ipc, None)?,
        ns(LinuxNamespaceType::Uts, None)?,
        ns(LinuxNamespaceType::Mount, None)?,
    ];
    match (plan.network, netns) {
        (Network::None, _) => namespaces.push(ns(LinuxNamespaceType::Network, None)?),
        (Network::Private, Some(path)) => {
            namespaces.push(ns(LinuxNamespaceType::Network, Some(path))?)
        }
        _ => {}
    }
    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .resources(spec_resources(plan)?)
        .masked_paths(plan.masked.clone())
        .readonly_paths(plan.readonly.clone())
        .build()
        .map_err(bad)?;
    // --device: the node, for the other runtime to make.
    if !plan.devices.is_empty() {
        let devices = plan
            .devices
            .iter()
            .map(|d| {
                LinuxDeviceBuilder::default()
                    .path(&d.target)
                    .typ(device_type(d.kind)?)
                    .major(libc::major(d.rdev) as i64)
                    .minor(libc::minor(d.rdev) as i64)
                    .file_mode(d.mode)
                    .uid(d.uid)
                    .gid(d.gid)
                    .build()
                    .map_err(bad)
            })
            .collect::<Result<Vec<_>, Error>>()?;
        linux.set_devices(Some(devices));
    }
    if plan.seccomp {
        linux.set_seccomp(Some(seccomp::docker_default_spec(plan.caps)));
    }
    Ok(linux)
}

fn device_type(kind: char) -> Result<LinuxDeviceType, Error> {
    Ok(match kind {
        'c' => LinuxDeviceType::C,
        'b' => LinuxDeviceType::B,
        'p' => LinuxDeviceType::P,
        'u' => LinuxDeviceType::U,
        'a' => LinuxDeviceType::A,
        k => return Err(bad(format!("device type {k:?}"))),
    })
}

/// The spec's mounts: runc's standard ones, then ours (/etc files,
/// volumes, tmpfs) in order.
fn spec_mounts(plan: &Plan) -> Result<Vec<oci_spec::runtime::Mount>, Error> {
    let mount = |dest: &str, typ: &str, source: &Path, options: &[&str]| {
        MountBuilder::default()
            .destination(dest)
            .typ(typ)
            .source(source)
            .options(options.iter().map(|o| o.to_string()).collect::<Vec<_>>())
            .build()
            .map_err(bad)
    };
    let p = Path::new;
    let sys_ro = if plan.privileged { "rw" } else { "ro" };
    let mut mounts = vec![
        mount("/proc", "proc", p("proc"), &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            p("tmpfs"),
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            p("devpts"),
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        mount(
            "/dev/shm",
            "tmpfs",
            p("shm"),
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            p("mqueue"),
            &["nosuid", "noexec", "nodev"],
        )?,
        mount(
            "/sys",
            "sysfs",
            p("sysfs"),
            &["nosuid", "noexec", "nodev", sys_ro],
        )?,
    ];
    for (target, file) in &plan.etc {
        mounts.push(mount(target, "bind", file, &["rbind", "rprivate"])?);
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
                mount(&m.target, "bind", source, &o)?
            }
            MountKind::Tmpfs { options } => {
                let o: Vec<&str> = options.split(',').collect();
                mount(&m.target, "tmpfs", p("tmpfs"), &o)?
            }
        });
    }
    Ok(mounts)
}

/// linux.resources: the cgroup limits, and the same device policy as
/// ours for the other runtime to apply.
fn spec_resources(plan: &Plan) -> Result<LinuxResources, Error> {
    let mut b = LinuxResourcesBuilder::default();
    if let Some(m) = plan.limits.memory {
        let m = m as i64;
        let memory = LinuxMemoryBuilder::default().limit(m).swap(m * 2);
        b = b.memory(memory.build().map_err(bad)?);
    }
    if let Some(p) = plan.limits.pids {
        b = b.pids(
            LinuxPidsBuilder::default()
                .limit(p as i64)
                .build()
                .map_err(bad)?,
        );
    }
    if let Some(n) = plan.limits.nano_cpus {
        let cpu = LinuxCpuBuilder::default()
            .period(100_000u64)
            .quota((n / 10_000) as i64);
        b = b.cpu(cpu.build().map_err(bad)?);
    }
    let mut resources = b.build().map_err(bad)?;
    resources.set_devices(None);
    if plan.limits.devices {
        let rules = plan
            .limits
            .device_rules()
            .iter()
            .map(|r| {
                let mut d = LinuxDeviceCgroupBuilder::default()
                    .allow(r.allow)
                    .access(r.access.to_string());
                if r.kind != 'a' {
                    d = d.typ(device_type(r.kind)?);
                }
                if let Some(m) = r.major {
                    d = d.major(m);
                }
                if let Some(m) = r.minor {
                    d = d.minor(m);
                }
                d.build().map_err(bad)
            })
            .collect::<Result<Vec<_>, Error>>()?;
        resources.set_devices(Some(rules));
    }
    Ok(resources)
}

/// setrlimit's resource number as the spec names it.
fn rlimit_type(r: i32) -> Result<PosixRlimitType, Error> {
    use PosixRlimitType as T;
    Ok(match r as u32 {
        libc::RLIMIT_CPU => T::RlimitCpu,
        libc::RLIMIT_FSIZE => T::RlimitFsize,
        libc::RLIMIT_DATA => T::RlimitData,
        libc::RLIMIT_STACK => T::RlimitStack,
        libc::RLIMIT_CORE => T::RlimitCore,
        libc::RLIMIT_RSS => T::RlimitRss,
        libc::RLIMIT_NPROC => T::RlimitNproc,
        libc::RLIMIT_NOFILE => T::RlimitNofile,
        libc::RLIMIT_MEMLOCK => T::RlimitMemlock,
        libc::RLIMIT_AS => T::RlimitAs,
        libc::RLIMIT_LOCKS => T::RlimitLocks,
        libc::RLIMIT_SIGPENDING => T::RlimitSigpending,
        libc::RLIMIT_MSGQUEUE => T::RlimitMsgqueue,
        libc::RLIMIT_NICE => T::RlimitNice,
        libc::RLIMIT_RTPRIO => T::RlimitRtprio,
        libc::RLIMIT_RTTIME => T::RlimitRttime,
        _ => return Err(bad(format!("resource limit number {r}"))),
    })
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
        let json = serde_json::to_string(&config).map_err(bad)?;
        fs::write(bundle.join("config.json"), json).map_err(os("write config.json"))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mount;
    use crate::mounts::tests::plan;

    #[test]
    fn the_spec_for_another_runtime_is_typed_and_complete() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir(root.path().join("etc")).unwrap();
        fs::write(
            root.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\n",
        )
        .unwrap();
        fs::write(
            root.path().join("etc/group"),
            "root:x:0:\nwheel:x:10:root\n",
        )
        .unwrap();
        let mut p = plan();
        p.caps = slipway_common::container::caps::CapSet::docker_default();
        p.rlimits = vec![(libc::RLIMIT_MEMLOCK as i32, 1, 2)];
        p.network = Network::None;
        p.limits.memory = Some(1 << 20);
        p.limits.devices = true;
        p.mounts = vec![Mount {
            target: "/data".into(),
            kind: MountKind::Bind {
                source: "/srv".into(),
                read_only: true,
                recursive: true,
                options: String::new(),
            },
        }];
        let spec = spec(&p, root.path(), None).unwrap();
        // What the other runtime reads: the JSON, decoded by oci-spec.
        let back: Spec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
        let process = back.process().as_ref().unwrap();
        assert_eq!(process.args().as_deref(), Some(&["sh".to_string()][..]));
        assert_eq!(process.cwd(), Path::new("/work"));
        let caps = process.capabilities().as_ref().unwrap();
        assert!(caps.inheritable().is_none() && caps.ambient().is_none());
        assert!(caps
            .bounding()
            .as_ref()
            .unwrap()
            .contains(&Capability::Chown));
        let rl = &process.rlimits().as_ref().unwrap()[0];
        assert_eq!(
            (rl.typ(), rl.soft(), rl.hard()),
            (PosixRlimitType::RlimitMemlock, 1, 2)
        );
        let linux = back.linux().as_ref().unwrap();
        let kinds: Vec<_> = linux
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .map(|n| n.typ())
            .collect();
        assert!(kinds.contains(&LinuxNamespaceType::Network));
        let res = linux.resources().as_ref().unwrap();
        assert_eq!(res.memory().as_ref().unwrap().limit(), Some(1 << 20));
        assert!(!res.devices().as_ref().unwrap().is_empty());
        assert!(linux.seccomp().is_some());
        assert_eq!(linux.masked_paths().as_ref().unwrap(), &p.masked);
        let data = back.mounts().as_ref().unwrap().last().unwrap().clone();
        assert_eq!(data.destination(), Path::new("/data"));
        assert_eq!(
            data.options().as_ref().unwrap(),
            &["rbind", "rprivate", "ro"]
        );
        assert_eq!(back.root().as_ref().unwrap().path(), root.path());
    }

    #[test]
    fn an_unknown_resource_limit_is_refused_not_renamed() {
        assert!(rlimit_type(999).is_err());
        assert_eq!(
            rlimit_type(libc::RLIMIT_NOFILE as i32).unwrap(),
            PosixRlimitType::RlimitNofile
        );
    }
}
