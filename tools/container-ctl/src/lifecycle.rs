//! stop, kill and rm: signals to a container's processes, and waiting
//! until whoever runs it (container-run, or the monitor of a detached
//! container) has recorded its end.

use crate::{each, Error};
use slipway_common::container::signal;
use slipway_common::container::state::{Containers, State, Status};
use slipway_common::userns;
use std::time::{Duration, Instant};

/// How long a dead container may stay recorded as running before we take
/// it that nobody is left to record its end (its monitor was killed).
const RECORD_GRACE: Duration = Duration::from_secs(2);

/// How long a SIGKILLed container may take to be recorded as ended.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// A rootless container's process may run as one of the user's
/// subordinate uids, which only its own user namespace lets us signal.
fn send(pid: i32, sig: libc::c_int) {
    let _ = userns::kill_in_namespace(pid, sig);
}

/// Sends `sig` to the container's first process, if it is still the one
/// recorded (a PID is not trusted alone: it may have been reused).
fn signal_init(s: &State, sig: libc::c_int) -> bool {
    match s.pid {
        Some(pid) if s.alive() => {
            send(pid, sig);
            thaw(s);
            true
        }
        _ => false,
    }
}

/// A paused container takes the signal only once thawed: as docker does,
/// a stop or kill unpauses it after signalling.
fn thaw(s: &State) {
    if let Some(cg) = &s.cgroup {
        if cg.paused() {
            let _ = cg.freeze(false);
        }
    }
}

/// SIGKILL to every process of the container: its cgroup holds them all,
/// those that `exec` added included.
fn kill_all(s: &State) {
    signal_init(s, libc::SIGKILL);
    if let Some(cg) = &s.cgroup {
        cg.signal_all(libc::SIGKILL);
    }
    thaw(s);
}

