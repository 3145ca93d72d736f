//! Becoming the container's process: the user from the image's passwd and
//! group files, the environment Docker gives, and the exec with `PATH`
//! searched as the container sees it. Runs inside the container's root.

use crate::container::caps::{self, CapSet};
use crate::container::seccomp::Filter;
use crate::container::sys::Syscall;
use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

pub use crate::image::DEFAULT_PATH;

/// Who the process runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub home: String,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

fn passwd_entries(passwd: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    passwd.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 7 || l.starts_with('#') {
            return None;
        }
        Some(PasswdEntry {
            name: f[0],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5],
        })
    })
}

/// (name, gid, members) of each group line.
fn group_entries(group: &str) -> impl Iterator<Item = (&str, u32, Vec<&str>)> {
    group.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 4 || l.starts_with('#') {
            return None;
        }
        let members = f[3].split(',').filter(|m| !m.is_empty()).collect();
        Some((f[0], f[2].parse().ok()?, members))
    })
}

/// A group given as a GID or a name in the container's /etc/group, as
/// `docker run --group-add` takes it.
pub fn resolve_group(spec: &str, group: &str) -> Result<u32, String> {
    if let Ok(gid) = spec.parse::<u32>() {
        return Ok(gid);
    }
    group_entries(group)
        .find(|(name, _, _)| *name == spec)
        .map(|(_, gid, _)| gid)
        .ok_or_else(|| format!("--group-add {spec}: no such group in the container's /etc/group"))
}

/// The most of an image's /etc/passwd or /etc/group that is read: a real
/// one is a few kilobytes.
pub const ACCOUNT_FILE_MAX: u64 = 1 << 20;

/// An image's /etc/passwd or /etc/group, opened by the caller (inside the
/// root): a regular file of at most [`ACCOUNT_FILE_MAX`] bytes, or an
/// error that says what it is instead. A FIFO or a device (a symlink to
/// /dev/urandom) would block setup or fill the memory. None of it: empty.
pub fn read_account_file(path: &str, opened: io::Result<std::fs::File>) -> Result<String, String> {
    use std::io::Read;
    use std::os::unix::fs::FileTypeExt;
    let file = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(format!("{path}: {e}")),
    };
    let meta = file.metadata().map_err(|e| format!("{path}: {e}"))?;
    let t = meta.file_type();
    if !t.is_file() {
        let what = if t.is_fifo() {
            "a FIFO"
        } else if t.is_char_device() || t.is_block_device() {
            "a device"
        } else if t.is_dir() {
            "a directory"
        } else {
            "not a regular file"
        };
        return Err(format!(
            "{path} is {what}: the user cannot be looked up in it"
        ));
    }
    let mut text = String::new();
    file.take(ACCOUNT_FILE_MAX + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("{path}: {e}"))?;
    if text.len() as u64 > ACCOUNT_FILE_MAX {
        return Err(format!(
            "{path} is larger than {ACCOUNT_FILE_MAX} bytes: the user is not looked up in it"
        ));
    }
    Ok(text)
}

/// Opens `path` for [`read_account_file`] without blocking on a FIFO.
pub fn open_account_file(path: &str) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
}

/// Resolves `-u NAME|UID[:GROUP|GID]` against the image's /etc/passwd and
/// /etc/group as Docker (runc's libcontainer/user) does: a name must
/// exist; a number need not; the primary group comes from passwd unless
/// given; supplementary groups are those that list the user by name.
pub fn resolve_user(spec: &str, passwd: &str, group: &str) -> Result<User, String> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let found = passwd_entries(passwd)
        .find(|e| e.name == user_part || (user_part.parse::<u32>().ok() == Some(e.uid)));
    let (uid, mut gid, name, home) = match (found, user_part.parse::<u32>()) {
        (Some(e), _) => (e.uid, e.gid, Some(e.name.to_string()), e.home.to_string()),
        (None, Ok(uid)) => (uid, 0, None, "/".to_string()),
        (None, Err(_)) => {
            return Err(format!(
                "unable to find user {user_part}: no matching entries in passwd file"
            ))
        }
    };
    if let Some(g) = group_part {
        gid = match group_entries(group).find(|(n, id, _)| *n == g || g.parse() == Ok(*id)) {
            Some((_, id, _)) => id,
            None => g.parse().map_err(|_| {
                format!("unable to find group {g}: no matching entries in group file")
            })?,
        };
    }
    check_id("uid", uid)?;
    check_id("gid", gid)?;
    let mut groups = Vec::new();
    if group_part.is_none() {
        if let Some(name) = &name {
            for (_, id, members) in group_entries(group) {
                if members.contains(&name.as_str()) && id != gid && !groups.contains(&id) {
                    groups.push(id);
                }
            }
        }
    }
    Ok(User {
        uid,
        gid,
        groups,
        home: if home.is_empty() { "/".into() } else { home },
    })
}

