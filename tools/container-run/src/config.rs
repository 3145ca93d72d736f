//! From the command line and the image config to a plan: everything the
//! container's first process needs, decided before it is created.

use crate::names::Names;
use crate::{initlayer, mounts, Args, Error};

use slipway_common::container::caps::{self, CapSet};
use slipway_common::container::cgroups::{self, hierarchy, Hierarchy, Limits};
use slipway_common::container::layergc;
use slipway_common::container::logfile::LogConfig;
use slipway_common::container::process::{set_env, DEFAULT_PATH};
use slipway_common::container::state::RestartPolicy;
use slipway_common::container::volumes::Volumes;
use slipway_common::image::ContainerConfig;
use slipway_common::layers;

fn env_arg(env: &mut Vec<String>, arg: &str) -> Result<(), Error> {
    slipway_common::container::process::env_arg(env, arg).map_err(Error::Invalid)
}
use slipway_common::container::state::{self, Containers, ProcessSpec, State, Status};
use slipway_common::fsutil::{self, IoContext};
use slipway_common::lock::FileLock;
use slipway_common::platform::Platform;
use slipway_common::reference::ImageRef;

use std::path::{Path, PathBuf};

/// How the root filesystem is made.
#[derive(Debug, Clone)]
pub enum Root {
    /// overlayfs: `lowers` are names inside `lowers_dir`, topmost first.
    Overlay {
        lowers_dir: PathBuf,
        lowers: Vec<String>,
        upper: PathBuf,
        work: PathBuf,
    },
    /// A plain directory, bind mounted.
    Bind(PathBuf),
}

#[derive(Debug, Clone)]
pub enum MountKind {
    Bind {
        source: PathBuf,
        read_only: bool,
        /// MS_REC: what is mounted below the source comes along (`-v`
        /// always; a bundle's `rbind`).
        recursive: bool,
        /// A bundle's other options: flags and propagation, comma-separated.
        options: String,
    },
    Tmpfs {
        options: String,
    },
}

/// A user namespace's maps, as /proc/PID/uid_map and gid_map take them
/// (`inside outside count` lines), and the host IDs of its root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdMaps {
    pub uid_map: String,
    pub gid_map: String,
    pub root_uid: u32,
    pub root_gid: u32,
}

#[derive(Debug, Clone)]
pub struct Mount {
    pub target: String,
    pub kind: MountKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    None,
    Host,
    Private,
    /// A user-defined network's bridge (`Plan::bridge` says which).
    Bridge,
    /// Another container's namespace, joined.
    Container,
}

/// A container's place on a user-defined network.
#[derive(Debug, Clone, PartialEq)]
pub struct BridgePlan {
    pub network: slipway_common::container::network::Network,
    /// What it asks of the network; `ip` is the address reserved for it.
    pub request: slipway_common::container::network::endpoints::Request,
}

/// A port published with `-p` or `-P`; a host port of 0 until one is
/// chosen.
pub use slipway_common::container::state::PortMapping as Publish;

/// Everything the container's process needs.
#[derive(Debug, Clone)]
pub struct Plan {
    pub id: String,
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    /// The user as given (resolved inside the container's root).
    pub user: String,
    pub hostname: String,
    pub root: Root,
    /// Where the root is assembled before pivot_root.
    pub mountpoint: PathBuf,
    pub mounts: Vec<Mount>,
    /// Files written by us and bind mounted: container path, host file.
    pub etc: Vec<(String, PathBuf)>,
    pub read_only: bool,
    pub caps: CapSet,
    pub privileged: bool,
    pub seccomp: bool,
    pub network: Network,
    pub publish: Vec<Publish>,
    pub interactive: bool,
    pub tty: bool,
    pub init: bool,
    /// Seconds between a SIGTERM passed on and the SIGKILL after it.
    pub stop_timeout: u32,
    pub limits: Limits,
    /// In a user namespace of the caller's: no cgroups, overlay in its
    /// `userxattr` mode, host devices bound rather than made.
    pub rootless: bool,
    /// Paths hidden and made read-only (Docker's, or a bundle's own).
    pub masked: Vec<String>,
    pub readonly: Vec<String>,
    /// Supplementary groups beyond the user's own (a bundle's).
    pub extra_groups: Vec<u32>,
    /// `--group-add`: GIDs or names, looked up in the container's
    /// /etc/group when the user is.
    pub group_add: Vec<String>,
    /// Resource limits to set: (resource, soft, hard).
    pub rlimits: Vec<(i32, u64, u64)>,
    /// Host devices given with --device.
    pub devices: Vec<Device>,
    /// container-runtime's `create`: after setup the process waits, before
    /// exec, until `start` opens this FIFO.
    pub exec_fifo: Option<PathBuf>,
    /// A bundle's capabilities, no_new_privs and seccomp profile, applied
    /// as written instead of Docker's.
    pub spec_privileges: Option<slipway_common::container::process::SpecPrivileges>,
    /// A bundle's linux.sysctl (namespaced keys only), written once /proc
    /// is the container's.
    pub sysctls: Vec<(String, String)>,
    /// A bundle's process.oomScoreAdj.
    pub oom_score_adj: Option<i32>,
    /// A bundle's mounts go in the order it gives, as runc mounts them;
    /// the command line's are sorted parents first.
    pub mounts_in_order: bool,
    /// A cgroup namespace of its own, rooted at the container's cgroup:
    /// Docker's default on cgroup v2 (none on v1), or as a bundle says.
    pub cgroupns: bool,
    /// The size of /dev/shm in bytes (`--shm-size`; Docker's 64 MiB when
    /// not given).
    pub shm_size: Option<u64>,
    /// A bundle's linux.rootfsPropagation, as mount(2) flags for "/".
    pub rootfs_propagation: Option<libc::c_ulong>,
    /// A bundle's hooks that run in the runtime's namespaces.
    pub hooks: crate::hooks::Hooks,
    /// A bundle's user namespace: its ID maps, written by the parent.
    pub userns: Option<IdMaps>,
    /// A bundle's namespaces joined by path: (kind as /proc names it, path).
    pub join_namespaces: Vec<(String, PathBuf)>,
    /// A bundle's process.user.umask, set just before exec.
    pub umask: Option<u32>,
    /// A bundle's linux.devices: nodes made in the container's /dev.
    pub spec_nodes: Vec<crate::bundle::Node>,
    /// A session keyring of its own (all but runc's --no-new-keyring).
    pub new_keyring: bool,
    /// Enter the root with MS_MOVE and chroot (runc's --no-pivot).
    pub no_pivot: bool,
    /// CLONE_NEW* flags of the namespaces shared with the runtime (a
    /// bundle that leaves them out): not made.
    pub host_namespaces: libc::c_int,
    /// With `Network::Bridge`: the network and its endpoint's request.
    pub bridge: Option<BridgePlan>,
}

