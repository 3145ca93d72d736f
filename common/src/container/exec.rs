//! Joining a running container, as runc's nsexec and nsenter(1) do: the
//! namespaces of its first process, opened from the host while their
//! /proc entries are still ours to read, then entered with setns(2).
//!
//! The PID namespace is special: setns only decides where the caller's
//! children are born. So the caller joins it first, forks, and the child
//! enters every other namespace, the mount namespace last.

use crate::container::cgroups::{Cgroup, CgroupError};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("open {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("join the container's {kind} namespace: {source}")]
    Setns {
        kind: &'static str,
        #[source]
        source: io::Error,
    },
}

/// The namespaces a container can have, in the order they are joined: the
/// user namespace first (it grants the rights to join the others), the
/// mount namespace last (it changes our root).
const KINDS: &[(&str, libc::c_int)] = &[
    ("user", libc::CLONE_NEWUSER),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("pid", libc::CLONE_NEWPID),
    ("mnt", libc::CLONE_NEWNS),
];

/// The namespaces of a process that differ from ours, open.
#[derive(Debug)]
pub struct Namespaces {
    open: Vec<(&'static str, libc::c_int, OwnedFd)>,
}

fn same(a: &str, b: &str) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

fn setns(kind: &'static str, nstype: libc::c_int, fd: &OwnedFd) -> Result<(), JoinError> {
    use crate::container::sys::{Linux, Syscall};
    Linux
        .setns(fd.as_raw_fd(), nstype)
        .map_err(|e| JoinError::Setns {
            kind,
            source: e.source,
        })
}

impl Namespaces {
    /// Opens `/proc/PID/ns/*` of process `pid`, leaving out each namespace
    /// we already are in (a container without its own user or cgroup
    /// namespace, say) and kinds this kernel does not have.
    pub fn open(pid: i32) -> Result<Namespaces, JoinError> {
        let mut open = Vec::new();
        for &(kind, nstype) in KINDS {
            let ours = format!("/proc/self/ns/{kind}");
            let theirs = format!("/proc/{pid}/ns/{kind}");
            if !std::path::Path::new(&ours).exists() || same(&ours, &theirs) {
                continue;
            }
            let f = File::open(&theirs).map_err(|source| JoinError::Open {
                path: theirs.clone(),
                source,
            })?;
            open.push((kind, nstype, OwnedFd::from(f)));
        }
        Ok(Namespaces { open })
    }

    /// Opens namespace files by path (a runtime spec's `namespaces[].path`,
    /// `/proc/PID/ns/net` or a bind mount of one), each with its kind as
    /// /proc names it (`net`, `mnt`…); they are joined in the usual order.
    pub fn open_paths(paths: &[(String, std::path::PathBuf)]) -> Result<Namespaces, JoinError> {
        let mut open = Vec::new();
        for &(kind, nstype) in KINDS {
            for (k, path) in paths.iter().filter(|(k, _)| k == kind) {
                let f = File::open(path).map_err(|source| JoinError::Open {
                    path: format!("{k} namespace {}", path.display()),
                    source,
                })?;
                open.push((kind, nstype, OwnedFd::from(f)));
            }
        }
        Ok(Namespaces { open })
    }

    /// Whether a namespace of this clone flag will be joined.
    pub fn joins(&self, nstype: libc::c_int) -> bool {
        self.open.iter().any(|(_, t, _)| *t == nstype)
    }

    /// The kinds that will be joined, in order.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.open.iter().map(|(k, _, _)| *k).collect()
    }

    /// Joins the container's user namespace, if it has one (rootless):
    /// joining its PID namespace needs the rights we have there. Then
    /// makes the children forked from now on members of its PID
    /// namespace; the caller's own PID namespace stays. The caller must be
    /// single threaded (the kernel refuses a user namespace otherwise).
    pub fn enter_pid_for_children(&self) -> Result<(), JoinError> {
        for nstype in [libc::CLONE_NEWUSER, libc::CLONE_NEWPID] {
            for (kind, t, fd) in &self.open {
                if *t == nstype {
                    setns(kind, *t, fd)?;
                }
            }
        }
        Ok(())
    }

    /// In a child forked after [`Self::enter_pid_for_children`]: joins
    /// the other namespaces. The caller must be single threaded (the
    /// kernel refuses a mount namespace otherwise). After the mount
    /// namespace, our root and working directory are the container's root.
    pub fn enter(&self) -> Result<(), JoinError> {
        for (kind, nstype, fd) in &self.open {
            if *nstype != libc::CLONE_NEWPID && *nstype != libc::CLONE_NEWUSER {
                setns(kind, *nstype, fd)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_namespaces_are_all_left_out() {
        let me = std::process::id() as i32;
        let ns = Namespaces::open(me).unwrap();
        assert!(ns.kinds().is_empty(), "{:?}", ns.kinds());
        // Nothing to join is no error.
        ns.enter_pid_for_children().unwrap();
    }

    #[test]
    fn a_missing_process_is_an_error_naming_its_path() {
        // PID numbers stop well below this.
        match Namespaces::open(i32::MAX) {
            Err(JoinError::Open { path, .. }) => assert!(path.starts_with("/proc/2147483647/")),
            other => panic!("{other:?}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}: {1}")]
    Os(&'static str, #[source] io::Error),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
}

/// A process forked to join a container, told to go; what its setup came
/// to is read from the error pipe, which closes when it execs.
pub struct Joining {
    pub pid: libc::pid_t,
    err: File,
}

/// Forks the process that joins a container (its PID namespace entered
/// for our children already). The child gets the `go` pipe to wait on
/// and the error pipe to write a failure code and message to, and runs
/// `child`, which execs or exits. The parent puts it in `cgroup`, then
/// says go. The caller must be single-threaded.
pub fn fork_joining(
    cgroup: Option<&Cgroup>,
    child: impl FnOnce(OwnedFd, OwnedFd),
) -> Result<Joining, StartError> {
    let pipe = || crate::container::process::pipe().map_err(|e| StartError::Os("create a pipe", e));
    let (go_rd, go_wr) = pipe()?;
    let (err_rd, err_wr) = pipe()?;
    // SAFETY: the caller is single-threaded; the child runs `child`, which
    // execs or _exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(StartError::Os("fork", io::Error::last_os_error()));
    }
    if pid == 0 {
        drop(go_wr);
        drop(err_rd);
        child(go_rd, err_wr);
        // SAFETY: `child` execs or exits; should it return, the fork ends
        // here without running the parent's destructors.
        unsafe { libc::_exit(127) }
    }
    drop(go_rd);
    drop(err_wr);
    if let Some(cg) = cgroup {
        if let Err(e) = cg.add(pid) {
            crate::container::process::kill_and_reap(pid);
            return Err(e.into());
        }
    }
    if let Err(e) = File::from(go_wr).write_all(b"g") {
        crate::container::process::kill_and_reap(pid);
        return Err(StartError::Os("start the process", e));
    }
    Ok(Joining {
        pid,
        err: File::from(err_rd),
    })
}

impl Joining {
    /// Waits until the process has exec'd (None), or its setup failed:
    /// then the code and message it wrote, the process reaped.
    pub fn setup_failure(mut self) -> Option<(u8, String)> {
        let mut msg = Vec::new();
        let _ = self.err.read_to_end(&mut msg);
        let (&code, text) = msg.split_first()?;
        // SAFETY: waitpid on our child.
        unsafe { libc::waitpid(self.pid, std::ptr::null_mut(), 0) };
        Some((code, crate::cli::one_line(&String::from_utf8_lossy(text))))
    }
}