/// The largest user or group ID a container may take, as runc allows:
/// (uid_t)-1 means "leave unchanged" to setresuid, so 4294967295 would
/// keep the caller's root.
pub const MAX_ID: u32 = i32::MAX as u32;

/// Refuses an ID above [`MAX_ID`].
pub fn check_id(what: &str, id: u32) -> Result<(), String> {
    if id > MAX_ID {
        return Err(format!(
            "{what} {id} is out of range: IDs go up to {MAX_ID}"
        ));
    }
    Ok(())
}

/// Why switching to a user failed; EINVAL from the kernel means an ID
/// that the (rootless) user namespace does not map.
fn id_error(what: &str, id: u32, e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::EINVAL) {
        return io::Error::other(format!(
            "{what} {id} is not mapped in this user namespace: rootless, a container can only use the IDs that the user's ranges in /etc/subuid and /etc/subgid cover"
        ));
    }
    e
}

/// Switches to `user`: groups first, while we still may.
pub fn switch_user(user: &User) -> io::Result<()> {
    // Whatever parsed the IDs (a -u, an image's USER, a bundle's spec):
    // none above MAX_ID reaches setresuid.
    for (what, id) in [("uid", user.uid), ("gid", user.gid)]
        .into_iter()
        .chain(user.groups.iter().map(|g| ("group", *g)))
    {
        check_id(what, id).map_err(io::Error::other)?;
    }
    let groups: Vec<libc::gid_t> = user.groups.clone();
    // A user namespace whose gid map the user wrote alone denies
    // setgroups: the groups we have are all there can be.
    let sys = &crate::container::sys::Linux;
    if !(groups.is_empty() && crate::userns::setgroups_denied()) {
        if let Err(e) = sys.setgroups(&groups) {
            if crate::userns::setgroups_denied() {
                return Err(io::Error::other(format!(
                    "supplementary groups {groups:?} need a range in /etc/subgid: this user namespace maps only the user's own group"
                )));
            }
            return Err(e.into());
        }
    }
    if let Err(e) = sys.setresgid(user.gid) {
        return Err(id_error("group", user.gid, e.source));
    }
    if let Err(e) = sys.setresuid(user.uid) {
        return Err(id_error("user", user.uid, e.source));
    }
    Ok(())
}

/// Marks every descriptor above stderr close-on-exec, so nothing of the
/// runtime's (a store file, a host directory) reaches the container: the
/// leak behind CVE-2024-21626.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range with integer arguments.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Keeps the `n` descriptors after stderr a caller passes on (runc's
/// --preserve-fds) open across exec, and marks every later one
/// close-on-exec.
pub fn pass_fds(n: u32) -> io::Result<()> {
    for fd in 3..3 + n as i32 {
        // SAFETY: fcntl with integer arguments.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    cloexec_from(3 + n)
}

/// Refuses --preserve-fds N unless 3 up to 3+N are all open now, before
/// we open anything: a gap would pass on a file of ours instead.
pub fn check_passed_fds(n: u32) -> Result<(), String> {
    for fd in 3..3 + n as i32 {
        // SAFETY: fcntl with integer arguments.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            return Err(format!("--preserve-fds {n}: descriptor {fd} is not open"));
        }
    }
    Ok(())
}

