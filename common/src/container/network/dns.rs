//! A network's DNS responder, as podman's aardvark-dns: a small process
//! on the gateway's port 53 (UDP, and TCP for the answers too long for a
//! datagram, which resolvers ask again there) that answers the names of the live
//! containers on the network (their names, aliases and short IDs, read
//! from the endpoints at each query, so a container that just started
//! is found and one that ended is not) and forwards every other query to
//! the host's nameservers. It ends by itself once no container is left.

use super::endpoints::{self, Endpoint};
use super::{Network, NetworkError};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd};
use std::time::{Duration, Instant};

const TYPE_A: u16 = 1;
const TYPE_ANY: u16 = 255;
const CLASS_IN: u16 = 1;

fn pid_file(n: &Network) -> std::path::PathBuf {
    n.run_dir().join("dns.pid")
}

/// The responder's PID, if it runs.
fn running(n: &Network) -> Option<i32> {
    super::recorded_pid(&pid_file(n))
}

/// Starts the responder unless it runs (the caller holds the network's
/// lock): the socket is bound here, so that a container started next
/// finds it answering.
pub fn ensure(n: &Network) -> Result<(), NetworkError> {
    if running(n).is_some() {
        return Ok(());
    }
    let fail = |msg: String| NetworkError::Command {
        what: format!("start the DNS responder of network {}", n.name),
        msg,
    };
    let addr = SocketAddrV4::new(n.gateway, 53);
    let sock = UdpSocket::bind(addr).map_err(|e| fail(format!("bind {addr}: {e}")))?;
    let tcp = TcpListener::bind(addr).map_err(|e| fail(format!("bind tcp {addr}: {e}")))?;
    let (rd, wr) = crate::container::process::pipe().map_err(|e| fail(e.to_string()))?;
    // SAFETY: the caller is single-threaded here (container-run sets up a
    // container, or container-ctl runs a command); the children only
    // fork, set descriptors up and run the loop below.
    match unsafe { libc::fork() } {
        -1 => return Err(fail(std::io::Error::last_os_error().to_string())),
        0 => {
            // SAFETY: setsid and fork in the child; it never returns.
            unsafe {
                libc::setsid();
                if libc::fork() != 0 {
                    libc::_exit(0);
                }
            }
            // SAFETY: names this thread, for ps and top.
            unsafe {
                libc::prctl(
                    libc::PR_SET_NAME,
                    c"slipway-dns".as_ptr() as libc::c_ulong,
                    0,
                    0,
                    0,
                )
            };
            let me = std::process::id();
            let line = super::pid_record(me as i32);
            // SAFETY: writes to a pipe we hold; then the descriptors are
            // rearranged: the sockets on 3 and 4, /dev/null on 0-2, none
            // else.
            unsafe {
                libc::write(wr.as_raw_fd(), line.as_ptr().cast(), line.len());
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                for fd in 0..3 {
                    libc::dup2(null, fd);
                }
                libc::dup2(sock.as_raw_fd(), 3);
                libc::dup2(tcp.as_raw_fd(), 4);
                libc::syscall(libc::SYS_close_range, 5u32, u32::MAX, 0u32);
                let sock = UdpSocket::from_raw_fd(3);
                let tcp = TcpListener::from_raw_fd(4);
                serve(sock, tcp, n);
                libc::_exit(0);
            }
        }
        child => {
            drop(wr);
            // SAFETY: reaps the intermediate child, which exits at once.
            unsafe { libc::waitpid(child, std::ptr::null_mut(), 0) };
        }
    }
    drop(sock);
    drop(tcp);
    let mut line = String::new();
    let _ = std::fs::File::from(rd).read_to_string(&mut line);
    if line.trim().is_empty() {
        return Err(fail("it ended before it started".into()));
    }
    crate::fsutil::write_atomic_unsynced(&pid_file(n), line.as_bytes())?;
    Ok(())
}

/// Stops the responder if it runs.
pub fn stop(n: &Network) {
    if let Some(pid) = running(n) {
        // SAFETY: kill with integer arguments; the PID was checked to be
        // the responder by its start time.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        // Gone from its namespaces before we go on (a zombie has none), so
        // that nothing counts it as a user of them.
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until && std::fs::metadata(format!("/proc/{pid}/ns/net")).is_ok() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let _ = std::fs::remove_file(pid_file(n));
}

/// The host's IPv4 nameservers.
fn upstreams() -> Vec<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next()).flatten()
        })
        .filter_map(|a| a.parse::<Ipv4Addr>().ok())
        .map(|ip| SocketAddr::V4(SocketAddrV4::new(ip, 53)))
        .collect()
}

