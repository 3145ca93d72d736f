//! The seam's calls made for real.

use super::{mount_call, At, Loc, Open, Result, SysError, Syscall};
use crate::apply::{mkdir_all_in_root, openat_in_root};
use crate::mount::MountInfo;
use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

/// The kernel.
pub struct Linux;

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in a path"))
}

fn loc_cstr(l: Loc) -> io::Result<CString> {
    match l {
        Loc::Path(p) => CString::new(p.as_os_str().as_encoded_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in a path")),
        Loc::Name(n) => cstr(n),
        Loc::At(a) => Ok(a.proc_path()),
    }
}

fn check(rc: libc::c_long) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl Linux {
    fn touch(&self, root: &At, path: &str) -> io::Result<OwnedFd> {
        if let Some((parent, _)) = path.trim_end_matches('/').rsplit_once('/') {
            mkdir_all_in_root(root.raw(), parent.as_bytes())?;
        }
        match openat_in_root(root.raw(), path.as_bytes(), libc::O_PATH, 0) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                let flags = libc::O_CREAT | libc::O_WRONLY | libc::O_NOFOLLOW;
                drop(openat_in_root(root.raw(), path.as_bytes(), flags, 0o644)?);
                openat_in_root(root.raw(), path.as_bytes(), libc::O_PATH, 0)
            }
            r => r,
        }
    }

    fn at_name(name: &str) -> io::Result<CString> {
        if name.contains('/') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a name with a '/'",
            ));
        }
        cstr(name)
    }
}

impl Syscall for Linux {
    fn open_dir(&self, path: &Path) -> Result<At> {
        let call = || format!("open {}", path.display());
        let c = loc_cstr(Loc::Path(path)).map_err(|e| SysError::new(call(), e))?;
        // SAFETY: a valid C string.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        check(fd.into()).map_err(|e| SysError::new(call(), e))?;
        // SAFETY: a descriptor we just opened.
        Ok(At::new(
            unsafe { OwnedFd::from_raw_fd(fd) },
            path.display().to_string(),
        ))
    }

    fn open(&self, root: &At, path: &str, how: Open) -> Result<At> {
        let (fd, verb) = match how {
            Open::Existing => (
                openat_in_root(root.raw(), path.as_bytes(), libc::O_PATH, 0),
                "open",
            ),
            Open::Dir => (
                mkdir_all_in_root(root.raw(), path.as_bytes()),
                "create directory",
            ),
            Open::File => (self.touch(root, path), "create file"),
        };
        fd.map(|fd| At::new(fd, path))
            .map_err(|e| SysError::new(format!("{verb} {path}"), e))
    }

    fn is_dir(&self, at: &At) -> Result<bool> {
        // SAFETY: stat is plain data written by the kernel.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: a valid descriptor and out pointer.
        check(unsafe { libc::fstat(at.raw(), &mut st) }.into())
            .map_err(|e| SysError::new(format!("stat {}", at.path()), e))?;
        Ok(st.st_mode & libc::S_IFMT == libc::S_IFDIR)
    }

    fn mount(
        &self,
        source: Option<Loc>,
        target: Loc,
        fstype: Option<&str>,
        flags: libc::c_ulong,
        data: Option<&str>,
    ) -> Result<()> {
        let call = || mount_call(source, target, fstype, flags);
        let r = (|| {
            let source = source.map(loc_cstr).transpose()?;
            let target = loc_cstr(target)?;
            let fstype = fstype.map(cstr).transpose()?;
            let data = data.map(cstr).transpose()?;
            crate::mount::mount(
                source.as_deref(),
                &target,
                fstype.as_deref(),
                flags,
                data.as_deref(),
            )
        })();
        r.map_err(|e| SysError::new(call(), e))
    }

    fn umount(&self, target: Loc, flags: libc::c_int) -> Result<()> {
        let call = || format!("umount {}", target.describe());
        let c = loc_cstr(target).map_err(|e| SysError::new(call(), e))?;
        crate::mount::umount(&c, flags).map_err(|e| SysError::new(call(), e))
    }

    fn set_attr_recursive(&self, target: &At, attr: u64) -> Result<()> {
        crate::mount::set_attr_recursive(target.raw(), attr)
            .map_err(|e| SysError::new(format!("mount_setattr {}", target.path()), e))
    }

