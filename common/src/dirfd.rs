//! Walking trees through directory descriptors: every lookup is relative
//! to an open directory (no path is resolved again from the top), and
//! nothing is followed that should not be.
//!
//! A walk costs the kernel a few microseconds per call on any filesystem,
//! so this module asks once per thing it needs: one `getdents64` into a
//! large buffer per directory, one `fstatat` per entry, and one
//! `listxattrat` (Linux 6.13) where older kernels resolve a whole path.

use crate::fsmeta::{Kind, Meta};
use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

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
    /// Whether `read_names` moved the offset, so the next one rewinds.
    listed: bool,
}

impl From<Dir> for OwnedFd {
    fn from(d: Dir) -> OwnedFd {
        d.fd
    }
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
        Ok(Dir::from_fd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn from_fd(fd: OwnedFd) -> Dir {
        Dir { fd, listed: false }
    }

    /// A directory already open for reading (`O_RDONLY | O_DIRECTORY`),
    /// as one resolved inside a root by `apply::openat_in_root`.
    pub fn from_owned(fd: OwnedFd) -> Dir {
        Dir::from_fd(fd)
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

    /// The names in this directory, in byte order, read through this very
    /// descriptor (hence `&mut`: two readers would share its offset).
    pub fn read_names(&mut self) -> io::Result<Names> {
        if self.listed {
            // SAFETY: valid descriptor.
            if unsafe { libc::lseek(self.fd(), 0, libc::SEEK_SET) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        self.listed = true;
        let mut names = read_dir(self.fd())?;
        names.sort();
        Ok(names)
    }

    /// Opens a regular file of this directory for reading.
    pub fn open_file(&self, name: &CStr) -> io::Result<File> {
        Ok(File::from(self.openat(name, libc::O_RDONLY)?))
    }

    /// Opens a subdirectory, never through a symlink.
    pub fn open_dir(&self, name: &CStr) -> io::Result<Dir> {
        Ok(Dir::from_fd(
            self.openat(name, libc::O_RDONLY | libc::O_DIRECTORY)?,
        ))
    }

    fn lstat(&self, name: &CStr) -> io::Result<libc::stat> {
        // SAFETY: stat is plain data the kernel fills.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: valid descriptor, C string and out pointer.
        check(unsafe {
            libc::fstatat(self.fd(), name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW)
        })?;
        Ok(st)
    }

    fn kind(&self, name: &CStr, st: &libc::stat) -> io::Result<Kind> {
        let (major, minor) = (libc::major(st.st_rdev), libc::minor(st.st_rdev));
        Ok(match st.st_mode & libc::S_IFMT {
            libc::S_IFREG => Kind::File,
            libc::S_IFDIR => Kind::Dir,
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
                Kind::Symlink(buf)
            }
            libc::S_IFCHR => Kind::Char { major, minor },
            libc::S_IFBLK => Kind::Block { major, minor },
            libc::S_IFIFO => Kind::Fifo,
            _ => Kind::Socket,
        })
    }

    /// The entry's metadata, opening nothing: one `fstatat`, a `readlinkat`
    /// for a symlink, and its xattrs. `path` (the entry's full path) is
    /// called only on kernels without `listxattrat`.
    pub fn meta_at(&self, name: &CStr, path: impl FnOnce() -> PathBuf) -> io::Result<Meta> {
        let mut m = self.stat_at(name)?;
        if m.kind != Kind::Socket {
            m.xattrs = xattrs_at(self.fd(), name, path)?;
        }
        Ok(m)
    }

    /// `meta_at` without the xattrs, for one who reads them later through
    /// a descriptor it opens anyway (`fxattrs`).
    pub fn stat_at(&self, name: &CStr) -> io::Result<Meta> {
        let st = self.lstat(name)?;
        let kind = self.kind(name, &st)?;
        Ok(meta_of(&st, kind, BTreeMap::new()))
    }

    /// The entry's metadata. Directories are opened on the way (to be
    /// walked), and regular files too when `open_files` (to be read); the
    /// xattrs of what is opened are read through its descriptor. `path`
    /// (the entry's full path) is called only on kernels without
    /// `listxattrat`.
    pub fn entry(
        &self,
        name: &CStr,
        open_files: bool,
        path: impl FnOnce() -> PathBuf,
    ) -> io::Result<(Meta, Opened)> {
        let st = self.lstat(name)?;
        let kind = self.kind(name, &st)?;
        let opened = match kind {
            Kind::File if open_files => Opened::File(self.open_file(name)?),
            Kind::Dir => Opened::Dir(self.open_dir(name)?),
            _ => Opened::None,
        };
        let xattrs = match &opened {
            Opened::File(f) => fxattrs(f.as_raw_fd())?,
            Opened::Dir(d) => fxattrs(d.fd())?,
            Opened::None if kind == Kind::Socket => BTreeMap::new(),
            Opened::None => xattrs_at(self.fd(), name, path)?,
        };
        Ok((meta_of(&st, kind, xattrs), opened))
    }
}

fn meta_of(st: &libc::stat, kind: Kind, xattrs: BTreeMap<Vec<u8>, Vec<u8>>) -> Meta {
    Meta {
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
    }
}

/// The names of one directory: all in one buffer, with the inode number
/// and type `getdents64` gave each.
#[derive(Default)]
pub struct Names {
    /// The names back to back, each with its NUL.
    buf: Vec<u8>,
    ents: Vec<NameEnt>,
}

#[derive(Clone, Copy)]
struct NameEnt {
    start: usize,
    /// Without the NUL.
    len: usize,
    ino: u64,
}

impl Names {
    pub fn len(&self) -> usize {
        self.ents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ents.is_empty()
    }

    /// The `i`th name; panics past the end, as slices do.
    pub fn get(&self, i: usize) -> &CStr {
        let e = self.ents[i];
        // SAFETY: `push` copied the name up to and with its first NUL.
        unsafe { CStr::from_bytes_with_nul_unchecked(&self.buf[e.start..=e.start + e.len]) }
    }

    /// The `i`th name's bytes, without the NUL.
    pub fn bytes(&self, i: usize) -> &[u8] {
        let e = self.ents[i];
        &self.buf[e.start..e.start + e.len]
    }

    /// The inode number the directory lists for the `i`th name.
    pub fn ino(&self, i: usize) -> u64 {
        self.ents[i].ino
    }

    pub fn iter(&self) -> impl Iterator<Item = &CStr> {
        (0..self.len()).map(|i| self.get(i))
    }

    fn push(&mut self, name: &[u8], ino: u64) {
        let start = self.buf.len();
        self.buf.extend_from_slice(name);
        self.buf.push(0);
        self.ents.push(NameEnt {
            start,
            len: name.len(),
            ino,
        });
    }

    fn sort(&mut self) {
        let buf = &self.buf;
        self.ents.sort_unstable_by(|a, b| {
            buf[a.start..a.start + a.len].cmp(&buf[b.start..b.start + b.len])
        });
    }
}

/// Reads all of the directory open as `fd` from its current offset, with
/// `getdents64` into one large buffer (readdir's is 32 KiB per call).
fn read_dir(fd: RawFd) -> io::Result<Names> {
    // d_ino, d_off, d_reclen, d_type, then the name.
    const HEAD: usize = 19;
    // Not zeroed: only what the kernel wrote is read back.
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut out = Names::default();
    loop {
        // SAFETY: valid descriptor, and a buffer with room for the length
        // passed; the kernel writes the `n` bytes it returns.
        let n =
            unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.capacity()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Ok(out);
        }
        // SAFETY: the kernel initialized the first `n` bytes.
        unsafe { buf.set_len(n as usize) };
        let mut rec = &buf[..];
        while rec.len() >= HEAD {
            let ino = u64::from_ne_bytes(rec[..8].try_into().unwrap_or_default());
            let reclen = u16::from_ne_bytes([rec[16], rec[17]]) as usize;
            if reclen < HEAD || reclen > rec.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "getdents64 returned a malformed record",
                ));
            }
            let field = &rec[HEAD..reclen];
            let name = &field[..field.iter().position(|b| *b == 0).unwrap_or(field.len())];
            if name != b"." && name != b".." {
                out.push(name, ino);
            }
            rec = &rec[reclen..];
        }
    }
}