/// A host device node given to the container (`--device`).
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub host: PathBuf,
    /// Where it appears in the container.
    pub target: String,
    /// 'c' or 'b'.
    pub kind: char,
    pub rdev: libc::dev_t,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// `--device HOST[:CONTAINER[:PERMS]]`, as docker run reads it: the node
/// and the cgroup rule that lets the container use it.
pub fn parse_device(spec: &str) -> Result<(Device, cgroups::DeviceRule), String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let bad = |why: &str| format!("invalid --device {spec:?}: {why}");
    let parts: Vec<&str> = spec.split(':').collect();
    let perms_ok = |p: &str| !p.is_empty() && p.chars().all(|c| "rwm".contains(c));
    let (host, target, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        // HOST:PERMS when the second part reads as permissions.
        [h, p] if perms_ok(p) => (*h, *h, *p),
        [h, t] => (*h, *t, "rwm"),
        [h, t, p] => (*h, *t, *p),
        _ => return Err(bad("expected HOST[:CONTAINER[:PERMS]]")),
    };
    if !perms_ok(perms) {
        return Err(bad("PERMS is some of r, w and m"));
    }
    if !host.starts_with('/') || !target.starts_with('/') {
        return Err(bad("the paths must be absolute"));
    }
    let meta = std::fs::metadata(host).map_err(|e| bad(&format!("{host}: {e}")))?;
    let ft = meta.file_type();
    let kind = if ft.is_char_device() {
        'c'
    } else if ft.is_block_device() {
        'b'
    } else if ft.is_dir() {
        return Err(bad(&format!(
            "{host} is a directory: give each device in it (a directory of devices is not supported)"
        )));
    } else {
        return Err(bad(&format!("{host} is not a device node")));
    };
    let rdev = meta.rdev() as libc::dev_t;
    let rule = cgroups::grant(
        kind,
        i64::from(libc::major(rdev)),
        i64::from(libc::minor(rdev)),
        perms,
    );
    Ok((
        Device {
            host: PathBuf::from(host),
            target: slipway_common::ignore::clean_path(target),
            kind,
            rdev,
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
        },
        rule,
    ))
}

/// A plan and the records that go with it.
pub struct Prepared {
    pub plan: Plan,
    /// The store the container is kept in.
    pub store: PathBuf,
    pub state: State,
    pub containers: Containers,
    pub container_dir: PathBuf,
    /// A work dir of ours beside a caller's --upper, removed at the end.
    pub own_work: Option<PathBuf>,
    /// Keeps gc off the layers until the root is mounted: drop it then.
    pub layers_lock: Option<FileLock>,
    /// Where `container-runtime run --pid-file` wants the PID once started.
    pub pid_file: Option<PathBuf>,
    /// Where `container-runtime run --console-socket` wants the terminal.
    pub console: Option<std::os::fd::OwnedFd>,
}

/// --restart: only a detached container has a monitor to restart it.
fn restart_policy(args: &Args) -> Result<RestartPolicy, Error> {
    let Some(r) = &args.restart else {
        return Ok(RestartPolicy::default());
    };
    let p = RestartPolicy::parse(r).map_err(invalid)?;
    if p.name != "no" && args.rm {
        return Err(invalid(
            "--restart and --rm conflict: a removed container cannot start again",
        ));
    }
    if p.name != "no" && args.tty {
        return Err(Error::Unsupported(
            "--restart with -t: a restarted container gets no new terminal here; run it without -t"
                .into(),
        ));
    }
    if p.name != "no" && !args.detach {
        return Err(invalid(
            "--restart needs -d: a detached container's monitor is what restarts it",
        ));
    }
    Ok(p)
}

pub(crate) fn invalid(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}

fn env_file(env: &mut Vec<String>, path: &Path) -> Result<(), Error> {
    let text = std::fs::read_to_string(path).ctx("read", path)?;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        env_arg(env, line).map_err(|e| invalid(format!("{}:{}: {e}", path.display(), i + 1)))?;
    }
    Ok(())
}

