//! container-run's side of a container's life: the cgroup, the clone into
//! new namespaces, the network helper, then either the foreground (signals
//! forwarded, its exit status ours) or, with -d, a monitor process that
//! outlives us, keeps the container's output as a log and records its end.

use crate::child::{self, Stdio};
use crate::config::{Network, Prepared};
use crate::net::Slirp;
use crate::Error;
use slipway_common::container::cgroups::Cgroup;
use slipway_common::container::exec::Namespaces;
use slipway_common::container::logfile::LogWriter;
use slipway_common::container::process::{
    self, block_signals as block, exit_code, FORWARDED_SIGNALS as FORWARDED,
};
use slipway_common::container::state::{process_start, Status, LOG_FILE};
use slipway_common::container::sys::{Linux, Syscall};
use slipway_common::container::tty;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

fn pipe() -> Result<(OwnedFd, OwnedFd), Error> {
    process::pipe().map_err(|source| Error::Os {
        what: "create a pipe".into(),
        source,
    })
}

fn os(what: &str) -> Error {
    os_err(what, std::io::Error::last_os_error())
}

fn os_err(what: &str, source: std::io::Error) -> Error {
    Error::Os {
        what: what.into(),
        source,
    }
}

/// A user namespace's maps, written for its first process (root writes
/// any map it likes; setgroups stays allowed).
fn write_id_maps(pid: libc::pid_t, m: &crate::config::IdMaps) -> Result<(), Error> {
    for (file, map) in [("uid_map", &m.uid_map), ("gid_map", &m.gid_map)] {
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, map).map_err(|e| os_err(&format!("write {path}"), e))?;
    }
    Ok(())
}

/// What starting the container came to.
enum Started {
    Running(libc::pid_t),
    /// Set up, and waiting on its exec FIFO (container-runtime's create).
    Created(libc::pid_t),
    /// Setup failed inside the child: Docker's code and the message.
    Failed(u8, String),
}

/// A container with its cgroup and network helper: torn down once.
struct Container {
    p: Prepared,
    cgroup: Option<Cgroup>,
    slirp: Option<Slirp>,
}

impl Container {
    fn new(mut p: Prepared) -> Result<Container, Error> {
        // Rootless, the host's cgroups are not ours to write (limits were
        // refused before): the container stays in the caller's cgroup.
        if p.plan.rootless {
            return Ok(Container {
                p,
                cgroup: None,
                slirp: None,
            });
        }
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
        let _ = p.containers.save_running(&mut p.state);
        Ok(Container {
            p,
            cgroup: Some(cgroup),
            slirp: None,
        })
    }