/// The names in the directory open as `dir` (not `.` or `..`), in the
/// order the filesystem gives them.
pub fn list_names(dir: RawFd) -> io::Result<Vec<CString>> {
    // A descriptor of our own, so the caller's offset stays where it was.
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
    // SAFETY: a new descriptor we own.
    let own = unsafe { OwnedFd::from_raw_fd(raw) };
    let names = read_dir(own.as_raw_fd())?;
    Ok(names.iter().map(CStr::to_owned).collect())
}

/// `listxattrat` and `getxattrat` (Linux 6.13) share one number on the
/// architectures that took the common syscall table.
#[cfg(any(
    target_arch = "x86_64",
    target_arch = "x86",
    target_arch = "aarch64",
    target_arch = "arm",
    target_arch = "riscv64",
    target_arch = "loongarch64",
    target_arch = "powerpc64",
    target_arch = "s390x"
))]
mod xattrat {
    pub const GET: libc::c_long = 464;
    pub const LIST: libc::c_long = 465;
}
#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "x86",
    target_arch = "aarch64",
    target_arch = "arm",
    target_arch = "riscv64",
    target_arch = "loongarch64",
    target_arch = "powerpc64",
    target_arch = "s390x"
)))]
mod xattrat {
    // Unknown numbering: ENOSYS sends every call to the path fallback.
    pub const GET: libc::c_long = -1;
    pub const LIST: libc::c_long = -1;
}

