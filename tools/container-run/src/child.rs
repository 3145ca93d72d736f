//! The container's first process, from clone to exec: it waits for the
//! parent to place it in its cgroup, builds the filesystem, becomes the
//! image's user with Docker's capabilities and seccomp filter, and execs.
//! A failure is written to the error pipe as a code byte and one line.

use crate::config::{Network, Plan};
use crate::{init, mounts, net};
use slipway_common::container::exec::Namespaces;
use slipway_common::container::process;
use slipway_common::container::sys::{Linux, SysError, Syscall};
use slipway_common::container::tty;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

struct Fail {
    code: u8,
    msg: String,
}

fn fail(msg: impl std::fmt::Display) -> Fail {
    Fail {
        code: 125,
        msg: msg.to_string(),
    }
}

fn os(what: &str) -> Fail {
    fail(format!("{what}: {}", std::io::Error::last_os_error()))
}

/// Where the container's stdout and stderr go: ours, or (detached) the
/// monitor's log pipes.
pub struct Stdio {
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    /// With -t: where to send the pty's master.
    tty: Option<OwnedFd>,
}

impl Stdio {
    pub fn inherit() -> Stdio {
        Stdio {
            out: None,
            err: None,
            tty: None,
        }
    }

    /// A pty, its master sent over `sock`.
    pub fn tty(sock: OwnedFd) -> Stdio {
        Stdio {
            out: None,
            err: None,
            tty: Some(sock),
        }
    }

    pub fn to(out: OwnedFd, err: OwnedFd) -> Stdio {
        Stdio {
            out: Some(out),
            err: Some(err),
            tty: None,
        }
    }
}

/// Runs in the cloned child; never returns.
pub fn main(
    plan: &Plan,
    go: OwnedFd,
    err: OwnedFd,
    stdio: Stdio,
    joined: &Namespaces,
    layers_lock: Option<RawFd>,
) -> ! {
    let mut waited = false;
    let result = setup_and_exec(plan, go, stdio, &err, &mut waited, joined, layers_lock);
    let f = match result {
        Ok(never) => match never {},
        Err(f) => f,
    };
    if waited {
        // `create` has returned and nobody reads the pipe: the failure
        // goes where the container's own output goes.
        eprintln!("container-runtime: error: {}", f.msg);
    } else {
        let mut w = std::fs::File::from(err);
        let mut msg = vec![f.code];
        msg.extend_from_slice(f.msg.as_bytes());
        let _ = w.write_all(&msg);
    }
    // SAFETY: ends this process without running the parent's destructors.
    unsafe { libc::_exit(f.code as i32) }
}

enum Never {}

/// Tells the parent the container is created, then blocks until `start`
/// opens the FIFO for reading, and hands it a byte.
fn wait_for_start(fifo: &OwnedFd, err: &OwnedFd) -> Result<(), Fail> {
    // SAFETY: one byte from a live buffer to a valid descriptor.
    if unsafe { libc::write(err.as_raw_fd(), [CREATED].as_ptr().cast(), 1) } != 1 {
        return Err(os("tell container-runtime the container is created"));
    }
    let path =
        std::ffi::CString::new(format!("/proc/self/fd/{}", fifo.as_raw_fd())).map_err(fail)?;
    // SAFETY: a valid C string; blocks until a reader opens the FIFO.
    let w = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if w < 0 {
        return Err(os("open the exec FIFO"));
    }
    // SAFETY: a descriptor open just returned.
    let w = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(w) };
    // SAFETY: one byte from a live buffer to a valid descriptor.
    if unsafe { libc::write(w.as_raw_fd(), b"0".as_ptr().cast(), 1) } != 1 {
        return Err(os("write the exec FIFO"));
    }
    Ok(())
}

/// The byte that tells the parent the container is set up and waits on
/// its exec FIFO (no failure code is this high).
pub const CREATED: u8 = 0xff;

/// The byte that tells the parent the root is mounted and our copy of
/// the layers' lock closed: it may let its own go.
pub const ROOT_MOUNTED: u8 = 0xfe;