/// The signals a user sends to the runtime that are meant for the
/// container's process; the runtime blocks them and passes them on.
pub const FORWARDED_SIGNALS: &[libc::c_int] = &[
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

/// Blocks `signals` in this thread and returns them as a set, for
/// sigwaitinfo or a signalfd.
pub fn block_signals(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigset_t initialized by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in signals {
            libc::sigaddset(&mut set, *s);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Default dispositions and an empty signal mask, whatever the runtime
/// had, for a process about to exec the container's command.
pub fn reset_signals() {
    for sig in 1..libc::SIGRTMAX() {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: setting a default disposition.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
    }
    // SAFETY: an empty set, initialized by sigemptyset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// What a waitpid status means to a shell: the code, or 128+signal.
pub fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        125
    }
}

/// Kills a child that will not be started after all, and reaps it.
pub fn kill_and_reap(pid: libc::pid_t) {
    // SAFETY: kill and waitpid with integer arguments, on our own child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
}

/// A pipe whose ends close on exec.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 into a two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: descriptors we just created.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Adds `-e KEY=VALUE` to `env`; `-e KEY` passes our own value on, or
/// nothing when we have none. An earlier KEY is replaced by [`tidy_env`].
pub fn env_arg(env: &mut Vec<String>, arg: &str) -> Result<(), String> {
    if arg.is_empty() || arg.starts_with('=') {
        return Err(format!("invalid environment variable {arg:?}"));
    }
    let entry = if arg.contains('=') {
        arg.to_string()
    } else if let Ok(v) = std::env::var(arg) {
        format!("{arg}={v}")
    } else {
        return Ok(());
    };
    set_env(env, entry);
    Ok(())
}

/// Adds KEY=VALUE to `env`; an earlier KEY is replaced by [`tidy_env`].
pub fn set_env(env: &mut Vec<String>, entry: String) {
    env.push(entry);
}

/// One entry per key: the last value, at the place the key first had, as
/// Docker merges an image's Env with -e. One pass, so that an environment
/// of 100,000 entries costs no more than reading it (replacing as each is
/// added was quadratic).
pub fn tidy_env(env: &mut Vec<String>) {
    let key = |e: &str| e.split('=').next().unwrap_or_default().to_string();
    let mut at: std::collections::HashMap<String, usize> =
        std::collections::HashMap::with_capacity(env.len());
    let mut out: Vec<String> = Vec::with_capacity(env.len());
    for e in env.drain(..) {
        match at.entry(key(&e)) {
            std::collections::hash_map::Entry::Occupied(o) => out[*o.get()] = e,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(out.len());
                out.push(e);
            }
        }
    }
    *env = out;
}

/// The last steps before the exec, the same for a container's first
/// process and for one exec'd into it: the bounding set while we may, the
/// user, the capabilities a process of that user keeps (none unless root,
/// as in Docker), no_new_privs, default signals, every descriptor above
/// stderr close-on-exec, and the seccomp filter last. Returns the
/// effective set.
/// What a runtime spec says the process keeps, applied as written (runc's
/// way) rather than Docker's: the five capability sets for any user,
/// no_new_privs only when asked, the spec's own seccomp profile.
#[derive(Clone, Debug)]
pub struct SpecPrivileges {
    pub caps: caps::CapSets,
    pub no_new_privs: bool,
    pub seccomp: Option<Filter>,
    /// How many descriptors after stderr the process keeps.
    pub pass_fds: u32,
}

/// Becomes `user` with what the spec gives, and installs its filter: last
/// with no_new_privs; without it first, while CAP_SYS_ADMIN still allows
/// a filter (the profile must then allow what follows, as under runc).
pub fn drop_privileges_as_spec(user: &User, spec: &SpecPrivileges) -> Result<(), String> {
    let os = |what: &str| format!("{what}: {}", io::Error::last_os_error());
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) } < 0 {
        return Err(os("keep capabilities"));
    }
    caps::drop_bounding(spec.caps.bounding).map_err(|e| format!("drop capabilities: {e}"))?;
    reset_signals();
    pass_fds(spec.pass_fds).map_err(|e| format!("close descriptors: {e}"))?;
    if let (false, Some(f)) = (spec.no_new_privs, &spec.seccomp) {
        f.install()
            .map_err(|e| format!("install the bundle's seccomp filter: {e}"))?;
    }
    switch_user(user).map_err(|e| format!("switch to user {}: {e}", user.uid))?;
    caps::set_all(&spec.caps).map_err(|e| format!("set capabilities: {e}"))?;
    if spec.no_new_privs {
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } < 0 {
            return Err(os("set no_new_privs"));
        }
        if let Some(f) = &spec.seccomp {
            f.install()
                .map_err(|e| format!("install the bundle's seccomp filter: {e}"))?;
        }
    }
    Ok(())
}

