//! container-run: an image (or a directory) run as a container, as
//! `docker run` does: namespaces, an overlayfs root over the image's
//! unpacked layers, a fresh /proc, /sys and /dev, Docker's capabilities,
//! seccomp profile and masked paths, cgroup limits, and the container's
//! exit status as ours.

mod bundle;
mod child;
mod config;
mod copyup;
mod dev;
mod health;
mod hooks;
mod init;
mod initlayer;
mod mount_flag;
mod mounts;
mod moveroot;
mod names;
mod net;
pub mod oci;
mod oci_exec;
mod parent;
pub mod pull;
mod rootless;
mod runtime;
mod share;
mod start;
mod stubs;
mod ulimits;

use clap::Parser;
use slipway_common::cli::StoreArgs;
use slipway_common::container::cgroups::CgroupError;
use slipway_common::container::sealed;
use slipway_common::container::state::StateError;
use slipway_common::fsutil::IoError;
use slipway_common::layers::LayersError;
use slipway_common::source::SourceError;
use slipway_common::userns;

pub use config::Plan;

const EXAMPLES: &str = "\
Examples:
  container-run --rm busybox echo hello
  container-run --rm -i -e NAME=x -w /tmp -u 1000 busybox sh
  container-run --rm --network none --memory 64m --pids-limit 100 busybox sh -c 'ulimit -a'
  container-run --rm -v /srv/data:/data:ro busybox ls /data
  container-run --rootfs ./rootfs --upper ./changes /bin/sh -c 'touch /new'";

/// Run a command in a new container.
///
/// The image comes from the store (or any local transport: oci:DIR,
/// oci-archive:FILE, docker-archive:FILE); its layers are unpacked once per
/// diff ID into the store and stacked with overlayfs under a per-container
/// writable layer. The container gets its own mount, PID, UTS, IPC and
/// network namespaces, a fresh /proc, read-only /sys and a minimal /dev,
/// Docker's default capabilities, seccomp profile and masked paths, and
/// no_new_privs. Exit status: the container's, or 125 when container-run
/// fails, 126 when the command cannot be invoked, 127 when it is not found.
///
/// As a non-root user it runs rootless, as rootless podman does: in a user
/// namespace of its own in which the user is root and the user's ranges in
/// /etc/subuid and /etc/subgid follow (mapped by newuidmap and newgidmap;
/// without a range only the user is mapped, and only root's files and
/// processes can be), with the user's store ($XDG_DATA_HOME/slipway).
/// Rootless, the cgroup limits need a cgroup delegated to the user and
/// are refused, as is --bundle; --network private needs /dev/net/tun
/// open to the user.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "container-run",
    version,
    after_help = EXAMPLES,
    disable_help_flag = true,
    trailing_var_arg = true
)]
pub struct Args {
    /// The image, then the command and its arguments (the image's
    /// entrypoint and cmd by default). With --rootfs, only the command.
    #[arg(value_name = "IMAGE [COMMAND [ARG...]]", required = false)]
    pub args: Vec<String>,

    /// Run this directory as the root filesystem instead of an image
    /// (with --upper, as the lower layer of an overlay).
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<std::path::PathBuf>,
    /// Run an OCI runtime bundle: DIR/config.json (runtime-spec) and the
    /// root it names, as runc run does; no image or command is given.
    #[arg(long, value_name = "DIR", conflicts_with = "rootfs")]
    pub bundle: Option<std::path::PathBuf>,
    /// Run the container with another OCI runtime (runc, crun, or a path)
    /// through a runtime bundle, as podman --runtime does: the image, its
    /// layers, the overlay, the user and Docker's security settings are
    /// prepared here, the process is the runtime's. Not with -d, -t, -i,
    /// --init or --secret-env.
    #[arg(long, value_name = "PROGRAM", conflicts_with = "bundle")]
    pub runtime: Option<std::path::PathBuf>,

    /// Create the container (its record, name and writable layer) and
    /// print its ID without starting it, as docker create does:
    /// `container-ctl start` starts it.
    #[arg(long, conflicts_with_all = ["bundle", "runtime"])]
    pub create: bool,
    /// Start a created or exited container again, with the arguments it
    /// was made with (what `container-ctl start` runs): in the background,
    /// printing its ID, or with --attach in the foreground. Its writable
    /// layer is kept.
    #[arg(long, value_name = "CONTAINER", conflicts_with_all = ["bundle", "runtime", "rootfs", "create"])]
    pub start: Option<String>,
    /// With --start: stay in the foreground with the container's output
    /// (and with -i its input), its exit status ours, as docker start -a.
    #[arg(long, requires = "start")]
    pub attach: bool,
    /// The arguments as given, recorded for a later start.
    #[arg(skip)]
    pub given: Vec<String>,

