//! Networks for an ordinary user, as rootless podman makes them: one
//! user namespace and network namespace of the user's, held by a pause
//! process, in which the bridges, veths, rules and DNS responders live;
//! pasta or slirp4netns connects it to the host: outbound traffic, and
//! published ports (slirp4netns forwards them from the host to it, then
//! the network's DNAT takes them to the container; with pasta, which takes
//! forwards only when it starts, a proxy of ours relays them, as podman's
//! rootlessport does).
//! container-run joins that user namespace (not a new one) so that its
//! containers' network namespaces can be linked to the bridges.

use super::NetworkError;
use crate::container::state::PortMapping;
use crate::fsutil::IoContext;
use crate::lock::{FileLock, LockKind};
use crate::userns;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Whether networks are the user's (made in the pause's namespaces).
pub fn active() -> bool {
    userns::host_uid() != 0
}

/// Where the pause's records are: the user's runtime dir.
pub fn dir() -> PathBuf {
    super::run_root()
}

fn err(what: &str, msg: impl std::fmt::Display) -> NetworkError {
    NetworkError::Command {
        what: what.to_string(),
        msg: msg.to_string(),
    }
}

/// The pause process, if it runs.
pub fn pause() -> Option<i32> {
    recorded("pause.pid")
}

/// What connects the user's network namespace to the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connector {
    Pasta,
    Slirp4netns,
}

impl Connector {
    fn name(self) -> &'static str {
        match self {
            Connector::Pasta => "pasta",
            Connector::Slirp4netns => "slirp4netns",
        }
    }

    /// The one asked for ($SLIPWAY_ROOTLESS_NETWORK_CMD: pasta or
    /// slirp4netns, as containers.conf's default_rootless_network_cmd),
    /// else pasta where it is installed (podman's default), else
    /// slirp4netns.
    pub fn chosen() -> Result<Connector, NetworkError> {
        match std::env::var("SLIPWAY_ROOTLESS_NETWORK_CMD")
            .ok()
            .as_deref()
        {
            Some("pasta") => Ok(Connector::Pasta),
            Some("slirp4netns") => Ok(Connector::Slirp4netns),
            Some("") | None if crate::fsutil::which("pasta").is_some() => Ok(Connector::Pasta),
            Some("") | None => Ok(Connector::Slirp4netns),
            Some(other) => Err(NetworkError::Invalid(format!(
                "SLIPWAY_ROOTLESS_NETWORK_CMD={other}: pasta or slirp4netns"
            ))),
        }
    }

    /// The one serving the running pause.
    pub fn running() -> Option<Connector> {
        match std::fs::read_to_string(dir().join("connector"))
            .ok()?
            .trim()
        {
            "pasta" => Some(Connector::Pasta),
            "slirp4netns" => Some(Connector::Slirp4netns),
            _ => None,
        }
    }
}

fn api() -> PathBuf {
    dir().join("slirp.sock")
}

fn same_ns(kind: &str, pid: i32) -> bool {
    use std::os::unix::fs::MetadataExt;
    let a = std::fs::metadata(format!("/proc/self/ns/{kind}")).map(|m| m.ino());
    let b = std::fs::metadata(format!("/proc/{pid}/ns/{kind}")).map(|m| m.ino());
    matches!((a, b), (Ok(a), Ok(b)) if a == b)
}

/// A command run in the user's network namespace: as it is when we are
/// in it (or root, whose networks are the host's), else through nsenter.
pub fn command(prog: &str) -> Command {
    match pause().filter(|p| active() && !same_ns("net", *p)) {
        Some(p) => {
            let mut c = Command::new("nsenter");
            c.args(["-t", &p.to_string(), "-U", "-n", "--", prog]);
            c
        }
        None => Command::new(prog),
    }
}