pub fn drop_privileges(user: &User, caps: CapSet, seccomp: bool) -> Result<CapSet, String> {
    let os = |what: &str| format!("{what}: {}", io::Error::last_os_error());
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) } < 0 {
        return Err(os("keep capabilities"));
    }
    caps::drop_bounding(caps).map_err(|e| format!("drop capabilities: {e}"))?;
    switch_user(user).map_err(|e| format!("switch to user {}: {e}", user.uid))?;
    let effective = if user.uid == 0 { caps } else { CapSet(0) };
    caps::set(effective).map_err(|e| format!("set capabilities: {e}"))?;
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } < 0 {
        return Err(os("set no_new_privs"));
    }
    reset_signals();
    cloexec_from(3).map_err(|e| format!("close descriptors: {e}"))?;
    if seccomp {
        Filter::docker_default(effective)
            .install()
            .map_err(|e| format!("install the seccomp filter: {e}"))?;
    }
    Ok(effective)
}

/// Why an exec failed, with Docker's exit code for it.
#[derive(Debug)]
pub struct ExecError {
    pub code: u8,
    pub message: String,
}

fn env_value<'a>(env: &'a [String], key: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find_map(|e| e.strip_prefix(key)?.strip_prefix('='))
}

/// Executes `argv` with `env`, searching the container's `PATH` for a
/// bare name. Returns only on failure: 127 when nothing is found, 126 when
/// found but not executable, as `docker run` reports.
pub fn exec(argv: &[String], env: &[String]) -> ExecError {
    let Some(cmd) = argv.first() else {
        return ExecError {
            code: 127,
            message: "no command specified".into(),
        };
    };
    let to_c = |s: &String| CString::new(s.as_bytes()).ok();
    let Some(cargv) = argv.iter().map(to_c).collect::<Option<Vec<_>>>() else {
        return ExecError {
            code: 127,
            message: "an argument contains a NUL byte".into(),
        };
    };
    let Some(cenv) = env.iter().map(to_c).collect::<Option<Vec<_>>>() else {
        return ExecError {
            code: 127,
            message: "an environment variable contains a NUL byte".into(),
        };
    };
    let mut argp: Vec<*const libc::c_char> = cargv.iter().map(|c| c.as_ptr()).collect();
    argp.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = cenv.iter().map(|c| c.as_ptr()).collect();
    envp.push(std::ptr::null());
    let candidates: Vec<String> = if cmd.contains('/') {
        vec![cmd.clone()]
    } else {
        env_value(env, "PATH")
            .unwrap_or(DEFAULT_PATH)
            .split(':')
            .map(|d| {
                let d = if d.is_empty() { "." } else { d };
                format!("{}/{cmd}", d.trim_end_matches('/'))
            })
            .collect()
    };
    let mut denied: Option<(String, io::Error)> = None;
    let mut other: Option<(String, io::Error)> = None;
    for path in &candidates {
        let Ok(cpath) = CString::new(path.as_bytes()) else {
            continue;
        };
        // SAFETY: NUL-terminated arrays of valid C strings that outlive the call.
        unsafe { libc::execve(cpath.as_ptr(), argp.as_ptr(), envp.as_ptr()) };
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => {}
            Some(libc::EACCES) | Some(libc::EPERM) => {
                denied.get_or_insert((path.clone(), err));
            }
            _ => {
                other.get_or_insert((path.clone(), err));
            }
        }
    }
    if let Some((path, e)) = other {
        // ENOEXEC and friends: found, but it cannot run here.
        let code = if e.raw_os_error() == Some(libc::ENOEXEC) {
            126
        } else {
            127
        };
        return ExecError {
            code,
            message: format!("exec {path}: {e}"),
        };
    }
    if let Some((path, e)) = denied {
        return ExecError {
            code: 126,
            message: format!("exec {path}: {e}"),
        };
    }
    ExecError {
        code: 127,
        message: if cmd.contains('/') {
            format!("exec {cmd}: no such file or directory")
        } else {
            format!("exec {cmd:?}: executable file not found in $PATH")
        },
    }
}

