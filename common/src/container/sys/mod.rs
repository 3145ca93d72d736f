//! The runtime's one seam to the kernel for a container's filesystem (as
//! youki's `Syscall`): every mount, umount, node, link and root change
//! that container-run makes goes through `Syscall`, whose errors name the
//! call and the path. `Linux` makes the calls; `Recorder` writes them down
//! against a small model of the tree, so the mount plan is tested as a
//! table without root.

mod fake;
mod linux;

pub use fake::Recorder;
pub use linux::Linux;

use crate::mount::MountInfo;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

/// A call that failed: what it was, on which path, and the kernel's answer.
#[derive(Debug, thiserror::Error)]
#[error("{call}: {source}")]
pub struct SysError {
    /// The call and its paths, as `mount tmpfs on /dev`.
    pub call: String,
    #[source]
    pub source: io::Error,
}

impl SysError {
    pub fn new(call: impl Into<String>, source: io::Error) -> SysError {
        SysError {
            call: call.into(),
            source,
        }
    }
    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

impl From<SysError> for io::Error {
    fn from(e: SysError) -> io::Error {
        io::Error::new(e.source.kind(), e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, SysError>;

/// A file or directory opened (O_PATH) by the seam, with the path it was
/// opened by: a mount target inside the root is named by its descriptor,
/// so no symlink can move it, and by its path in messages.
#[derive(Debug)]
pub struct At {
    fd: OwnedFd,
    path: String,
}

impl At {
    pub fn new(fd: OwnedFd, path: impl Into<String>) -> At {
        At {
            fd,
            path: path.into(),
        }
    }
    pub fn path(&self) -> &str {
        &self.path
    }
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
    /// `/proc/self/fd/N`: how mount(2) is pointed at an open descriptor.
    pub fn proc_path(&self) -> CString {
        CString::new(format!("/proc/self/fd/{}", self.raw())).expect("no NUL")
    }
}

/// Where a mount comes from or goes.
#[derive(Clone, Copy, Debug)]
pub enum Loc<'a> {
    /// A path as the calling process sees it.
    Path(&'a Path),
    /// A filesystem's source name with no path behind it (`proc`, `tmpfs`).
    Name(&'a str),
    /// An opened file or directory.
    At(&'a At),
}

impl Loc<'_> {
    /// As messages and the recorder name it.
    pub fn describe(&self) -> String {
        match self {
            Loc::Path(p) => p.display().to_string(),
            Loc::Name(n) => n.to_string(),
            Loc::At(a) => a.path.clone(),
        }
    }
}

/// How `open` finds a path inside the root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Open {
    /// As it is; ENOENT when it is missing.
    Existing,
    /// A directory, made with its parents where missing.
    Dir,
    /// A file (or whatever is there), made empty with its parents where
    /// missing: a mount point for a file.
    File,
}

/// The calls a container's filesystem is made with. Paths inside the root
/// are resolved there (openat2 RESOLVE_IN_ROOT): a symlink in the image
/// never leads out of it.
pub trait Syscall {
    /// A directory of the caller's, opened O_PATH.
    fn open_dir(&self, path: &Path) -> Result<At>;
    /// `path` inside `root`.
    fn open(&self, root: &At, path: &str, how: Open) -> Result<At>;
    fn is_dir(&self, at: &At) -> Result<bool>;
    fn mount(
        &self,
        source: Option<Loc>,
        target: Loc,
        fstype: Option<&str>,
        flags: libc::c_ulong,
        data: Option<&str>,
    ) -> Result<()>;
    fn umount(&self, target: Loc, flags: libc::c_int) -> Result<()>;
    /// mount_setattr(2) with AT_RECURSIVE: ENOSYS on kernels before 5.12.
    fn set_attr_recursive(&self, target: &At, attr: u64) -> Result<()>;
    /// The MS_* flags the mount at `target` has now (from statvfs).
    fn mount_flags(&self, target: Loc) -> libc::c_ulong;
    fn fchdir(&self, dir: &At) -> Result<()>;
    fn chdir(&self, path: &Path) -> Result<()>;
    /// pivot_root(".", "."): the old root stacked on the new one.
    fn pivot_root_here(&self) -> Result<()>;
    fn chroot_here(&self) -> Result<()>;
    fn write(&self, path: &Path, data: &str) -> Result<()>;
    fn mknod(&self, dir: &At, name: &str, mode: libc::mode_t, dev: libc::dev_t) -> Result<()>;
    fn chmod(&self, dir: &At, name: &str, mode: libc::mode_t) -> Result<()>;
    /// fchownat with AT_SYMLINK_NOFOLLOW.
    fn chown(&self, dir: &At, name: &str, uid: u32, gid: u32) -> Result<()>;
    fn unlink(&self, dir: &At, name: &str) -> Result<()>;
    fn symlink(&self, dir: &At, name: &str, target: &str) -> Result<()>;
    fn mkdir(&self, dir: &At, name: &str, mode: libc::mode_t) -> Result<()>;
    fn setgroups(&self, groups: &[libc::gid_t]) -> Result<()>;
    fn setresgid(&self, gid: libc::gid_t) -> Result<()>;
    fn setresuid(&self, uid: libc::uid_t) -> Result<()>;
    /// setns(2) into the namespace open as `fd`.
    fn setns(&self, fd: RawFd, nstype: libc::c_int) -> Result<()>;
    fn setsid(&self) -> Result<()>;
    /// unshare(2) with CLONE_NEW* flags.
    fn unshare(&self, flags: libc::c_int) -> Result<()>;
    fn sethostname(&self, name: &str) -> Result<()>;
    /// keyctl(KEYCTL_JOIN_SESSION_KEYRING): a new session keyring `name`.
    fn join_session_keyring(&self, name: &str) -> Result<()>;
    fn setrlimit(&self, resource: libc::c_int, soft: u64, hard: u64) -> Result<()>;
    fn umask(&self, mask: libc::mode_t);
    /// This mount namespace's mounts.
    fn mountinfo(&self) -> Result<Vec<MountInfo>>;
    /// What the host offers: a cgroup v2 hierarchy at /sys/fs/cgroup, and
    /// overlayfs's module parameter `name`.
    fn cgroup2(&self) -> bool;
    fn overlay_param(&self, name: &str) -> bool;
}

/// mount(2)'s flags as words, for messages and the recorder.
pub fn flag_words(flags: libc::c_ulong) -> String {
    const NAMES: &[(libc::c_ulong, &str)] = &[
        (libc::MS_REMOUNT, "remount"),
        (libc::MS_BIND, "bind"),
        (libc::MS_MOVE, "move"),
        (libc::MS_REC, "rec"),
        (libc::MS_RDONLY, "ro"),
        (libc::MS_NOSUID, "nosuid"),
        (libc::MS_NODEV, "nodev"),
        (libc::MS_NOEXEC, "noexec"),
        (libc::MS_PRIVATE, "private"),
        (libc::MS_SLAVE, "slave"),
        (libc::MS_SHARED, "shared"),
        (libc::MS_UNBINDABLE, "unbindable"),
        (libc::MS_STRICTATIME, "strictatime"),
        (libc::MS_NOATIME, "noatime"),
        (libc::MS_NODIRATIME, "nodiratime"),
        (libc::MS_RELATIME, "relatime"),
    ];
    words(flags, NAMES)
}

/// The names of the bits set in `flags`, comma-separated.
fn words<T: Copy + std::ops::BitAnd<Output = T> + PartialEq + Default>(
    flags: T,
    names: &[(T, &str)],
) -> String {
    let set: Vec<&str> = names
        .iter()
        .filter(|(f, _)| flags & *f != T::default())
        .map(|(_, n)| *n)
        .collect();
    set.join(",")
}

/// CLONE_NEW* flags as words.
pub fn ns_words(flags: libc::c_int) -> String {
    const NAMES: &[(libc::c_int, &str)] = &[
        (libc::CLONE_NEWNS, "mount"),
        (libc::CLONE_NEWUTS, "uts"),
        (libc::CLONE_NEWIPC, "ipc"),
        (libc::CLONE_NEWUSER, "user"),
        (libc::CLONE_NEWPID, "pid"),
        (libc::CLONE_NEWNET, "net"),
        (libc::CLONE_NEWCGROUP, "cgroup"),
    ];
    words(flags, NAMES)
}

/// How a mount call is named in messages: `mount tmpfs on /dev`.
fn mount_call(
    source: Option<Loc>,
    target: Loc,
    fstype: Option<&str>,
    flags: libc::c_ulong,
) -> String {
    let what = match (source, fstype) {
        (Some(s), _) => s.describe(),
        (None, Some(t)) => t.to_string(),
        (None, None) if flags & libc::MS_REMOUNT != 0 => "remount".to_string(),
        (None, None) => "propagation".to_string(),
    };
    format!("mount {what} on {}", target.describe())
}