/// The pause process started unless it runs: a fork that moves into a
/// user namespace of the user's and a network namespace, then waits for
/// ever; slirp4netns serves that namespace, with an API socket for the
/// ports published. Must be called before we leave the host's user
/// namespace, single-threaded.
pub fn ensure_pause() -> Result<i32, NetworkError> {
    if let Some(p) = pause() {
        return Ok(p);
    }
    crate::fsutil::create_dir_all(&dir())?;
    let lock_path = dir().join(".pause.lock");
    let _lock = FileLock::acquire(&lock_path, LockKind::Exclusive).ctx("lock", &lock_path)?;
    if let Some(p) = pause() {
        return Ok(p);
    }
    let what = "start the user's network namespace";
    let (rd, wr) = crate::container::process::pipe().map_err(|e| err(what, e))?;
    // SAFETY: single-threaded (the caller's promise); the child enters
    // the namespaces, reports and waits, never returning.
    match unsafe { libc::fork() } {
        -1 => Err(err(what, std::io::Error::last_os_error())),
        0 => {
            drop(rd);
            let mut w = std::fs::File::from(wr);
            let made = userns::enter(&userns::Mapping::for_caller())
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    // SAFETY: unshare with a flag, single-threaded.
                    match unsafe { libc::unshare(libc::CLONE_NEWNET) } {
                        0 => Ok(()),
                        _ => Err(format!("unshare: {}", std::io::Error::last_os_error())),
                    }
                })
                .and_then(|()| {
                    let ok = Command::new("ip")
                        .args(["link", "set", "lo", "up"])
                        .status()
                        .is_ok_and(|s| s.success());
                    ok.then_some(()).ok_or_else(|| "bring lo up".to_string())
                });
            let msg = match made {
                Ok(()) => "ok\n".to_string(),
                Err(e) => format!("{e}\n"),
            };
            let _ = w.write_all(msg.as_bytes());
            drop(w);
            // SAFETY: the pause: a session of its own, no descriptors of
            // the caller's, then waiting for ever.
            unsafe {
                libc::setsid();
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                for fd in 0..3 {
                    libc::dup2(null, fd);
                }
                libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
                libc::prctl(
                    libc::PR_SET_NAME,
                    c"slipway-pause".as_ptr() as libc::c_ulong,
                    0,
                    0,
                    0,
                );
                if msg != "ok\n" {
                    libc::_exit(1);
                }
                // Reaps what it forked (the ID mapper) and what is left
                // to it, then waits.
                loop {
                    if libc::waitpid(-1, std::ptr::null_mut(), 0) < 0 {
                        libc::pause();
                    }
                }
            }
        }
        child => {
            drop(wr);
            let mut msg = String::new();
            let _ = std::fs::File::from(rd).read_to_string(&mut msg);
            if msg != "ok\n" {
                // SAFETY: reaps the child that failed.
                unsafe { libc::waitpid(child, std::ptr::null_mut(), 0) };
                return Err(err(what, msg.trim()));
            }
            let connector = Connector::chosen()?;
            match connector {
                Connector::Pasta => start_pasta(child),
                Connector::Slirp4netns => start_slirp(child),
            }
            .inspect_err(|_| {
                // SAFETY: kill and reap our own child.
                unsafe {
                    libc::kill(child, libc::SIGKILL);
                    libc::waitpid(child, std::ptr::null_mut(), 0);
                }
            })?;
            crate::fsutil::write_atomic_unsynced(
                &dir().join("connector"),
                connector.name().as_bytes(),
            )?;
            let line = super::pid_record(child);
            crate::fsutil::write_atomic_unsynced(&dir().join("pause.pid"), line.as_bytes())?;
            Ok(child)
        }
    }
}

/// slirp4netns for the pause's namespace, outliving us.
fn start_slirp(pid: i32) -> Result<(), NetworkError> {
    let what = "start slirp4netns for the user's networks";
    let _ = std::fs::remove_file(api());
    let (rd, wr) = crate::container::process::pipe().map_err(|e| err(what, e))?;
    let wr_raw = wr.as_raw_fd();
    let mut cmd = Command::new("slirp4netns");
    cmd.args([
        "--configure",
        "--mtu=65520",
        "--disable-host-loopback",
        "--ready-fd=3",
    ])
    .arg(format!("--api-socket={}", api().display()))
    .arg(pid.to_string())
    .arg("tap0")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    // SAFETY: dup2, sigprocmask and setsid are async-signal-safe; nothing
    // is allocated between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(wr_raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| err(what, e))?;
    drop(wr);
    let mut ready = [0u8; 1];
    let n = std::fs::File::from(rd).read(&mut ready).unwrap_or(0);
    if n != 1 || ready[0] != b'1' {
        let _ = child.kill();
        let _ = child.wait();
        return Err(err(what, "it did not get ready"));
    }
    // It is the pause's companion from now on; nobody waits for it here.
    let line = super::pid_record(child.id() as i32);
    std::mem::forget(child);
    crate::fsutil::write_atomic_unsynced(&dir().join("slirp.pid"), line.as_bytes())?;
    Ok(())
}

/// pasta for the pause's namespaces, outliving us: the host's addresses
/// and routes copied onto its interface there, no port forwarded (the
/// proxy does that), the host's loopback not reachable as the gateway
/// (as slirp4netns's --disable-host-loopback).
fn start_pasta(pid: i32) -> Result<(), NetworkError> {
    let what = "start pasta for the user's networks";
    let pid_file = dir().join("pasta.pid.tmp");
    let _ = std::fs::remove_file(&pid_file);
    let out = Command::new("pasta")
        .args([
            "--config-net",
            "--quiet",
            "--no-map-gw",
            "-t",
            "none",
            "-u",
            "none",
            "-T",
            "none",
            "-U",
            "none",
            "-P",
        ])
        .arg(&pid_file)
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| err(what, e))?;
    if !out.status.success() {
        return Err(err(
            what,
            crate::cli::one_line(String::from_utf8_lossy(&out.stderr).trim()),
        ));
    }
    // It daemonized once the namespace was set up; its PID is in the file.
    let child: i32 = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| err(what, "it wrote no PID"))?;
    let _ = std::fs::remove_file(&pid_file);
    let line = super::pid_record(child);
    crate::fsutil::write_atomic_unsynced(&dir().join("pasta.pid"), line.as_bytes())?;
    Ok(())
}