/// The image's (or our) entrypoint and cmd, as `docker run` combines them.
fn command(args: &Args, cmd_args: &[String], config: &ContainerConfig) -> Vec<String> {
    let (entrypoint, default_cmd) = match &args.entrypoint {
        Some(e) if e.is_empty() => (Vec::new(), Vec::new()),
        Some(e) => (vec![e.clone()], Vec::new()),
        None => (
            config.entrypoint.clone().unwrap_or_default(),
            config.cmd.clone().unwrap_or_default(),
        ),
    };
    let cmd = if cmd_args.is_empty() {
        default_cmd
    } else {
        cmd_args.to_vec()
    };
    entrypoint.into_iter().chain(cmd).collect()
}

fn parse_volume(spec: &str, store: &Path) -> Result<Mount, Error> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [s, d] => (*s, *d, ""),
        [s, d, o] => (*s, *d, *o),
        _ => {
            return Err(invalid(format!(
                "invalid volume {spec:?}: expected HOST:CONTAINER[:ro|rw]"
            )))
        }
    };
    let mut read_only = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => read_only = true,
            "rw" => read_only = false,
            other => {
                return Err(invalid(format!(
                    "invalid volume option {other:?} in {spec:?}: expected ro or rw"
                )))
            }
        }
    }
    if !dst.starts_with('/') {
        return Err(invalid(format!(
            "invalid volume {spec:?}: the container path must be absolute"
        )));
    }
    let source = if src.starts_with('/') || src.starts_with('.') {
        // A host path that does not exist is made, as docker run -v makes
        // it (--mount refuses instead).
        if std::fs::symlink_metadata(src).is_err() {
            fsutil::create_dir_all(Path::new(src))?;
        }
        std::fs::canonicalize(src).ctx("find volume source", Path::new(src))?
    } else {
        named_volume(store, src)?
    };
    Ok(Mount {
        target: dst.to_string(),
        kind: MountKind::Bind {
            source,
            read_only,
            recursive: true,
            options: String::new(),
        },
    })
}

/// The directory of the named volume NAME, made on first use.
pub(crate) fn named_volume(store: &Path, name: &str) -> Result<PathBuf, Error> {
    let (v, _) = Volumes::open(store)
        .create(name, &Default::default())
        .map_err(|e| invalid(e.to_string()))?;
    Ok(v.mountpoint)
}

fn parse_tmpfs(spec: &str) -> Result<Mount, Error> {
    let (path, options) = spec.split_once(':').unwrap_or((spec, ""));
    if !path.starts_with('/') {
        return Err(invalid(format!(
            "invalid --tmpfs {spec:?}: the path must be absolute"
        )));
    }
    let mut opts = vec!["nosuid", "nodev", "noexec"];
    for o in options.split(',').filter(|o| !o.is_empty()) {
        if matches!(o, "exec" | "dev" | "suid") {
            opts.retain(|x| x.strip_prefix("no") != Some(o));
        } else {
            opts.push(o);
        }
    }
    Ok(Mount {
        target: path.to_string(),
        kind: MountKind::Tmpfs {
            options: opts.join(","),
        },
    })
}

/// `-p`: `[IP:][HOST:]CONTAINER[/PROTO]` as docker takes it; a missing or
/// empty HOST is a random free port, chosen by [`choose_host_ports`].
fn parse_publish(spec: &str) -> Result<Publish, Error> {
    let bad = || {
        invalid(format!(
            "invalid --publish {spec:?}: expected [IP:][HOST:]CONTAINER[/tcp|udp]"
        ))
    };
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    if proto != "tcp" && proto != "udp" {
        return Err(bad());
    }
    if ports.contains('-') {
        return Err(Error::Unsupported(format!(
            "--publish {spec:?}: port ranges are not supported; publish each port"
        )));
    }
    let parts: Vec<&str> = ports.split(':').collect();
    let (ip, host, ctr) = match parts.as_slice() {
        [c] => ("0.0.0.0", "", *c),
        [h, c] => ("0.0.0.0", *h, *c),
        [i, h, c] => (*i, *h, *c),
        _ => return Err(bad()),
    };
    if ip.parse::<std::net::Ipv4Addr>().is_err() {
        return Err(bad());
    }
    let host_port = if host.is_empty() {
        0
    } else {
        host.parse().map_err(|_| bad())?
    };
    let container_port: u16 = ctr.parse().map_err(|_| bad())?;
    if container_port == 0 {
        return Err(bad());
    }
    Ok(Publish {
        host_ip: ip.to_string(),
        host_port,
        container_port,
        proto: proto.to_string(),
    })
}

/// `-P`: each port the image EXPOSEs ("80/tcp", "53/udp", "8080"), on a
/// random host port, unless `-p` already publishes it.
fn publish_exposed(config: &ContainerConfig, publish: &mut Vec<Publish>) -> Result<(), Error> {
    for key in config.exposed_ports.iter().flat_map(|m| m.keys()) {
        let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        let port: u16 = port.parse().map_err(|_| {
            invalid(format!(
                "the image exposes {key:?}, which -P cannot publish: not a port"
            ))
        })?;
        if !publish
            .iter()
            .any(|p| p.container_port == port && p.proto == proto)
        {
            publish.push(Publish {
                host_ip: "0.0.0.0".into(),
                host_port: 0,
                container_port: port,
                proto: proto.to_string(),
            });
        }
    }
    Ok(())
}