    fn mount_flags(&self, target: Loc) -> libc::c_ulong {
        let Ok(c) = loc_cstr(target) else { return 0 };
        // SAFETY: statvfs is plain data written by the kernel.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: a valid C string and out pointer.
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } < 0 {
            return 0;
        }
        [
            (libc::ST_RDONLY, libc::MS_RDONLY),
            (libc::ST_NOSUID, libc::MS_NOSUID),
            (libc::ST_NODEV, libc::MS_NODEV),
            (libc::ST_NOEXEC, libc::MS_NOEXEC),
            (libc::ST_NOATIME, libc::MS_NOATIME),
            (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
            (libc::ST_RELATIME, libc::MS_RELATIME),
        ]
        .into_iter()
        .filter(|(st_flag, _)| st.f_flag & st_flag != 0)
        .fold(0, |acc, (_, ms)| acc | ms)
    }

    fn fchdir(&self, dir: &At) -> Result<()> {
        // SAFETY: a valid directory descriptor.
        check(unsafe { libc::fchdir(dir.raw()) }.into())
            .map_err(|e| SysError::new(format!("chdir {}", dir.path()), e))
    }

    fn chdir(&self, path: &Path) -> Result<()> {
        std::env::set_current_dir(path)
            .map_err(|e| SysError::new(format!("chdir {}", path.display()), e))
    }