fn setup_and_exec(
    plan: &Plan,
    go: OwnedFd,
    stdio: Stdio,
    err: &OwnedFd,
    waited: &mut bool,
    joined: &Namespaces,
    layers_lock: Option<RawFd>,
) -> Result<Never, Fail> {
    let mut byte = [0u8; 1];
    let mut go = std::fs::File::from(go);
    if go.read(&mut byte).unwrap_or(0) != 1 {
        // The parent went away before the container was ready.
        return Err(fail("container-run stopped before the container started"));
    }
    drop(go);
    // A bundle's namespaces given by path, the mount namespace last: all
    // that follows happens in them.
    joined.enter().map_err(|e| fail(e.to_string()))?;
    let sys = &Linux;
    identity(sys, plan, joined.joins(libc::CLONE_NEWCGROUP)).map_err(fail)?;
    if plan.network != Network::Host {
        net::loopback_up().map_err(|e| fail(format!("bring up loopback: {e}")))?;
    }
    // Opened before the root changes, reopened for writing through
    // /proc/self/fd once everything is set up (as runc's exec.fifo).
    let fifo = match &plan.exec_fifo {
        Some(p) => {
            let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).map_err(fail)?;
            // SAFETY: a valid C string.
            let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
            if fd < 0 {
                return Err(os(&format!("open the exec FIFO {}", p.display())));
            }
            // SAFETY: a descriptor open just returned.
            Some(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
        }
        None => None,
    };
    let root_mounted = || match layers_lock {
        // SAFETY: our copy of the lock's descriptor, closed once; one
        // byte from a live buffer to a valid descriptor.
        Some(fd) => unsafe {
            libc::close(fd);
            if libc::write(err.as_raw_fd(), [ROOT_MOUNTED].as_ptr().cast(), 1) != 1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        },
        None => Ok(()),
    };
    mounts::setup(sys, plan, root_mounted).map_err(fail)?;

    let user = user_of(plan)?;
    let mut env = plan.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }
    std::env::set_current_dir(&plan.cwd)
        .map_err(|e| fail(format!("enter the working directory {}: {e}", plan.cwd)))?;
    redirect(plan, stdio, &user)?;

    process_limits(sys, plan).map_err(fail)?;
    if let Some(fifo) = fifo {
        wait_for_start(&fifo, err)?;
        *waited = true;
    }
    let hooks = &plan.hooks;
    if !hooks.start_container.is_empty() {
        let state = hooks.identity.state("created");
        crate::hooks::run("startContainer", &hooks.start_container, &state).map_err(fail)?;
    }
    match &plan.spec_privileges {
        Some(sp) => process::drop_privileges_as_spec(&user, sp).map_err(fail)?,
        None => {
            process::drop_privileges(&user, plan.caps, plan.seccomp).map_err(fail)?;
        }
    }
    if let Some(mask) = plan.umask {
        sys.umask(mask as libc::mode_t);
    }
    if plan.init {
        // Returns in the child, which execs the command below.
        init::fork_init().map_err(|e| fail(format!("start the init: {e}")))?;
    }
    let e = process::exec(&plan.argv, &env);
    Err(Fail {
        code: e.code,
        msg: e.message,
    })
}

/// The user the command runs as, looked up in the container's own
/// /etc/passwd and /etc/group, with the plan's additional groups.
fn user_of(plan: &Plan) -> Result<process::User, Fail> {
    let account = |p: &str| process::read_account_file(p, process::open_account_file(p));
    let passwd = account("/etc/passwd").map_err(fail)?;
    let group = account("/etc/group").map_err(fail)?;
    let mut user = process::resolve_user(&plan.user, &passwd, &group).map_err(fail)?;
    let named = plan
        .group_add
        .iter()
        .map(|g| process::resolve_group(g, &group))
        .collect::<Result<Vec<u32>, String>>()
        .map_err(fail)?;
    for g in plan.extra_groups.iter().chain(&named) {
        if !user.groups.contains(g) {
            user.groups.push(*g);
        }
    }
    Ok(user)
}