/// Gives each port published without a host port a free one, as docker
/// does: the kernel picks it (a bind to port 0), then the socket is closed
/// for slirp4netns to bind.
fn choose_host_ports(publish: &mut [Publish]) -> Result<(), Error> {
    // Rootless with pasta: bound on the host now by the port proxy
    // (random ones chosen there), which relays them once the container
    // is on its network.
    if slipway_common::container::network::portproxy::started() {
        return slipway_common::container::network::portproxy::bind(publish)
            .map_err(|e| Error::Unsupported(e.to_string()));
    }
    for p in publish.iter_mut().filter(|p| p.host_port == 0) {
        let addr = format!("{}:0", p.host_ip);
        let port = if p.proto == "udp" {
            std::net::UdpSocket::bind(&addr).and_then(|s| s.local_addr())
        } else {
            std::net::TcpListener::bind(&addr).and_then(|s| s.local_addr())
        }
        .map_err(|e| invalid(format!("no free {} port on {}: {e}", p.proto, p.host_ip)))?
        .port();
        p.host_port = port;
    }
    Ok(())
}

/// Finds PROGRAM in our PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    slipway_common::fsutil::which(program)
}

fn now_rfc3339() -> String {
    slipway_common::time::format_rfc3339(slipway_common::time::now())
}

