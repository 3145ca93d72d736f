//! What a layer records of a filesystem entry, read with lstat and
//! llistxattr: type, mode, owner, size, mtime with nanoseconds, xattrs, and
//! the device and inode that tell hard links apart.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink(Vec<u8>),
    Char { major: u32, minor: u32 },
    Block { major: u32, minor: u32 },
    Fifo,
    Socket,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    pub kind: Kind,
    /// Permission bits with setuid, setgid and sticky (07777).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub mtime: i64,
    pub mtime_nsec: u32,
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
}

/// Extended attributes of a path, not following a final symlink.
pub fn xattrs(path: &Path) -> io::Result<BTreeMap<Vec<u8>, Vec<u8>>> {
    let c = cpath(path)?;
    let mut out = BTreeMap::new();
    // SAFETY: a null buffer of size 0 asks for the needed size.
    let n = unsafe { libc::llistxattr(c.as_ptr(), std::ptr::null_mut(), 0) };
    if n < 0 {
        let e = io::Error::last_os_error();
        // Filesystems without xattr support have none to keep.
        return match e.raw_os_error() {
            Some(libc::ENOTSUP) => Ok(out),
            _ => Err(e),
        };
    }
    if n == 0 {
        return Ok(out);
    }
    let mut names = vec![0u8; n as usize];
    // SAFETY: the buffer is as large as the length passed.
    let n = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    names.truncate(n as usize);
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let cname = CString::new(name).expect("split on NUL");
        // SAFETY: size query with a null buffer.
        let len = unsafe { libc::lgetxattr(c.as_ptr(), cname.as_ptr(), std::ptr::null_mut(), 0) };
        if len < 0 {
            continue; // removed meanwhile
        }
        let mut value = vec![0u8; len as usize];
        // SAFETY: the buffer is as large as the length passed.
        let len = unsafe {
            libc::lgetxattr(
                c.as_ptr(),
                cname.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        if len < 0 {
            continue;
        }
        value.truncate(len as usize);
        out.insert(name.to_vec(), value);
    }
    Ok(out)
}

impl Meta {
    /// lstat plus xattrs.
    pub fn read(path: &Path) -> io::Result<Meta> {
        let m = std::fs::symlink_metadata(path)?;
        let ft = m.file_type();
        let rdev = m.rdev();
        let (major, minor) = (libc::major(rdev), libc::minor(rdev));
        let kind = if ft.is_file() {
            Kind::File
        } else if ft.is_dir() {
            Kind::Dir
        } else if ft.is_symlink() {
            Kind::Symlink(std::fs::read_link(path)?.as_os_str().as_bytes().to_vec())
        } else if ft.is_char_device() {
            Kind::Char { major, minor }
        } else if ft.is_block_device() {
            Kind::Block { major, minor }
        } else if ft.is_fifo() {
            Kind::Fifo
        } else {
            Kind::Socket
        };
        let xattrs = if kind == Kind::Socket {
            BTreeMap::new()
        } else {
            xattrs(path)?
        };
        Ok(Meta {
            size: if kind == Kind::File { m.len() } else { 0 },
            kind,
            mode: m.mode() & 0o7777,
            uid: m.uid() as u64,
            gid: m.gid() as u64,
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec() as u32,
            dev: m.dev(),
            ino: m.ino(),
            nlink: m.nlink(),
            xattrs,
        })
    }

    /// Overlayfs keeps its bookkeeping in xattrs; none of it belongs in a layer.
    pub fn drop_overlay_xattrs(&mut self) {
        self.xattrs
            .retain(|k, _| !k.starts_with(b"trusted.overlay.") && !k.starts_with(b"user.overlay."));
    }
}

/// The bytes of a file name.
pub fn name_bytes(n: &OsStr) -> &[u8] {
    n.as_bytes()
}