/// Waits up to KILL_WAIT for the container's process to be gone.
fn wait_dead(s: &State) -> bool {
    let start = Instant::now();
    while s.alive() {
        if start.elapsed() >= KILL_WAIT {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Whether the container's end is recorded, or nobody is left to record
/// it: its state is gone (--rm), says it is no longer running, or its
/// process has been dead for a while (`dead_since` keeps when we saw that).
pub fn ended(containers: &Containers, id: &str, dead_since: &mut Option<Instant>) -> bool {
    let Ok(s) = containers.load(id) else {
        return true;
    };
    if s.status != Status::Running {
        return true;
    }
    if s.alive() {
        *dead_since = None;
        return false;
    }
    dead_since.get_or_insert_with(Instant::now).elapsed() >= RECORD_GRACE
}

/// Waits until [`ended`] or `limit` has passed (None: for ever); true if
/// the container ended.
pub fn wait_ended(containers: &Containers, id: &str, limit: Option<Duration>) -> bool {
    let start = Instant::now();
    let mut dead_since = None;
    loop {
        if ended(containers, id, &mut dead_since) {
            return true;
        }
        if limit.is_some_and(|l| start.elapsed() >= l) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The container's state once its end, if it has come, is recorded: a
/// process that just died is given its runner's record (its exit code)
/// rather than shown as "Exited (255)". If nobody records it in time (the
/// runner was killed), we record it, as docker marks a container whose
/// runner died: exited, with no code.
pub fn settle(containers: &Containers, s: State) -> State {
    if s.status != Status::Running || s.alive() {
        return s;
    }
    wait_ended(containers, &s.id, Some(RECORD_GRACE));
    let mut s = containers.load(&s.id).unwrap_or(s);
    if s.status == Status::Running && !s.alive() {
        s.status = Status::Exited;
        s.finished = Some(slipway_common::time::format_rfc3339(
            slipway_common::time::now(),
        ));
        let _ = containers.save(&s);
    }
    s
}

pub fn stop(
    containers: &Containers,
    names: &[String],
    time: Option<i64>,
    sig: Option<&str>,
) -> Result<(), Error> {
    let given = sig.map(signal::parse).transpose().map_err(Error::Invalid)?;
    each(names, |name| {
        let s = containers.find(name)?;
        if s.in_setup() {
            // Its command has not run: nothing would take a signal.
            kill_all(&s);
            if !wait_dead(&s) {
                return Err(Error::Invalid(format!(
                    "container {name} did not stop after SIGKILL"
                )));
            }
        }
        // Its restart policy does not bring it back, even one its monitor
        // is about to start again.
        if s.status == Status::Running || s.restarting {
            containers.request_stop(&s.id);
        }
        // Between two runs: its monitor gives up the restart at once, and
        // the container is stopped when stop returns.
        if s.restarting {
            let until = Instant::now() + Duration::from_secs(5);
            while Instant::now() < until && containers.load(&s.id).is_ok_and(|s| s.restarting) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // Stopping a stopped container is no error, as in docker.
        if s.current_status() == Status::Running {
            // -s, else the container's stop signal, else docker's SIGTERM.
            let first = match (given, &s.stop_signal) {
                (Some(n), _) => n,
                (None, Some(own)) => signal::parse(own).map_err(Error::Invalid)?,
                (None, None) => libc::SIGTERM,
            };
            signal_init(&s, first);
            let time = time.unwrap_or_else(|| s.stop_timeout.map_or(10, i64::from));
            let limit = u64::try_from(time).ok().map(Duration::from_secs);
            if !wait_ended(containers, &s.id, limit) {
                kill_all(&s);
                if !wait_ended(containers, &s.id, Some(KILL_WAIT)) {
                    return Err(Error::Invalid(format!(
                        "container {name} did not stop after SIGKILL"
                    )));
                }
            }
        }
        println!("{name}");
        Ok(())
    })
}

pub fn kill(containers: &Containers, names: &[String], sig: &str) -> Result<(), Error> {
    let sig = signal::parse(sig).map_err(Error::Invalid)?;
    each(names, |name| {
        let s = containers.find(name)?;
        let live = s.current_status() == Status::Running || s.in_setup();
        if !live {
            return Err(Error::NotRunning(name.to_string()));
        }
        // As docker: a container the user killed is not restarted.
        containers.request_stop(&s.id);
        if !signal_init(&s, sig) {
            containers.take_stop_request(&s.id);
            return Err(Error::NotRunning(name.to_string()));
        }
        if sig == libc::SIGKILL {
            // As docker: a KILL returns once the container is dead.
            kill_all(&s);
            wait_ended(containers, &s.id, Some(KILL_WAIT));
        }
        println!("{name}");
        Ok(())
    })
}

pub fn rm(containers: &Containers, names: &[String], force: bool) -> Result<(), Error> {
    each(names, |name| {
        let s = containers.find(name)?;
        if s.current_status() == Status::Running || s.in_setup() {
            if !force {
                return Err(Error::Invalid(format!(
                    "cannot remove container {name}: container is running: stop the container before removing or force remove (rm -f)"
                )));
            }
            containers.request_stop(&s.id);
            kill_all(&s);
            if !wait_ended(containers, &s.id, Some(KILL_WAIT)) || !wait_dead(&s) {
                return Err(Error::Invalid(format!(
                    "cannot remove container {name}: it did not die after SIGKILL"
                )));
            }
        } else if s.status == Status::Running {
            // Dead, but its monitor may be writing the end: let it finish.
            wait_ended(containers, &s.id, Some(RECORD_GRACE));
        }
        // Normally gone with the container; left when its runner died.
        if let Some(cg) = &s.cgroup {
            cg.remove();
        }
        // So are its networks' veth, rules and bridge.
        slipway_common::container::network::attach::sweep_store(containers.store());
        containers.remove(&s.id)?;
        println!("{name}");
        Ok(())
    })
}

/// Removes every container that is not running (nor being set up), and
/// prints each one's ID, then the space given back, as docker does.
pub fn prune(containers: &Containers) -> Result<(), Error> {
    let mut removed = Vec::new();
    let mut bytes = 0u64;
    for s in containers.list()? {
        let s = settle(containers, s);
        if s.current_status() == Status::Running || s.in_setup() {
            continue;
        }
        bytes += tree_size(&containers.dir(&s.id));
        if let Some(cg) = &s.cgroup {
            cg.remove();
        }
        containers.remove(&s.id)?;
        removed.push(s.id);
    }
    if !removed.is_empty() {
        println!("Deleted Containers:\n{}\n", removed.join("\n"));
    }
    println!(
        "Total reclaimed space: {}",
        slipway_common::time::human_size(bytes)
    );
    Ok(())
}

/// Bytes of the files under `dir`, symlinks not followed.
pub fn tree_size(dir: &std::path::Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.path().symlink_metadata() {
            Ok(m) if m.is_dir() => tree_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