/// The container `args` make: a new one, or `existing` (claimed by
/// `container-run --start`) made again over its own writable layer.
pub fn prepare(args: &Args, existing: Option<&State>) -> Result<Prepared, Error> {
    let store = args.store.path();
    let rootless = slipway_common::userns::rootless();
    let (limits, devices) = limits(args)?;
    let (seccomp, caps) = security(args)?;
    let (network, mut publish) = network(args)?;
    let mounts = user_mounts(args, &store)?;
    let names = Names::parse(
        &args.add_host,
        &args.dns,
        &args.dns_search,
        &args.dns_option,
    )?;
    let rlimits = args
        .ulimit
        .iter()
        .map(|u| crate::ulimits::parse_ulimit(u))
        .collect::<Result<Vec<_>, _>>()?;
    let shm_size = match &args.shm_size {
        Some(s) => match slipway_common::time::parse_bytes(s) {
            Ok(n) if n >= 1024 => Some(n),
            Ok(_) => return Err(invalid(format!("--shm-size {s:?}: at least 1k"))),
            Err(e) => return Err(invalid(format!("--shm-size: {e}"))),
        },
        None => None,
    };
    let own_network = network != Network::Host;
    let sysctls = args
        .sysctl
        .iter()
        .map(|s| crate::ulimits::parse_sysctl(s, own_network))
        .collect::<Result<Vec<_>, _>>()?;

    // The image (or directory) and its config.
    let Image {
        name: image_name,
        id: image_id,
        config,
        args: cmd_args,
        lowers,
        layers_lock,
    } = image(args, &store, rootless)?;

    if args.publish_all {
        publish_exposed(&config, &mut publish)?;
    }
    choose_host_ports(&mut publish)?;

    let argv = command(args, &cmd_args, &config);
    if argv.is_empty() {
        return Err(invalid(
            "no command specified: the image has none, so give one",
        ));
    }
    let id = existing.map_or_else(state::new_id, |s| s.id.clone());
    let hostname = args
        .hostname
        .clone()
        .unwrap_or_else(|| id[..12].to_string());
    let (env, recorded) = environment(args, &config, &hostname)?;
    let cwd = workdir(args, &config)?;
    let user = args
        .user
        .clone()
        .unwrap_or_else(|| config.user.clone().unwrap_or_default());

    // As docker run: --stop-signal, else the image's STOPSIGNAL; checked
    // now, so that a bad one fails the run rather than the stop.
    let stop_signal = args
        .stop_signal
        .clone()
        .or_else(|| config.stop_signal.clone().filter(|s| !s.is_empty()));
    if let Some(s) = &stop_signal {
        slipway_common::container::signal::parse(s)
            .map_err(|e| invalid(format!("the stop signal: {e}")))?;
    }

    let mut labels = config.labels.clone().unwrap_or_default();
    for l in &args.labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        if k.is_empty() {
            return Err(invalid(format!("--label {l:?}: takes KEY=VALUE")));
        }
        labels.insert(k.to_string(), v.to_string());
    }
    if let Some(f) = &args.cidfile {
        if f.exists() {
            return Err(invalid(format!(
                "--cidfile {}: the file exists: is another container running? remove it first",
                f.display()
            )));
        }
    }

    let containers = Containers::open(&store)?;
    let shared = crate::share::parse(
        args.pid.as_deref(),
        args.ipc.as_deref(),
        args.uts.as_deref(),
        args.userns.as_deref(),
        &containers,
        rootless,
    )?;
    let mut shared = shared;
    // --network container:NAME: its namespace joined, its name files used.
    let joined_etc = match network {
        Network::Container => {
            let name = &args.network["container:".len()..];
            let other = containers.find(name)?;
            let pid = match other.pid {
                Some(pid) if other.alive() => pid,
                _ => {
                    return Err(invalid(format!(
                        "--network container:{name}: the container is not running"
                    )))
                }
            };
            shared
                .join
                .push(("net".into(), format!("/proc/{pid}/ns/net").into()));
            Some(containers.dir(&other.id))
        }
        _ => None,
    };
    if shared.host & libc::CLONE_NEWUTS != 0 && args.hostname.is_some() {
        return Err(invalid(
            "--hostname cannot be given with --uts host: the host's name is the container's",
        ));
    }
    let mut state = State {
        id: id.clone(),
        name: match existing {
            Some(s) => s.name.clone(),
            None => args.name.clone().unwrap_or_else(|| id[..12].to_string()),
        },
        // A start runs the image by ID: its name keeps the one it had.
        image: existing.map_or(image_name, |s| s.image.clone()),
        image_id,
        command: argv.clone(),
        created: existing.map_or_else(now_rfc3339, |s| s.created.clone()),
        status: Status::Created,
        // A start's claim (ours, in setup) holds until the process is up.
        pid: existing.and_then(|s| s.pid),
        pid_start: existing.and_then(|s| s.pid_start),
        exit_code: None,
        oom_killed: false,
        finished: None,
        cgroup: None,
        upper: args.upper.clone(),
        detached: args.detach,
        auto_remove: args.rm,
        process: ProcessSpec {
            env: recorded,
            cwd: cwd.clone(),
            user: user.clone(),
            caps: caps.0,
            seccomp,
            privileged: args.privileged,
        },
        hostname: hostname.clone(),
        stop_signal,
        stop_timeout: Some(args.stop_timeout),
        bundle: None,
        annotations: Default::default(),
        labels,
        ports: publish.clone(),
        lowers: Vec::new(),
        volumes: {
            let vols = Volumes::open(&store);
            let mut names: Vec<String> = mounts
                .iter()
                .filter_map(|m| match &m.kind {
                    MountKind::Bind { source, .. } => vols.name_of(source),
                    MountKind::Tmpfs { .. } => None,
                })
                .collect();
            names.dedup();
            names
        },
        healthcheck: crate::health::config(args, &config)?,
        log: LogConfig::parse(args.log_driver.as_deref(), &args.log_opt).map_err(invalid)?,
        restart: restart_policy(args)?,
        restart_count: 0,
        run_args: existing.map_or_else(|| args.given.clone(), |s| s.run_args.clone()),
        restarting: false,
    };
    // A failed start leaves the container as it was; a failed run leaves
    // nothing.
    let undo = |containers: &Containers| match existing {
        Some(s) => {
            let mut s = s.clone();
            s.status = Status::Exited;
            s.pid = None;
            s.pid_start = None;
            if s.finished.is_none() {
                s.status = Status::Created;
            }
            let _ = containers.save(&s);
        }
        None => {
            let _ = containers.remove(&id);
        }
    };
    let dir = match existing {
        Some(_) => {
            containers.save(&state)?;
            containers.dir(&id)
        }
        None => containers.create(&state)?,
    };
    let result = (|| {
        if let Some(f) = &args.cidfile {
            write_cidfile(f, &id)?;
        }
        let mountpoint = dir.join("rootfs");
        fsutil::create_dir_all(&mountpoint)?;
        let (root, own_work) = root(args, &dir, lowers, &store, rootless, &id)?;
        let bridge = bridge_plan(args, network, &store, &state, &publish)?;
        let etc = etc_files(
            &dir,
            &hostname,
            network,
            &names,
            bridge.as_ref(),
            joined_etc.as_deref(),
        )?;
        Ok((root, mountpoint, etc, own_work, bridge))
    })();
    let (root, mountpoint, etc, own_work, bridge) = match result {
        Ok(r) => r,
        Err(e) => {
            undo(&containers);
            if let Some(f) = &args.cidfile {
                // Ours only if it holds this ID: another's is left alone.
                if std::fs::read_to_string(f).is_ok_and(|s| s == id) {
                    let _ = std::fs::remove_file(f);
                }
            }
            return Err(e);
        }
    };
    if let Root::Overlay {
        lowers_dir, lowers, ..
    } = &root
    {
        state.lowers = lowers.iter().map(|n| lowers_dir.join(n)).collect();
    }
    {
        if let Err(e) = crate::copyup::copy_up(
            &store,
            &state.lowers,
            &mounts,
            &dir.join("copyup"),
            rootless,
        ) {
            undo(&containers);
            return Err(e);
        }
    }
    Ok(Prepared {
        plan: Plan {
            id,
            argv,
            env,
            cwd,
            user,
            hostname,
            root,
            mountpoint,
            mounts,
            etc,
            read_only: args.read_only,
            caps,
            privileged: args.privileged,
            seccomp,
            network,
            publish,
            interactive: args.interactive,
            tty: args.tty,
            init: args.init,
            stop_timeout: args.stop_timeout,
            limits,
            rootless,
            masked: mounts::MASKED.iter().map(|s| s.to_string()).collect(),
            readonly: mounts::READ_ONLY.iter().map(|s| s.to_string()).collect(),
            extra_groups: Vec::new(),
            group_add: args.group_add.clone(),
            rlimits,
            devices,
            exec_fifo: None,
            spec_privileges: None,
            sysctls,
            oom_score_adj: None,
            umask: None,
            join_namespaces: shared.join,
            userns: None,
            hooks: Default::default(),
            rootfs_propagation: None,
            cgroupns: hierarchy() == Hierarchy::V2,
            shm_size,
            mounts_in_order: false,
            spec_nodes: Vec::new(),
            new_keyring: true,
            no_pivot: false,
            host_namespaces: shared.host,
            bridge,
        },
        state,
        store: store.clone(),
        containers,
        container_dir: dir,
        own_work,
        layers_lock,
        pid_file: None,
        console: None,
    })
}

