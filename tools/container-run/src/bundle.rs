//! --bundle: an OCI runtime bundle (runtime-spec `config.json` beside its
//! root filesystem), as `runc run` takes it. The spec becomes the same
//! command line a user would give, plus what only a spec says (its own
//! masked and read-only paths, additional groups); whatever this runtime
//! cannot honour exactly is refused by name, never silently dropped.

use crate::config::{IdMaps, Mount, MountKind, Plan};
use crate::{Args, Error};
use oci_spec::runtime::{
    Linux, LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, LinuxNamespaceType, PosixRlimitType,
    Process, Spec,
};
use slipway_common::container::caps::CapSets;
use slipway_common::container::cgroups::{DeviceRule, SpecCpu, SpecMemory, SpecResources};
use slipway_common::container::process::SpecPrivileges;
use slipway_common::container::seccomp::spec::Profile;
use slipway_common::container::seccomp::Filter;
use std::path::Path;

/// (resource, soft, hard)
pub type Rlimit = (i32, u64, u64);

/// What a spec sets beyond the command line.
pub struct Extras {
    pub env: Vec<String>,
    pub masked: Option<Vec<String>>,
    pub readonly: Option<Vec<String>>,
    pub groups: Vec<u32>,
    pub rlimits: Vec<Rlimit>,
    /// Capabilities, no_new_privs and linux.seccomp, as written.
    pub privileges: SpecPrivileges,
    pub sysctls: Vec<(String, String)>,
    pub oom_score_adj: Option<i32>,
    /// process.user.umask.
    pub umask: Option<u32>,
    /// linux.cgroupsPath.
    pub cgroups_path: Option<String>,
    /// linux.resources.devices, and the nodes of linux.devices.
    pub device_rules: Option<Vec<DeviceRule>>,
    pub nodes: Vec<Node>,
    /// The spec's mounts beyond the standard ones, in its order.
    pub mounts: Vec<Mount>,
    /// linux.resources: CPU, memory and hugetlb, as written.
    pub resources: SpecResources,
    /// Namespaces joined by path: (kind as /proc names it, path).
    pub joins: Vec<(String, std::path::PathBuf)>,
    /// The CLONE_NEW* flags of the namespaces the spec leaves out: the
    /// container shares ours.
    pub host_namespaces: libc::c_int,
    /// What the spec asks that will not be done, as runc warns of it.
    pub warnings: Vec<String>,
    /// A user namespace's ID maps.
    pub userns: Option<IdMaps>,
    /// A cgroup namespace is asked for (new, or joined by path).
    pub cgroupns: bool,
    pub hooks: crate::hooks::Hooks,
    pub rootfs_propagation: Option<libc::c_ulong>,
}

/// A device node a spec's linux.devices asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub path: String,
    /// libc::S_IFCHR, S_IFBLK or S_IFIFO.
    pub kind: libc::mode_t,
    pub rdev: libc::dev_t,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

fn device_rules(rules: &[LinuxDeviceCgroup], path: &Path) -> Result<Vec<DeviceRule>, Error> {
    let mut out = vec![];
    for r in rules {
        let kind = match r.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => 'a',
            LinuxDeviceType::C | LinuxDeviceType::U => 'c',
            LinuxDeviceType::B => 'b',
            LinuxDeviceType::P => {
                return Err(Error::Invalid(format!(
                    "{}: linux.resources.devices: type \"p\" has no cgroup rule",
                    path.display()
                )))
            }
        };
        let access = r.access().as_deref().unwrap_or("rwm");
        if !access.chars().all(|c| "rwm".contains(c)) {
            return Err(Error::Invalid(format!(
                "{}: linux.resources.devices: access {access:?}",
                path.display()
            )));
        }
        out.push(DeviceRule {
            allow: r.allow(),
            kind,
            major: r.major(),
            minor: r.minor(),
            access: access.to_string().into(),
        });
    }
    Ok(out)
}

fn nodes(devices: &[LinuxDevice], path: &Path) -> Result<Vec<Node>, Error> {
    let mut out = vec![];
    for d in devices {
        let p = d.path().to_string_lossy().into_owned();
        if !p.starts_with('/') {
            return Err(Error::Invalid(format!(
                "{}: linux.devices: path {p:?} is not absolute",
                path.display()
            )));
        }
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(Error::Invalid(format!(
                    "{}: linux.devices: {p}: type \"a\" is no device",
                    path.display()
                )))
            }
        };
        out.push(Node {
            path: p,
            kind,
            rdev: libc::makedev(d.major() as u32, d.minor() as u32),
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        });
    }
    Ok(out)
}