/// The recorded process of `file` (PID and start time), if it runs.
fn recorded(file: &str) -> Option<i32> {
    super::recorded_pid(&dir().join(file))
}

/// Stops the pause and its slirp4netns once nothing else is in its user
/// namespace (no container-run, no container's monitor): the user's
/// networks then leave nothing running.
pub fn stop_if_idle() {
    use std::os::unix::fs::MetadataExt;
    let Some(pause) = pause() else { return };
    let Ok(ns) = std::fs::metadata(format!("/proc/{pause}/ns/user")).map(|m| m.ino()) else {
        return;
    };
    let me = std::process::id() as i32;
    let slirp = recorded("slirp.pid");
    let pasta = recorded("pasta.pid");
    let busy = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                return false;
            };
            // A zombie uses nothing any more.
            let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')')
                        .map(|(_, r)| r.trim_start().starts_with('Z'))
                })
                .unwrap_or(true);
            pid != pause
                && pid != me
                && Some(pid) != slirp
                && Some(pid) != pasta
                && !zombie
                && std::fs::metadata(format!("/proc/{pid}/ns/user")).is_ok_and(|m| m.ino() == ns)
        });
    if busy {
        return;
    }
    for pid in [Some(pause), slirp, pasta].into_iter().flatten() {
        // SAFETY: kill of processes checked by their start times.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    for f in [
        "pause.pid",
        "slirp.pid",
        "slirp.sock",
        "pasta.pid",
        "connector",
    ] {
        let _ = std::fs::remove_file(dir().join(f));
    }
}

/// Joins the pause's user and network namespaces: from then on we are
/// root of the user's namespace, in the user's network namespace.
pub fn join(pid: i32) -> Result<(), NetworkError> {
    for (kind, flag) in [("user", libc::CLONE_NEWUSER), ("net", libc::CLONE_NEWNET)] {
        let p = format!("/proc/{pid}/ns/{kind}");
        let f = std::fs::File::open(&p).map_err(|e| err(&format!("open {p}"), e))?;
        // SAFETY: setns on a namespace file we opened; single-threaded.
        if unsafe { libc::setns(f.as_raw_fd(), flag) } != 0 {
            return Err(err(&format!("join {p}"), std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

fn slirp_call(req: serde_json::Value) -> Result<serde_json::Value, NetworkError> {
    let what = "ask slirp4netns";
    let mut sock = UnixStream::connect(api()).map_err(|e| err(what, e))?;
    sock.write_all(req.to_string().as_bytes())
        .map_err(|e| err(what, e))?;
    sock.shutdown(std::net::Shutdown::Write)
        .map_err(|e| err(what, e))?;
    let mut line = String::new();
    BufReader::new(sock)
        .read_line(&mut line)
        .map_err(|e| err(what, e))?;
    let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
    if let Some(e) = v.get("error") {
        let desc = e.get("desc").and_then(|d| d.as_str()).unwrap_or("refused");
        return Err(err(what, desc));
    }
    Ok(v)
}

/// Publishes the endpoint's ports on the host, or stops: with pasta
/// through the proxy container-run bound them in (to the container's
/// address); with slirp4netns forwarded to the same port in the user's
/// namespace, where the network's DNAT takes them on.
pub fn forward(e: &super::endpoints::Endpoint, add: bool) -> Result<(), NetworkError> {
    if e.ports.is_empty() {
        return Ok(());
    }
    if Connector::running() == Some(Connector::Pasta) {
        if !add {
            super::portproxy::stop(&e.ports);
            return Ok(());
        }
        if !super::portproxy::started() {
            return Err(NetworkError::Invalid(
                "ports are published by container-run when the container starts".into(),
            ));
        }
        return super::portproxy::relay(&e.ports, e.ip);
    }
    slirp_forward(&e.ports, add)
}

fn slirp_forward(ports: &[PortMapping], add: bool) -> Result<(), NetworkError> {
    for p in ports {
        if add {
            slirp_call(serde_json::json!({
                "execute": "add_hostfwd",
                "arguments": {
                    "proto": p.proto,
                    "host_addr": p.host_ip,
                    "host_port": p.host_port,
                    "guest_port": p.host_port,
                }
            }))?;
        } else {
            let list = slirp_call(serde_json::json!({"execute": "list_hostfwd"}))?;
            let entries = list["return"]["entries"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for e in entries {
                if e["host_port"].as_u64() == Some(p.host_port.into())
                    && e["proto"].as_str() == Some(p.proto.as_str())
                {
                    let _ = slirp_call(serde_json::json!({
                        "execute": "remove_hostfwd",
                        "arguments": {"id": e["id"]}
                    }));
                }
            }
        }
    }
    Ok(())
}