/// --device, --memory, --pids-limit, --cpus: the cgroup's limits and the
/// devices bound in.
fn limits(args: &Args) -> Result<(Limits, Vec<Device>), Error> {
    let mut devices = vec![];
    let mut granted = vec![];
    for spec in &args.devices {
        let (d, rule) = parse_device(spec).map_err(invalid)?;
        devices.push(d);
        granted.push(rule);
    }
    let limits = Limits {
        memory: args
            .memory
            .as_deref()
            .map(cgroups::parse_bytes)
            .transpose()
            .map_err(invalid)?,
        pids: args.pids_limit,
        devices: !args.privileged,
        path: None,
        spec_devices: None,
        spec: None,
        granted,
        nano_cpus: args
            .cpus
            .as_deref()
            .map(cgroups::parse_cpus)
            .transpose()
            .map_err(invalid)?,
    };
    Ok((limits, devices))
}

/// --privileged, --security-opt, --cap-add and --cap-drop: whether the
/// seccomp filter is on, and the capabilities.
fn security(args: &Args) -> Result<(bool, CapSet), Error> {
    let mut seccomp = !args.privileged;
    for o in &args.security_opt {
        match o.as_str() {
            "seccomp=unconfined" | "seccomp:unconfined" => seccomp = false,
            "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true" => {}
            other => {
                return Err(Error::Unsupported(format!(
                    "--security-opt {other:?} is not supported (supported: seccomp=unconfined, no-new-privileges)"
                )))
            }
        }
    }
    let caps = if args.privileged {
        CapSet::all()
    } else {
        CapSet::docker_default()
            .with_changes(&args.cap_add, &args.cap_drop)
            .map_err(invalid)?
    };
    // What we do not hold we cannot give (a host may bound root's set).
    let caps = CapSet(caps.0 & caps::current_permitted().0);
    Ok((seccomp, caps))
}

