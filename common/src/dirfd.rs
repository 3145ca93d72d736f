//! Walking trees through directory descriptors: every lookup is relative
//! to an open directory (no path is resolved again from the top), and
//! nothing is followed that should not be.

use crate::fsmeta::{Kind, Meta};
use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// An open directory.
pub struct Dir {
    fd: OwnedFd,
}

/// What looking at an entry opened on the way: its file (to read the
/// content) or its directory (to walk it).
pub enum Opened {
    File(File),
    Dir(Dir),
    None,
}

impl Dir {
    pub fn open(path: &Path) -> io::Result<Dir> {
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: valid C string.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor we own.
        Ok(Dir {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn openat(&self, name: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
        // SAFETY: valid descriptor and C string.
        let fd = unsafe {
            libc::openat(
                self.fd(),
                name.as_ptr(),
                flags | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor we own.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// The names in this directory, in byte order (not `.` or `..`).
    pub fn sorted_names(&self) -> io::Result<Vec<CString>> {
        let mut out = list_names(self.fd())?;
        out.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        Ok(out)
    }

    /// Opens a regular file of this directory for reading.
    pub fn open_file(&self, name: &CStr) -> io::Result<File> {
        Ok(File::from(self.openat(name, libc::O_RDONLY)?))
    }

    /// The entry's metadata. Directories are opened on the way (to be
    /// walked), and regular files too when `open_files` (to be read); the
    /// xattrs of what is opened are read through its descriptor, the rest
    /// by `path`, the entry's full path.
    pub fn entry(&self, name: &CStr, path: &Path, open_files: bool) -> io::Result<(Meta, Opened)> {
        // SAFETY: stat is plain data the kernel fills.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: valid descriptor, C string and out pointer.
        check(unsafe {
            libc::fstatat(self.fd(), name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW)
        })?;
        let fmt = st.st_mode & libc::S_IFMT;
        let (major, minor) = (libc::major(st.st_rdev), libc::minor(st.st_rdev));
        let (kind, opened) = match fmt {
            libc::S_IFREG if open_files => (Kind::File, Opened::File(self.open_file(name)?)),
            libc::S_IFREG => (Kind::File, Opened::None),
            libc::S_IFDIR => (
                Kind::Dir,
                Opened::Dir(Dir {
                    fd: self.openat(name, libc::O_RDONLY | libc::O_DIRECTORY)?,
                }),
            ),
            libc::S_IFLNK => {
                let mut buf = vec![0u8; libc::PATH_MAX as usize];
                // SAFETY: valid descriptor, C string and buffer.
                let n = unsafe {
                    libc::readlinkat(self.fd(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
                };
                if n < 0 {
                    return Err(io::Error::last_os_error());
                }
                buf.truncate(n as usize);
                (Kind::Symlink(buf), Opened::None)
            }
            libc::S_IFCHR => (Kind::Char { major, minor }, Opened::None),
            libc::S_IFBLK => (Kind::Block { major, minor }, Opened::None),
            libc::S_IFIFO => (Kind::Fifo, Opened::None),
            _ => (Kind::Socket, Opened::None),
        };
        let xattrs = match &opened {
            Opened::File(f) => fxattrs(f.as_raw_fd())?,
            Opened::Dir(d) => fxattrs(d.fd())?,
            Opened::None if kind == Kind::Socket => BTreeMap::new(),
            Opened::None => crate::fsmeta::xattrs(path)?,
        };
        let meta = Meta {
            size: if kind == Kind::File {
                st.st_size as u64
            } else {
                0
            },
            kind,
            mode: st.st_mode & 0o7777,
            uid: st.st_uid as u64,
            gid: st.st_gid as u64,
            mtime: st.st_mtime,
            mtime_nsec: st.st_mtime_nsec as u32,
            dev: st.st_dev,
            ino: st.st_ino,
            nlink: st.st_nlink,
            xattrs,
        };
        Ok((meta, opened))
    }
}

/// The names in the directory open as `dir` (not `.` or `..`), in the
/// order the filesystem gives them.
pub fn list_names(dir: RawFd) -> io::Result<Vec<CString>> {
    // fdopendir takes its descriptor, and a dup would share the offset:
    // open the directory afresh.
    // SAFETY: valid descriptor and C string.
    let raw = unsafe {
        libc::openat(
            dir,
            c".".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor we own, handed to fdopendir.
    let d = unsafe { libc::fdopendir(raw) };
    if d.is_null() {
        let e = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so the descriptor is still ours.
        unsafe { libc::close(raw) };
        return Err(e);
    }
    let mut out = Vec::new();
    loop {
        // SAFETY: readdir on a valid DIR*; the name is copied at once.
        let ent = unsafe { libc::readdir(d) };
        if ent.is_null() {
            break;
        }
        // SAFETY: d_name is NUL-terminated.
        let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) };
        if name.to_bytes() != b"." && name.to_bytes() != b".." {
            out.push(name.to_owned());
        }
    }
    // SAFETY: closes the DIR* and its descriptor.
    unsafe { libc::closedir(d) };
    Ok(out)
}

/// Extended attributes through a descriptor.
pub fn fxattrs(fd: RawFd) -> io::Result<BTreeMap<Vec<u8>, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut names = vec![0u8; 1024];
    let n = loop {
        // SAFETY: the buffer is as large as the length passed.
        let n = unsafe { libc::flistxattr(fd, names.as_mut_ptr().cast(), names.len()) };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ERANGE) => names.resize(names.len() * 4, 0),
            Some(libc::ENOTSUP) => return Ok(out),
            _ => return Err(e),
        }
    };
    names.truncate(n);
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let cname = CString::new(name).expect("split on NUL");
        // SAFETY: size query with a null buffer.
        let len = unsafe { libc::fgetxattr(fd, cname.as_ptr(), std::ptr::null_mut(), 0) };
        if len < 0 {
            continue;
        }
        let mut value = vec![0u8; len as usize];
        // SAFETY: the buffer is as large as the length passed.
        let len =
            unsafe { libc::fgetxattr(fd, cname.as_ptr(), value.as_mut_ptr().cast(), value.len()) };
        if len < 0 {
            continue;
        }
        value.truncate(len as usize);
        out.insert(name.to_vec(), value);
    }
    Ok(out)
}