    /// Clones the container's first process and lets it go; returns once
    /// it has exec'd the command or failed trying.
    fn start(&mut self, stdio: Stdio) -> Result<Started, Error> {
        let plan = self.p.plan.clone();
        let (go_rd, go_wr) = pipe()?;
        let (err_rd, err_wr) = pipe()?;
        // A bundle's namespaces given by path are joined, not made.
        let joined = Namespaces::open_paths(&plan.join_namespaces)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let flags = clone_flags(&plan, &joined);
        // A PID namespace is joined by the process that forks: ours, for
        // this one clone, and back to our own after it.
        let own_pid_ns = if joined.joins(libc::CLONE_NEWPID) {
            let own = std::fs::File::open("/proc/self/ns/pid")
                .map_err(|e| os_err("open /proc/self/ns/pid", e))?;
            joined
                .enter_pid_for_children()
                .map_err(|e| Error::Invalid(e.to_string()))?;
            Some(own)
        } else {
            None
        };
        // A fork with new namespaces: the child continues here on a copy
        // of our memory. container-run has no other threads at this
        // point, so the child may allocate.
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
        let clone_err = std::io::Error::last_os_error();
        if pid == 0 {
            drop(go_wr);
            drop(err_rd);
            let lock = self.p.layers_lock.as_ref().map(AsRawFd::as_raw_fd);
            child::main(&plan, go_rd, err_wr, stdio, &joined, lock);
        }
        if let Some(own) = own_pid_ns {
            let back = Linux.setns(own.as_raw_fd(), libc::CLONE_NEWPID);
            if let Err(e) = back {
                let e = e.source;
                if pid > 0 {
                    process::kill_and_reap(pid as libc::pid_t);
                }
                return Err(os_err("return to our own PID namespace", e));
            }
        }
        if pid < 0 {
            return Err(os_err("create the container's namespaces", clone_err));
        }
        drop(stdio);
        let pid = pid as libc::pid_t;
        drop(go_rd);
        drop(err_wr);
        let kill_and_reap = || process::kill_and_reap(pid);
        if let Some(m) = &plan.userns {
            if let Err(e) = write_id_maps(pid, m) {
                kill_and_reap();
                return Err(e);
            }
        }
        if let Some(cg) = &self.cgroup {
            if let Err(e) = cg.add(pid) {
                kill_and_reap();
                return Err(e.into());
            }
        }
        if let Some(b) = &plan.bridge {
            let joined = slipway_common::container::network::attach::connect(
                &b.network, &b.request, pid, true,
            );
            if let Err(e) = joined {
                kill_and_reap();
                return Err(Error::Invalid(format!(
                    "connect the container to network {}: {e}",
                    b.network.name
                )));
            }
        }
        if plan.network == Network::Private {
            match Slirp::start(pid, &plan.id, &plan.publish, plan.rootless) {
                Ok(s) => self.slirp = Some(s),
                Err(e) => {
                    kill_and_reap();
                    return Err(Error::Os {
                        what: "start the container's network".into(),
                        source: e,
                    });
                }
            }
        }
        // prestart and createRuntime: its namespaces exist (a hook may set
        // up its network), its process has not gone on.
        let hooks = &plan.hooks;
        if !hooks.prestart.is_empty() || !hooks.create_runtime.is_empty() {
            let s = &self.p.state;
            // "created", as crun gives it and runtime-tools' hooks_stdin
            // checks (runc's "creating" fails that test).
            let state = crate::hooks::state(&s.name, "created", pid, &s.bundle, &s.annotations);
            let ran = crate::hooks::run("prestart", &hooks.prestart, &state)
                .and_then(|()| crate::hooks::run("createRuntime", &hooks.create_runtime, &state));
            if let Err(e) = ran {
                kill_and_reap();
                return Err(Error::Invalid(e));
            }
        }
        let mut go = std::fs::File::from(go_wr);
        if go.write_all(b"g").is_err() {
            kill_and_reap();
            return Err(os("start the container"));
        }
        drop(go);
        // Stop and kill find it by its PID while it is set up.
        {
            let s = &mut self.p.state;
            s.pid = Some(pid);
            s.pid_start = process_start(pid);
            let _ = self.p.containers.save_unsynced(s);
        }
        self.read_setup(pid, err_rd)
    }

    /// What the child says of its setup on the error pipe: the root
    /// mounted (the layers' lock may go), created (waiting for `start`),
    /// a failure, or nothing before exec.
    fn read_setup(&mut self, pid: libc::pid_t, err_rd: OwnedFd) -> Result<Started, Error> {
        let kill_and_reap = || process::kill_and_reap(pid);
        // The error pipe closes on exec; a message means setup failed,
        // and CREATED alone that it waits on its exec FIFO. ROOT_MOUNTED
        // comes first where we hold the layers for it.
        let mut first = [0u8; 1];
        let mut msg = Vec::new();
        let mut got = 0;
        for _ in 0..2 {
            if let Err(sig) = wait_unless_stopped(&err_rd) {
                kill_and_reap();
                return Err(Error::Invalid(format!(
                    "stopped by {} while the container was set up",
                    slipway_common::container::signal::name(sig)
                )));
            }
            // SAFETY: one byte into a live buffer from a valid descriptor.
            got = unsafe { libc::read(err_rd.as_raw_fd(), first.as_mut_ptr().cast(), 1) };
            if got != 1 || first[0] != child::ROOT_MOUNTED {
                break;
            }
            // The overlay is up: gc may look at the layers, whatever the
            // rest of the setup (the image's files, volumes) takes.
            self.p.layers_lock = None;
        }
        let mut err_rd = std::fs::File::from(err_rd);
        if got == 1 {
            if first[0] == child::CREATED {
                self.p.layers_lock = None;
                let s = &mut self.p.state;
                s.pid = Some(pid);
                s.pid_start = process_start(pid);
                s.status = Status::Created;
                let _ = self.p.containers.save_running(s);
                return Ok(Started::Created(pid));
            }
            msg.push(first[0]);
            let _ = err_rd.read_to_end(&mut msg);
        }
        // Exec'd (the overlay is up) or failed: gc may look at the layers.
        self.p.layers_lock = None;
        if let Some((&code, text)) = msg.split_first() {
            // SAFETY: waitpid on our child.
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
            return Ok(Started::Failed(
                code,
                String::from_utf8_lossy(text).into_owned(),
            ));
        }
        let s = &mut self.p.state;
        s.pid = Some(pid);
        s.pid_start = process_start(pid);
        s.status = Status::Running;
        let _ = self.p.containers.save_running(s);
        Ok(Started::Running(pid))
    }

