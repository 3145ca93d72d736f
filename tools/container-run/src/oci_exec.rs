//! container-runtime exec: another process in a created or running
//! container, as runc exec makes it. The process is a runtime-spec
//! Process (`--process FILE`, what engines pass) or the command line's,
//! over the container's own process; it joins the container's namespaces
//! and cgroup, and gets exactly its capability sets, no_new_privs,
//! rlimits and umask, under the container's seccomp profile.

use crate::Error;
use oci_spec::runtime::{Process, Spec};
use slipway_common::container::exec::{fork_joining, Namespaces, StartError};
use slipway_common::container::process::{self, SpecPrivileges, User};
use slipway_common::container::seccomp::spec::Profile;
use slipway_common::container::seccomp::Filter;
use slipway_common::container::state::{State, Status};
use slipway_common::container::sys::{Linux, Syscall};
use slipway_common::container::{sealed, tty};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// The process as runtime-spec JSON (what engines pass); the command
    /// line's options then do not apply.
    #[arg(short, long, value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Start the process and return; it is left to our caller to reap.
    #[arg(short, long)]
    pub detach: bool,
    /// Write the process's PID here.
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// A terminal for the process, its master sent to --console-socket.
    #[arg(short, long)]
    pub tty: bool,
    #[arg(long = "console-socket", value_name = "SOCK")]
    pub console_socket: Option<PathBuf>,
    /// The working directory (default: the container's).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<String>,
    /// Set an environment variable over the container's (KEY=VALUE).
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// UID[:GID] (default: the container's).
    #[arg(short, long, value_name = "UID[:GID]")]
    pub user: Option<String>,
    /// Additional groups.
    #[arg(short = 'g', long = "additional-gids", value_name = "GID")]
    pub additional_gids: Vec<u32>,
    /// Add a capability to the container's sets.
    #[arg(short, long = "cap", value_name = "CAP")]
    pub cap: Vec<String>,
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Pass on this many descriptors after stderr (3 to 3+N-1).
    #[arg(long = "preserve-fds", value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Not supported: there is no AppArmor here.
    #[arg(short, long, value_name = "PROFILE")]
    pub apparmor: Option<String>,
    /// Not supported: there is no SELinux here.
    #[arg(short = 'l', long = "process-label", value_name = "LABEL")]
    pub process_label: Option<String>,
    pub id: String,
    /// The command, without --process.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// What the forked child does, decided before the fork.
struct Plan {
    argv: Vec<String>,
    env: Vec<String>,
    cwd: String,
    user: User,
    privileges: SpecPrivileges,
    rlimits: Vec<crate::bundle::Rlimit>,
    umask: Option<u32>,
    /// Where a terminal's master goes.
    console: Option<OwnedFd>,
}

fn invalid(m: impl Into<String>) -> Error {
    Error::Invalid(m.into())
}

/// Runs the exec; its status is ours without --detach.
pub fn exec(s: &State, a: &ExecArgs) -> Result<u8, Error> {
    process::check_passed_fds(a.preserve_fds).map_err(invalid)?;
    // Until it execs, the child is a fork of us inside the container: run
    // from a sealed copy (CVE-2019-5736). First, before anything that
    // the exec would undo (the console socket's connection).
    sealed::reexec_sealed("container-runtime").map_err(|source| Error::Os {
        what: "run from a sealed copy of container-runtime".into(),
        source,
    })?;
    if a.apparmor.is_some() || a.process_label.is_some() {
        return Err(Error::Unsupported(
            "AppArmor profiles and SELinux labels are not supported".into(),
        ));
    }
    let pid = match (s.pid, s.current_status()) {
        (Some(pid), Status::Running | Status::Created) => pid,
        _ => return Err(invalid(format!("container {} is not running", a.id))),
    };
    let bundle = s
        .bundle
        .as_ref()
        .ok_or_else(|| invalid(format!("container {} has no bundle", a.id)))?;
    let spec = crate::bundle::read_spec(&bundle.join("config.json"))?;
    let process = process_of(&spec, a)?;
    let plan = plan(&spec, &process, a)?;
    let ns = Namespaces::open(pid).map_err(|e| invalid(e.to_string()))?;
    if !s.alive() {
        return Err(invalid(format!("container {} is not running", a.id)));
    }
    // Blocked now, waited for by sigwaitinfo: SIGCHLD says it exited.
    let set = process::block_signals(&[process::FORWARDED_SIGNALS, &[libc::SIGCHLD]].concat());
    ns.enter_pid_for_children()
        .map_err(|e| invalid(e.to_string()))?;
    let child = spawn(&ns, &plan, s)?;
    drop(plan);
    if let Some(f) = &a.pid_file {
        crate::oci::write_pid_file(f, child)?;
    }
    if a.detach {
        // Left to run: our caller (conmon, a shim) reaps it.
        return Ok(0);
    }
    Ok(process::forward_until_exit(child, &set))
}

