//! Published ports of a rootless container when pasta connects the user's
//! network namespace: pasta takes its forwards only when it starts, so a
//! port published later goes through a proxy of ours, as podman's
//! rootlessport does. The proxy's sockets are bound in the host's network
//! namespace (it is forked before container-run joins the user's), then
//! it joins the user's namespaces and relays each connection (or UDP
//! peer) to the container's address there.
//!
//! container-run talks to it over a socket pair, one JSON line each way:
//! `bind` (ports to bind, 0 for a free one; the ports bound come back),
//! then `relay` (the container's address): the proxy then detaches and
//! serves until the container leaves the network and it is killed.

use super::NetworkError;
use crate::container::state::PortMapping;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a UDP peer's session lasts without a packet either way.
const UDP_IDLE: Duration = Duration::from_secs(60);

fn err(what: &str, msg: impl std::fmt::Display) -> NetworkError {
    NetworkError::Command {
        what: what.to_string(),
        msg: msg.to_string(),
    }
}

/// The helper forked for this container-run, and our end of its socket.
static HELPER: Mutex<Option<(UnixStream, i32)>> = Mutex::new(None);

/// Forks the helper while we are still in the host's namespaces; `pause`
/// is the process whose namespaces it joins to relay. The caller is
/// single-threaded.
pub fn start(pause: i32) -> Result<(), NetworkError> {
    let what = "start the port proxy";
    let (ours, theirs) = UnixStream::pair().map_err(|e| err(what, e))?;
    // SAFETY: the caller is single-threaded; the child only serves the
    // socket and exits.
    match unsafe { libc::fork() } {
        -1 => Err(err(what, std::io::Error::last_os_error())),
        0 => {
            drop(ours);
            let code = match helper(theirs, pause) {
                Ok(()) => 0,
                Err(_) => 1,
            };
            // SAFETY: the helper's end.
            unsafe { libc::_exit(code) }
        }
        pid => {
            drop(theirs);
            *HELPER.lock().unwrap_or_else(|e| e.into_inner()) = Some((ours, pid));
            Ok(())
        }
    }
}

/// Whether this container-run has a helper (pasta serves the user's
/// networks and the container publishes ports).
pub fn started() -> bool {
    HELPER.lock().unwrap_or_else(|e| e.into_inner()).is_some()
}

fn ask(req: serde_json::Value) -> Result<serde_json::Value, NetworkError> {
    let what = "ask the port proxy";
    let mut guard = HELPER.lock().unwrap_or_else(|e| e.into_inner());
    let Some((sock, _)) = guard.as_mut() else {
        return Err(err(what, "it was not started"));
    };
    let mut line = req.to_string();
    line.push('\n');
    sock.write_all(line.as_bytes()).map_err(|e| err(what, e))?;
    let mut reply = String::new();
    BufReader::new(&*sock)
        .read_line(&mut reply)
        .map_err(|e| err(what, e))?;
    let v: serde_json::Value = serde_json::from_str(&reply).map_err(|_| err(what, "it stopped"))?;
    match v.get("error").and_then(|e| e.as_str()) {
        Some(e) => Err(err(what, e)),
        None => Ok(v),
    }
}

/// Binds each port on the host (a host port of 0 takes a free one, which
/// is written back): a port the host has taken fails here, before the
/// container starts.
pub fn bind(ports: &mut [PortMapping]) -> Result<(), NetworkError> {
    let req: Vec<serde_json::Value> = ports
        .iter()
        .map(|p| serde_json::json!([p.host_ip, p.host_port, p.proto]))
        .collect();
    let v = ask(serde_json::json!({ "bind": req }))?;
    let got = v["ports"].as_array().cloned().unwrap_or_default();
    for (p, g) in ports.iter_mut().zip(got) {
        if let Some(n) = g.as_u64().and_then(|n| u16::try_from(n).ok()) {
            p.host_port = n;
        }
    }
    Ok(())
}

fn pid_file(p: &PortMapping) -> std::path::PathBuf {
    super::rootless::dir()
        .join("ports")
        .join(format!("{}-{}-{}", p.proto, p.host_ip, p.host_port))
}

/// Starts relaying the bound ports to `target` (the container's address
/// in the user's network namespace); the proxy outlives us.
pub fn relay(ports: &[PortMapping], target: Ipv4Addr) -> Result<(), NetworkError> {
    let map: Vec<serde_json::Value> = ports
        .iter()
        .map(|p| serde_json::json!([p.host_port, p.proto, p.container_port]))
        .collect();
    let v = ask(serde_json::json!({"relay": target.to_string(), "map": map}))?;
    let pid = v["pid"].as_i64().unwrap_or(0) as i32;
    let line = super::pid_record(pid);
    crate::fsutil::create_dir_all(&super::rootless::dir().join("ports"))?;
    for p in ports {
        crate::fsutil::write_atomic_unsynced(&pid_file(p), line.as_bytes())?;
    }
    if let Some((_, helper)) = HELPER.lock().unwrap_or_else(|e| e.into_inner()).take() {
        // SAFETY: reaps our own child, which exits once the proxy runs.
        unsafe { libc::waitpid(helper, std::ptr::null_mut(), 0) };
    }
    Ok(())
}

