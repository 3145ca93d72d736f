//! container-runtime: container-run behind runc's command line, for the
//! engines and tools that drive an OCI runtime by it (podman, buildah,
//! containerd's shim, the runtime-tools suite). A binary of its own name
//! rather than subcommands of container-run: an engine is pointed at one
//! path and then says `create`, `start`, `state`…, words container-run
//! would read as an image. The same code runs the container; the state
//! lives under `--root` (on tmpfs in /run, as runc's), and nothing
//! monitors a created container: `delete` takes down what it leaves.

use crate::child::Stdio;
use crate::config::Prepared;
use crate::{bundle, config, parent, Args, Error};
use clap::{Parser, Subcommand};
use serde_json::json;
use slipway_common::container::state::{Containers, State, Status};
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The runtime-spec version the state reports.
pub(crate) const OCI_VERSION: &str = "1.0.2";

/// Run OCI bundles by runc's command line.
#[derive(Parser, Debug)]
#[command(
    name = "container-runtime",
    version,
    disable_help_subcommand = true,
    after_help = "Examples:\n  container-runtime create --bundle ./bundle web\n  container-runtime start web\n  container-runtime state web\n  container-runtime kill web TERM\n  container-runtime delete web"
)]
pub struct Cli {
    /// Where container state is kept (runc's --root).
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "/run/container-runtime"
    )]
    pub root: PathBuf,
    /// Also write errors to FILE (engines read it).
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// The --log format: text or json (one JSON object a line, as runc).
    #[arg(
        long = "log-format",
        global = true,
        value_name = "FORMAT",
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// Accepted for runc's callers; cgroups are managed through cgroupfs,
    /// not systemd units, either way.
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Also log each command line and how it ended, at level debug (to
    /// --log, else stderr).
    #[arg(long, global = true)]
    pub debug: bool,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Set up a container from a bundle; its process waits for `start`.
    Create(CreateArgs),
    /// Let a created container's process run.
    Start { id: String },
    /// Print a container's state as runtime-spec JSON.
    State { id: String },
    /// Send a signal (default SIGTERM) to a container's process.
    Kill {
        /// Every process of the container, not only its first.
        #[arg(short, long)]
        all: bool,
        id: String,
        signal: Option<String>,
    },
    /// Remove a stopped (or, with --force, any) container.
    Delete {
        /// Kill a container that still runs.
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Create and start a container and wait for it (its status is ours).
    Run(RunArgs),
    /// List the containers.
    #[command(alias = "ls")]
    List {
        /// Only the IDs.
        #[arg(short, long)]
        quiet: bool,
        /// table or json.
        #[arg(short, long, default_value = "table")]
        format: String,
    },
    /// List the processes of a container (host PIDs).
    Ps {
        /// table or json.
        #[arg(short, long, default_value = "table")]
        format: String,
        id: String,
    },
    /// Write a default config.json into the bundle directory.
    Spec {
        #[arg(short, long, value_name = "DIR", default_value = ".")]
        bundle: PathBuf,
    },
    /// Print what this runtime supports (runtime-spec features.json).
    Features,
    /// Run another process in a created or running container.
    Exec(crate::oci_exec::ExecArgs),
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// The bundle: config.json and the root it names.
    #[arg(short, long, value_name = "DIR", default_value = ".")]
    pub bundle: PathBuf,
    /// Write the container's PID here.
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// With process.terminal: send the terminal's master to this socket.
    #[arg(long = "console-socket", value_name = "SOCK")]
    pub console_socket: Option<PathBuf>,
    /// Enter the root by moving it over / and chroot, not pivot_root (for
    /// a root on the initramfs; weaker: the host's mounts stay beneath).
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Keep the caller's session keyring rather than join a new one.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass on this many descriptors after stderr (3 to 3+N-1).
    #[arg(long = "preserve-fds", value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,
    pub id: String,
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Create and start the container, and return: it runs on, for
    /// `state`, `kill` and `delete`.
    #[arg(short, long)]
    pub detach: bool,
}

/// container-runtime's main: runc's exit codes (1 on any failure of our
/// own), errors also to --log.
pub fn main() -> std::process::ExitCode {
    RUNTIME.store(true, std::sync::atomic::Ordering::Relaxed);
    slipway_common::cli::main_status(
        "container-runtime",
        slipway_common::cli::Codes {
            usage: 1,
            failure: 1,
        },
        |cli: Cli| {
            let log = cli.log.clone().map(|p| (p, cli.log_format));
            if let Some(l) = &log {
                let _ = LOG.set(l.clone());
            }
            let debug = cli.debug;
            let line = std::env::args().collect::<Vec<_>>().join(" ");
            if debug {
                log_at("debug", &format!("run: {line}"));
            }
            let r = run(cli);
            if debug {
                match &r {
                    Ok(code) => log_at("debug", &format!("done ({code}): {line}")),
                    Err(e) => log_at("debug", &format!("failed ({e}): {line}")),
                }
            }
            if let (Err(e), Some((path, format))) = (&r, &log) {
                write_log(path, *format, "error", &e.to_string());
            }
            r
        },
    )
}

/// Set when this process is container-runtime: a failed setup is then
/// one of our errors (exit 1, as runc's), not the command's status 125.
static RUNTIME: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(crate) fn is_runtime() -> bool {
    RUNTIME.load(std::sync::atomic::Ordering::Relaxed)
}

/// --log and its format, once the command line is read.
static LOG: std::sync::OnceLock<(PathBuf, LogFormat)> = std::sync::OnceLock::new();

/// A warning: to --log when there is one (the engine reads it; the
/// container's output is no place for it), else to stderr.
fn warn(msg: &str) {
    log_at("warning", msg);
}

/// A line at `level` to --log, else stderr.
fn log_at(level: &str, msg: &str) {
    match LOG.get() {
        Some((path, format)) => write_log(path, *format, level, msg),
        None => eprintln!("container-runtime: {level}: {msg}"),
    }
}

/// One line in the log, as runc writes it (`{"level":"error",…}`).
fn write_log(path: &Path, format: LogFormat, level: &str, msg: &str) {
    let time = slipway_common::time::format_rfc3339(slipway_common::time::now());
    let line = match format {
        LogFormat::Json => json!({"level": level, "msg": msg, "time": time}).to_string(),
        LogFormat::Text => format!("time=\"{time}\" level={level} msg=\"{msg}\""),
    };
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}

fn os(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Os { what, source }
}

pub fn run(cli: Cli) -> Result<u8, Error> {
    slipway_common::container::process::block_signals(
        slipway_common::container::process::FORWARDED_SIGNALS,
    );
    let root = &cli.root;
    let passed = match &cli.cmd {
        Cmd::Create(c) | Cmd::Run(RunArgs { create: c, .. }) => c.preserve_fds,
        _ => 0,
    };
    slipway_common::container::process::check_passed_fds(passed).map_err(invalid)?;
    match cli.cmd {
        Cmd::Create(c) => {
            create(root, &c)?;
            Ok(0)
        }
        Cmd::Start { id } => start(root, &id).map(|()| 0),
        Cmd::State { id } => {
            let s = find(root, &id)?;
            let doc = state_doc(&s);
            println!(
                "{}",
                serde_json::to_string_pretty(&doc).expect("JSON serializes")
            );
            Ok(0)
        }
        Cmd::Kill { all, id, signal } => kill(root, &id, signal.as_deref(), all).map(|()| 0),
        Cmd::Delete { force, id } => delete(root, &id, force).map(|()| 0),
        Cmd::Run(r) if r.detach => {
            // runc run -d: create and start, and leave it running.
            create(root, &r.create)?;
            start(root, &r.create.id).map(|()| 0)
        }
        Cmd::Run(r) => run_foreground(root, &r.create),
        Cmd::List { quiet, format } => list(root, quiet, &format).map(|()| 0),
        Cmd::Ps { format, id } => ps(root, &id, &format).map(|()| 0),
        Cmd::Spec { bundle } => spec(&bundle).map(|()| 0),
        Cmd::Features => {
            println!(
                "{}",
                serde_json::to_string_pretty(&features()).expect("JSON serializes")
            );
            Ok(0)
        }
        Cmd::Exec(e) => {
            let s = find(root, &e.id)?;
            // A container whose process is a zombie is stopped already.
            if s.current_oci_status() == "stopped" {
                return Err(invalid(format!("container {} is not running", e.id)));
            }
            crate::oci_exec::exec(&s, &e)
        }
    }
}

/// The container's plan from its bundle, its state under `root` named
/// by the runc ID.
fn prepare(root: &Path, c: &CreateArgs) -> Result<Prepared, Error> {
    let bundle = std::fs::canonicalize(&c.bundle)
        .map_err(os(format!("find the bundle {}", c.bundle.display())))?;
    let base = Args::try_parse_from([
        "container-run".as_ref(),
        "--store".as_ref(),
        root.as_os_str(),
        "--name".as_ref(),
        c.id.as_ref(),
        "--bundle".as_ref(),
        bundle.as_os_str(),
    ])
    .map_err(|e| invalid(format!("container ID {:?}: {e}", c.id)))?;
    let (a, extras) = bundle::to_args(&base, &bundle)?;
    for w in &extras.warnings {
        warn(w);
    }
    let mut p = config::prepare(&a, None)?;
    p.state.process.env = extras.env.clone();
    extras.apply(&mut p.plan);
    if let Some(sp) = &mut p.plan.spec_privileges {
        sp.pass_fds = c.preserve_fds;
    }
    p.plan.new_keyring = !c.no_new_keyring;
    p.plan.no_pivot = c.no_pivot;
    p.state.bundle = Some(bundle.clone());
    p.state.annotations = annotations(&bundle);
    p.plan.hooks.identity = crate::hooks::Identity {
        id: c.id.clone(),
        bundle: p.state.bundle.clone(),
        annotations: p.state.annotations.clone(),
    };
    let _ = p.containers.save(&p.state);
    Ok(p)
}

/// The spec's annotations, for `state`.
fn annotations(bundle: &Path) -> std::collections::BTreeMap<String, String> {
    crate::bundle::read_spec(&bundle.join("config.json"))
        .ok()
        .and_then(|spec| spec.annotations().clone())
        .map(|a| a.into_iter().collect())
        .unwrap_or_default()
}

/// Where the container's output goes: ours, or a terminal whose master
/// goes to the caller's console socket.
fn stdio(c: &CreateArgs) -> Result<Stdio, Error> {
    match &c.console_socket {
        Some(path) => Ok(Stdio::tty(console(path)?)),
        None => Ok(Stdio::inherit()),
    }
}

fn console(path: &Path) -> Result<OwnedFd, Error> {
    let s = std::os::unix::net::UnixStream::connect(path).map_err(os(format!(
        "connect to the console socket {}",
        path.display()
    )))?;
    Ok(OwnedFd::from(s))
}

fn create(root: &Path, c: &CreateArgs) -> Result<(), Error> {
    let mut p = prepare(root, c)?;
    if p.plan.tty && c.console_socket.is_none() {
        remove(&p.containers, &p.state);
        return Err(invalid(
            "process.terminal is true: give --console-socket to receive the terminal",
        ));
    }
    let fifo = p.container_dir.join("exec.fifo");
    mkfifo(&fifo)?;
    // Opened for writing by the container's root, which in a user
    // namespace is another host user.
    if let Some(m) = &p.plan.userns {
        std::os::unix::fs::chown(&fifo, Some(m.root_uid), Some(m.root_gid))
            .map_err(os(format!("chown {}", fifo.display())))?;
    }
    p.plan.exec_fifo = Some(fifo);
    let stdio = stdio(c)?;
    let pid = parent::create(p, stdio)?;
    if let Some(f) = &c.pid_file {
        write_pid_file(f, pid)?;
    }
    Ok(())
}

fn mkfifo(path: &Path) -> Result<(), Error> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| invalid(format!("{}: a NUL in the path", path.display())))?;
    // SAFETY: a valid C string.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } < 0 {
        return Err(Error::Os {
            what: format!("mkfifo {}", path.display()),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// The PID file, written whole and renamed into place (a reader never
/// sees it half-written), as runc writes it.
pub(crate) fn write_pid_file(path: &Path, pid: libc::pid_t) -> Result<(), Error> {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    std::fs::write(&tmp, pid.to_string()).map_err(os(format!("write {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(os(format!("rename into place {}", path.display())))?;
    Ok(())
}

fn containers(root: &Path) -> Result<Containers, Error> {
    Ok(Containers::open(root)?)
}

fn find(root: &Path, id: &str) -> Result<State, Error> {
    let all = containers(root)?.list()?;
    all.into_iter()
        .find(|s| s.name == id)
        .ok_or_else(|| invalid(format!("container {id} does not exist")))
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rfind(')').map(|i| s[i + 2..].starts_with('Z')))
        .unwrap_or(false)
}

fn state_doc(s: &State) -> serde_json::Value {
    json!({
        "ociVersion": OCI_VERSION,
        "id": s.name,
        "status": s.current_oci_status(),
        "pid": s.pid.unwrap_or(0),
        "bundle": s.bundle.clone().unwrap_or_default(),
        "annotations": s.annotations,
    })
}

/// The runtime-spec status: created (waiting on its FIFO), running, or
/// stopped (gone, or a zombie nobody has reaped yet).
trait OciStatus {
    fn current_oci_status(&self) -> &'static str;
}

impl OciStatus for State {
    fn current_oci_status(&self) -> &'static str {
        let alive = self.alive() && !is_zombie(self.pid.unwrap_or(0));
        match (alive, self.status) {
            (false, _) => "stopped",
            (true, Status::Created) => "created",
            (true, _) => "running",
        }
    }
}

fn start(root: &Path, id: &str) -> Result<(), Error> {
    let mut s = find(root, id)?;
    let st = s.current_oci_status();
    if st != "created" {
        return Err(invalid(format!(
            "cannot start a container that is {st}: {id}"
        )));
    }
    let c = containers(root)?;
    let fifo = c.dir(&s.id).join("exec.fifo");
    // Non-blocking: the open must not hang on a container that died.
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&fifo)
        .map_err(os(format!("open {}", fifo.display())))?;
    let pid = s.pid.unwrap_or(0);
    loop {
        let mut pfd = libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, 100) };
        if n > 0 && pfd.revents & libc::POLLIN != 0 {
            let mut b = [0u8; 1];
            match std::io::Read::read(&mut f, &mut b) {
                Ok(1) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(os("read the exec FIFO")(e)),
            }
        }
        if !s.alive() || is_zombie(pid) {
            return Err(invalid(format!("container {id} stopped before it started")));
        }
    }
    let _ = std::fs::remove_file(&fifo);
    s.status = Status::Running;
    c.save(&s)?;
    poststart(&s);
    Ok(())
}