    /// Keep the container's writable layer (the overlayfs upper dir) in
    /// DIR, for `layer-diff --upper DIR`.
    #[arg(long, value_name = "DIR")]
    pub upper: Option<std::path::PathBuf>,
    /// A name for the container (default: none; container-ctl also takes
    /// the ID).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Run in the background: print the container's ID and return; its
    /// output goes to a log (container-ctl logs).
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Give the container a terminal (a pty of its own devpts); ours goes
    /// to raw mode while it runs.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Run a small init as PID 1 that forwards signals to the command and
    /// reaps zombies, as docker run --init does.
    #[arg(long)]
    pub init: bool,
    /// When container-run is sent SIGTERM, it passes it on and gives the
    /// container this many seconds to exit before it is killed (SIGKILL),
    /// as docker stop does: a PID 1 that ignores SIGTERM cannot outlive it.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub stop_timeout: u32,
    /// The signal container-ctl stop sends first (a name as SIGUSR1 or
    /// USR1, or a number); default: the image's STOPSIGNAL, else SIGTERM.
    #[arg(long, value_name = "SIGNAL")]
    pub stop_signal: Option<String>,
    /// Keep stdin open for the container (default: /dev/null): ours, or
    /// with -d a FIFO that `container-ctl attach` writes to.
    #[arg(short = 'i', long)]
    pub interactive: bool,

    /// Set an environment variable (KEY=VALUE, or KEY to pass ours on).
    #[arg(short = 'e', long = "env", value_name = "KEY[=VALUE]")]
    pub env: Vec<String>,
    /// Pass the variable NAME from our own environment, as -e NAME does,
    /// but keep it out of the container's record (its state file, and
    /// container-ctl inspect and exec): for a secret. Not with --runtime.
    #[arg(long = "secret-env", value_name = "NAME")]
    pub secret_env: Vec<String>,
    /// Read environment variables from a file, one KEY[=VALUE] per line.
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<std::path::PathBuf>,
    /// The working directory inside the container (created if missing).
    #[arg(short = 'w', long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// The user: NAME|UID[:GROUP|GID], names from the image's /etc/passwd
    /// and /etc/group.
    #[arg(short = 'u', long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// Override the image's entrypoint ("" for none); the image's cmd is
    /// then not used either.
    #[arg(long, value_name = "COMMAND")]
    pub entrypoint: Option<String>,
    /// The container's hostname (default: the first 12 digits of its ID).
    #[arg(short = 'h', long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// When the monitor of a detached container starts it again after it
    /// ends: no (the default), on-failure[:N] (a non-zero exit, at most N
    /// times), always or unless-stopped (until a container-ctl stop or
    /// kill). There is no daemon: after a reboot (or a kill of its
    /// monitor), `container-ctl start --all --filter
    /// restart-policy=always` starts them again (slipway-restart.service
    /// runs it at boot, once enabled).
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<String>,
    /// Where a detached container's output goes: json-file (its log, read
    /// by container-ctl logs; the default) or none.
    #[arg(long, value_name = "DRIVER")]
    pub log_driver: Option<String>,
    /// A log option, KEY=VALUE: max-size (rotate the log when it reaches
    /// this size: 10m, 512k) and max-file (files kept, with max-size).
    #[arg(long, value_name = "KEY=VALUE")]
    pub log_opt: Vec<String>,
    /// A command that checks the container's health, run by /bin/sh -c
    /// in it every --health-interval (instead of the image's
    /// HEALTHCHECK); exit 0 is healthy.
    #[arg(long, value_name = "COMMAND")]
    pub health_cmd: Option<String>,
    /// Time between checks (30s).
    #[arg(long, value_name = "DURATION")]
    pub health_interval: Option<String>,
    /// How long one check may run (30s).
    #[arg(long, value_name = "DURATION")]
    pub health_timeout: Option<String>,
    /// Time to start in, when failed checks do not count (0s).
    #[arg(long, value_name = "DURATION")]
    pub health_start_period: Option<String>,
    /// Time between checks in the start period until one passes (5s).
    #[arg(long, value_name = "DURATION")]
    pub health_start_interval: Option<String>,
    /// Failures in a row that make it unhealthy (3).
    #[arg(long, value_name = "N")]
    pub health_retries: Option<u64>,
    /// Run no health check, not even the image's.
    #[arg(long)]
    pub no_healthcheck: bool,
    /// The PID namespace: private (its own, the default), host, or
    /// container:NAME (another running container's).
    #[arg(long, value_name = "MODE")]
    pub pid: Option<String>,
    /// The IPC namespace: private or shareable (its own, the default),
    /// host, or container:NAME.
    #[arg(long, value_name = "MODE")]
    pub ipc: Option<String>,
    /// The UTS namespace (hostname): private (the default) or host.
    #[arg(long, value_name = "MODE")]
    pub uts: Option<String>,
    /// The user namespace: host, the only mode here (root's containers
    /// run in the host's, rootless ones in the user's).
    #[arg(long, value_name = "MODE")]
    pub userns: Option<String>,