/// Set once the kernel (or a seccomp filter) has refused the `*xattrat`
/// calls: the rest of the walk goes by path straight away.
static NO_XATTRAT: AtomicBool = AtomicBool::new(false);

/// `getxattrat`'s argument block (include/uapi/linux/xattr.h).
#[repr(C)]
struct XattrArgs {
    value: u64,
    size: u32,
    flags: u32,
}

/// A raw `*xattrat` call: the result, or the errno.
fn xattrat_ret(n: libc::c_long) -> Result<usize, i32> {
    if n < 0 {
        Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(n as usize)
    }
}

fn list_at(dir: RawFd, name: &CStr, buf: &mut [u8]) -> Result<usize, i32> {
    if xattrat::LIST < 0 {
        return Err(libc::ENOSYS);
    }
    // SAFETY: valid descriptor and C string; the buffer is as large as the
    // length passed (a null one with length 0 asks for the size).
    xattrat_ret(unsafe {
        libc::syscall(
            xattrat::LIST,
            dir,
            name.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
            if buf.is_empty() {
                std::ptr::null_mut()
            } else {
                buf.as_mut_ptr()
            },
            buf.len(),
        )
    })
}

fn get_at(dir: RawFd, name: &CStr, attr: &CStr, buf: &mut [u8]) -> Result<usize, i32> {
    let mut args = XattrArgs {
        value: if buf.is_empty() {
            0
        } else {
            buf.as_mut_ptr() as u64
        },
        size: u32::try_from(buf.len()).unwrap_or(u32::MAX),
        flags: 0,
    };
    // SAFETY: valid descriptor and C strings; `args` points at a buffer
    // at least as large as the size it gives.
    xattrat_ret(unsafe {
        libc::syscall(
            xattrat::GET,
            dir,
            name.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
            attr.as_ptr(),
            &mut args as *mut XattrArgs,
            std::mem::size_of::<XattrArgs>(),
        )
    })
}

/// Extended attributes of `name` in `dir`, not following a final symlink.
/// On kernels before 6.13 they are read by `path()`.
pub fn xattrs_at(
    dir: RawFd,
    name: &CStr,
    path: impl FnOnce() -> PathBuf,
) -> io::Result<BTreeMap<Vec<u8>, Vec<u8>>> {
    if !NO_XATTRAT.load(Ordering::Relaxed) {
        match xattrs_at_fd(dir, name) {
            // EPERM is what older seccomp profiles answer for calls they
            // do not know; the path calls then give the real answer.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                NO_XATTRAT.store(true, Ordering::Relaxed)
            }
            r => return r,
        }
    }
    crate::fsmeta::xattrs(&path())
}

