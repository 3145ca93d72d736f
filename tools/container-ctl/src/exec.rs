//! exec: another process in a running container, made as its first one
//! was. We join its PID namespace for our children and fork; the child
//! waits until we have put it in the container's cgroup, joins the other
//! namespaces, becomes the user with the container's capabilities and
//! seccomp filter, and execs. We stay outside the cgroup (a stop does not
//! take us with it) and pass on signals until the process exits.

use crate::Error;
use slipway_common::container::caps::CapSet;
use slipway_common::container::exec::{fork_joining, Namespaces, StartError};
use slipway_common::container::process;
use slipway_common::container::sealed;
use slipway_common::container::state::{Containers, Status};
use slipway_common::container::tty;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// Keep stdin open for the command (default: /dev/null).
    #[arg(short, long)]
    pub interactive: bool,
    /// Give the command a terminal (a pty of the container's own devpts);
    /// ours goes to raw mode while it runs, as docker exec -t.
    #[arg(short, long)]
    pub tty: bool,
    /// Start the command and return at once; its output is discarded, as
    /// docker exec -d.
    #[arg(short, long, conflicts_with_all = ["tty", "interactive"])]
    pub detach: bool,
    /// Set an environment variable (KEY=VALUE, or KEY to pass ours on).
    #[arg(short = 'e', long = "env", value_name = "KEY[=VALUE]")]
    pub env: Vec<String>,
    /// The working directory inside the container (default: the
    /// container's).
    #[arg(short = 'w', long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// The user: NAME|UID[:GROUP|GID], names from the container's
    /// /etc/passwd and /etc/group (default: the container's user).
    #[arg(short = 'u', long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// The command and its arguments.
    #[arg(
        value_name = "COMMAND",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

/// Docker's code for a process that could not be set up to run.
const CANNOT_RUN: u8 = 126;

/// What the child needs, decided before the fork.
struct Plan {
    argv: Vec<String>,
    env: Vec<String>,
    cwd: String,
    user: String,
    caps: CapSet,
    seccomp: bool,
    interactive: bool,
    /// The end of the socket a pty's master goes back through (-t).
    tty: Option<OwnedFd>,
    detach: bool,
}

fn start_error(e: StartError) -> Error {
    match e {
        StartError::Os(what, source) => Error::Os {
            what: what.into(),
            source,
        },
        StartError::Cgroup(e) => e.into(),
    }
}

pub fn exec(store: &Path, a: &ExecArgs) -> Result<u8, Error> {
    // Until it execs, the child is a fork of us inside the container:
    // run from a sealed copy, so nothing there can reach our binary
    // through /proc (CVE-2019-5736).
    sealed::reexec_sealed("container-ctl").map_err(|source| Error::Os {
        what: "run from a sealed copy of container-ctl".into(),
        source,
    })?;
    let containers = Containers::open(store)?;
    let s = containers.find(&a.container)?;
    let not_running = || Error::NotRunning(a.container.clone());
    let pid = match s.pid {
        Some(pid) if s.current_status() == Status::Running => pid,
        _ => return Err(not_running()),
    };
    let ns = Namespaces::open(pid)?;
    // The PID may have been reused since we looked: the namespaces must
    // be those of the container's process.
    if !s.alive() {
        return Err(not_running());
    }
    let mut env = s.process.env.clone();
    for e in &a.env {
        process::env_arg(&mut env, e).map_err(Error::Invalid)?;
    }
    process::tidy_env(&mut env);
    if a.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    let (ours, theirs) = if a.tty {
        let (o, t) = tty::socketpair().map_err(|source| Error::Os {
            what: "create a socket for the terminal".into(),
            source,
        })?;
        (Some(o), Some(t))
    } else {
        (None, None)
    };
    let cwd = match a.workdir.clone() {
        Some(w) => w,
        None if s.process.cwd.is_empty() => "/".into(),
        None => s.process.cwd.clone(),
    };
    if !cwd.starts_with('/') {
        return Err(Error::Invalid(format!(
            "the working directory {cwd:?} is invalid: it needs to be an absolute path"
        )));
    }
    let plan = Plan {
        argv: a.command.clone(),
        env,
        cwd,
        user: a.user.clone().unwrap_or_else(|| s.process.user.clone()),
        caps: CapSet(s.process.caps),
        seccomp: s.process.seccomp,
        interactive: a.interactive,
        tty: theirs,
        detach: a.detach,
    };

    let set = process::block_signals(
        &[process::FORWARDED_SIGNALS, &[libc::SIGCHLD, libc::SIGWINCH]].concat(),
    );
    ns.enter_pid_for_children()?;
    let joining = fork_joining(s.cgroup.as_ref(), |go, err| child_main(&ns, &plan, go, err))
        .map_err(start_error)?;
    let child = joining.pid;
    drop(plan);
    // -t: the pty's master, once the child has made it (none if its set-up
    // failed first: the error pipe says why).
    let master = ours.and_then(|o| tty::recv_fd(&o).ok().flatten());
    if let Some((code, text)) = joining.setup_failure() {
        eprintln!("container-ctl: error: {text}");
        return Ok(code);
    }
    if a.detach {
        // Left to run: once we are gone the container's init reaps it.
        return Ok(0);
    }
    if let Some(m) = master {
        return Ok(tty::relay(child, &set, m, a.interactive) as u8);
    }
    Ok(process::forward_until_exit(child, &set))
}

