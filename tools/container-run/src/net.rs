//! The container's network: loopback in a new namespace, and for
//! `--network private` outbound access and published ports through
//! slirp4netns (user-mode networking, as rootless podman uses).

use crate::config::Publish;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// Brings up `lo` in the current network namespace.
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: socket with integer arguments.
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if s < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor we just opened.
    let s = unsafe { OwnedFd::from_raw_fd(s) };
    // SAFETY: ifreq is plain data; zeroed is valid.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in b"lo".iter().enumerate() {
        ifr.ifr_name[i] = *b as libc::c_char;
    }
    // SAFETY: valid socket and ifreq.
    if unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the flags member is the one SIOCGIFFLAGS filled in.
    unsafe { ifr.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short };
    // SAFETY: valid socket and ifreq.
    if unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Where the API sockets of slirp4netns go: /run/slipway as root; for a
/// rootless user $XDG_RUNTIME_DIR/slipway, or /tmp/slipway-UID where no
/// session made one, checked to be the user's alone.
fn runtime_dir(rootless: bool) -> io::Result<PathBuf> {
    if !rootless {
        let run = PathBuf::from("/run/slipway");
        std::fs::create_dir_all(&run)?;
        return Ok(run);
    }
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(d) if d.is_absolute() && d.is_dir() => d.join("slipway"),
        _ => std::env::temp_dir().join(format!("slipway-{}", slipway_common::userns::host_uid())),
    };
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let m = std::fs::symlink_metadata(&dir)?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if !m.is_dir() || m.uid() != me || m.mode() & 0o077 != 0 {
        return Err(io::Error::other(format!(
            "{} is not a directory of this user's alone",
            dir.display()
        )));
    }
    Ok(dir)
}

/// A running slirp4netns serving one container.
pub struct Slirp {
    child: Child,
    api: PathBuf,
}

impl Slirp {
    /// Starts slirp4netns for the network namespace of `pid` and waits
    /// until its tap device is configured; then publishes `ports`.
    pub fn start(pid: i32, id: &str, ports: &[Publish], rootless: bool) -> io::Result<Slirp> {
        // A socket path must fit in 108 bytes: not below the store.
        let run = runtime_dir(rootless)?;
        let api = run.join(format!("slirp-{}.sock", &id[..12.min(id.len())]));
        let _ = std::fs::remove_file(&api);
        let mut fds = [0; 2];
        // SAFETY: pipe2 into a two-element array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: descriptors we just created.
        let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let wr_raw = wr.as_raw_fd();
        let mut cmd = Command::new("slirp4netns");
        cmd.args(["--configure", "--mtu=65520", "--disable-host-loopback"])
            .arg(format!("--ready-fd={}", 3));
        // The API serves only the publishing below.
        if !ports.is_empty() {
            cmd.arg(format!("--api-socket={}", api.display()));
        }
        cmd.arg(pid.to_string())
            .arg("tap0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // It must not outlive us (a kill -9 of container-run, or of the
        // monitor of a detached container), nor keep the signal mask we
        // block while we forward signals: it would ignore SIGTERM.
        // SAFETY: dup2, sigprocmask, prctl, getppid and raise are
        // async-signal-safe; nothing is allocated between fork and exec.
        let parent = std::process::id() as libc::pid_t;
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(wr_raw, 3) < 0 {
                    return Err(io::Error::last_os_error());
                }
                let mut none: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut none);
                libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if libc::getppid() != parent {
                    libc::raise(libc::SIGKILL);
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        drop(wr);
        let mut ready = [0u8; 1];
        let mut f = std::fs::File::from(rd);
        let n = f.read(&mut ready).unwrap_or(0);
        if n != 1 || ready[0] != b'1' {
            let _ = child.kill();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            let _ = child.wait();
            return Err(io::Error::other(format!(
                "slirp4netns did not start: {}",
                err.trim().replace('\n', "; ")
            )));
        }
        let s = Slirp { child, api };
        for p in ports {
            if let Err(e) = s.publish(p) {
                s.stop();
                return Err(e);
            }
        }
        // Its path goes now, not when the container stops: a kill -9 of
        // container-run would leave it behind.
        let _ = std::fs::remove_file(&s.api);
        Ok(s)
    }

    fn publish(&self, p: &Publish) -> io::Result<()> {
        let mut sock = UnixStream::connect(&self.api)?;
        let req = serde_json::json!({
            "execute": "add_hostfwd",
            "arguments": {
                "proto": p.proto,
                "host_addr": p.host_ip,
                "host_port": p.host_port,
                "guest_port": p.container_port,
            }
        });
        sock.write_all(req.to_string().as_bytes())?;
        sock.shutdown(std::net::Shutdown::Write)?;
        let mut line = String::new();
        BufReader::new(sock).read_line(&mut line)?;
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if let Some(err) = v.get("error") {
            let msg = err
                .get("desc")
                .and_then(|d| d.as_str())
                .unwrap_or("refused");
            return Err(io::Error::other(format!(
                "publish {}:{}->{}/{}: {msg}",
                p.host_ip, p.host_port, p.container_port, p.proto
            )));
        }
        Ok(())
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.api);
    }
}