/// --network and --publish, checked against each other and the host.
fn network(args: &Args) -> Result<(Network, Vec<Publish>), Error> {
    let network = match args.network.as_str() {
        "none" => Network::None,
        "host" => Network::Host,
        "private" | "bridge" | "default" => Network::Private,
        m if m.starts_with("container:") => Network::Container,
        _ => Network::Bridge,
    };
    if network != Network::Bridge
        && (!args.network_alias.is_empty() || args.ip.is_some() || args.mac_address.is_some())
    {
        return Err(invalid(
            "--network-alias, --ip and --mac-address need a user-defined network (--network NAME)",
        ));
    }
    if network == Network::Private && which("slirp4netns").is_none() {
        return Err(Error::Unsupported(
            "--network private needs slirp4netns, which is not installed (apt install slirp4netns); or use --network none or host".into(),
        ));
    }
    if (!args.publish.is_empty() || args.publish_all)
        && !matches!(network, Network::Private | Network::Bridge)
    {
        return Err(invalid(
            "--publish and -P need a network of the container's own (private or a user-defined one)",
        ));
    }
    let publish = args
        .publish
        .iter()
        .map(|p| parse_publish(p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((network, publish))
}

/// --network NAME: the network, and an address reserved on it (held
/// by this process until the container's own holds it).
fn bridge_plan(
    args: &Args,
    network: Network,
    store: &Path,
    state: &State,
    publish: &[Publish],
) -> Result<Option<BridgePlan>, Error> {
    use slipway_common::container::network::{attach, endpoints::Request, Networks};
    if network != Network::Bridge {
        return Ok(None);
    }
    let n = Networks::open(store)
        .get(&args.network)
        .map_err(|e| invalid(e.to_string()))?;
    let ip = args
        .ip
        .as_deref()
        .map(|i| {
            i.parse::<std::net::Ipv4Addr>()
                .map_err(|_| invalid(format!("--ip {i:?}: not an IPv4 address")))
        })
        .transpose()?;
    if let Some(m) = &args.mac_address {
        let ok = m.split(':').count() == 6
            && m.split(':')
                .all(|b| b.len() == 2 && u8::from_str_radix(b, 16).is_ok());
        if !ok {
            return Err(invalid(format!(
                "--mac-address {m:?}: expected six hex bytes, 02:42:ac:11:00:02"
            )));
        }
    }
    let mut aliases = args.network_alias.clone();
    // A --hostname is a name its peers reach it by, as docker's.
    if let Some(h) = &args.hostname {
        aliases.push(h.clone());
    }
    let mut request = Request {
        container_id: state.id.clone(),
        name: state.name.clone(),
        aliases,
        ip,
        mac: args.mac_address.clone(),
        iface: "eth0".into(),
        ports: publish.to_vec(),
    };
    let e = attach::reserve(&n, &request).map_err(|e| invalid(e.to_string()))?;
    request.ip = Some(e.ip);
    request.mac = Some(e.mac);
    Ok(Some(BridgePlan {
        network: n,
        request,
    }))
}

/// --volume and --tmpfs.
fn user_mounts(args: &Args, store: &Path) -> Result<Vec<Mount>, Error> {
    let mut mounts = Vec::new();
    for v in &args.volumes {
        mounts.push(parse_volume(v, store)?);
    }
    for t in &args.tmpfs {
        mounts.push(parse_tmpfs(t)?);
    }
    for m in &args.mount {
        mounts.push(crate::mount_flag::parse(m, store)?);
    }
    Ok(mounts)
}

/// What the container runs from: an image (its layers unpacked and
/// locked against gc until the overlay is up) or a --rootfs directory.
struct Image {
    name: String,
    id: Option<String>,
    config: ContainerConfig,
    /// The command line after the image.
    args: Vec<String>,
    /// The layer dirs' directory and the layers, top first.
    lowers: Option<(PathBuf, Vec<String>)>,
    layers_lock: Option<FileLock>,
}

fn image(args: &Args, store: &Path, rootless: bool) -> Result<Image, Error> {
    if let Some(dir) = &args.rootfs {
        let dir = std::fs::canonicalize(dir).ctx("find --rootfs", dir)?;
        if !dir.is_dir() {
            return Err(invalid(format!(
                "--rootfs {}: not a directory",
                dir.display()
            )));
        }
        return Ok(Image {
            name: dir.display().to_string(),
            id: None,
            config: ContainerConfig::default(),
            args: args.args.clone(),
            lowers: None,
            layers_lock: None,
        });
    }
    let Some((image, rest)) = args.args.split_first() else {
        return Err(invalid(
            "name an image to run (or a directory with --rootfs)",
        ));
    };
    let r = ImageRef::parse(image).map_err(|e| invalid(e.to_string()))?;
    let platform = match &args.platform {
        Some(p) => p.parse::<Platform>().map_err(|e| invalid(e.to_string()))?,
        None => Platform::host(),
    };
    let src = crate::pull::open(args, &r, image, store, &platform)?;
    // A foreign image runs through its emulator; docker warns unless the
    // platform was asked for.
    let theirs = slipway_common::image::config_platform(&src.image.config);
    if !theirs.architecture.is_empty() && !theirs.is_native() {
        if theirs.emulator().is_none() {
            return Err(Error::Unsupported(format!(
                "the image is {theirs}: {}",
                slipway_common::platform::no_emulator(&theirs)
            )));
        }
        if args.platform.is_none() {
            eprintln!(
                "container-run: warning: the image's platform ({theirs}) does not match the host's ({}) and no --platform was given: it runs through its emulator",
                Platform::host()
            );
        }
    }
    // stderr is the container's: progress only where a person watches.
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // Until the overlay is up, image-store gc must not take them away.
    let layers_lock = Some(layergc::startup_lock(store).ctx("lock the layers in", store)?);
    let dirs = layers::unpack(&src.layout, store, &src.image, rootless, |m| {
        if tty {
            eprintln!("container-run: {m}")
        }
    })?;
    let config = src.image.container_config();
    let names: Vec<String> = dirs
        .iter()
        .rev()
        .map(|d| {
            d.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    Ok(Image {
        name: image.clone(),
        id: Some(src.image.id().to_string()),
        config,
        args: rest.to_vec(),
        lowers: Some((layers::layers_dir_for(store, rootless), names)),
        layers_lock,
    })
}

/// The process's environment as Docker makes it, and the part of it
/// the record keeps (all but --secret-env).
fn environment(
    args: &Args,
    config: &ContainerConfig,
    hostname: &str,
) -> Result<(Vec<String>, Vec<String>), Error> {
    let mut env = Vec::new();
    set_env(&mut env, format!("PATH={DEFAULT_PATH}"));
    set_env(&mut env, format!("HOSTNAME={hostname}"));
    for e in config.env.clone().unwrap_or_default() {
        set_env(&mut env, e);
    }
    for f in &args.env_file {
        env_file(&mut env, f)?;
    }
    for e in &args.env {
        env_arg(&mut env, e)?;
    }
    if args.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        set_env(&mut env, "TERM=xterm".into());
    }
    slipway_common::container::process::tidy_env(&mut env);
    // What the record keeps: everything but the secrets.
    let recorded = env.clone();
    for name in &args.secret_env {
        if name.is_empty() || name.contains('=') {
            return Err(invalid(format!(
                "--secret-env {name:?}: expected a variable name"
            )));
        }
        if std::env::var_os(name).is_none() {
            return Err(invalid(format!(
                "--secret-env {name}: not set in our environment"
            )));
        }
        env_arg(&mut env, name)?;
    }
    slipway_common::container::process::tidy_env(&mut env);
    Ok((env, recorded))
}

/// -w, else the image's WORKDIR, else /.
fn workdir(args: &Args, config: &ContainerConfig) -> Result<String, Error> {
    Ok(match &args.workdir {
        Some(w) if !w.starts_with('/') => {
            return Err(invalid(format!(
                "the working directory {w:?} is invalid: it needs to be an absolute path"
            )))
        }
        Some(w) => w.clone(),
        None => config
            .working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into()),
    })
}

/// The root: the --rootfs directory bound as it is, or an overlay of the
/// image's layers (and the init layer) under the container's own upper
/// dir or --upper; with --upper, the work dir made beside it.
fn root(
    args: &Args,
    dir: &Path,
    lowers: Option<(PathBuf, Vec<String>)>,
    store: &Path,
    rootless: bool,
    id: &str,
) -> Result<(Root, Option<PathBuf>), Error> {
    let mut own_work = None;
    let root = match (lowers, &args.rootfs, &args.upper) {
        (None, Some(d), None) => Root::Bind(std::fs::canonicalize(d).ctx("find", d)?),
        (lowers, rootfs, upper) => {
            let (lowers_dir, lowers) = match (lowers, rootfs) {
                (Some((d, names)), _) if names.is_empty() => {
                    let empty = d.join("empty");
                    fsutil::create_dir_all(&empty)?;
                    (d, vec!["empty".to_string()])
                }
                (Some(l), _) => l,
                (None, Some(r)) => (std::fs::canonicalize(r).ctx("find", r)?, vec![".".into()]),
                (None, None) => unreachable!("an image or --rootfs"),
            };
            let mut lowers = lowers;
            let stack: Vec<PathBuf> = lowers.iter().map(|n| lowers_dir.join(n)).collect();
            let init_dir = layers::layers_dir_for(store, rootless);
            fsutil::create_dir_all(&init_dir)?;
            if let Some(init) =
                initlayer::ensure(&init_dir, &stack).ctx("make the init layer in", &init_dir)?
            {
                lowers.insert(0, init.to_string_lossy().into_owned());
            }
            let (upper, work) = match upper {
                Some(u) => {
                    fsutil::create_dir_all(u)?;
                    let u = std::fs::canonicalize(u).ctx("find", u)?;
                    let parent = u.parent().unwrap_or(Path::new("/"));
                    let w = parent.join(format!(
                        ".{}.work-{}",
                        u.file_name().unwrap_or_default().to_string_lossy(),
                        &id[..12]
                    ));
                    fsutil::create_dir_all(&w)?;
                    own_work = Some(w.clone());
                    (u, w)
                }
                None => {
                    let (u, w) = (dir.join("upper"), dir.join("work"));
                    fsutil::create_dir_all(&u)?;
                    fsutil::create_dir_all(&w)?;
                    (u, w)
                }
            };
            for p in [&upper, &work] {
                let s = p.to_string_lossy();
                if s.contains(',') || s.contains(':') {
                    return Err(invalid(format!(
                        "{s}: overlayfs cannot take a path with ',' or ':'"
                    )));
                }
            }
            Root::Overlay {
                lowers_dir,
                lowers,
                upper,
                work,
            }
        }
    };
    Ok((root, own_work))
}

/// `--cidfile`: the container's ID, in a file that must not exist yet.
fn write_cidfile(f: &Path, id: &str) -> Result<(), Error> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(f)
        .ctx("create the container ID file", f)?;
    file.write_all(id.as_bytes()).ctx("write", f)?;
    Ok(())
}

/// /etc/hostname, /etc/hosts and /etc/resolv.conf, as Docker writes them.
fn etc_files(
    dir: &Path,
    hostname: &str,
    network: Network,
    names: &Names,
    bridge: Option<&BridgePlan>,
    joined: Option<&Path>,
) -> Result<Vec<(String, PathBuf)>, Error> {
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let own = bridge.and_then(|b| b.request.ip);
    let gw = bridge.map(|b| b.network.gateway);
    let (mut hosts, mut resolv) = (
        names.hosts_file(hostname, network, own),
        names.resolv_conf(&host_resolv, network, gw),
    );
    // Sharing another container's network, its names are ours.
    if let Some(other) = joined {
        hosts = std::fs::read_to_string(other.join("hosts")).unwrap_or(hosts);
        resolv = std::fs::read_to_string(other.join("resolv.conf")).unwrap_or(resolv);
    }
    let mut out = Vec::new();
    for (name, body) in [
        ("hostname", format!("{hostname}\n")),
        ("hosts", hosts),
        ("resolv.conf", resolv),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, body).ctx("write", &p)?;
        out.push((format!("/etc/{name}"), p));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_later_settings_replace_earlier_keys() {
        let mut env = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        set_env(&mut env, "A=2".into());
        env_arg(&mut env, "B=x=y").unwrap();
        slipway_common::container::process::tidy_env(&mut env);
        assert_eq!(env, vec!["PATH=/bin", "A=2", "B=x=y"]);
        assert!(env_arg(&mut env, "=v").is_err());
    }

    #[test]
    fn publish_specs_parse_as_docker_writes_them() {
        assert_eq!(
            parse_publish("8080:80").unwrap(),
            Publish {
                host_ip: "0.0.0.0".into(),
                host_port: 8080,
                container_port: 80,
                proto: "tcp".into()
            }
        );
        assert_eq!(parse_publish("127.0.0.1:53:53/udp").unwrap().proto, "udp");
        // No host port: one is chosen later.
        assert_eq!(parse_publish("80").unwrap().host_port, 0);
        assert_eq!(parse_publish("127.0.0.1::80").unwrap().host_ip, "127.0.0.1");
        assert_eq!(parse_publish("127.0.0.1::80").unwrap().host_port, 0);
        assert!(parse_publish("1:2/sctp").is_err());
        assert!(parse_publish("0").is_err());
        assert!(parse_publish("localhost:1:2").is_err());
        assert!(matches!(
            parse_publish("8000-8001:80-81"),
            Err(Error::Unsupported(_))
        ));
    }

    #[test]
    fn publish_all_adds_the_exposed_ports_not_yet_published() {
        let config: ContainerConfig =
            serde_json::from_str(r#"{"ExposedPorts": {"80/tcp": {}, "53/udp": {}, "8080": {}}}"#)
                .unwrap();
        let mut publish = vec![parse_publish("9000:80").unwrap()];
        publish_exposed(&config, &mut publish).unwrap();
        let got: Vec<(u16, u16, &str)> = publish
            .iter()
            .map(|p| (p.host_port, p.container_port, p.proto.as_str()))
            .collect();
        assert_eq!(got, [(9000, 80, "tcp"), (0, 53, "udp"), (0, 8080, "tcp")]);
        choose_host_ports(&mut publish).unwrap();
        assert!(publish.iter().all(|p| p.host_port != 0));
        assert_eq!(publish[0].host_port, 9000);
    }

    #[test]
    fn tmpfs_options_keep_safe_defaults_unless_asked() {
        let MountKind::Tmpfs { options } = parse_tmpfs("/run:size=1m,exec").unwrap().kind else {
            panic!()
        };
        assert_eq!(options, "nosuid,nodev,size=1m");
        assert!(parse_tmpfs("run").is_err());
    }
}