/// The bundle's poststart hooks: a failure is a warning, as the spec says.
fn poststart(s: &State) {
    let Some(bundle) = &s.bundle else { return };
    let hooks = crate::hooks::Hooks::of_bundle(bundle);
    let pid = s.pid.unwrap_or(0);
    let state = crate::hooks::state(&s.name, "running", pid, &s.bundle, &s.annotations);
    if let Err(e) = crate::hooks::run("poststart", &hooks.poststart, &state) {
        warn(&e);
    }
}

fn kill(root: &Path, id: &str, signal: Option<&str>, all: bool) -> Result<(), Error> {
    let s = find(root, id)?;
    let sig = match signal {
        None => libc::SIGTERM,
        Some(v) => slipway_common::container::signal::parse(v).map_err(invalid)?,
    };
    if s.current_oci_status() == "stopped" {
        return Err(invalid(format!("container {id} is not running")));
    }
    if all {
        if let Some(cg) = &s.cgroup {
            cg.signal_all(sig);
            return Ok(());
        }
    }
    let pid = s.pid.unwrap_or(0);
    // SAFETY: kill with integer arguments.
    if pid <= 0 || unsafe { libc::kill(pid, sig) } < 0 {
        return Err(os(format!("kill {pid}"))(std::io::Error::last_os_error()));
    }
    Ok(())
}