impl Extras {
    /// Applies the spec's own settings over a plan made from the args.
    pub fn apply(self, plan: &mut Plan) {
        // Exactly the spec's environment: no PATH or HOSTNAME of ours.
        plan.env = self.env;
        // Docker's lists are for `container-run IMAGE`: a spec without
        // them masks nothing, as under runc.
        plan.masked = self.masked.unwrap_or_default();
        plan.readonly = self.readonly.unwrap_or_default();
        plan.extra_groups = self.groups;
        plan.rlimits = self.rlimits;
        plan.spec_privileges = Some(self.privileges);
        plan.sysctls = self.sysctls;
        plan.oom_score_adj = self.oom_score_adj;
        plan.umask = self.umask;
        plan.mounts = self.mounts;
        plan.mounts_in_order = true;
        plan.join_namespaces = self.joins;
        plan.host_namespaces = self.host_namespaces;
        plan.userns = self.userns;
        plan.cgroupns = self.cgroupns;
        plan.hooks = self.hooks;
        plan.rootfs_propagation = self.rootfs_propagation;
        plan.limits.path = self.cgroups_path;
        if self.resources != SpecResources::default() {
            plan.limits.spec = Some(self.resources);
        }
        if let Some(mut r) = self.device_rules {
            // As runc: the spec's rules, then the nodes it lists and the
            // standard ones (null, zero, the ptys…), always allowed.
            for n in &self.nodes {
                let kind = if n.kind == libc::S_IFBLK { 'b' } else { 'c' };
                if n.kind != libc::S_IFIFO {
                    r.push(slipway_common::container::cgroups::grant(
                        kind,
                        i64::from(libc::major(n.rdev)),
                        i64::from(libc::minor(n.rdev)),
                        "rwm",
                    ));
                }
            }
            r.extend(
                slipway_common::container::cgroups::DEFAULT_DEVICES
                    .iter()
                    .filter(|d| d.allow)
                    .cloned(),
            );
            plan.limits.spec_devices = Some(r);
        }
        plan.spec_nodes = self.nodes;
        // runc writes no /etc/hosts, /etc/hostname or /etc/resolv.conf.
        plan.etc.clear();
    }
}

fn unsupported(what: impl std::fmt::Display) -> Error {
    Error::Unsupported(format!("bundle config.json: {what} is not supported"))
}

/// The mounts container-run makes itself, as a runtime-spec default
/// config lists them.
const STANDARD: &[&str] = &[
    "/proc",
    "/dev",
    "/dev/pts",
    "/dev/shm",
    "/dev/mqueue",
    "/sys",
    "/sys/fs/cgroup",
];

/// The spec, read typed; a field of the wrong shape is named.
pub(crate) fn read_spec(path: &Path) -> Result<Spec, Error> {
    let text = std::fs::read(path).map_err(|source| Error::Os {
        what: format!("read {}", path.display()),
        source,
    })?;
    slipway_common::image::decode(&text)
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
}