    fn pivot_root_here(&self) -> Result<()> {
        // SAFETY: valid C strings.
        check(unsafe { libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) })
            .map_err(|e| SysError::new("pivot_root . .", e))
    }

    fn chroot_here(&self) -> Result<()> {
        // SAFETY: a valid C string.
        check(unsafe { libc::chroot(c".".as_ptr()) }.into())
            .map_err(|e| SysError::new("chroot .", e))
    }

    fn write(&self, path: &Path, data: &str) -> Result<()> {
        std::fs::write(path, data)
            .map_err(|e| SysError::new(format!("write {}", path.display()), e))
    }

    fn mknod(&self, dir: &At, name: &str, mode: libc::mode_t, dev: libc::dev_t) -> Result<()> {
        let call = || format!("mknod {}/{name}", dir.path());
        let n = Self::at_name(name).map_err(|e| SysError::new(call(), e))?;
        // SAFETY: a valid descriptor and C string.
        check(unsafe { libc::mknodat(dir.raw(), n.as_ptr(), mode, dev) }.into())
            .map_err(|e| SysError::new(call(), e))
    }

    fn chmod(&self, dir: &At, name: &str, mode: libc::mode_t) -> Result<()> {
        let call = || format!("chmod {}/{name}", dir.path());
        let n = Self::at_name(name).map_err(|e| SysError::new(call(), e))?;
        // SAFETY: a valid descriptor and C string.
        check(unsafe { libc::fchmodat(dir.raw(), n.as_ptr(), mode, 0) }.into())
            .map_err(|e| SysError::new(call(), e))
    }

    fn chown(&self, dir: &At, name: &str, uid: u32, gid: u32) -> Result<()> {
        let call = || format!("chown {}/{name}", dir.path());
        let n = Self::at_name(name).map_err(|e| SysError::new(call(), e))?;
        let flags = libc::AT_SYMLINK_NOFOLLOW;
        // SAFETY: a valid descriptor and C string.
        check(unsafe { libc::fchownat(dir.raw(), n.as_ptr(), uid, gid, flags) }.into())
            .map_err(|e| SysError::new(call(), e))
    }

    fn unlink(&self, dir: &At, name: &str) -> Result<()> {
        let call = || format!("unlink {}/{name}", dir.path());
        let n = Self::at_name(name).map_err(|e| SysError::new(call(), e))?;
        // SAFETY: a valid descriptor and C string.
        check(unsafe { libc::unlinkat(dir.raw(), n.as_ptr(), 0) }.into())
            .map_err(|e| SysError::new(call(), e))
    }

    fn symlink(&self, dir: &At, name: &str, target: &str) -> Result<()> {
        let call = || format!("symlink {}/{name} -> {target}", dir.path());
        let n = Self::at_name(name).map_err(|e| SysError::new(call(), e))?;
        let t = cstr(target).map_err(|e| SysError::new(call(), e))?;
        // SAFETY: a valid descriptor and C strings.
        check(unsafe { libc::symlinkat(t.as_ptr(), dir.raw(), n.as_ptr()) }.into())
            .map_err(|e| SysError::new(call(), e))
    }

    fn mkdir(&self, dir: &At, name: &str, mode: libc::mode_t) -> Result<()> {
        let call = || format!("mkdir {}/{name}", dir.path());
        let n = Self::at_name(name).map_err(|e| SysError::new(call(), e))?;
        // SAFETY: a valid descriptor and C string.
        check(unsafe { libc::mkdirat(dir.raw(), n.as_ptr(), mode) }.into())
            .map_err(|e| SysError::new(call(), e))
    }

    fn setgroups(&self, groups: &[libc::gid_t]) -> Result<()> {
        // SAFETY: pointer and length of a live slice.
        check(unsafe { libc::setgroups(groups.len(), groups.as_ptr()) }.into())
            .map_err(|e| SysError::new(format!("setgroups {groups:?}"), e))
    }

    fn setresgid(&self, gid: libc::gid_t) -> Result<()> {
        // SAFETY: integer arguments.
        check(unsafe { libc::setresgid(gid, gid, gid) }.into())
            .map_err(|e| SysError::new(format!("setresgid {gid}"), e))
    }

    fn setresuid(&self, uid: libc::uid_t) -> Result<()> {
        // SAFETY: integer arguments.
        check(unsafe { libc::setresuid(uid, uid, uid) }.into())
            .map_err(|e| SysError::new(format!("setresuid {uid}"), e))
    }

    fn setns(&self, fd: std::os::fd::RawFd, nstype: libc::c_int) -> Result<()> {
        // SAFETY: setns with a descriptor and a namespace type.
        check(unsafe { libc::setns(fd, nstype) }.into())
            .map_err(|e| SysError::new(format!("setns {}", super::ns_words(nstype)), e))
    }

    fn setsid(&self) -> Result<()> {
        // SAFETY: setsid has no preconditions.
        check(unsafe { libc::setsid() }.into()).map_err(|e| SysError::new("setsid", e))
    }

    fn unshare(&self, flags: libc::c_int) -> Result<()> {
        // SAFETY: unshare with flags; no memory is shared.
        check(unsafe { libc::unshare(flags) }.into())
            .map_err(|e| SysError::new(format!("unshare {}", super::ns_words(flags)), e))
    }

    fn sethostname(&self, name: &str) -> Result<()> {
        // SAFETY: pointer and length of a live buffer.
        check(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }.into())
            .map_err(|e| SysError::new(format!("sethostname {name}"), e))
    }

    fn join_session_keyring(&self, name: &str) -> Result<()> {
        const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
        let call = || format!("keyctl join {name}");
        let ring = cstr(name).map_err(|e| SysError::new(call(), e))?;
        // SAFETY: keyctl with a valid C string.
        check(unsafe {
            libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, ring.as_ptr())
        })
        .map_err(|e| SysError::new(call(), e))
    }

    fn setrlimit(&self, resource: libc::c_int, soft: u64, hard: u64) -> Result<()> {
        let lim = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: a valid rlimit struct.
        check(unsafe { libc::setrlimit(resource as _, &lim) }.into())
            .map_err(|e| SysError::new(format!("setrlimit {resource} {soft}:{hard}"), e))
    }

    fn umask(&self, mask: libc::mode_t) {
        // SAFETY: umask cannot fail.
        unsafe { libc::umask(mask & 0o777) };
    }

    fn mountinfo(&self) -> Result<Vec<MountInfo>> {
        crate::mount::mounts().map_err(|e| SysError::new("read /proc/self/mountinfo", e))
    }

    fn cgroup2(&self) -> bool {
        crate::container::cgroups::hierarchy() == crate::container::cgroups::Hierarchy::V2
    }

    fn overlay_param(&self, name: &str) -> bool {
        Path::new("/sys/module/overlay/parameters")
            .join(name)
            .exists()
    }
}