    /// Starts the container's process again after it ended (its restart
    /// policy says so): same root, writable layer and cgroup; its output
    /// into new pipes, returned with its PID.
    fn restart(&mut self) -> Result<(libc::pid_t, OwnedFd, OwnedFd), Error> {
        if let Some(s) = self.slirp.take() {
            s.stop();
        }
        self.leave_networks();
        crate::stubs::remove(&self.p.plan);
        // gc must not take the layers until the root is mounted again.
        self.p.layers_lock = slipway_common::layers::startup_lock(&self.p.store).ok();
        self.p.state.restart_count += 1;
        self.p.state.restarting = false;
        let (out_rd, out_wr) = pipe()?;
        let (err_rd, err_wr) = pipe()?;
        match self.start(Stdio::to(out_wr, err_wr))? {
            Started::Running(pid) | Started::Created(pid) => Ok((pid, out_rd, err_rd)),
            Started::Failed(_, msg) => Err(Error::Invalid(msg)),
        }
    }

    fn finish(mut self, exit: Option<i32>) {
        if let Some(s) = self.slirp.take() {
            s.stop();
        }
        self.leave_networks();
        crate::stubs::remove(&self.p.plan);
        let oom = self.cgroup.as_ref().is_some_and(Cgroup::oom_killed);
        // A bare 137 does not say why; the memory limit is worth a line
        // (in setup, before the command ran, there is no other).
        if oom && exit == Some(137) && !self.p.state.detached {
            let limits = &self.p.plan.limits;
            let spec = limits.spec.as_ref().and_then(|s| s.memory.limit);
            match (limits.memory, spec) {
                (Some(limit), _) => eprintln!(
                    "container-run: the container was killed by its memory limit (--memory {limit} bytes)"
                ),
                (None, Some(limit)) => eprintln!(
                    "container-run: the container was killed by its memory limit (linux.resources.memory.limit {limit} bytes)"
                ),
                (None, None) => eprintln!("container-run: the container was killed by the OOM killer"),
            }
        }
        if let Some(cg) = self.cgroup.take() {
            cg.remove();
        }
        if let Some(w) = self.p.own_work.take() {
            let _ = std::fs::remove_dir_all(w);
        }
        let p = &mut self.p;
        if p.state.auto_remove || exit.is_none() {
            let _ = p.containers.remove(&p.state.id);
            return;
        }
        let _ = std::fs::remove_dir(p.container_dir.join("rootfs"));
        p.state.restarting = false;
        p.state.status = Status::Exited;
        p.state.exit_code = exit;
        p.state.oom_killed = oom;
        p.state.finished = Some(slipway_common::time::format_rfc3339(
            slipway_common::time::now(),
        ));
        let _ = p.containers.save_running(&mut p.state);
    }
}

impl Container {
    /// Off its network (its endpoint, veth and rules; the network's with
    /// the last container), and off any `network connect` put it on: the
    /// store's networks are swept of containers that are gone.
    fn leave_networks(&self) {
        use slipway_common::container::network::attach;
        if let Some(b) = &self.p.plan.bridge {
            attach::disconnect(&b.network, &self.p.state.id);
        }
        attach::sweep_store(&self.p.store);
    }
}