/// The command line equivalent of the bundle at `args.bundle`.
pub fn to_args(args: &Args, dir: &Path) -> Result<(Args, Extras), Error> {
    let path = dir.join("config.json");
    let spec = read_spec(&path)?;
    if !args.args.is_empty() || args.rootfs.is_some() {
        return Err(Error::Invalid(
            "--bundle takes the command and root from config.json: give neither an image, a command nor --rootfs".into(),
        ));
    }
    if let Some(flag) = overridden(args) {
        return Err(Error::Invalid(format!(
            "{flag} does not apply to --bundle: the bundle's config.json says what it would"
        )));
    }
    let mut a = base_args(args);
    let invalid = |what: &str| Error::Invalid(format!("{}: {what}", path.display()));
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| invalid("no root.path"))?;
    a.rootfs = Some(dir.join(root.path()));
    a.read_only = root.readonly() == Some(true);
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| invalid("no process"))?;
    let hooks = match spec.hooks() {
        Some(h) => crate::hooks::Hooks::from_spec(h)?,
        None => Default::default(),
    };
    let (caps, rlimits) = process_args(process, &mut a, &path)?;
    a.hostname = spec.hostname().clone();
    let default_linux = Linux::default();
    let linux = spec.linux().as_ref().unwrap_or(&default_linux);
    let Nss {
        netns,
        joins,
        userns,
        host,
    } = namespaces(linux, &mut a)?;
    if host & libc::CLONE_NEWUTS != 0 && a.hostname.as_ref().is_some_and(|h| !h.is_empty()) {
        return Err(invalid(
            "hostname: the container shares the host's UTS namespace, whose name is not its to set",
        ));
    }
    let paths = [linux.masked_paths(), linux.readonly_paths()];
    if host & libc::CLONE_NEWNS != 0
        && paths
            .iter()
            .any(|p| p.as_ref().is_some_and(|p| !p.is_empty()))
    {
        // They would be mounts over the host's own /proc and /sys.
        return Err(invalid(
            "linux.maskedPaths and readonlyPaths need a mount namespace of the container's own",
        ));
    }
    // A spec without a seccomp section gets no filter, as from runc; one
    // with a section gets exactly its profile.
    a.security_opt.push("seccomp=unconfined".into());
    let seccomp = match linux.seccomp() {
        Some(s) => {
            let profile: Profile = serde_json::to_value(s)
                .and_then(serde_json::from_value)
                .map_err(|e| invalid(&format!("linux.seccomp: {e}")))?;
            Some(Filter::from_spec(&profile).map_err(|e| {
                Error::Unsupported(format!("bundle config.json: linux.seccomp: {e}"))
            })?)
        }
        None => None,
    };
    let mut sysctls = Vec::new();
    for (k, v) in linux.sysctl().iter().flatten() {
        if !namespaced_sysctl(k, netns, host) {
            return Err(unsupported(format!(
                "linux.sysctl {k}: not a sysctl of the container's own namespaces"
            )));
        }
        sysctls.push((k.clone(), v.clone()));
    }
    // Applied in order, whatever order the map had.
    sysctls.sort();
    let resources = resources(linux, &mut a)?;
    let mounts = spec_mounts(&spec, dir)?;
    let extras = Extras {
        env: process.env().clone().unwrap_or_default(),
        masked: linux.masked_paths().clone(),
        readonly: linux.readonly_paths().clone(),
        groups: process.user().additional_gids().clone().unwrap_or_default(),
        rlimits,
        privileges: SpecPrivileges {
            caps,
            no_new_privs: process.no_new_privileges() == Some(true),
            seccomp,
            pass_fds: 0,
        },
        sysctls,
        device_rules: linux
            .resources()
            .as_ref()
            .and_then(|r| r.devices().as_deref())
            .map(|d| device_rules(d, &path))
            .transpose()?,
        nodes: nodes(linux.devices().as_deref().unwrap_or_default(), &path)?,
        cgroups_path: linux
            .cgroups_path()
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned())
            .filter(|p| !p.is_empty()),
        oom_score_adj: process.oom_score_adj(),
        umask: process.user().umask(),
        mounts,
        resources,
        joins,
        host_namespaces: host,
        warnings: ambient_warning(&caps).into_iter().collect(),
        userns,
        hooks,
        rootfs_propagation: linux
            .rootfs_propagation()
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(|p| {
                propagation(p).ok_or_else(|| invalid(&format!("linux.rootfsPropagation {p:?}")))
            })
            .transpose()?,
        cgroupns: linux
            .namespaces()
            .iter()
            .flatten()
            .any(|n| n.typ() == LinuxNamespaceType::Cgroup),
    };
    Ok((a, extras))
}