fn xattrs_at_fd(dir: RawFd, name: &CStr) -> io::Result<BTreeMap<Vec<u8>, Vec<u8>>> {
    let mut out = BTreeMap::new();
    // Most entries have no xattrs, some a few: one call, nothing allocated
    // (the kernel allocates as much as it is offered, so not much).
    let mut small = [0u8; 256];
    let mut big = Vec::new();
    let names: &[u8] = match list_at(dir, name, &mut small) {
        Ok(0) => return Ok(out),
        Ok(n) => &small[..n],
        Err(libc::ENOTSUP) => return Ok(out),
        Err(libc::ERANGE) => loop {
            let need = list_at(dir, name, &mut []).map_err(io::Error::from_raw_os_error)?;
            big.resize(need, 0);
            match list_at(dir, name, &mut big) {
                Ok(n) => break &big[..n],
                // Grown meanwhile: ask again.
                Err(libc::ERANGE) => continue,
                Err(e) => return Err(io::Error::from_raw_os_error(e)),
            }
        },
        Err(e) => return Err(io::Error::from_raw_os_error(e)),
    };
    let mut value = vec![0u8; 4096];
    for attr in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let Ok(cattr) = CString::new(attr) else {
            continue;
        };
        let len = loop {
            match get_at(dir, name, &cattr, &mut value) {
                Ok(len) => break Some(len),
                Err(libc::ERANGE) => match get_at(dir, name, &cattr, &mut []) {
                    Ok(need) => value.resize(need.max(value.len() * 2), 0),
                    Err(_) => break None,
                },
                // Removed meanwhile, as `fsmeta::xattrs` takes it.
                Err(_) => break None,
            }
        };
        if let Some(len) = len {
            out.insert(attr.to_vec(), value[..len].to_vec());
        }
    }
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
        let Ok(cname) = CString::new(name) else {
            continue;
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn set_xattr(p: &Path, k: &str, v: &[u8]) -> bool {
        let (p, k) = (
            CString::new(p.as_os_str().as_bytes()).unwrap(),
            CString::new(k).unwrap(),
        );
        // SAFETY: valid C strings and buffer.
        unsafe { libc::lsetxattr(p.as_ptr(), k.as_ptr(), v.as_ptr().cast(), v.len(), 0) == 0 }
    }

    #[test]
    fn read_names_sorts_bytewise_and_rereads_after_a_first_listing() {
        let t = tempfile::tempdir().unwrap();
        // Enough names, some long, to take several getdents64 calls.
        let mut want: Vec<Vec<u8>> = (0..3000)
            .map(|i| format!("{i:04}-{}", "n".repeat(i % 200)).into_bytes())
            .collect();
        want.extend([b"B".to_vec(), b"a".to_vec(), b"a-b".to_vec()]);
        for n in &want {
            std::fs::write(t.path().join(std::ffi::OsStr::from_bytes(n)), b"").unwrap();
        }
        std::fs::create_dir(t.path().join("a.d")).unwrap();
        want.push(b"a.d".to_vec());
        want.sort();
        let mut d = Dir::open(t.path()).unwrap();
        for _ in 0..2 {
            let names = d.read_names().unwrap();
            let got: Vec<&[u8]> = (0..names.len()).map(|i| names.bytes(i)).collect();
            assert_eq!(got, want.iter().map(|n| &n[..]).collect::<Vec<_>>());
            assert!(names.iter().zip(&want).all(|(c, w)| c.to_bytes() == &w[..]));
            assert!((0..names.len()).all(|i| names.ino(i) != 0));
        }
        let mut listed = list_names(d.fd()).unwrap();
        listed.sort();
        assert_eq!(listed.len(), want.len());
    }

    #[test]
    fn meta_at_agrees_with_lstat_and_path_xattrs_for_every_kind() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path();
        std::fs::write(p.join("f"), b"hello").unwrap();
        std::fs::create_dir(p.join("d")).unwrap();
        symlink("f", p.join("l")).unwrap();
        // tmpfs before 6.6 and some others keep no user xattrs: then both
        // sides just agree on none.
        set_xattr(&p.join("f"), "user.k", &[7u8; 5000]);
        set_xattr(&p.join("d"), "user.k", b"v");
        let d = Dir::open(p).unwrap();
        for n in ["f", "d", "l"] {
            let c = CString::new(n).unwrap();
            let got = d.meta_at(&c, || p.join(n)).unwrap();
            let want = Meta::read(&p.join(n)).unwrap();
            assert_eq!(got, want, "{n}");
            let (via_entry, _) = d.entry(&c, true, || p.join(n)).unwrap();
            assert_eq!(via_entry, want, "{n}");
        }
        let e = d.meta_at(c"missing", || p.join("missing")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