    /// A resource limit for the container's processes: NAME=SOFT[:HARD]
    /// (nofile, nproc, core, memlock, stack, ...; -1 is unlimited;
    /// repeatable).
    #[arg(long, value_name = "NAME=SOFT[:HARD]")]
    pub ulimit: Vec<String>,

    /// A sysctl of the container's own namespaces: its network's (net.*),
    /// IPC (kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*) or UTS
    /// (kernel.domainname) (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub sysctl: Vec<String>,

    /// Set a label on the container, over the image's (repeatable; KEY
    /// alone sets it empty). `docker inspect` shows them in Config.Labels.
    #[arg(short = 'l', long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,

    /// Write the container's ID to FILE, which must not exist.
    #[arg(long, value_name = "FILE")]
    pub cidfile: Option<std::path::PathBuf>,

    /// Add HOST with address IP to the container's /etc/hosts (repeatable;
    /// HOST=IP too; host-gateway is the host as the container reaches it).
    #[arg(long = "add-host", value_name = "HOST:IP")]
    pub add_host: Vec<String>,

    /// The container's DNS server, instead of the host's (repeatable).
    #[arg(long, value_name = "IP")]
    pub dns: Vec<String>,

    /// The container's DNS search domains, instead of the host's
    /// (repeatable).
    #[arg(long = "dns-search", value_name = "DOMAIN")]
    pub dns_search: Vec<String>,

    /// Resolver options for the container's /etc/resolv.conf, instead of
    /// the host's (repeatable; ndots:2, edns0, ...).
    #[arg(long = "dns-option", value_name = "OPTION")]
    pub dns_option: Vec<String>,

    /// Bind mount HOST-PATH at CONTAINER-PATH; a NAME instead of a path is
    /// a named volume kept in the store.
    #[arg(short = 'v', long = "volume", value_name = "HOST:CONTAINER[:ro|rw]")]
    pub volumes: Vec<String>,
    /// Mount a tmpfs at PATH, with mount options such as size=64m,mode=1777.
    #[arg(long, value_name = "PATH[:OPTIONS]")]
    pub tmpfs: Vec<String>,
    /// An additional group for the container's process: a GID or a name
    /// in the container's /etc/group (repeatable).
    #[arg(long = "group-add", value_name = "GROUP")]
    pub group_add: Vec<String>,
    /// The size of /dev/shm (64m unless given; b, k, m or g).
    #[arg(long = "shm-size", value_name = "SIZE")]
    pub shm_size: Option<String>,
    /// A mount in docker's key=value form: type=bind,source=PATH,target=PATH;
    /// type=volume,source=NAME,target=PATH; type=tmpfs,target=PATH with
    /// tmpfs-size and tmpfs-mode; readonly for any (repeatable).
    #[arg(long, value_name = "type=TYPE,source=SRC,target=DST[,readonly]")]
    pub mount: Vec<String>,
    /// Mount the root filesystem read-only.
    #[arg(long = "read-only")]
    pub read_only: bool,