/// Stops the proxies of these ports.
pub fn stop(ports: &[PortMapping]) {
    for p in ports {
        let f = pid_file(p);
        if let Some(pid) = super::recorded_pid(&f) {
            // SAFETY: a kill of the process checked by its start time.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = std::fs::remove_file(f);
    }
}

/// What the helper holds: the sockets bound for it, by host port and
/// protocol.
enum Bound {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

/// The helper: answers `bind`, then on `relay` forks the proxy and exits.
fn helper(sock: UnixStream, pause: i32) -> Result<(), String> {
    let mut out = sock.try_clone().map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(sock);
    let mut bound: Vec<(u16, String, Bound)> = Vec::new();
    let reply = |out: &mut UnixStream, v: serde_json::Value| {
        let mut line = v.to_string();
        line.push('\n');
        out.write_all(line.as_bytes()).map_err(|e| e.to_string())
    };
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            // container-run is gone, or went on without relaying.
            return Ok(());
        }
        let req: serde_json::Value = serde_json::from_str(&line).map_err(|e| e.to_string())?;
        if let Some(list) = req.get("bind").and_then(|b| b.as_array()) {
            let mut ports = Vec::new();
            for spec in list {
                let ip = spec[0].as_str().unwrap_or("0.0.0.0");
                let port = spec[1].as_u64().unwrap_or(0) as u16;
                let proto = spec[2].as_str().unwrap_or("tcp");
                let addr = format!("{ip}:{port}");
                let made = match proto {
                    "udp" => UdpSocket::bind(&addr).map(Bound::Udp),
                    _ => TcpListener::bind(&addr).map(Bound::Tcp),
                };
                match made {
                    Ok(b) => {
                        let local = match &b {
                            Bound::Tcp(l) => l.local_addr(),
                            Bound::Udp(u) => u.local_addr(),
                        }
                        .map_err(|e| e.to_string())?;
                        ports.push(local.port());
                        bound.push((local.port(), proto.to_string(), b));
                    }
                    Err(e) => {
                        reply(
                            &mut out,
                            serde_json::json!({"error": format!("bind {proto} {addr} on the host: {e}")}),
                        )?;
                        return Ok(());
                    }
                }
            }
            reply(&mut out, serde_json::json!({ "ports": ports }))?;
        } else if let Some(target) = req.get("relay").and_then(|t| t.as_str()) {
            let target: Ipv4Addr = target.parse().map_err(|_| "bad target".to_string())?;
            let mut routes: Vec<(Bound, u16)> = Vec::new();
            for m in req["map"].as_array().cloned().unwrap_or_default() {
                let port = m[0].as_u64().unwrap_or(0) as u16;
                let proto = m[1].as_str().unwrap_or("tcp");
                let to = m[2].as_u64().unwrap_or(0) as u16;
                if let Some(i) = bound
                    .iter()
                    .position(|(p, pr, _)| *p == port && pr == proto)
                {
                    routes.push((bound.remove(i).2, to));
                }
            }
            // SAFETY: single-threaded (a forked child of ours); the
            // grandchild becomes the proxy, this one exits.
            match unsafe { libc::fork() } {
                -1 => {
                    let e = std::io::Error::last_os_error();
                    reply(&mut out, serde_json::json!({"error": format!("fork: {e}")}))?;
                    return Err(e.to_string());
                }
                0 => {
                    // SAFETY: a session of its own, then the namespaces.
                    unsafe { libc::setsid() };
                    let joined = super::rootless::join(pause).map_err(|e| e.to_string());
                    let me = std::process::id();
                    let r = match &joined {
                        Ok(()) => serde_json::json!({ "pid": me }),
                        Err(e) => serde_json::json!({ "error": e }),
                    };
                    let _ = reply(&mut out, r);
                    if joined.is_err() {
                        // SAFETY: the proxy's end.
                        unsafe { libc::_exit(1) };
                    }
                    drop(out);
                    drop(reader);
                    close_all_but(&routes);
                    // SAFETY: /dev/null on 0-2 and names for ps.
                    unsafe {
                        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                        for fd in 0..3 {
                            libc::dup2(null, fd);
                        }
                        libc::prctl(
                            libc::PR_SET_NAME,
                            c"slipway-ports".as_ptr() as libc::c_ulong,
                            0,
                            0,
                            0,
                        );
                    }
                    serve(routes, target);
                    // SAFETY: the proxy's end.
                    unsafe { libc::_exit(0) }
                }
                _ => return Ok(()),
            }
        }
    }
}