struct Fail {
    code: u8,
    msg: String,
}

fn fail(msg: impl std::fmt::Display) -> Fail {
    Fail {
        code: CANNOT_RUN,
        msg: msg.to_string(),
    }
}

fn last_os(what: &str) -> Fail {
    fail(format!("{what}: {}", std::io::Error::last_os_error()))
}

enum Never {}

/// Runs in the forked child; never returns.
fn child_main(ns: &Namespaces, plan: &Plan, go: OwnedFd, err: OwnedFd) -> ! {
    let f = match setup_and_exec(ns, plan, go) {
        Ok(never) => match never {},
        Err(f) => f,
    };
    let mut msg = vec![f.code];
    msg.extend_from_slice(f.msg.as_bytes());
    let _ = std::fs::File::from(err).write_all(&msg);
    // SAFETY: ends the child without running the parent's destructors.
    unsafe { libc::_exit(f.code as i32) }
}

fn setup_and_exec(ns: &Namespaces, plan: &Plan, go: OwnedFd) -> Result<Never, Fail> {
    let mut byte = [0u8; 1];
    if std::fs::File::from(go).read(&mut byte).unwrap_or(0) != 1 {
        return Err(fail("container-ctl stopped before the process started"));
    }
    if !plan.interactive {
        let null = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map_err(|e| fail(format!("open /dev/null: {e}")))?;
        // -d: nothing of ours stays the command's, output included.
        let fds: &[i32] = if plan.detach { &[0, 1, 2] } else { &[0] };
        for fd in fds {
            // SAFETY: dup2 of valid descriptors.
            if unsafe { libc::dup2(null.as_raw_fd(), *fd) } < 0 {
                return Err(last_os("redirect stdio"));
            }
        }
    }
    ns.enter().map_err(fail)?;
    // Our own session: a terminal's signals reach container-ctl, which
    // forwards them, and not the process twice.
    // SAFETY: setsid has no preconditions.
    unsafe { libc::setsid() };
    // After setns(mnt) our root is the container's: these are its files.
    let account = |p: &str| process::read_account_file(p, process::open_account_file(p));
    let passwd = account("/etc/passwd").map_err(fail)?;
    let group = account("/etc/group").map_err(fail)?;
    let user = process::resolve_user(&plan.user, &passwd, &group).map_err(fail)?;
    // -t: a pty of the container's devpts as our terminal and stdio, its
    // master sent back to container-ctl.
    if let Some(sock) = &plan.tty {
        tty::attach_new_pty(sock, user.uid, user.gid)
            .map_err(|e| fail(format!("a terminal: {e}")))?;
    }
    let mut env = plan.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }
    std::env::set_current_dir(&plan.cwd)
        .map_err(|e| fail(format!("enter the working directory {}: {e}", plan.cwd)))?;

    process::drop_privileges(&user, plan.caps, plan.seccomp).map_err(fail)?;
    let e = process::exec(&plan.argv, &env);
    Err(Fail {
        code: e.code,
        msg: e.message,
    })
}
