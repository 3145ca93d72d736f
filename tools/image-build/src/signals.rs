//! SIGINT, SIGTERM and SIGHUP stop a build cleanly: the signal is passed
//! to the tool running now (container-run stops its container and removes
//! it), no further step starts, and the build's cleanup runs (mounts
//! unmounted, build-private tags removed, temp dir deleted), so an
//! interrupted build leaves the store as it found it.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// The signal that interrupted the build, or 0.
static CAUGHT: AtomicI32 = AtomicI32::new(0);

/// Set once the cleanup runs: its own calls must not be stopped.
static CLEANING: AtomicBool = AtomicBool::new(false);

/// Set when a failed stage stops the others: what starts after is stopped
/// too.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// The children running now (a pipe runs two, and stages run at once),
/// 0 for a free slot.
static CHILDREN: [AtomicI32; 32] = [const { AtomicI32::new(0) }; 32];

/// Whatever stopped the build, the tool running gets SIGTERM: for
/// container-run that means stop the container (SIGKILL after its
/// --stop-timeout), which a plain SIGINT to a PID 1 would not.
extern "C" fn on_signal(sig: libc::c_int) {
    CAUGHT.store(sig, Ordering::SeqCst);
    if CLEANING.load(Ordering::SeqCst) {
        return;
    }
    for c in &CHILDREN {
        let pid = c.load(Ordering::SeqCst);
        if pid > 0 {
            // SAFETY: kill is async-signal-safe.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
    }
}

/// Stops the tools running now (a stage failed: the others stop too),
/// and any that start before the cleanup.
pub fn stop_children() {
    STOPPING.store(true, Ordering::SeqCst);
    for c in &CHILDREN {
        let pid = c.load(Ordering::SeqCst);
        if pid > 0 {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
    }
}

/// From now on the cleanup runs: signals no longer stop calls.
pub fn cleaning() {
    CLEANING.store(true, Ordering::SeqCst);
}

/// Catches the signals that end a build.
pub fn install() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a handler that only touches atomics and calls kill(2).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Whether the build is being stopped (a signal, or a failed stage).
pub fn stopping() -> bool {
    caught().is_some() || STOPPING.load(Ordering::SeqCst)
}

/// The signal that interrupted the build, if one did.
pub fn caught() -> Option<i32> {
    match CAUGHT.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// A child registered to receive the signal; unregistered on drop.
pub struct Child(usize);

/// Registers a running child. A signal that came before it started (but
/// after the step began) stops it at once, unless the cleanup runs.
pub fn register(pid: u32) -> Option<Child> {
    let pid = pid as i32;
    for (i, c) in CHILDREN.iter().enumerate() {
        if c.compare_exchange(0, pid, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            let stop = caught().is_some() || STOPPING.load(Ordering::SeqCst);
            if stop && !CLEANING.load(Ordering::SeqCst) {
                // SAFETY: signalling our own child.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
            return Some(Child(i));
        }
    }
    None
}

impl Drop for Child {
    fn drop(&mut self) {
        CHILDREN[self.0].store(0, Ordering::SeqCst);
    }
}

/// The name of a signal, for the message.
pub fn name(sig: i32) -> &'static str {
    match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}