/// The arguments a bundle run starts from: the caller's own options,
/// nothing of an image's.
fn base_args(args: &Args) -> Args {
    Args {
        args: Vec::new(),
        rootfs: None,
        bundle: None,
        runtime: None,
        create: false,
        start: None,
        health_start_interval: None,
        network_alias: Vec::new(),
        ip: None,
        mac_address: None,
        attach: false,
        given: Vec::new(),
        secret_env: Vec::new(),
        upper: args.upper.clone(),
        name: args.name.clone(),
        rm: args.rm,
        detach: args.detach,
        tty: false,
        init: args.init,
        stop_timeout: args.stop_timeout,
        stop_signal: None,
        interactive: !args.detach,
        env: Vec::new(),
        env_file: Vec::new(),
        workdir: None,
        user: None,
        entrypoint: Some(String::new()),
        hostname: None,
        add_host: Vec::new(),
        labels: Vec::new(),
        cidfile: None,
        ulimit: Vec::new(),
        sysctl: Vec::new(),
        dns: Vec::new(),
        dns_search: Vec::new(),
        dns_option: Vec::new(),
        volumes: Vec::new(),
        tmpfs: Vec::new(),
        mount: Vec::new(),
        shm_size: None,
        group_add: Vec::new(),
        read_only: false,
        network: "none".into(),
        publish: Vec::new(),
        publish_all: false,
        pid: None,
        ipc: None,
        uts: None,
        userns: None,
        health_cmd: None,
        health_interval: None,
        health_timeout: None,
        health_start_period: None,
        health_retries: None,
        no_healthcheck: false,
        log_driver: None,
        restart: None,
        log_opt: Vec::new(),
        memory: None,
        pids_limit: None,
        cpus: None,
        cap_add: Vec::new(),
        cap_drop: vec!["ALL".into()],
        privileged: false,
        devices: Vec::new(),
        security_opt: args.security_opt.clone(),
        platform: None,
        pull: args.pull,
        store: args.store.clone(),
        help: None,
    }
}

/// The process: its command, user, capability sets and rlimits.
fn process_args(
    process: &Process,
    a: &mut Args,
    path: &Path,
) -> Result<(CapSets, Vec<Rlimit>), Error> {
    a.args = process.args().clone().unwrap_or_default();
    if a.args.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: process.args is empty",
            path.display()
        )));
    }
    a.tty = process.terminal() == Some(true);
    a.workdir = Some(process.cwd().to_string_lossy().into_owned()).filter(|c| !c.is_empty());
    let user = process.user();
    a.user = Some(format!("{}:{}", user.uid(), user.gid()));
    if process.apparmor_profile().is_some() {
        return Err(unsupported("process.apparmorProfile"));
    }
    if process.selinux_label().is_some() {
        return Err(unsupported("process.selinuxLabel"));
    }
    // The five sets as written, for any user (runc's way, not Docker's).
    let caps = cap_sets(process)
        .map_err(|e| Error::Invalid(format!("{}: process.capabilities.{e}", path.display())))?;
    let c = process.capabilities().clone().unwrap_or_default();
    // The bounding set is what the container may ever hold: the plan's
    // (and its records') one set.
    a.cap_add = cap_names(c.bounding());
    Ok((caps, rlimits(process)))
}

/// The process's rlimits, as setrlimit takes them.
pub(crate) fn rlimits(process: &Process) -> Vec<Rlimit> {
    process
        .rlimits()
        .iter()
        .flatten()
        .map(|r| (rlimit_resource(r.typ()), r.soft(), r.hard()))
        .collect()
}

/// The process's five capability sets; an error names the set.
pub(crate) fn cap_sets(process: &Process) -> Result<CapSets, String> {
    let c = process.capabilities().clone().unwrap_or_default();
    let set = |name: &str, v: &Option<oci_spec::runtime::Capabilities>| {
        CapSets::parse_names(&cap_names(v)).map_err(|e| format!("{name}: {e}"))
    };
    Ok(CapSets {
        bounding: set("bounding", c.bounding())?,
        effective: set("effective", c.effective())?,
        permitted: set("permitted", c.permitted())?,
        inheritable: set("inheritable", c.inheritable())?,
        ambient: set("ambient", c.ambient())?,
    })
}

/// Ambient capabilities the kernel will not raise: each must be permitted
/// and inheritable too. runc warns and goes on.
fn ambient_warning(caps: &CapSets) -> Option<String> {
    let lost: Vec<String> = caps
        .ambient
        .iter()
        .filter(|c| !(caps.permitted.contains(*c) && caps.inheritable.contains(*c)))
        .map(|c| c.to_string())
        .collect();
    (!lost.is_empty()).then(|| {
        format!(
            "ambient capabilities not raised, as each must also be permitted and inheritable: {}",
            lost.join(", ")
        )
    })
}