/// container-runtime's create: the container set up and waiting on its
/// exec FIFO (which must exist) for `start`; returns its pid. Nothing
/// waits for it here: `delete` takes down what it leaves.
pub fn create(p: Prepared, stdio: Stdio) -> Result<libc::pid_t, Error> {
    let mut c = Container::new(p)?;
    match c.start(stdio) {
        Ok(Started::Created(pid)) => Ok(pid),
        Ok(Started::Running(pid)) => {
            // Without the FIFO it ran at once: not what create promises.
            process::kill_and_reap(pid);
            c.finish(None);
            Err(Error::Invalid("the container ran before start".into()))
        }
        Ok(Started::Failed(_, msg)) => {
            c.finish(None);
            Err(Error::Invalid(msg))
        }
        Err(e) => {
            c.finish(None);
            Err(e)
        }
    }
}

pub fn run(p: Prepared) -> Result<u8, Error> {
    if p.state.detached {
        return detach(p);
    }
    let set = block(&[FORWARDED, &[libc::SIGCHLD]].concat());
    let with_tty = p.plan.tty;
    let interactive = p.plan.interactive;
    let mut c = Container::new(p)?;
    let (stdio, sock) = if let Some(console) = c.p.console.take() {
        (Stdio::tty(console), None)
    } else if with_tty {
        let (ours, theirs) = match tty::socketpair() {
            Ok(pair) => pair,
            Err(source) => {
                c.finish(None);
                return Err(Error::Os {
                    what: "create a socket for the terminal".into(),
                    source,
                });
            }
        };
        (Stdio::tty(theirs), Some(ours))
    } else {
        (Stdio::inherit(), None)
    };
    let pid = match c.start(stdio) {
        // (Created only comes with an exec FIFO, which only create sets.)
        Ok(Started::Running(pid) | Started::Created(pid)) => pid,
        Ok(Started::Failed(code, msg)) => {
            c.finish(None);
            if crate::oci::is_runtime() {
                return Err(Error::Invalid(slipway_common::cli::one_line(&msg)));
            }
            eprintln!(
                "container-run: error: {}",
                slipway_common::cli::one_line(&msg)
            );
            return Ok(code);
        }
        Err(e) => {
            c.finish(None);
            return Err(e);
        }
    };
    if let Some(f) = c.p.pid_file.clone() {
        if let Err(e) = crate::oci::write_pid_file(&f, pid) {
            process::kill_and_reap(pid);
            c.finish(None);
            return Err(e);
        }
    }
    let master = sock.and_then(|s| tty::recv_fd(&s).ok().flatten());
    let hooks = c.p.plan.hooks.clone();
    let state = |status: &str, pid| {
        let s = &c.p.state;
        crate::hooks::state(&s.name, status, pid, &s.bundle, &s.annotations)
    };
    let (started, stopped) = (state("running", pid), state("stopped", 0));
    // A failed poststart or poststop hook is a warning, as the spec says.
    if let Err(e) = crate::hooks::run("poststart", &hooks.poststart, &started) {
        eprintln!("container-run: warning: {e}");
    }
    // Checked as docker checks any container, in the foreground too.
    let checker = spawn_checker(&c, pid);
    let code = match master {
        Some(m) => tty::relay(pid, &set, m, interactive),
        None => forward_until_exit(pid, &set, c.p.plan.stop_timeout),
    };
    stop_checker(checker);
    c.finish(Some(code));
    if let Err(e) = crate::hooks::run("poststop", &hooks.poststop, &stopped) {
        eprintln!("container-run: warning: {e}");
    }
    Ok(code as u8)
}