/// The process: --process's, or the container's with the command line's
/// changes, as runc builds it.
fn process_of(spec: &Spec, a: &ExecArgs) -> Result<Process, Error> {
    if let Some(f) = &a.process {
        let text = std::fs::read(f).map_err(|source| Error::Os {
            what: format!("read {}", f.display()),
            source,
        })?;
        return slipway_common::image::decode(&text)
            .map_err(|e| invalid(format!("{}: {e}", f.display())));
    }
    if a.command.is_empty() {
        return Err(invalid("exec needs a command, or --process"));
    }
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    let mut env = p.env().clone().unwrap_or_default();
    for e in &a.env {
        let key = e.split('=').next().unwrap_or_default();
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    p.set_env(Some(env));
    if let Some(c) = &a.cwd {
        p.set_cwd(c.into());
    }
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        let num = |v: &str| {
            v.parse::<u32>()
                .map_err(|_| invalid(format!("--user {u}: UID[:GID] takes numbers")))
        };
        p.user_mut().set_uid(num(uid)?);
        p.user_mut().set_gid(gid.map(num).transpose()?.unwrap_or(0));
    }
    if !a.additional_gids.is_empty() {
        p.user_mut()
            .set_additional_gids(Some(a.additional_gids.clone()));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if !a.cap.is_empty() {
        let extra: oci_spec::runtime::Capabilities = serde_json::to_value(&a.cap)
            .and_then(serde_json::from_value)
            .map_err(|e| invalid(format!("--cap: {e}")))?;
        // As runc exec --cap: added to the bounding, effective and
        // permitted sets.
        let mut caps = p.capabilities().clone().unwrap_or_default();
        let add = |set: &Option<oci_spec::runtime::Capabilities>| {
            Some(
                set.clone()
                    .unwrap_or_default()
                    .union(&extra)
                    .copied()
                    .collect(),
            )
        };
        caps.set_bounding(add(caps.bounding()));
        caps.set_effective(add(caps.effective()));
        caps.set_permitted(add(caps.permitted()));
        p.set_capabilities(Some(caps));
    }
    Ok(p)
}

/// The child's plan: the process as the kernel will take it.
fn plan(spec: &Spec, p: &Process, a: &ExecArgs) -> Result<Plan, Error> {
    let argv = p.args().clone().unwrap_or_default();
    if argv.is_empty() {
        return Err(invalid("the process has no args"));
    }
    if p.apparmor_profile().is_some() || p.selinux_label().is_some() {
        return Err(Error::Unsupported(
            "AppArmor profiles and SELinux labels are not supported".into(),
        ));
    }
    let console = match (p.terminal() == Some(true), &a.console_socket) {
        (false, _) => None,
        (true, None) => return Err(invalid("a terminal needs --console-socket")),
        (true, Some(path)) => {
            let s = std::os::unix::net::UnixStream::connect(path).map_err(|source| Error::Os {
                what: format!("connect to the console socket {}", path.display()),
                source,
            })?;
            Some(OwnedFd::from(s))
        }
    };
    let caps =
        crate::bundle::cap_sets(p).map_err(|e| invalid(format!("process.capabilities.{e}")))?;
    // The container's seccomp profile holds for every process in it.
    let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => {
            let profile: Profile = serde_json::to_value(s)
                .and_then(serde_json::from_value)
                .map_err(|e| invalid(format!("linux.seccomp: {e}")))?;
            Some(Filter::from_spec(&profile).map_err(|e| invalid(format!("linux.seccomp: {e}")))?)
        }
        None => None,
    };
    let u = p.user();
    Ok(Plan {
        argv,
        env: p.env().clone().unwrap_or_default(),
        cwd: p.cwd().to_string_lossy().into_owned(),
        user: User {
            uid: u.uid(),
            gid: u.gid(),
            groups: u.additional_gids().clone().unwrap_or_default(),
            home: String::new(),
        },
        privileges: SpecPrivileges {
            caps,
            no_new_privs: p.no_new_privileges() == Some(true),
            seccomp,
            pass_fds: a.preserve_fds,
        },
        rlimits: crate::bundle::rlimits(p),
        umask: u.umask(),
        console,
    })
}