fn serve(sock: UdpSocket, tcp: TcpListener, n: &Network) {
    let _ = sock.set_read_timeout(Some(Duration::from_secs(1)));
    let ups = upstreams();
    {
        let (n, ups) = (n.clone(), ups.clone());
        std::thread::spawn(move || {
            for conn in tcp.incoming().flatten() {
                let (n, ups) = (n.clone(), ups.clone());
                std::thread::spawn(move || serve_tcp(conn, &n, &ups));
            }
        });
    }
    let mut buf = [0u8; 1500];
    let mut idle_since: Option<Instant> = None;
    let mut checked = Instant::now() - Duration::from_secs(2);
    loop {
        if checked.elapsed() >= Duration::from_secs(1) {
            checked = Instant::now();
            let live = endpoints::load(n).iter().any(Endpoint::alive);
            match (live, idle_since) {
                (true, _) => idle_since = None,
                (false, None) => idle_since = Some(Instant::now()),
                (false, Some(t)) if t.elapsed() > Duration::from_secs(2) => return,
                _ => {}
            }
        }
        let Ok((len, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let query = &buf[..len];
        let Some(q) = Question::parse(query) else {
            continue;
        };
        let eps = endpoints::load(n);
        let found = eps.iter().find(|e| e.alive() && e.answers(&q.name));
        match found {
            Some(e) => {
                let _ = sock.send_to(&answer(query, &q, Some(e.ip), 0), from);
            }
            None => {
                let (Ok(reply), ups) = (sock.try_clone(), ups.clone()) else {
                    continue;
                };
                let query = query.to_vec();
                std::thread::spawn(move || {
                    let r = forward(&query, &ups).unwrap_or_else(|| {
                        Question::parse(&query)
                            .map(|q| answer(&query, &q, None, 2))
                            .unwrap_or_default()
                    });
                    let _ = reply.send_to(&r, from);
                });
            }
        }
    }
}

/// One TCP client: length-prefixed queries, each answered in turn, until
/// it closes or stays quiet.
fn serve_tcp(mut c: TcpStream, n: &Network, ups: &[SocketAddr]) {
    let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
    loop {
        let mut len = [0u8; 2];
        if c.read_exact(&mut len).is_err() {
            return;
        }
        let mut query = vec![0u8; u16::from_be_bytes(len) as usize];
        if c.read_exact(&mut query).is_err() {
            return;
        }
        let Some(q) = Question::parse(&query) else {
            return;
        };
        let eps = endpoints::load(n);
        let reply = match eps.iter().find(|e| e.alive() && e.answers(&q.name)) {
            Some(e) => answer(&query, &q, Some(e.ip), 0),
            None => forward_tcp(&query, ups).unwrap_or_else(|| answer(&query, &q, None, 2)),
        };
        let Ok(rlen) = u16::try_from(reply.len()) else {
            return;
        };
        let mut out = rlen.to_be_bytes().to_vec();
        out.extend_from_slice(&reply);
        if c.write_all(&out).is_err() {
            return;
        }
    }
}

/// The query asked of each host nameserver over TCP in turn; the first
/// answer.
fn forward_tcp(query: &[u8], ups: &[SocketAddr]) -> Option<Vec<u8>> {
    let len = u16::try_from(query.len()).ok()?;
    for up in ups {
        let Ok(mut s) = TcpStream::connect_timeout(up, Duration::from_secs(3)) else {
            continue;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let mut out = len.to_be_bytes().to_vec();
        out.extend_from_slice(query);
        if s.write_all(&out).is_err() {
            continue;
        }
        let mut rlen = [0u8; 2];
        if s.read_exact(&mut rlen).is_err() {
            continue;
        }
        let mut r = vec![0u8; u16::from_be_bytes(rlen) as usize];
        if s.read_exact(&mut r).is_ok() && r.len() >= 2 && r[..2] == query[..2] {
            return Some(r);
        }
    }
    None
}

/// The query's one question.
struct Question {
    name: String,
    qtype: u16,
    class: u16,
    /// Where the question ends (the header and it are copied back).
    end: usize,
}

impl Question {
    fn parse(m: &[u8]) -> Option<Question> {
        if m.len() < 12 || m[2] & 0x80 != 0 || u16::from_be_bytes([m[4], m[5]]) != 1 {
            return None;
        }
        let mut i = 12;
        let mut labels = Vec::new();
        loop {
            let len = *m.get(i)? as usize;
            i += 1;
            if len == 0 {
                break;
            }
            if len > 63 {
                return None;
            }
            labels.push(String::from_utf8_lossy(m.get(i..i + len)?).to_ascii_lowercase());
            i += len;
        }
        let qtype = u16::from_be_bytes([*m.get(i)?, *m.get(i + 1)?]);
        let class = u16::from_be_bytes([*m.get(i + 2)?, *m.get(i + 3)?]);
        Some(Question {
            name: labels.join("."),
            qtype,
            class,
            end: i + 4,
        })
    }
}

/// A reply to `query`: the address for an A (or ANY) question of a name
/// we know, no records for other types of it; `rcode` 2 is SERVFAIL.
fn answer(query: &[u8], q: &Question, ip: Option<Ipv4Addr>, rcode: u8) -> Vec<u8> {
    let mut r = Vec::with_capacity(q.end + 16);
    r.extend_from_slice(&query[..2]);
    let opcode_rd = query[2] & 0x79;
    r.push(0x80 | opcode_rd | if ip.is_some() { 0x04 } else { 0 });
    r.push(0x80 | rcode);
    let with_a = ip.is_some() && q.class == CLASS_IN && (q.qtype == TYPE_A || q.qtype == TYPE_ANY);
    r.extend_from_slice(&1u16.to_be_bytes());
    r.extend_from_slice(&(with_a as u16).to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(&query[12..q.end]);
    if let (true, Some(ip)) = (with_a, ip) {
        r.extend_from_slice(&[0xc0, 0x0c]);
        r.extend_from_slice(&TYPE_A.to_be_bytes());
        r.extend_from_slice(&CLASS_IN.to_be_bytes());
        r.extend_from_slice(&10u32.to_be_bytes());
        r.extend_from_slice(&4u16.to_be_bytes());
        r.extend_from_slice(&ip.octets());
    }
    r
}

/// The query asked of each host nameserver in turn; the first answer.
fn forward(query: &[u8], ups: &[SocketAddr]) -> Option<Vec<u8>> {
    let s = UdpSocket::bind("0.0.0.0:0").ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    let mut buf = vec![0u8; 4096];
    for up in ups {
        if s.send_to(query, up).is_err() {
            continue;
        }
        while let Ok((len, from)) = s.recv_from(&mut buf) {
            if from == *up && len >= 2 && buf[..2] == query[..2] {
                return Some(buf[..len].to_vec());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            m.push(l.len() as u8);
            m.extend_from_slice(l.as_bytes());
        }
        m.push(0);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&CLASS_IN.to_be_bytes());
        m
    }

    #[test]
    fn an_a_query_gets_the_address_and_other_types_none() {
        let m = query("Web", TYPE_A);
        let q = Question::parse(&m).unwrap();
        assert_eq!(q.name, "web");
        let r = answer(&m, &q, Some("10.89.0.2".parse().unwrap()), 0);
        assert_eq!(&r[..2], &[0x12, 0x34]);
        assert_eq!(r[2] & 0x80, 0x80, "a response");
        assert_eq!(r[2] & 0x01, 0x01, "RD copied");
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "one answer");
        assert_eq!(&r[r.len() - 4..], &[10, 89, 0, 2]);
        let m6 = query("web", 28);
        let q6 = Question::parse(&m6).unwrap();
        let r6 = answer(&m6, &q6, Some("10.89.0.2".parse().unwrap()), 0);
        assert_eq!(u16::from_be_bytes([r6[6], r6[7]]), 0);
        assert_eq!(r6.len(), m6.len());
    }

    #[test]
    fn responses_and_malformed_queries_are_not_questions() {
        let mut m = query("web", TYPE_A);
        m[2] |= 0x80;
        assert!(Question::parse(&m).is_none());
        assert!(Question::parse(&[0; 5]).is_none());
        let mut cut = query("web", TYPE_A);
        cut.truncate(15);
        assert!(Question::parse(&cut).is_none());
    }
}
