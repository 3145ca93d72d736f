//! container-run's side of a container's life: the cgroup, the clone into
//! new namespaces, the network helper, signals forwarded while it runs,
//! its exit status, and the cleanup after.

use crate::child;
use crate::config::{Network, Prepared};
use crate::net::Slirp;
use crate::Error;
use slipway_common::container::cgroups::Cgroup;
use slipway_common::container::state::{process_start, Status};
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};

/// The signals a user sends to container-run that are meant for the
/// container; SIGCHLD tells us it has exited.
const FORWARDED: &[libc::c_int] = &[
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGCONT,
    libc::SIGALRM,
];

fn os(what: &str) -> Error {
    Error::Os {
        what: what.into(),
        source: std::io::Error::last_os_error(),
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), Error> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 into a two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(os("create a pipe"));
    }
    // SAFETY: descriptors we just created.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn signal_set() -> libc::sigset_t {
    // SAFETY: sigset_t initialized by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in FORWARDED {
            libc::sigaddset(&mut set, *s);
        }
        libc::sigaddset(&mut set, libc::SIGCHLD);
        set
    }
}

/// The status a waitpid status means to a shell: the code, or 128+signal.
fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        125
    }
}

/// Everything to undo when the container is gone.
struct Cleanup<'a> {
    p: &'a mut Prepared,
    cgroup: Option<Cgroup>,
    slirp: Option<Slirp>,
}

impl Cleanup<'_> {
    fn finish(mut self, exit: Option<i32>) {
        if let Some(s) = self.slirp.take() {
            s.stop();
        }
        let oom = self.cgroup.as_ref().is_some_and(Cgroup::oom_killed);
        if let Some(cg) = self.cgroup.take() {
            cg.remove();
        }
        if let Some(w) = self.p.own_work.take() {
            let _ = std::fs::remove_dir_all(w);
        }
        let p = &mut *self.p;
        if p.state.auto_remove {
            let _ = p.containers.remove(&p.state.id);
            return;
        }
        let _ = std::fs::remove_dir(p.container_dir.join("rootfs"));
        p.state.status = Status::Exited;
        p.state.exit_code = exit;
        p.state.oom_killed = oom;
        p.state.finished = Some(slipway_common::time::format_rfc3339(
            slipway_common::time::now(),
        ));
        let _ = p.containers.save(&p.state);
    }
}

pub fn run(mut p: Prepared) -> Result<u8, Error> {
    let cgroup = match Cgroup::create(&p.plan.id, &p.plan.limits) {
        Ok(c) => c,
        Err(e) => {
            let _ = p.containers.remove(&p.state.id);
            if let Some(w) = &p.own_work {
                let _ = std::fs::remove_dir_all(w);
            }
            return Err(e.into());
        }
    };
    p.state.cgroup = Some(cgroup.clone());
    let _ = p.containers.save(&p.state);
    let mut cleanup = Cleanup {
        p: &mut p,
        cgroup: Some(cgroup),
        slirp: None,
    };
    match start_and_wait(&mut cleanup) {
        Ok((code, exit)) => {
            cleanup.finish(exit);
            Ok(code)
        }
        Err(e) => {
            cleanup.finish(None);
            Err(e)
        }
    }
}

/// Returns our exit code and the container's own status, if it ran.
fn start_and_wait(c: &mut Cleanup<'_>) -> Result<(u8, Option<i32>), Error> {
    let plan = c.p.plan.clone();
    let set = signal_set();
    // Blocked before the clone so none is lost; the child unblocks them.
    // SAFETY: a valid set; the old mask is not needed.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    let (go_rd, go_wr) = pipe()?;
    let (err_rd, err_wr) = pipe()?;
    let mut flags =
        libc::CLONE_NEWNS | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC | libc::CLONE_NEWPID;
    if plan.network != Network::Host {
        flags |= libc::CLONE_NEWNET;
    }
    // A fork with new namespaces: the child continues here on a copy of
    // our memory. container-run has no other threads at this point, so the
    // child may allocate.
    // SAFETY: clone without CLONE_VM behaves as fork.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid < 0 {
        return Err(os("create the container's namespaces"));
    }
    if pid == 0 {
        drop(go_wr);
        drop(err_rd);
        child::main(&plan, go_rd, err_wr);
    }
    let pid = pid as libc::pid_t;
    drop(go_rd);
    drop(err_wr);
    let kill_and_reap = || {
        // SAFETY: kill and waitpid with integer arguments.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
    };
    if let Some(cg) = &c.cgroup {
        if let Err(e) = cg.add(pid) {
            kill_and_reap();
            return Err(e.into());
        }
    }
    if plan.network == Network::Private {
        match Slirp::start(pid, &plan.id, &plan.publish) {
            Ok(s) => c.slirp = Some(s),
            Err(e) => {
                kill_and_reap();
                return Err(Error::Os {
                    what: "start the container's network".into(),
                    source: e,
                });
            }
        }
    }
    let mut go = std::fs::File::from(go_wr);
    if go.write_all(b"g").is_err() {
        kill_and_reap();
        return Err(os("start the container"));
    }
    drop(go);
    c.p.state.pid = Some(pid);
    c.p.state.pid_start = process_start(pid);
    c.p.state.status = Status::Running;
    let _ = c.p.containers.save(&c.p.state);

    // The error pipe closes on exec; a message means setup failed.
    let mut msg = Vec::new();
    let _ = std::fs::File::from(err_rd).read_to_end(&mut msg);
    let mut status = 0;
    if let Some((&code, text)) = msg.split_first() {
        // SAFETY: waitpid on our child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        eprintln!(
            "container-run: error: {}",
            slipway_common::cli::one_line(&String::from_utf8_lossy(text))
        );
        return Ok((code, None));
    }
    loop {
        // SAFETY: siginfo is written by the kernel.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: a valid set and out pointer.
        let sig = unsafe { libc::sigwaitinfo(&set, &mut info) };
        if sig < 0 {
            continue;
        }
        if sig == libc::SIGCHLD {
            // SAFETY: waitpid on our child.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r == pid {
                let code = exit_code(status);
                return Ok((code as u8, Some(code)));
            }
            continue;
        }
        // SAFETY: kill with integer arguments.
        unsafe { libc::kill(pid, sig) };
    }
}