/// Forks the process into the container (its PID namespace joined for
/// our children already) and waits until it has exec'd.
fn spawn(ns: &Namespaces, plan: &Plan, s: &State) -> Result<libc::pid_t, Error> {
    let joining = fork_joining(s.cgroup.as_ref(), |go, err| child_main(ns, plan, go, err))
        .map_err(|e| match e {
            StartError::Os(what, source) => Error::Os {
                what: what.into(),
                source,
            },
            StartError::Cgroup(e) => e.into(),
        })?;
    let pid = joining.pid;
    match joining.setup_failure() {
        Some((_, text)) => Err(invalid(text)),
        None => Ok(pid),
    }
}

/// Runs in the forked child; never returns.
fn child_main(ns: &Namespaces, plan: &Plan, go: OwnedFd, err: OwnedFd) -> ! {
    let msg = match setup_and_exec(ns, plan, go) {
        Ok(never) => match never {},
        Err(m) => m,
    };
    let mut out = vec![126u8];
    out.extend_from_slice(msg.as_bytes());
    let _ = std::fs::File::from(err).write_all(&out);
    // SAFETY: ends the child without running the parent's destructors.
    unsafe { libc::_exit(126) }
}

enum Never {}

fn setup_and_exec(ns: &Namespaces, plan: &Plan, go: OwnedFd) -> Result<Never, String> {
    let mut byte = [0u8; 1];
    if std::fs::File::from(go).read(&mut byte).unwrap_or(0) != 1 {
        return Err("container-runtime stopped before the process started".into());
    }
    ns.enter().map_err(|e| e.to_string())?;
    let sys = &Linux;
    let _ = sys.setsid();
    let mut env = plan.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        // As runc: the user's home from the container's /etc/passwd.
        let passwd =
            process::read_account_file("/etc/passwd", process::open_account_file("/etc/passwd"))
                .unwrap_or_default();
        let home = passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() > 5 && f[2] == plan.user.uid.to_string())
            .map(|f| f[5].to_string())
            .unwrap_or_else(|| "/".into());
        env.push(format!("HOME={home}"));
    }
    if let Some(sock) = &plan.console {
        tty::attach_new_pty(sock, plan.user.uid, plan.user.gid)
            .map_err(|e| format!("set up the terminal: {e}"))?;
    }
    std::env::set_current_dir(&plan.cwd)
        .map_err(|e| format!("enter the working directory {}: {e}", plan.cwd))?;
    for (resource, soft, hard) in &plan.rlimits {
        sys.setrlimit(*resource as libc::c_int, *soft, *hard)
            .map_err(|e| e.to_string())?;
    }
    if let Some(mask) = plan.umask {
        sys.umask(mask as libc::mode_t);
    }
    process::drop_privileges_as_spec(&plan.user, &plan.privileges)?;
    let e = process::exec(&plan.argv, &env);
    Err(e.message)
}
