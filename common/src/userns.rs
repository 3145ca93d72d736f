//! Rootless: the user namespace a non-root caller's containers and store
//! live in, made as rootless podman makes it. The caller's uid and gid
//! are root inside; the caller's ranges in /etc/subuid and /etc/subgid
//! follow as 1, 2, … through the setuid helpers newuidmap and newgidmap.
//! Without a range only the caller is mapped: everything inside is owned
//! by root, and an image file owned by anyone else cannot be unpacked.
//!
//! Every run makes a namespace of its own with the same mapping, so a
//! file unpacked by one run has the same owner in the next.

use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum UsernsError {
    #[error("create a user namespace: {0}{hint}", hint = disabled_hint(.0))]
    Unshare(io::Error),
    #[error("{tool} is not installed, and it is needed to map the ranges /etc/{file} gives {user}: apt install uidmap")]
    NoHelper {
        tool: &'static str,
        file: &'static str,
        user: String,
    },
    #[error("map the user namespace: {0}")]
    Map(String),
    #[error("{what}: {source}")]
    Os {
        what: &'static str,
        #[source]
        source: io::Error,
    },
}

fn disabled_hint(e: &io::Error) -> &'static str {
    if matches!(e.raw_os_error(), Some(libc::EPERM | libc::ENOSPC)) {
        " (unprivileged user namespaces are disabled on this host: see sysctl user.max_user_namespaces and kernel.unprivileged_userns_clone)"
    } else {
        ""
    }
}

/// Whether this process is in a user namespace other than the initial
/// one, whose identity map covers every ID.
pub fn in_user_namespace() -> bool {
    match fs::read_to_string("/proc/self/uid_map") {
        Ok(m) => {
            let fields: Vec<&str> = m.split_whitespace().collect();
            fields != ["0", "0", "4294967295"]
        }
        Err(_) => false,
    }
}

/// Whether containers are run rootless here: by a non-root user, or by
/// root of a user namespace (which cannot use the host's cgroups or its
/// trusted xattrs either).
pub fn rootless() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() != 0 || in_user_namespace() }
}

/// Which outside ID an inside ID is, from a `uid_map` or `gid_map` text.
fn outside_of(map: &str, inside: u32) -> Option<u32> {
    map.lines().find_map(|l| {
        let f: Vec<u64> = l
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        let [i, o, n] = f[..] else { return None };
        let id = u64::from(inside);
        (i <= id && id < i + n).then(|| (o + id - i) as u32)
    })
}

/// Whether group `gid` of this namespace has a mapping (a devpts `gid=5`
/// needs one).
pub fn gid_mapped(gid: u32) -> bool {
    fs::read_to_string("/proc/self/gid_map").is_ok_and(|m| outside_of(&m, gid).is_some())
}

/// The host uid that this process's uid is: the caller's, inside a
/// rootless namespace.
pub fn host_uid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    fs::read_to_string("/proc/self/uid_map")
        .ok()
        .and_then(|m| outside_of(&m, uid))
        .unwrap_or(uid)
}

/// Whether setgroups(2) is denied here, as it must be in a namespace whose
/// gid map the user wrote alone.
pub fn setgroups_denied() -> bool {
    fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny")
}

/// One line of an ID map: `count` IDs from `inside` are those from
/// `outside` in the parent namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdRange {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

/// The caller's mapping: its own IDs as 0, its subordinate ranges after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub user: String,
    pub uids: Vec<IdRange>,
    pub gids: Vec<IdRange>,
}

/// The ranges an /etc/subuid or /etc/subgid text gives a user, named or
/// numbered (`NAME:START:COUNT` lines), in file order.
pub fn subordinate_ranges(text: &str, name: &str, id: u32) -> Vec<(u32, u32)> {
    let id = id.to_string();
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut f = l.trim().splitn(3, ':');
            let (owner, start, count) = (f.next()?, f.next()?, f.next()?);
            if owner != name && owner != id {
                return None;
            }
            Some((start.parse().ok()?, count.parse().ok()?))
        })
        .filter(|(_, count)| *count > 0)
        .collect()
}

/// Root inside is the caller; each subordinate range follows the last.
fn map_for(own: u32, ranges: &[(u32, u32)]) -> Vec<IdRange> {
    let mut out = vec![IdRange {
        inside: 0,
        outside: own,
        count: 1,
    }];
    let mut next = 1u32;
    for &(start, count) in ranges {
        out.push(IdRange {
            inside: next,
            outside: start,
            count,
        });
        next = next.saturating_add(count);
    }
    out
}

fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: passwd is plain data; zeroed is a valid value.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: valid out pointers and a buffer of the length given.
    let rc =
        unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut found) };
    if rc != 0 || found.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r filled pw_name with a C string inside buf.
    let name = unsafe { std::ffi::CStr::from_ptr(pw.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

impl Mapping {
    /// The mapping of the calling user, from /etc/subuid and /etc/subgid.
    pub fn for_caller() -> Mapping {
        // SAFETY: getuid and getgid have no preconditions.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let user = user_name(uid).unwrap_or_else(|| uid.to_string());
        let read = |p: &str| fs::read_to_string(p).unwrap_or_default();
        Mapping {
            uids: map_for(uid, &subordinate_ranges(&read("/etc/subuid"), &user, uid)),
            gids: map_for(gid, &subordinate_ranges(&read("/etc/subgid"), &user, uid)),
            user,
        }
    }

    /// Whether it maps more than the caller alone.
    pub fn has_ranges(&self) -> bool {
        self.uids.len() > 1 || self.gids.len() > 1
    }
}

fn helper_args(pid: i32, map: &[IdRange]) -> Vec<String> {
    let mut args = vec![pid.to_string()];
    for r in map {
        args.extend([
            r.inside.to_string(),
            r.outside.to_string(),
            r.count.to_string(),
        ]);
    }
    args
}

fn helper_path(tool: &'static str, file: &'static str, user: &str) -> Result<PathBuf, UsernsError> {
    ["/usr/bin", "/bin", "/usr/sbin", "/usr/local/bin"]
        .iter()
        .map(|d| PathBuf::from(d).join(tool))
        .find(|p| p.is_file())
        .ok_or_else(|| UsernsError::NoHelper {
            tool,
            file,
            user: user.to_string(),
        })
}

fn write_proc(file: &str, text: &str) -> Result<(), UsernsError> {
    fs::write(format!("/proc/self/{file}"), text)
        .map_err(|e| UsernsError::Map(format!("write {text:?} to /proc/self/{file}: {e}")))
}

/// Moves this process into a new user namespace with `m`, as root there.
/// The process must be single-threaded. newuidmap and newgidmap must be
/// run from outside the new namespace: a helper forked beforehand runs
/// them once we have unshared.
pub fn enter(m: &Mapping) -> Result<(), UsernsError> {
    let helpers = (
        (m.uids.len() > 1)
            .then(|| helper_path("newuidmap", "subuid", &m.user))
            .transpose()?,
        (m.gids.len() > 1)
            .then(|| helper_path("newgidmap", "subgid", &m.user))
            .transpose()?,
    );
    let me = std::process::id() as i32;
    let (go_rd, go_wr) = pipe()?;
    let (res_rd, res_wr) = pipe()?;
    // SAFETY: the caller is single-threaded; the child runs the helpers
    // and _exits.
    let helper = unsafe { libc::fork() };
    if helper < 0 {
        return Err(os("fork", io::Error::last_os_error()));
    }
    if helper == 0 {
        drop((go_wr, res_rd));
        let msg = run_helpers(go_rd, me, m, &helpers);
        let _ = fs::File::from(res_wr).write_all(msg.as_bytes());
        // SAFETY: ends the helper without the parent's destructors.
        unsafe { libc::_exit(0) }
    }
    drop((go_rd, res_wr));
    // SAFETY: unshare with a flag; we are single-threaded.
    let unshared = unsafe { libc::unshare(libc::CLONE_NEWUSER) };
    let unshare_err = io::Error::last_os_error();
    // The helper waits for this byte; a closed pipe tells it to give up.
    if unshared == 0 {
        let _ = fs::File::from(go_wr).write_all(b"g");
    } else {
        drop(go_wr);
    }
    let mut msg = String::new();
    let _ = fs::File::from(res_rd).read_to_string(&mut msg);
    // SAFETY: waitpid on our own child.
    unsafe { libc::waitpid(helper, std::ptr::null_mut(), 0) };
    if unshared != 0 {
        return Err(UsernsError::Unshare(unshare_err));
    }
    if !msg.is_empty() {
        return Err(UsernsError::Map(msg));
    }
    // What the user may write alone: its own IDs, setgroups denied first.
    if helpers.1.is_none() {
        write_proc("setgroups", "deny")?;
        write_proc("gid_map", &format!("0 {} 1\n", m.gids[0].outside))?;
    }
    if helpers.0.is_none() {
        write_proc("uid_map", &format!("0 {} 1\n", m.uids[0].outside))?;
    }
    // SAFETY: geteuid and getegid have no preconditions.
    if unsafe { (libc::geteuid(), libc::getegid()) } != (0, 0) {
        return Err(UsernsError::Map(
            "the new user namespace does not map the caller to root".into(),
        ));
    }
    // The host's supplementary groups mean nothing inside; drop them
    // where we may.
    if !setgroups_denied() {
        // SAFETY: an empty list.
        unsafe { libc::setgroups(0, std::ptr::null()) };
    }
    Ok(())
}

/// In the helper: waits for the parent to unshare, runs newuidmap and
/// newgidmap on it; returns what went wrong, or nothing.
fn run_helpers(
    go: OwnedFd,
    pid: i32,
    m: &Mapping,
    helpers: &(Option<PathBuf>, Option<PathBuf>),
) -> String {
    let mut b = [0u8; 1];
    if fs::File::from(go).read(&mut b).unwrap_or(0) != 1 {
        return String::new();
    }
    for (tool, map) in [(&helpers.0, &m.uids), (&helpers.1, &m.gids)] {
        let Some(tool) = tool else { continue };
        match Command::new(tool).args(helper_args(pid, map)).output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                let err = String::from_utf8_lossy(&o.stderr);
                return format!("{}: {}", tool.display(), crate::cli::one_line(err.trim()));
            }
            Err(e) => return format!("run {}: {e}", tool.display()),
        }
    }
    String::new()
}