fn remove(c: &Containers, s: &State) {
    if let Some(cg) = &s.cgroup {
        cg.remove();
    }
    let _ = c.remove(&s.id);
}

fn delete(root: &Path, id: &str, force: bool) -> Result<(), Error> {
    let s = find(root, id)?;
    let c = containers(root)?;
    match s.current_oci_status() {
        "stopped" => {}
        // A created container has run nothing: delete takes it down, as
        // runc's does.
        "created" => kill_and_wait(&s),
        _ if force => kill_and_wait(&s),
        st => {
            return Err(invalid(format!(
                "cannot delete container {id} that is not stopped: {st}"
            )))
        }
    }
    remove(&c, &s);
    // The bundle's poststop hooks: a failure is a warning, as the spec says.
    if let Some(bundle) = &s.bundle {
        let hooks = crate::hooks::Hooks::of_bundle(bundle);
        let state = crate::hooks::state(&s.name, "stopped", 0, &s.bundle, &s.annotations);
        if let Err(e) = crate::hooks::run("poststop", &hooks.poststop, &state) {
            warn(&e);
        }
    }
    Ok(())
}

/// SIGKILL to every process of the container, then waits (bounded) for
/// its first process to be gone.
fn kill_and_wait(s: &State) {
    if let Some(cg) = &s.cgroup {
        cg.signal_all(libc::SIGKILL);
    }
    let pid = s.pid.unwrap_or(0);
    if pid > 0 {
        // SAFETY: kill with integer arguments.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while s.alive() && !is_zombie(pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

fn run_foreground(root: &Path, c: &CreateArgs) -> Result<u8, Error> {
    let mut p = prepare(root, c)?;
    p.pid_file = c.pid_file.clone();
    if let (true, Some(path)) = (p.plan.tty, &c.console_socket) {
        match console(path) {
            Ok(s) => p.console = Some(s),
            Err(e) => {
                remove(&p.containers, &p.state);
                return Err(e);
            }
        }
    }
    let id = p.state.id.clone();
    let containers = Containers::open(root)?;
    let code = parent::run(p)?;
    // Runs to the end here: nothing is left for delete.
    if let Ok(s) = containers.load(&id) {
        remove(&containers, &s);
    }
    Ok(code)
}

fn list(root: &Path, quiet: bool, format: &str) -> Result<(), Error> {
    let all = containers(root)?.list()?;
    if quiet {
        for s in &all {
            println!("{}", s.name);
        }
        return Ok(());
    }
    match format {
        "json" => {
            let docs: Vec<_> = all
                .iter()
                .map(|s| {
                    json!({
                        "ociVersion": OCI_VERSION, "id": s.name, "pid": s.pid.unwrap_or(0),
                        "status": s.current_oci_status(), "bundle": s.bundle, "created": s.created,
                        "owner": "root", "annotations": s.annotations,
                    })
                })
                .collect();
            println!("{}", serde_json::Value::Array(docs));
        }
        "table" => {
            let mut rows = vec![vec![
                "ID".to_string(),
                "PID".into(),
                "STATUS".into(),
                "BUNDLE".into(),
                "CREATED".into(),
                "OWNER".into(),
            ]];
            for s in &all {
                rows.push(vec![
                    s.name.clone(),
                    s.pid.unwrap_or(0).to_string(),
                    s.current_oci_status().into(),
                    s.bundle
                        .as_deref()
                        .map(|b| b.display().to_string())
                        .unwrap_or_default(),
                    s.created.clone(),
                    "root".into(),
                ]);
            }
            print!("{}", slipway_common::template::table(&rows));
        }
        other => return Err(invalid(format!("--format {other:?}: table or json"))),
    }
    Ok(())
}

fn ps(root: &Path, id: &str, format: &str) -> Result<(), Error> {
    let s = find(root, id)?;
    let mut pids: Vec<i32> = s.cgroup.as_ref().map(|c| c.pids()).unwrap_or_default();
    pids.sort_unstable();
    match format {
        "json" => println!("{}", json!(pids)),
        "table" => {
            println!("PID");
            for p in pids {
                println!("{p}");
            }
        }
        other => return Err(invalid(format!("--format {other:?}: table or json"))),
    }
    Ok(())
}

/// runc spec's default config.json: sh in `rootfs`, the usual mounts and
/// namespaces, runc's capability set.
fn spec(bundle: &Path) -> Result<(), Error> {
    let path = bundle.join("config.json");
    if path.exists() {
        return Err(invalid(format!(
            "File {} exists. Remove it first",
            path.display()
        )));
    }
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let doc = json!({
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "container-runtime",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": crate::mounts::MASKED,
            "readonlyPaths": crate::mounts::READ_ONLY
        }
    });
    let text = serde_json::to_string_pretty(&doc).expect("JSON serializes");
    std::fs::write(&path, text + "\n").map_err(os(format!("write {}", path.display())))
}

/// runtime-spec features.json: what this runtime accepts.
fn features() -> serde_json::Value {
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        // As crate::hooks runs them.
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        // What mounts::MountOptions takes as flags (a tmpfs passes the rest
        // to the kernel as data).
        "mountOptions": ["ro", "rw", "bind", "rbind", "suid", "nosuid", "dev", "nodev",
            "exec", "noexec", "strictatime", "noatime", "nodiratime", "relatime",
            "shared", "rshared", "slave", "rslave", "private", "rprivate",
            "unbindable", "runbindable"],
        "linux": {
            "namespaces": ["mount", "pid", "ipc", "uts", "network", "user", "cgroup"],
            "capabilities": slipway_common::container::caps::NAMES
                .iter()
                .map(|n| format!("CAP_{n}"))
                .collect::<Vec<_>>(),
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                    "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW",
                    "SCMP_ACT_LOG"],
                "operators": ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ",
                    "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"]
            },
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false}
        }
    })
}