/// Capability names as written in a spec (`CAP_…`).
pub(crate) fn cap_names(set: &Option<oci_spec::runtime::Capabilities>) -> Vec<String> {
    let mut names: Vec<String> = set
        .iter()
        .flatten()
        .filter_map(|c| serde_json::to_value(c).ok())
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

/// Namespaces to join: (kind as /proc names it, path).
type Joins = Vec<(String, std::path::PathBuf)>;

/// What the spec's linux.namespaces say.
struct Nss {
    /// A network namespace of its own (new or joined).
    netns: bool,
    joins: Joins,
    userns: Option<IdMaps>,
    /// The mount, PID, IPC and UTS namespaces it leaves out: ours, shared.
    host: libc::c_int,
}

/// The namespaces, new or joined by path (but for a user namespace); a
/// new network namespace means no network; the mount, PID, IPC and UTS
/// namespaces left out are shared with the runtime, as runc shares them.
fn namespaces(linux: &Linux, a: &mut Args) -> Result<Nss, Error> {
    if linux.intel_rdt().is_some() {
        return Err(unsupported("linux.intelRdt"));
    }
    use LinuxNamespaceType as N;
    let mut kinds = Vec::new();
    let mut joins = Vec::new();
    for ns in linux.namespaces().iter().flatten() {
        let kind = ns.typ();
        if let Some(p) = ns.path().as_ref().filter(|p| !p.as_os_str().is_empty()) {
            let name = match kind {
                N::Mount => "mnt",
                N::Pid => "pid",
                N::Network => "net",
                N::Ipc => "ipc",
                N::Uts => "uts",
                N::Cgroup => "cgroup",
                N::User | N::Time => {
                    return Err(unsupported(format!("joining an existing {kind} namespace")))
                }
            };
            joins.push((name.to_string(), p.clone()));
        }
        kinds.push(kind);
    }
    let mut host = 0;
    for (kind, flag) in [
        (N::Mount, libc::CLONE_NEWNS),
        (N::Pid, libc::CLONE_NEWPID),
        (N::Ipc, libc::CLONE_NEWIPC),
        (N::Uts, libc::CLONE_NEWUTS),
    ] {
        if !kinds.contains(&kind) {
            host |= flag;
        }
    }
    let userns = id_maps(linux, kinds.contains(&N::User))?;
    if userns.is_some() && !joins.is_empty() {
        // The new user namespace would own us before we joined them.
        return Err(unsupported(
            "a user namespace with namespaces joined by path",
        ));
    }
    let netns = kinds.contains(&N::Network);
    // A joined network namespace is used as it is: nothing set up in it.
    let joined_net = joins.iter().any(|(k, _)| k == "net");
    a.network = if netns && !joined_net { "none" } else { "host" }.into();
    Ok(Nss {
        netns,
        joins,
        userns,
        host,
    })
}

/// A user namespace's maps: both given with one, neither without, as runc
/// requires.
fn id_maps(linux: &Linux, userns: bool) -> Result<Option<IdMaps>, Error> {
    let lines = |m: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| -> Vec<(u32, u32, u32)> {
        m.iter()
            .flatten()
            .map(|x| (x.container_id(), x.host_id(), x.size()))
            .collect()
    };
    let (uid, gid) = (lines(linux.uid_mappings()), lines(linux.gid_mappings()));
    if !userns {
        if !uid.is_empty() || !gid.is_empty() {
            return Err(Error::Invalid(
                "bundle config.json: uidMappings and gidMappings need a user namespace".into(),
            ));
        }
        return Ok(None);
    }
    if uid.is_empty() || gid.is_empty() {
        return Err(Error::Invalid(
            "bundle config.json: a user namespace needs uidMappings and gidMappings".into(),
        ));
    }
    let text = |m: &[(u32, u32, u32)]| -> String {
        m.iter().map(|(c, h, n)| format!("{c} {h} {n}\n")).collect()
    };
    let root = |m: &[(u32, u32, u32)], what: &str| {
        m.iter()
            .find(|(c, _, n)| *c == 0 && *n > 0)
            .map(|(_, h, _)| *h)
            .ok_or_else(|| {
                Error::Unsupported(format!(
                    "bundle config.json: a user namespace whose {what} maps no root (0)"
                ))
            })
    };
    Ok(Some(IdMaps {
        uid_map: text(&uid),
        gid_map: text(&gid),
        root_uid: root(&uid, "uidMappings")?,
        root_gid: root(&gid, "gidMappings")?,
    }))
}

/// linux.resources: the pids limit as the flag gives it, CPU, memory and
/// hugetlb as written; what no cgroup file here takes is refused by name.
fn resources(linux: &Linux, a: &mut Args) -> Result<SpecResources, Error> {
    let mut out = SpecResources::default();
    let Some(r) = linux.resources() else {
        return Ok(out);
    };
    a.pids_limit = r
        .pids()
        .as_ref()
        .map(|p| p.limit())
        .filter(|p| *p > 0)
        .map(|p| p as u64);
    if let Some(c) = r.cpu() {
        if c.idle().is_some() || c.burst().is_some() {
            return Err(unsupported("linux.resources.cpu idle and burst"));
        }
        out.cpu = SpecCpu {
            shares: c.shares(),
            quota: c.quota(),
            period: c.period(),
            realtime_runtime: c.realtime_runtime(),
            realtime_period: c.realtime_period(),
            cpus: c.cpus().clone().filter(|s| !s.is_empty()),
            mems: c.mems().clone().filter(|s| !s.is_empty()),
        };
    }
    if let Some(m) = r.memory() {
        out.memory = SpecMemory {
            limit: m.limit(),
            reservation: m.reservation(),
            swap: m.swap(),
            swappiness: m.swappiness(),
            disable_oom_killer: m.disable_oom_killer() == Some(true),
            kernel: m.kernel(),
            kernel_tcp: m.kernel_tcp(),
        };
    }
    for h in r.hugepage_limits().iter().flatten() {
        out.hugetlb
            .push((h.page_size().clone(), h.limit().max(0) as u64));
    }
    if r.block_io().is_some() {
        return Err(unsupported("linux.resources.blockIO"));
    }
    if r.network().is_some() {
        return Err(unsupported("linux.resources.network"));
    }
    if r.rdma().as_ref().is_some_and(|x| !x.is_empty()) {
        return Err(unsupported("linux.resources.rdma"));
    }
    if r.unified().as_ref().is_some_and(|x| !x.is_empty()) {
        return Err(unsupported("linux.resources.unified"));
    }
    Ok(out)
}

/// The first option given that a bundle's config.json decides instead.
fn overridden(args: &Args) -> Option<&'static str> {
    [
        ("--volume", !args.volumes.is_empty()),
        ("--tmpfs", !args.tmpfs.is_empty()),
        ("--mount", !args.mount.is_empty()),
        ("--shm-size", args.shm_size.is_some()),
        ("--group-add", !args.group_add.is_empty()),
        ("--device", !args.devices.is_empty()),
        ("--env", !args.env.is_empty()),
        ("--env-file", !args.env_file.is_empty()),
        ("--secret-env", !args.secret_env.is_empty()),
        ("--workdir", args.workdir.is_some()),
        ("--user", args.user.is_some()),
        ("--entrypoint", args.entrypoint.is_some()),
        ("--hostname", args.hostname.is_some()),
        ("--read-only", args.read_only),
        ("--tty", args.tty),
        ("--memory", args.memory.is_some()),
        ("--pids-limit", args.pids_limit.is_some()),
        ("--cpus", args.cpus.is_some()),
        ("--cap-add", !args.cap_add.is_empty()),
        ("--cap-drop", !args.cap_drop.is_empty()),
        ("--privileged", args.privileged),
        ("--stop-signal", args.stop_signal.is_some()),
        ("--platform", args.platform.is_some()),
        // A bundle's /etc is its own: runc writes no hosts or resolv.conf.
        ("--add-host", !args.add_host.is_empty()),
        ("--label", !args.labels.is_empty()),
        // A bundle's rlimits and sysctls are its spec's.
        ("--ulimit", !args.ulimit.is_empty()),
        ("--sysctl", !args.sysctl.is_empty()),
        ("--cidfile", args.cidfile.is_some()),
        ("--dns", !args.dns.is_empty()),
        ("--dns-search", !args.dns_search.is_empty()),
        ("--dns-option", !args.dns_option.is_empty()),
        ("--pull", args.pull != crate::pull::Pull::Missing),
        ("--network", args.network != "private"),
        ("--publish", !args.publish.is_empty()),
        ("--publish-all", args.publish_all),
        ("--pid", args.pid.is_some()),
        ("--ipc", args.ipc.is_some()),
        ("--uts", args.uts.is_some()),
        ("--userns", args.userns.is_some()),
        ("--health-cmd", args.health_cmd.is_some()),
        ("--log-driver", args.log_driver.is_some()),
        ("--restart", args.restart.is_some()),
        ("--log-opt", !args.log_opt.is_empty()),
    ]
    .into_iter()
    .find_map(|(flag, given)| given.then_some(flag))
}