    /// private (the default; bridge means it too): its own namespace
    /// with outbound access through slirp4netns; none: only loopback;
    /// host: the host's namespace; container:NAME: another running
    /// container's; or a network's name (`container-ctl network create`):
    /// on its bridge, where the other containers' names resolve.
    #[arg(
        long,
        visible_alias = "net",
        value_name = "MODE|NETWORK",
        default_value = "private"
    )]
    pub network: String,
    /// Another name the container answers to on its network (repeatable).
    #[arg(
        long = "network-alias",
        visible_alias = "net-alias",
        value_name = "NAME"
    )]
    pub network_alias: Vec<String>,
    /// Its IPv4 address on its network (default: the first free one).
    #[arg(long, value_name = "IP")]
    pub ip: Option<String>,
    /// Its MAC address on its network (default: 02:42 and its address).
    #[arg(long = "mac-address", value_name = "MAC")]
    pub mac_address: Option<String>,
    /// Publish a container port on the host (--network private); with no
    /// HOST port, a random free one (`container-ctl port` shows it).
    #[arg(
        short = 'p',
        long = "publish",
        value_name = "[IP:][HOST:]CONTAINER[/PROTO]"
    )]
    pub publish: Vec<String>,
    /// Publish every port the image EXPOSEs on a random host port.
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,

    /// Memory limit (bytes, or with a k, m or g suffix).
    #[arg(short = 'm', long, value_name = "BYTES")]
    pub memory: Option<String>,
    /// Limit on the number of processes.
    #[arg(long = "pids-limit", value_name = "N")]
    pub pids_limit: Option<u64>,
    /// CPU limit, in CPUs (1.5 is one and a half).
    #[arg(long, value_name = "N")]
    pub cpus: Option<String>,

    /// Add a capability to Docker's default set (ALL for all).
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop a capability from Docker's default set (ALL for all).
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Give the container a host device: HOST[:CONTAINER[:PERMS]], PERMS
    /// of r, w and m (default rwm), as docker run --device (repeatable).
    #[arg(long = "device", value_name = "HOST[:CONTAINER[:PERMS]]")]
    pub devices: Vec<String>,
    /// Give the container every capability, no seccomp filter and no masked
    /// paths, writable /sys and /proc/sys.
    #[arg(long)]
    pub privileged: bool,
    /// seccomp=unconfined (no seccomp filter) or no-new-privileges (the
    /// default here).
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,

    /// The platform to select from a multi-platform image.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,

    /// Pull the image from its registry (with image-pull) before running:
    /// missing (when the store lacks it), always, or never.
    #[arg(long, value_name = "POLICY", value_enum, default_value = "missing")]
    pub pull: pull::Pull,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Source(Box<SourceError>),
    #[error(transparent)]
    Layers(#[from] LayersError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{what}: {source}")]
    Os {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl From<SourceError> for Error {
    fn from(e: SourceError) -> Error {
        Error::Source(Box::new(e))
    }
}

pub fn run(mut args: Args) -> Result<u8, Error> {
    // A signal that comes while the container is being prepared waits
    // until it runs, and is then passed on to it: dying of it halfway
    // would leave the container's record, mounts and dirs behind.
    if args.start.is_none() {
        args.given = std::env::args_os()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
    }
    slipway_common::container::process::block_signals(
        slipway_common::container::process::FORWARDED_SIGNALS,
    );
    // The container's first process is a fork of us until it execs: run
    // from a sealed copy, so that nothing in it can reach our binary.
    sealed::reexec_sealed("container-run").map_err(|source| Error::Os {
        what: "run from a sealed copy of container-run".into(),
        source,
    })?;
    let restarting = match &args.start {
        Some(query) => match start::reopen(&args, query)? {
            Some(r) => Some(r),
            // Already running: docker start says so by its name, and succeeds.
            None => return Ok(0),
        },
        None => None,
    };
    if let Some((a, _)) = &restarting {
        args = a.clone();
    }
    if userns::rootless() {
        rootless::enter(&mut args)?;
    }
    // --runtime: checked, and the program found, before anything is made.
    let runtime = match &args.runtime {
        Some(rt) => {
            runtime::check(&args)?;
            Some(match rt.components().count() {
                1 => config::which(&rt.to_string_lossy()).ok_or_else(|| {
                    Error::Invalid(format!("--runtime {}: not found in PATH", rt.display()))
                })?,
                _ => rt.clone(),
            })
        }
        None => None,
    };
    let prepared = match &args.bundle {
        Some(dir) => {
            let (a, extras) = bundle::to_args(&args, dir)?;
            for w in &extras.warnings {
                eprintln!("container-run: warning: {w}");
            }
            let mut p = config::prepare(&a, None)?;
            p.state.process.env = extras.env.clone();
            extras.apply(&mut p.plan);
            let _ = p.containers.save(&p.state);
            p
        }
        None => config::prepare(&args, restarting.as_ref().map(|(_, s)| s))?,
    };
    if args.create {
        return start::created(prepared);
    }
    if let Some(program) = runtime {
        return runtime::run(prepared, &program);
    }
    parent::run(prepared)
}