/// Runs `f` in a child process that enters a new user namespace with `m`
/// first, and returns what `f` returned: for work on files the caller's
/// subordinate IDs own (removing a container's writable layer, say).
pub fn run_in_new(m: &Mapping, f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    let (rd, wr) = pipe().map_err(|e| e.to_string())?;
    // SAFETY: the caller is single-threaded; the child runs `f` and
    // _exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", io::Error::last_os_error()));
    }
    if pid == 0 {
        drop(rd);
        let r = enter(m).map_err(|e| e.to_string()).and_then(|()| f());
        let mut w = fs::File::from(wr);
        let code = match r {
            Ok(()) => 0,
            Err(e) => {
                let _ = w.write_all(e.as_bytes());
                1
            }
        };
        // SAFETY: ends the child without the parent's destructors.
        unsafe { libc::_exit(code) }
    }
    drop(wr);
    let mut msg = String::new();
    let _ = fs::File::from(rd).read_to_string(&mut msg);
    let mut status = 0;
    // SAFETY: waitpid on our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ok(())
    } else if msg.is_empty() {
        Err("the helper in the user namespace failed".into())
    } else {
        Err(msg)
    }
}

/// Sends `sig` to `pid` with the rights of the namespace it runs in: a
/// container's process running as one of the caller's subordinate uids
/// can only be signalled from inside its user namespace, which the caller
/// owns and so may join.
pub fn kill_in_namespace(pid: i32, sig: libc::c_int) -> io::Result<()> {
    let same = |a: &str, b: &str| {
        use std::os::unix::fs::MetadataExt;
        match (fs::metadata(a), fs::metadata(b)) {
            (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
            _ => true,
        }
    };
    let theirs = format!("/proc/{pid}/ns/user");
    if same("/proc/self/ns/user", &theirs) {
        // SAFETY: kill with integer arguments.
        return match unsafe { libc::kill(pid, sig) } {
            0 => Ok(()),
            _ => Err(io::Error::last_os_error()),
        };
    }
    let ns = fs::File::open(&theirs)?;
    // SAFETY: the caller is single-threaded; the child only calls setns,
    // kill and _exit.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(io::Error::last_os_error());
    }
    if child == 0 {
        // SAFETY: setns and kill with a descriptor we hold and integers.
        let failed = unsafe {
            libc::setns(ns.as_raw_fd(), libc::CLONE_NEWUSER) < 0 || libc::kill(pid, sig) < 0
        };
        let rc = match failed {
            true => io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO),
            false => 0,
        };
        // SAFETY: ends the child without the parent's destructors.
        unsafe { libc::_exit(rc.min(255)) }
    }
    let mut status = 0;
    // SAFETY: waitpid on our own child.
    unsafe { libc::waitpid(child, &mut status, 0) };
    match libc::WEXITSTATUS(status) {
        0 if libc::WIFEXITED(status) => Ok(()),
        e => Err(io::Error::from_raw_os_error(if e == 0 {
            libc::EIO
        } else {
            e
        })),
    }
}

fn os(what: &'static str, source: io::Error) -> UsernsError {
    UsernsError::Os { what, source }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), UsernsError> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 into a two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(os("create a pipe", io::Error::last_os_error()));
    }
    // SAFETY: descriptors we just created.
    Ok(unsafe {
        use std::os::fd::FromRawFd;
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_found_by_name_or_uid_in_file_order() {
        let text = "# comment\nalice:100000:65536\nbob:165536:65536\n1001:300000:10\nalice:400000:0\nalice:500000:5\n";
        assert_eq!(
            subordinate_ranges(text, "alice", 1000),
            [(100000, 65536), (500000, 5)]
        );
        assert_eq!(subordinate_ranges(text, "carol", 1001), [(300000, 10)]);
        assert!(subordinate_ranges(text, "dave", 1002).is_empty());
    }

    #[test]
    fn the_caller_is_root_and_ranges_follow_it() {
        let m = map_for(1000, &[(100000, 65536), (500000, 5)]);
        assert_eq!(
            m,
            [
                IdRange {
                    inside: 0,
                    outside: 1000,
                    count: 1
                },
                IdRange {
                    inside: 1,
                    outside: 100000,
                    count: 65536
                },
                IdRange {
                    inside: 65537,
                    outside: 500000,
                    count: 5
                },
            ]
        );
        assert_eq!(
            helper_args(42, &m[..2]),
            ["42", "0", "1000", "1", "1", "100000", "65536"]
        );
    }

    #[test]
    fn ids_are_looked_up_in_a_map() {
        let map = "         0       1001          1\n         1     100000      65535\n";
        assert_eq!(outside_of(map, 0), Some(1001));
        assert_eq!(outside_of(map, 1000), Some(100999));
        assert_eq!(outside_of(map, 65536), None);
        assert_eq!(outside_of("0 0 4294967295\n", 5), Some(5));
    }
}