/// The spec's mounts beyond the standard ones, in its order.
fn spec_mounts(spec: &Spec, dir: &Path) -> Result<Vec<Mount>, Error> {
    let mut out = vec![];
    for m in spec.mounts().iter().flatten() {
        let dest = m.destination().to_string_lossy().into_owned();
        let kind = m.typ().as_deref().unwrap_or_default();
        let opts = m.options().clone().unwrap_or_default();
        let bind = kind == "bind" || opts.iter().any(|o| o == "bind" || o == "rbind");
        if STANDARD.contains(&dest.as_str()) && !bind {
            continue;
        }
        if bind {
            let src = m.source().clone().unwrap_or_default();
            let source = if src.is_absolute() {
                src
            } else {
                dir.join(src)
            };
            let extra: Vec<&str> = opts
                .iter()
                .map(String::as_str)
                .filter(|o| !matches!(*o, "bind" | "rbind" | "ro" | "rw"))
                .collect();
            out.push(Mount {
                target: dest,
                kind: MountKind::Bind {
                    source,
                    read_only: opts.iter().any(|o| o == "ro"),
                    recursive: opts.iter().any(|o| o == "rbind"),
                    options: extra.join(","),
                },
            });
        } else if kind == "tmpfs" {
            out.push(Mount {
                target: dest,
                kind: MountKind::Tmpfs {
                    options: opts.join(","),
                },
            });
        } else {
            return Err(unsupported(format!("a {kind} mount at {dest}")));
        }
    }
    Ok(out)
}