/// Output to where the caller wants it, a terminal made if asked for,
/// stdin from /dev/null unless interactive.
fn redirect(plan: &Plan, stdio: Stdio, user: &process::User) -> Result<(), Fail> {
    for (fd, target) in [(stdio.out, 1), (stdio.err, 2)] {
        if let Some(fd) = fd {
            // SAFETY: dup2 of valid descriptors.
            if unsafe { libc::dup2(fd.as_raw_fd(), target) } < 0 {
                return Err(os("redirect output"));
            }
        }
    }
    if let Some(sock) = &stdio.tty {
        tty::attach_new_pty(sock, user.uid, user.gid)
            .map_err(|e| fail(format!("set up the terminal: {e}")))?;
    } else if !plan.interactive {
        let null =
            std::fs::File::open("/dev/null").map_err(|e| fail(format!("open /dev/null: {e}")))?;
        // SAFETY: dup2 of valid descriptors.
        if unsafe { libc::dup2(null.as_raw_fd(), 0) } < 0 {
            return Err(os("redirect stdin"));
        }
    }
    Ok(())
}

/// oom_score_adj and the rlimits, before the capabilities go: raising
/// a hard limit needs them.
fn process_limits(sys: &dyn Syscall, plan: &Plan) -> Result<(), SysError> {
    if let Some(adj) = plan.oom_score_adj {
        sys.write(Path::new("/proc/self/oom_score_adj"), &adj.to_string())?;
    }
    for (resource, soft, hard) in &plan.rlimits {
        sys.setrlimit(*resource, *soft, *hard)?;
    }
    Ok(())
}

/// Who the process is before its root is made: root of its user
/// namespace (a bundle's, its maps written by the parent), its own
/// session, cgroup namespace, session keyring and hostname, as runc's
/// init sets them.
fn identity(sys: &dyn Syscall, plan: &Plan, cgroupns_joined: bool) -> Result<(), SysError> {
    if plan.userns.is_some() {
        // Until now we are host root, which the namespace does not map.
        sys.setresgid(0)?;
        sys.setgroups(&[])?;
        sys.setresuid(0)?;
    }
    // Our own session: the terminal's signals reach container-run, which
    // forwards them, and not the container twice.
    let _ = sys.setsid();
    if plan.cgroupns && !cgroupns_joined {
        // Now that the parent has placed us in our cgroup, it is the root
        // of the container's cgroup namespace.
        sys.unshare(libc::CLONE_NEWCGROUP)?;
    }
    if plan.new_keyring {
        // Keys are not namespaced: a session keyring of its own keeps the
        // container away from the one it was started from, as runc does.
        sys.join_session_keyring(&format!("_ses.{}", &plan.id[..12.min(plan.id.len())]))?;
    }
    if plan.host_namespaces & libc::CLONE_NEWUTS == 0 {
        sys.sethostname(&plan.hostname)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mounts::tests::plan;
    use slipway_common::container::sys::Recorder;

    #[test]
    fn identity_and_limits_make_the_calls_the_plan_asks_for() {
        let with = |f: &dyn Fn(&mut Plan)| {
            let mut p = plan();
            p.id = "0123456789abcdef".into();
            f(&mut p);
            p
        };
        let cases: Vec<(&str, Plan, bool, Vec<&str>)> = vec![
            (
                "a default container",
                with(&|_| {}),
                false,
                vec!["setsid", "keyctl join _ses.0123456789ab", "sethostname h"],
            ),
            (
                "cgroupns and a user namespace",
                with(&|p| {
                    p.cgroupns = true;
                    p.userns = Some(Default::default());
                    p.new_keyring = false;
                }),
                false,
                vec![
                    "setresgid 0",
                    "setgroups []",
                    "setresuid 0",
                    "setsid",
                    "unshare cgroup",
                    "sethostname h",
                ],
            ),
            (
                "a joined cgroupns, the host's UTS namespace",
                with(&|p| {
                    p.cgroupns = true;
                    p.new_keyring = false;
                    p.host_namespaces = libc::CLONE_NEWUTS;
                }),
                true,
                vec!["setsid"],
            ),
        ];
        for (name, p, joined, want) in cases {
            let sys = Recorder::new();
            identity(&sys, &p, joined).unwrap();
            assert_eq!(sys.calls(), want, "{name}");
        }
        let sys = Recorder::new();
        let p = with(&|p| {
            p.oom_score_adj = Some(-100);
            p.rlimits = vec![(libc::RLIMIT_NOFILE as i32, 1024, 4096)];
        });
        process_limits(&sys, &p).unwrap();
        assert_eq!(
            sys.calls(),
            [
                "write /proc/self/oom_score_adj \"-100\"",
                "setrlimit 7 1024:4096"
            ]
        );
    }
}