/// Forwards our signals to the container until it exits. After a
/// SIGTERM, the container has `stop_timeout` seconds before SIGKILL.
fn forward_until_exit(pid: libc::pid_t, set: &libc::sigset_t, stop_timeout: u32) -> i32 {
    let mut deadline: Option<std::time::Instant> = None;
    loop {
        // SAFETY: siginfo is written by the kernel.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let sig = match deadline {
            // SAFETY: a valid set and out pointer.
            None => unsafe { libc::sigwaitinfo(set, &mut info) },
            Some(d) => {
                let left = d.saturating_duration_since(std::time::Instant::now());
                let ts = libc::timespec {
                    tv_sec: left.as_secs() as libc::time_t,
                    tv_nsec: left.subsec_nanos() as libc::c_long,
                };
                // SAFETY: a valid set, out pointer and timeout.
                let s = unsafe { libc::sigtimedwait(set, &mut info, &ts) };
                if s < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN) {
                    // The container did not stop in time: PID 1 killed
                    // takes the rest of its namespace with it.
                    // SAFETY: kill with integer arguments.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    deadline = None;
                    continue;
                }
                s
            }
        };
        if sig < 0 {
            continue;
        }
        if sig == libc::SIGTERM && deadline.is_none() {
            deadline = Some(
                std::time::Instant::now() + std::time::Duration::from_secs(stop_timeout.into()),
            );
        }
        if sig == libc::SIGCHLD {
            let mut status = 0;
            // SAFETY: waitpid on our child.
            if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
                return exit_code(status);
            }
            continue;
        }
        // SAFETY: kill with integer arguments.
        unsafe { libc::kill(pid, sig) };
    }
}

/// -d: a monitor process, in a session of its own and reparented away
/// from us, runs the container; we return its ID once it has started.
fn detach(p: Prepared) -> Result<u8, Error> {
    let (ready_rd, ready_wr) = pipe()?;
    let id = p.state.id.clone();
    // SAFETY: container-run is single-threaded here; the child only
    // forks again and runs our code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(os("start the monitor"));
    }
    if pid == 0 {
        drop(ready_rd);
        // SAFETY: setsid and fork in a single-threaded child.
        unsafe {
            libc::setsid();
            if libc::fork() != 0 {
                libc::_exit(0);
            }
        }
        monitor(p, ready_wr);
        // SAFETY: ends the monitor without running destructors twice.
        unsafe { libc::_exit(0) }
    }
    drop(ready_wr);
    // SAFETY: waitpid on the intermediate child, which exits at once.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    if let Err(sig) = wait_unless_stopped(&ready_rd) {
        // Told to stop while it is set up: its monitor records the end.
        if let Ok(s) = p.containers.load(&id) {
            if let (true, Some(pid)) = (s.in_setup(), s.pid) {
                // SAFETY: kill with integer arguments.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        return Err(Error::Invalid(format!(
            "stopped by {} while the container was set up",
            slipway_common::container::signal::name(sig)
        )));
    }
    let mut msg = Vec::new();
    let _ = std::fs::File::from(ready_rd).read_to_end(&mut msg);
    match msg.split_first() {
        Some((0, _)) => {
            println!("{id}");
            Ok(0)
        }
        Some((&code, text)) => {
            eprintln!(
                "container-run: error: {}",
                slipway_common::cli::one_line(&String::from_utf8_lossy(text))
            );
            Ok(code)
        }
        None => Err(Error::Invalid(
            "the container's monitor ended before it started".into(),
        )),
    }
}

