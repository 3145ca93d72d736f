//! --init: a small init as PID 1 of the container, as `docker run --init`
//! gives with tini. The kernel gives PID 1 no default signal actions and
//! hands it every orphan; a shell or server not written for that ignores
//! SIGTERM and leaves zombies. This init forwards signals to the command,
//! reaps every child, and exits with the command's status.

use slipway_common::container::process::{block_signals, exit_code, FORWARDED_SIGNALS};

/// Forks: the child returns (to exec the command), the parent stays as
/// the init and never returns.
pub fn fork_init() -> Result<(), std::io::Error> {
    // Blocked before the fork so that none sent in between is lost.
    let set = block_signals(&[FORWARDED_SIGNALS, &[libc::SIGCHLD]].concat());
    // SAFETY: this process is single-threaded.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: an empty set, initialized by sigemptyset.
        unsafe {
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        }
        return Ok(());
    }
    // The init keeps nothing of container-run's: the error pipe must reach
    // EOF when the command execs, and the container must not inherit it.
    // SAFETY: close_range with integer arguments.
    unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    let code = serve(pid, &set);
    // SAFETY: ends the init; the container ends with it.
    unsafe { libc::_exit(code) }
}

fn serve(child: libc::pid_t, set: &libc::sigset_t) -> i32 {
    loop {
        // SAFETY: siginfo is written by the kernel.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: a valid set and out pointer.
        let sig = unsafe { libc::sigwaitinfo(set, &mut info) };
        if sig < 0 {
            continue;
        }
        if sig != libc::SIGCHLD {
            // SAFETY: kill with integer arguments.
            unsafe { libc::kill(child, sig) };
            continue;
        }
        let mut done = None;
        loop {
            let mut status = 0;
            // SAFETY: waitpid for any child, not blocking.
            let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if r <= 0 {
                break;
            }
            if r == child {
                done = Some(exit_code(status));
            }
        }
        if let Some(code) = done {
            return code;
        }
    }
}