/// A propagation as mount(2) flags: `rshared` is shared, recursively.
fn propagation(p: &str) -> Option<libc::c_ulong> {
    let (rec, kind) = match p.strip_prefix('r') {
        Some(k) if !k.is_empty() => (libc::MS_REC, k),
        _ => (0, p),
    };
    let flag = match kind {
        "shared" => libc::MS_SHARED,
        "slave" => libc::MS_SLAVE,
        "private" => libc::MS_PRIVATE,
        "unbindable" => libc::MS_UNBINDABLE,
        _ => return None,
    };
    Some(flag | rec)
}

/// runc's rule: only sysctls the container's IPC, UTS or network
/// namespace holds may be set; the rest would change the host.
pub(crate) fn namespaced_sysctl(key: &str, netns: bool, host: libc::c_int) -> bool {
    let ipc = host & libc::CLONE_NEWIPC == 0;
    let uts = host & libc::CLONE_NEWUTS == 0;
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    (ipc && (IPC.contains(&key) || key.starts_with("fs.mqueue.")))
        || (uts && (key == "kernel.domainname" || key == "kernel.hostname"))
        || (netns && key.starts_with("net."))
}

/// A runtime-spec rlimit as setrlimit's resource number.
fn rlimit_resource(t: PosixRlimitType) -> i32 {
    use PosixRlimitType as R;
    let r = match t {
        R::RlimitAs => libc::RLIMIT_AS,
        R::RlimitCore => libc::RLIMIT_CORE,
        R::RlimitCpu => libc::RLIMIT_CPU,
        R::RlimitData => libc::RLIMIT_DATA,
        R::RlimitFsize => libc::RLIMIT_FSIZE,
        R::RlimitLocks => libc::RLIMIT_LOCKS,
        R::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        R::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        R::RlimitNice => libc::RLIMIT_NICE,
        R::RlimitNofile => libc::RLIMIT_NOFILE,
        R::RlimitNproc => libc::RLIMIT_NPROC,
        R::RlimitRss => libc::RLIMIT_RSS,
        R::RlimitRtprio => libc::RLIMIT_RTPRIO,
        R::RlimitRttime => libc::RLIMIT_RTTIME,
        R::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        R::RlimitStack => libc::RLIMIT_STACK,
    };
    r as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn propagations_read_as_mount_flags_and_an_unknown_one_is_none() {
        assert_eq!(propagation("rslave"), Some(libc::MS_SLAVE | libc::MS_REC));
        assert_eq!(propagation("private"), Some(libc::MS_PRIVATE));
        assert_eq!(
            propagation("runbindable"),
            Some(libc::MS_UNBINDABLE | libc::MS_REC)
        );
        assert_eq!(propagation("r"), None);
        assert_eq!(propagation("sideways"), None);
    }
}