/// Runs in the monitor: starts the container with its output into log
/// pipes, reports on `ready`, then logs until it exits.
fn monitor(p: Prepared, ready: OwnedFd) {
    let mut ready = std::fs::File::from(ready);
    // Nothing of the terminal we were started from is ours any more.
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..3 {
            // SAFETY: dup2 of valid descriptors.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
    // With -i, its input is a FIFO in its dir that `container-ctl attach`
    // writes to. The monitor holds it open for writing too, so that the
    // container sees no end of input when an attach ends.
    let input = if p.plan.interactive {
        match stdin_fifo(&p.container_dir) {
            Ok(fd) => Some(fd),
            Err(e) => {
                report(&mut ready, 125, &e.to_string());
                return;
            }
        }
    } else {
        None
    };
    if let (Some(fd), false) = (&input, p.plan.tty) {
        // SAFETY: dup2 of valid descriptors; the child inherits stdin.
        unsafe { libc::dup2(fd.as_raw_fd(), 0) };
    }
    // SIGCHLD comes through a signalfd; a stray SIGHUP or SIGINT must not
    // end the monitor and orphan the container's log and state.
    let set = block(&[libc::SIGCHLD, libc::SIGHUP, libc::SIGINT, libc::SIGTERM]);
    let log_path = p.container_dir.join(LOG_FILE);
    let log = match LogWriter::open(&log_path, &p.state.log) {
        Ok(f) => f,
        Err(e) => {
            report(
                &mut ready,
                125,
                &format!("open {}: {e}", log_path.display()),
            );
            return;
        }
    };
    let pipes = (|| -> Result<_, Error> { Ok((pipe()?, pipe()?)) })();
    let ((out_rd, out_wr), (err_rd, err_wr)) = match pipes {
        Ok(p) => p,
        Err(e) => {
            report(&mut ready, 125, &e.to_string());
            return;
        }
    };
    let with_tty = p.plan.tty;
    let mut c = match Container::new(p) {
        Ok(c) => c,
        Err(e) => {
            report(&mut ready, 125, &e.to_string());
            return;
        }
    };
    let mut sock = None;
    let stdio = if with_tty {
        drop((out_wr, err_wr));
        match tty::socketpair() {
            Ok((ours, theirs)) => {
                sock = Some(ours);
                Stdio::tty(theirs)
            }
            Err(e) => {
                c.finish(None);
                report(
                    &mut ready,
                    125,
                    &format!("create a socket for the terminal: {e}"),
                );
                return;
            }
        }
    } else {
        Stdio::to(out_wr, err_wr)
    };
    let pid = match c.start(stdio) {
        // (Created only comes with an exec FIFO, which only create sets.)
        Ok(Started::Running(pid) | Started::Created(pid)) => pid,
        Ok(Started::Failed(code, msg)) => {
            c.finish(None);
            report(&mut ready, code, &msg);
            return;
        }
        Err(e) => {
            c.finish(None);
            report(&mut ready, 125, &e.to_string());
            return;
        }
    };
    let _ = ready.write_all(&[0]);
    drop(ready);
    let mut checker = spawn_checker(&c, pid);
    // With a terminal, all output comes through its master, as stdout.
    let master = sock.and_then(|s| tty::recv_fd(&s).ok().flatten());
    let (mut out_rd, mut err_rd) = match master {
        Some(m) => (m, err_rd),
        None => (out_rd, err_rd),
    };
    let mut log = log;
    let mut pid = pid;
    loop {
        // With a terminal, input goes to its master.
        let relay = match (&input, c.p.plan.tty) {
            (Some(fifo), true) => Some(fifo.as_raw_fd()),
            _ => None,
        };
        let code = log_until_exit(pid, &set, out_rd, err_rd, relay, &mut log);
        stop_checker(checker.take());
        let s = &c.p.state;
        let stopped = c.p.containers.take_stop_request(&s.id);
        if !s.restart.restarts(code, s.restart_count, stopped) {
            c.finish(Some(code));
            return;
        }
        // Docker's back-off: 100 ms, doubled at each restart, at most a
        // minute; ps shows it Restarting meanwhile.
        let wait = 100u64 << s.restart_count.min(10);
        {
            let s = &mut c.p.state;
            s.restarting = true;
            s.exit_code = Some(code);
            s.finished = Some(slipway_common::time::format_rfc3339(
                slipway_common::time::now(),
            ));
            let _ = c.p.containers.save_running(s);
        }
        // The back-off, cut short by a stop.
        let until = std::time::Instant::now() + std::time::Duration::from_millis(wait.min(60_000));
        while std::time::Instant::now() < until && !c.p.containers.stop_requested(&c.p.state.id) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        if c.p.containers.take_stop_request(&c.p.state.id) {
            c.finish(Some(code));
            return;
        }
        match c.restart() {
            Ok((p, out, err)) => {
                (pid, out_rd, err_rd) = (p, out, err);
                checker = spawn_checker(&c, pid);
            }
            Err(e) => {
                let _ = log.write(&log_lines(
                    format!("container-run: restart failed: {e}\n").as_bytes(),
                    "stderr",
                ));
                c.finish(Some(code));
                return;
            }
        }
    }
}

/// The health checker of a container (if it has a check): a child of
/// its monitor (or of the foreground container-run) that dies with it.
fn spawn_checker(c: &Container, pid: libc::pid_t) -> Option<libc::pid_t> {
    let h = c.p.state.healthcheck.clone()?;
    let (store, id) = (c.p.store.clone(), c.p.state.id.clone());
    // SAFETY: the monitor is single-threaded; the child runs the checker
    // and never returns.
    match unsafe { libc::fork() } {
        0 => crate::health::checker(&store, &id, &h, || {
            // SAFETY: kill with signal 0 only asks whether it exists.
            unsafe { libc::kill(pid, 0) == 0 }
        }),
        n if n > 0 => Some(n),
        _ => None,
    }
}

fn stop_checker(checker: Option<libc::pid_t>) {
    if let Some(checker) = checker {
        // SAFETY: kill and waitpid of our own child.
        unsafe {
            libc::kill(checker, libc::SIGKILL);
            libc::waitpid(checker, std::ptr::null_mut(), 0);
        }
    }
}

/// Tells the waiting container-run that the start failed: a code, a line.
fn report(ready: &mut std::fs::File, code: u8, msg: &str) {
    let mut m = vec![code];
    m.extend_from_slice(msg.as_bytes());
    let _ = ready.write_all(&m);
}

/// Copies the container's stdout and stderr into the log as JSON lines
/// until it exits and both pipes are drained.
fn log_until_exit(
    pid: libc::pid_t,
    set: &libc::sigset_t,
    out: OwnedFd,
    err: OwnedFd,
    input: Option<std::os::fd::RawFd>,
    log: &mut LogWriter,
) -> i32 {
    // SAFETY: a valid set; the kernel returns a new descriptor.
    let sfd = unsafe { libc::signalfd(-1, set, libc::SFD_CLOEXEC) };
    let mut streams = [Some((out, "stdout")), Some((err, "stderr"))];
    let mut code = None;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        if code.is_some() && streams.iter().all(Option::is_none) {
            break;
        }
        let mut fds: Vec<libc::pollfd> = vec![libc::pollfd {
            fd: sfd,
            events: libc::POLLIN,
            revents: 0,
        }];
        for (fd, _) in streams.iter().flatten() {
            fds.push(libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // Input for the terminal, while its master (stdout's slot) is open.
        let relay = input.filter(|_| streams[0].is_some());
        if let Some(fd) = relay {
            fds.push(libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // SAFETY: a valid array of pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n < 0 {
            continue;
        }
        if fds[0].revents != 0 {
            let mut info = [0u8; std::mem::size_of::<libc::signalfd_siginfo>()];
            // SAFETY: reading a signalfd into a buffer of its record size.
            unsafe { libc::read(sfd, info.as_mut_ptr().cast(), info.len()) };
            let mut status = 0;
            // SAFETY: waitpid on our child.
            if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
                code = Some(exit_code(status));
            }
        }
        for slot in streams.iter_mut() {
            let Some((fd, name)) = slot.as_ref() else {
                continue;
            };
            let Some(p) = fds.iter().find(|p| p.fd == fd.as_raw_fd()) else {
                continue;
            };
            if p.revents == 0 {
                continue;
            }
            // SAFETY: reading into a buffer of its length.
            let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                *slot = None;
                continue;
            }
            let _ = log.write(&log_lines(&buf[..n as usize], name));
        }
        if let (Some(fifo), Some((master, _))) = (relay, &streams[0]) {
            if fds.last().is_some_and(|p| p.fd == fifo && p.revents != 0) {
                // SAFETY: reading into a buffer of its length.
                let n = unsafe { libc::read(fifo, buf.as_mut_ptr().cast(), buf.len()) };
                if n > 0 {
                    let _ = write_all_fd(master.as_raw_fd(), &buf[..n as usize]);
                }
            }
        }
    }
    code.unwrap_or(125)
}

/// `DIR/stdin`, a FIFO made afresh and opened for reading and writing.
fn stdin_fifo(dir: &std::path::Path) -> Result<OwnedFd, Error> {
    use std::os::unix::ffi::OsStrExt;
    let path = dir.join("stdin");
    let _ = std::fs::remove_file(&path);
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::Invalid(format!("{}: a NUL in the path", path.display())))?;
    // SAFETY: mkfifo and open of a valid C string.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(os_err(
            &format!("make the input FIFO {}", path.display()),
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: as above; the descriptor is checked before it is owned.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(os_err(
            &format!("open {}", path.display()),
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: a descriptor just opened, owned by nothing else.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

fn write_all_fd(fd: std::os::fd::RawFd, mut b: &[u8]) -> std::io::Result<()> {
    while !b.is_empty() {
        // SAFETY: writing from a buffer of its length.
        let n = unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        b = &b[n as usize..];
    }
    Ok(())
}

/// Docker's json-file records: one per line of output (a line cut by a
/// read comes out in two records, as Docker's also may).
fn log_lines(bytes: &[u8], stream: &str) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let base = slipway_common::time::format_rfc3339(now.as_secs() as i64);
    let time = format!("{}.{:09}Z", base.trim_end_matches('Z'), now.subsec_nanos());
    let mut out = Vec::new();
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        let rec = serde_json::json!({
            "log": String::from_utf8_lossy(line),
            "stream": stream,
            "time": time,
        });
        out.extend_from_slice(rec.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

/// The namespaces the clone makes: those the plan neither joins by path
/// nor shares with us.
fn clone_flags(plan: &crate::config::Plan, joined: &Namespaces) -> libc::c_int {
    let mut flags = 0;
    for f in [
        libc::CLONE_NEWNS,
        libc::CLONE_NEWUTS,
        libc::CLONE_NEWIPC,
        libc::CLONE_NEWPID,
    ] {
        if !joined.joins(f) && plan.host_namespaces & f == 0 {
            flags |= f;
        }
    }
    if plan.network != Network::Host && !joined.joins(libc::CLONE_NEWNET) {
        flags |= libc::CLONE_NEWNET;
    }
    // A bundle's user namespace: made with the others, so it owns
    // them; its maps are ours to write before the child goes on.
    if plan.userns.is_some() {
        flags |= libc::CLONE_NEWUSER;
    }
    flags
}

/// Waits until the container's setup says something on `fd` (or closes
/// it by exec'ing), or until we are told to stop: a setup that hangs (on
/// a volume's dead NFS server, a hook) is given up on SIGINT, SIGTERM,
/// SIGHUP or SIGQUIT, which we otherwise keep blocked to forward them
/// once the command runs. The error is the signal.
fn wait_unless_stopped(fd: &OwnedFd) -> Result<(), libc::c_int> {
    const STOPPING: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];
    // SAFETY: sigset_t initialized by sigemptyset; signalfd on it.
    let sfd = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        let mut blocked: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_BLOCK, std::ptr::null(), &mut blocked);
        for s in STOPPING {
            // Only what we keep blocked: the rest act on us by themselves.
            if libc::sigismember(&blocked, s) == 1 {
                libc::sigaddset(&mut set, s);
            }
        }
        libc::signalfd(-1, &set, libc::SFD_CLOEXEC)
    };
    if sfd < 0 {
        // Not watched, but still waited for.
        return Ok(());
    }
    // SAFETY: a descriptor signalfd just returned.
    let sfd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(sfd) };
    let mut fds = [
        libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: sfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    loop {
        // SAFETY: two valid pollfd entries.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Ok(());
        }
        // Set up (or failed) first: a signal that came with it is left
        // pending, for the command.
        if fds[0].revents != 0 {
            return Ok(());
        }
        if fds[1].revents & libc::POLLIN != 0 {
            // SAFETY: reads one siginfo into a buffer of its size.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            let size = std::mem::size_of::<libc::signalfd_siginfo>();
            // SAFETY: a valid buffer of `size` bytes.
            let got = unsafe {
                libc::read(
                    sfd.as_raw_fd(),
                    (&mut info as *mut libc::signalfd_siginfo).cast(),
                    size,
                )
            };
            return Err(if got == size as isize {
                info.ssi_signo as i32
            } else {
                libc::SIGTERM
            });
        }
    }
}