/// Forwards the signals in `set` (blocked by the caller) to process `pid`
/// until it exits; its status as a shell reports it (128+signal when
/// killed, 126 when neither).
pub fn forward_until_exit(pid: libc::pid_t, set: &libc::sigset_t) -> u8 {
    loop {
        // SAFETY: siginfo is written by the kernel.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: a valid set and out pointer.
        let sig = unsafe { libc::sigwaitinfo(set, &mut info) };
        if sig < 0 {
            continue;
        }
        if sig == libc::SIGCHLD {
            let mut status = 0;
            // SAFETY: waitpid on our child.
            if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
                return if libc::WIFEXITED(status) {
                    libc::WEXITSTATUS(status) as u8
                } else if libc::WIFSIGNALED(status) {
                    (128 + libc::WTERMSIG(status)) as u8
                } else {
                    126
                };
            }
            continue;
        }
        // SAFETY: kill with integer arguments.
        unsafe { libc::kill(pid, sig) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        app:x:1000:1000::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\n\
        daemon:x:1:\n\
        wheel:x:10:app,other\n\
        app:x:1000:\n\
        audio:x:29:app\n";

    #[test]
    fn a_name_gets_its_passwd_ids_home_and_groups() {
        let u = resolve_user("app", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        assert_eq!(u.groups, vec![10, 29]);
        assert_eq!(u.home, "/home/app");
    }

    #[test]
    fn a_number_need_not_exist_and_gets_gid_0() {
        let u = resolve_user("4242", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 0, "/"));
        let u = resolve_user("1:1000", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid), (1, 1000));
        assert!(u.groups.is_empty());
    }

    #[test]
    fn user_and_group_by_name() {
        let u = resolve_user("daemon:wheel", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid), (1, 10));
    }

    #[test]
    fn unknown_names_are_errors_as_in_docker() {
        let e = resolve_user("nobody", PASSWD, GROUP).unwrap_err();
        assert_eq!(
            e,
            "unable to find user nobody: no matching entries in passwd file"
        );
        assert!(resolve_user("app:nogroup", PASSWD, GROUP).is_err());
    }

    #[test]
    fn env_flags_replace_earlier_keys_and_pass_ours_on() {
        let mut env = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        env_arg(&mut env, "A=2").unwrap();
        env_arg(&mut env, "B=x=y").unwrap();
        env_arg(&mut env, "SURELY_UNSET_HERE_42").unwrap();
        env_arg(&mut env, "PATH=/usr/bin").unwrap();
        tidy_env(&mut env);
        assert_eq!(env, ["PATH=/usr/bin", "A=2", "B=x=y"]);
        assert!(env_arg(&mut env, "=v").is_err());
    }

    #[test]
    fn a_huge_environment_merges_in_linear_time() {
        let mut env: Vec<String> = (0..200_000).map(|i| format!("K{i}=v")).collect();
        env.extend((0..200_000).map(|i| format!("K{i}=w")));
        tidy_env(&mut env);
        assert_eq!(env.len(), 200_000);
        assert_eq!(env[7], "K7=w");
    }

    #[test]
    fn exec_reports_not_found_as_127() {
        let e = exec(
            &["surely-not-a-command-here".into()],
            &["PATH=/nonexistent".into()],
        );
        assert_eq!(e.code, 127);
        assert!(e.message.contains("executable file not found"));
    }

    #[test]
    fn exec_of_a_non_executable_file_is_126() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("data");
        std::fs::write(&f, "x").unwrap();
        let e = exec(&[f.to_string_lossy().into_owned()], &[]);
        assert_eq!(e.code, 126, "{}", e.message);
    }
}