/// Closes every descriptor but 0-2 and the routes' sockets: the proxy
/// outlives container-run, and must not hold what it had open (a lock,
/// a pipe someone waits on) when the helper was forked.
fn close_all_but(routes: &[(Bound, u16)]) {
    let keep: Vec<i32> = routes
        .iter()
        .map(|(b, _)| match b {
            Bound::Tcp(l) => l.as_raw_fd(),
            Bound::Udp(u) => u.as_raw_fd(),
        })
        .collect();
    let open: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    for fd in open {
        if fd > 2 && !keep.contains(&fd) {
            // SAFETY: closes a descriptor nothing in this process uses
            // any more (the directory's own is gone once listed).
            unsafe { libc::close(fd) };
        }
    }
}

/// Relays every route until killed: a thread per listening socket, two
/// per TCP connection, one per UDP peer.
fn serve(routes: Vec<(Bound, u16)>, target: Ipv4Addr) {
    let mut threads = Vec::new();
    for (b, port) in routes {
        let to = SocketAddr::from((target, port));
        threads.push(std::thread::spawn(move || match b {
            Bound::Tcp(l) => tcp(l, to),
            Bound::Udp(u) => udp(u, to),
        }));
    }
    for t in threads {
        let _ = t.join();
    }
}

fn tcp(l: TcpListener, to: SocketAddr) {
    for conn in l.incoming() {
        let Ok(client) = conn else { continue };
        std::thread::spawn(move || {
            let Ok(upstream) = TcpStream::connect_timeout(&to, Duration::from_secs(10)) else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else {
                return;
            };
            let back = std::thread::spawn(move || pipe(u2, c2));
            pipe(client, upstream);
            let _ = back.join();
        });
    }
}

/// Copies one direction of a TCP connection, then passes its end on.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

fn udp(sock: UdpSocket, to: SocketAddr) {
    let sessions: Arc<Mutex<HashMap<SocketAddr, UdpSocket>>> = Arc::default();
    let mut buf = vec![0u8; 65536];
    loop {
        let Ok((n, peer)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let existing = sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&peer)
            .and_then(|s| s.try_clone().ok());
        let up = match existing {
            Some(u) => u,
            None => {
                let Ok(u) = UdpSocket::bind("0.0.0.0:0").and_then(|u| u.connect(to).map(|()| u))
                else {
                    continue;
                };
                let (Ok(reader), Ok(back)) = (u.try_clone(), sock.try_clone()) else {
                    continue;
                };
                sessions
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(peer, u.try_clone().expect("cloned above"));
                let sessions = sessions.clone();
                std::thread::spawn(move || {
                    let _ = reader.set_read_timeout(Some(UDP_IDLE));
                    let mut buf = vec![0u8; 65536];
                    while let Ok(n) = reader.recv(&mut buf) {
                        if back.send_to(&buf[..n], peer).is_err() {
                            break;
                        }
                    }
                    sessions
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&peer);
                });
                u
            }
        };
        let _ = up.send(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tcp_connection_is_relayed_both_ways_and_closed_after() {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut s, _) = server.accept().unwrap();
            let mut got = String::new();
            s.read_to_string(&mut got).unwrap();
            s.write_all(format!("echo {got}").as_bytes()).unwrap();
        });
        let front = TcpListener::bind("127.0.0.1:0").unwrap();
        let front_port = front.local_addr().unwrap().port();
        std::thread::spawn(move || tcp(front, SocketAddr::from(([127, 0, 0, 1], port))));
        let mut c = TcpStream::connect(("127.0.0.1", front_port)).unwrap();
        c.write_all(b"hi").unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut back = String::new();
        c.read_to_string(&mut back).unwrap();
        assert_eq!(back, "echo hi");
    }

    #[test]
    fn udp_replies_go_back_to_the_peer_that_asked() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            let (n, from) = server.recv_from(&mut buf).unwrap();
            server.send_to(&buf[..n], from).unwrap();
        });
        let front = UdpSocket::bind("127.0.0.1:0").unwrap();
        let front_port = front.local_addr().unwrap().port();
        std::thread::spawn(move || udp(front, SocketAddr::from(([127, 0, 0, 1], port))));
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.send_to(b"ping", ("127.0.0.1", front_port)).unwrap();
        let mut buf = [0u8; 64];
        let n = c.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"ping");
    }
}
