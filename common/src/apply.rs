//! Applying a layer tar to a directory, safely: every path is resolved by
//! the kernel inside the root (`openat2` with `RESOLVE_IN_ROOT`), so a
//! symlink, a `..`, a hard link or a whiteout can never reach outside it.
//! Whiteouts delete, opaque directories hide what lower layers had, hard
//! links link, and ownership, modes, mtimes and xattrs are set.

use crate::layer_tar::{OPAQUE_WHITEOUT, WHITEOUT_META_PREFIX, WHITEOUT_PREFIX};
use std::collections::HashSet;
use std::ffi::{CStr, CString};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("corrupt or truncated layer: {0}")]
    Tar(String),
    #[error("unsafe entry {path:?}: {why}")]
    Unsafe { path: String, why: &'static str },
    #[error("{path:?} is owned by {uid}:{gid}, which this user namespace does not map: rootless, an image's files may only be owned by IDs that the user's ranges in /etc/subuid and /etc/subgid cover")]
    Unmapped { path: String, uid: u64, gid: u64 },
    #[error("{op} {path:?}: {source}")]
    Io {
        op: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
}

fn io_err<'a>(op: &'static str, path: &'a [u8]) -> impl FnOnce(io::Error) -> ApplyError + 'a {
    move |source| ApplyError::Io {
        op,
        path: String::from_utf8_lossy(path).into_owned(),
        source,
    }
}

/// What an apply did, and what it could not do without privileges.
#[derive(Debug, Default)]
pub struct ApplyReport {
    pub entries: u64,
    pub warnings: Vec<String>,
}

/// What a whiteout does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Whiteouts {
    /// Delete what it names, as when layers are applied onto one tree.
    #[default]
    Delete,
    /// Keep it as overlayfs spells it, for a layer unpacked alone to be an
    /// overlay lower dir: `.wh.NAME` becomes a 0/0 character device NAME,
    /// an opaque marker the xattr `PREFIX.overlay.opaque=y` on its directory
    /// (`trusted` as root, `user` for overlay's `userxattr` mode).
    Overlay { user_xattr: bool },
    /// Not whiteouts at all: `.wh.` names are ordinary entries, as in an
    /// archive that ADD unpacks (which is not a layer).
    Literal,
}

/// Extended attributes of an entry, name and value.
type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

fn cstr(b: &[u8]) -> io::Result<CString> {
    CString::new(b).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name contains NUL"))
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// openat2 confined to `root`: absolute symlinks and `..` resolve as if
/// `root` were `/`, and /proc magic links are refused.
fn open_in_root(root: RawFd, path: &[u8], flags: libc::c_int) -> io::Result<OwnedFd> {
    openat_in_root(root, path, flags, 0)
}

/// [`open_in_root`] with a mode for `O_CREAT`; also for container-run's
/// mount targets, which must not escape the container's root either.
pub fn openat_in_root(
    root: RawFd,
    path: &[u8],
    flags: libc::c_int,
    mode: u32,
) -> io::Result<OwnedFd> {
    let p = if path.is_empty() {
        cstr(b".")?
    } else {
        cstr(path)?
    };
    // SAFETY: open_how is plain data; zeroed is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.mode = mode as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: valid pointers to a C string and an open_how of the size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root,
            p.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn lstat_at(dir: RawFd, name: &CStr) -> io::Result<libc::stat> {
    // SAFETY: stat is plain data, written by the kernel.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor, C string and out pointer.
    check(unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) })?;
    Ok(st)
}

fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// Removes `name` in `dir` and, for a directory, all below it, without
/// ever following a symlink.
fn remove_all_at(dir: RawFd, name: &CStr) -> io::Result<()> {
    let st = match lstat_at(dir, name) {
        Ok(st) => st,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !is_dir(&st) {
        // SAFETY: valid descriptor and C string.
        return check(unsafe { libc::unlinkat(dir, name.as_ptr(), 0) });
    }
    // SAFETY: valid descriptor and C string.
    let fd = unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor we just opened.
    let sub = unsafe { OwnedFd::from_raw_fd(fd) };
    for child in crate::dirfd::list_names(sub.as_raw_fd())? {
        remove_all_at(sub.as_raw_fd(), &child)?;
    }
    // SAFETY: valid descriptor and C string.
    check(unsafe { libc::unlinkat(dir, name.as_ptr(), libc::AT_REMOVEDIR) })
}

/// Runs `make`, which creates `name` in `dir`; if something is there
/// already, removes it (a whole directory tree, never following a link)
/// and makes it again.
fn replacing<T>(dir: RawFd, name: &CStr, mut make: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    match make() {
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
            remove_all_at(dir, name)?;
            make()
        }
        r => r,
    }
}

/// A tar path cleaned to components: a leading `/` is dropped (the path is
/// confined to the root), `.` and empty components vanish, `..` is refused.
pub fn clean(raw: &[u8]) -> Result<Vec<u8>, ApplyError> {
    let mut out: Vec<&[u8]> = Vec::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                return Err(ApplyError::Unsafe {
                    path: String::from_utf8_lossy(raw).into_owned(),
                    why: "it contains '..'",
                })
            }
            c => out.push(c),
        }
    }
    Ok(out.join(&b'/'))
}

fn split_parent(p: &[u8]) -> (&[u8], &[u8]) {
    match p.iter().rposition(|b| *b == b'/') {
        Some(i) => (&p[..i], &p[i + 1..]),
        None => (b"", p),
    }
}

/// Opens `path` inside `root` as a directory, creating what is missing;
/// also for container-run's mount points. A component
/// that is a dangling symlink is followed the way the kernel would,
/// inside the root (as containerd resolves it), and its target made.
fn make_dirs_in(root: RawFd, path: &[u8], depth: u32) -> io::Result<OwnedFd> {
    match open_in_root(root, path, libc::O_PATH | libc::O_DIRECTORY) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        Err(e) => return Err(e),
    }
    if depth > 40 {
        return Err(io::Error::from_raw_os_error(libc::ELOOP));
    }
    let comps: Vec<&[u8]> = path
        .split(|b| *b == b'/')
        .filter(|c| !c.is_empty())
        .collect();
    let mut dir = open_in_root(root, b"", libc::O_PATH | libc::O_DIRECTORY)?;
    for (i, comp) in comps.iter().enumerate() {
        let prefix = comps[..=i].join(&b'/');
        if let Ok(fd) = open_in_root(root, &prefix, libc::O_PATH | libc::O_DIRECTORY) {
            dir = fd;
            continue;
        }
        let cname = cstr(comp)?;
        match lstat_at(dir.as_raw_fd(), &cname) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
                let mut buf = vec![0u8; libc::PATH_MAX as usize];
                // SAFETY: valid descriptor, C string and buffer.
                let n = unsafe {
                    libc::readlinkat(
                        dir.as_raw_fd(),
                        cname.as_ptr(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                    )
                };
                if n < 0 {
                    return Err(io::Error::last_os_error());
                }
                buf.truncate(n as usize);
                let parent = comps[..i].join(&b'/');
                let mut target = if buf.starts_with(b"/") {
                    buf
                } else {
                    [&parent[..], b"/", &buf[..]].concat()
                };
                for rest in &comps[i + 1..] {
                    target.push(b'/');
                    target.extend_from_slice(rest);
                }
                // openat2 resolves the `..` in it, confined to the root.
                return make_dirs_in(root, &target, depth + 1);
            }
            Ok(_) => return Err(io::Error::from_raw_os_error(libc::ENOTDIR)),
            Err(_) => {
                // SAFETY: valid descriptor and C string.
                let rc = unsafe { libc::mkdirat(dir.as_raw_fd(), cname.as_ptr(), 0o755) };
                if rc < 0 && io::Error::last_os_error().kind() != io::ErrorKind::AlreadyExists {
                    return Err(io::Error::last_os_error());
                }
                dir = open_in_root(root, &prefix, libc::O_PATH | libc::O_DIRECTORY)?;
            }
        }
    }
    Ok(dir)
}

/// [`make_dirs_in`] from the top.
pub fn mkdir_all_in_root(root: RawFd, path: &[u8]) -> io::Result<OwnedFd> {
    make_dirs_in(root, path, 0)
}

struct Applier {
    root: OwnedFd,
    privileged: bool,
    whiteouts: Whiteouts,
    report: ApplyReport,
    /// Paths this layer created: an opaque whiteout keeps them.
    created: HashSet<Vec<u8>>,
    /// Directory mtimes, set at the end (adding children changes them).
    dir_times: Vec<(Vec<u8>, libc::timespec)>,
    warned_owner: bool,
    warned_dev: bool,
    parent_cache: Option<(Vec<u8>, OwnedFd)>,
    buf: Vec<u8>,
}

impl Applier {
    fn warn(&mut self, msg: String) {
        self.report.warnings.push(msg);
    }

    /// Opens (creating as needed) a directory inside the root.
    fn parent(&mut self, path: &[u8]) -> Result<RawFd, ApplyError> {
        if let Some((p, fd)) = &self.parent_cache {
            if p == path {
                return Ok(fd.as_raw_fd());
            }
        }
        let fd = self.make_dirs(path, 0)?;
        let raw = fd.as_raw_fd();
        self.parent_cache = Some((path.to_vec(), fd));
        Ok(raw)
    }

    /// Opens `path` as a directory, creating what is missing.
    fn make_dirs(&self, path: &[u8], _depth: u32) -> Result<OwnedFd, ApplyError> {
        mkdir_all_in_root(self.root.as_raw_fd(), path).map_err(io_err("create directory", path))
    }

    /// Forgets the cached parent if `path` replaces or removes it.
    fn invalidate(&mut self, path: &[u8]) {
        let hit = self.parent_cache.as_ref().is_some_and(|(p, _)| {
            path.is_empty()
                || p == path
                || (p.starts_with(path) && p.get(path.len()) == Some(&b'/'))
        });
        if hit {
            self.parent_cache = None;
        }
    }

    fn entry(&mut self, mut e: tar::Entry<'_, impl Read>) -> Result<(), ApplyError> {
        let raw_path = e.path_bytes().into_owned();
        let path = clean(&raw_path)?;
        let (parent, name) = split_parent(&path);
        let (parent, name) = (parent.to_vec(), name.to_vec());
        if name.starts_with(WHITEOUT_PREFIX) {
            // A whiteout removes a sibling; an opaque one, the parent's contents.
            let sibling = &name[WHITEOUT_PREFIX.len()..];
            let target = if parent.is_empty() {
                sibling.to_vec()
            } else {
                [&parent[..], b"/", sibling].concat()
            };
            self.invalidate(if name == OPAQUE_WHITEOUT {
                &parent
            } else {
                &target
            });
        } else {
            self.invalidate(&path);
        }
        let h = e.header().clone();
        let kind = h.entry_type();
        // Whiteouts delete; they are never created as files.
        if name.starts_with(WHITEOUT_PREFIX) && self.whiteouts != Whiteouts::Literal {
            return self.whiteout(&raw_path, &path, &parent, &name);
        }
        let old = h.as_old();
        let mode = numeric(h.mode().map(u64::from), &old.mode)? as u32 & 0o7777;
        let uid = numeric(h.uid(), &old.uid)?;
        let gid = numeric(h.gid(), &old.gid)?;
        let (mtime, nsec) = entry_mtime(&mut e)?;
        let xattrs = entry_xattrs(&mut e)?;
        let times = libc::timespec {
            tv_sec: mtime,
            tv_nsec: nsec as _,
        };
        let meta = Meta {
            uid,
            gid,
            mode,
            xattrs,
            times,
        };

        if path.is_empty() {
            // The root itself: only its metadata.
            if kind.is_dir() {
                let fd = open_in_root(
                    self.root.as_raw_fd(),
                    b"",
                    libc::O_RDONLY | libc::O_DIRECTORY,
                )
                .map_err(io_err("open", b"."))?;
                self.owner_mode_xattrs_fd(fd.as_raw_fd(), uid, gid, mode, &meta.xattrs, &path)?;
                self.dir_times.push((path, times));
            }
            return Ok(());
        }
        let pfd = self.parent(&parent)?;
        let cname = cstr(&name).map_err(io_err("create", &path))?;
        // What is there already is replaced, unless both are directories:
        // creating first and looking only on EEXIST saves a stat per entry.
        match kind {
            tar::EntryType::Directory => {
                // SAFETY: valid descriptor and C string.
                let mkdir = || check(unsafe { libc::mkdirat(pfd, cname.as_ptr(), 0o700) });
                match mkdir() {
                    Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                        if !lstat_at(pfd, &cname).is_ok_and(|st| is_dir(&st)) {
                            remove_all_at(pfd, &cname).map_err(io_err("replace", &path))?;
                            mkdir().map_err(io_err("create directory", &path))?;
                        }
                    }
                    r => r.map_err(io_err("create directory", &path))?,
                }
                let fd = openat(
                    pfd,
                    &cname,
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                )
                .map_err(io_err("open", &path))?;
                self.owner_mode_xattrs_fd(fd.as_raw_fd(), uid, gid, mode, &meta.xattrs, &path)?;
                self.dir_times.push((path.clone(), times));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                self.file(&mut e, pfd, &cname, &path, &meta)?;
            }
            tar::EntryType::Symlink => {
                let target = e
                    .link_name_bytes()
                    .ok_or_else(|| ApplyError::Tar("symlink without a target".into()))?;
                let ctarget = cstr(&target).map_err(io_err("symlink", &path))?;
                // SAFETY: valid descriptor and C strings.
                replacing(pfd, &cname, || {
                    check(unsafe { libc::symlinkat(ctarget.as_ptr(), pfd, cname.as_ptr()) })
                })
                .map_err(io_err("symlink", &path))?;
                self.owner_at(pfd, &cname, uid, gid, &path)?;
                self.xattrs_at(pfd, &cname, &meta.xattrs, &path)?;
                self.times_at(pfd, &cname, times, &path)?;
            }
            tar::EntryType::Link => {
                let target = e
                    .link_name_bytes()
                    .ok_or_else(|| ApplyError::Tar("hard link without a target".into()))?;
                let target = clean(&target)?;
                let (tp, tn) = split_parent(&target);
                let tfd = open_in_root(self.root.as_raw_fd(), tp, libc::O_PATH | libc::O_DIRECTORY)
                    .map_err(io_err("hard link to", &target))?;
                let ctn = cstr(tn).map_err(io_err("hard link to", &target))?;
                // Without AT_SYMLINK_FOLLOW linkat links a symlink itself:
                // the target is never followed out of the root.
                // SAFETY: valid descriptors and C strings.
                replacing(pfd, &cname, || {
                    check(unsafe {
                        libc::linkat(tfd.as_raw_fd(), ctn.as_ptr(), pfd, cname.as_ptr(), 0)
                    })
                })
                .map_err(io_err("hard link", &path))?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                if !self.node(&h, pfd, &cname, &path, &meta)? {
                    return Ok(());
                }
            }
            tar::EntryType::XGlobalHeader
            | tar::EntryType::XHeader
            | tar::EntryType::GNULongName
            | tar::EntryType::GNULongLink => {
                return Ok(());
            }
            other => {
                self.warn(format!(
                    "{}: skipped entry of type {other:?}",
                    String::from_utf8_lossy(&path)
                ));
                return Ok(());
            }
        }
        self.created.insert(path);
        Ok(())
    }

    /// A whiteout entry: what it names is deleted (or, for overlayfs,
    /// marked deleted); it is never created as a file.
    fn whiteout(
        &mut self,
        raw_path: &[u8],
        path: &[u8],
        parent: &[u8],
        name: &[u8],
    ) -> Result<(), ApplyError> {
        if name == OPAQUE_WHITEOUT {
            return match self.whiteouts {
                Whiteouts::Delete => self.opaque(parent),
                Whiteouts::Overlay { user_xattr } => self.mark_opaque(parent, user_xattr),
                Whiteouts::Literal => unreachable!("not a whiteout here"),
            };
        }
        if name.starts_with(WHITEOUT_META_PREFIX) {
            return Ok(());
        }
        let target = &name[WHITEOUT_PREFIX.len()..];
        if target.is_empty() || target == b"." || target == b".." || target.contains(&b'/') {
            return Err(ApplyError::Unsafe {
                path: String::from_utf8_lossy(raw_path).into_owned(),
                why: "a whiteout must name an entry of its own directory",
            });
        }
        if let Whiteouts::Overlay { .. } = self.whiteouts {
            let pfd = self.parent(parent)?;
            let ctarget = cstr(target).map_err(io_err("whiteout", path))?;
            let _ = remove_all_at(pfd, &ctarget);
            // SAFETY: valid descriptor and C string.
            let rc =
                unsafe { libc::mknodat(pfd, ctarget.as_ptr(), libc::S_IFCHR, libc::makedev(0, 0)) };
            return check(rc).map_err(io_err("create whiteout", path));
        }
        let pfd = match open_in_root(
            self.root.as_raw_fd(),
            parent,
            libc::O_PATH | libc::O_DIRECTORY,
        ) {
            Ok(fd) => fd,
            // Nothing there to delete (umoci writes a whiteout below a
            // directory it replaced with a file, after the file).
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                return Ok(())
            }
            Err(e) => return Err(io_err("open directory", parent)(e)),
        };
        let ctarget = cstr(target).map_err(io_err("whiteout", path))?;
        remove_all_at(pfd.as_raw_fd(), &ctarget).map_err(io_err("remove", path))
    }

    /// A regular file: its data (holes kept), then owner, mode, xattrs
    /// and times.
    fn file(
        &mut self,
        e: &mut tar::Entry<'_, impl Read>,
        pfd: RawFd,
        cname: &CStr,
        path: &[u8],
        m: &Meta,
    ) -> Result<(), ApplyError> {
        let fd = replacing(pfd, cname, || {
            openat(
                pfd,
                cname,
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
            )
        })
        .map_err(io_err("create", path))?;
        let mut f = std::fs::File::from(fd);
        let size = e.size();
        let copied = self
            .copy_sparse(e, &mut f)
            .map_err(|err| ApplyError::Tar(format!("{}: {err}", String::from_utf8_lossy(path))))?;
        if copied != size {
            return Err(ApplyError::Tar(format!(
                "{}: the archive ends inside this file ({copied} of {size} bytes)",
                String::from_utf8_lossy(path)
            )));
        }
        self.owner_mode_xattrs_fd(f.as_raw_fd(), m.uid, m.gid, m.mode, &m.xattrs, path)?;
        // SAFETY: valid descriptor and two timespecs.
        check(unsafe { libc::futimens(f.as_raw_fd(), [m.times, m.times].as_ptr()) })
            .map_err(io_err("set times of", path))?;
        Ok(())
    }

    /// A device node or a FIFO; without the privilege to make devices,
    /// they are skipped with one warning.
    fn node(
        &mut self,
        h: &tar::Header,
        pfd: RawFd,
        cname: &CStr,
        path: &[u8],
        m: &Meta,
    ) -> Result<bool, ApplyError> {
        let kind = h.entry_type();
        let (t, dev) = match kind {
            tar::EntryType::Char => (libc::S_IFCHR, dev_of(h)?),
            tar::EntryType::Block => (libc::S_IFBLK, dev_of(h)?),
            _ => (libc::S_IFIFO, 0),
        };
        // SAFETY: valid descriptor and C string.
        let made = replacing(pfd, cname, || {
            check(unsafe { libc::mknodat(pfd, cname.as_ptr(), t | (m.mode & 0o777), dev) })
        });
        if let Err(err) = made {
            if err.raw_os_error() == Some(libc::EPERM) && t != libc::S_IFIFO {
                if !self.warned_dev {
                    self.warned_dev = true;
                    self.warn("not privileged: device nodes are skipped".into());
                }
                return Ok(false);
            }
            return Err(io_err("create device", path)(err));
        }
        self.owner_at(pfd, cname, m.uid, m.gid, path)?;
        // SAFETY: valid descriptor and C string.
        check(unsafe { libc::fchmodat(pfd, cname.as_ptr(), m.mode, 0) })
            .map_err(io_err("chmod", path))?;
        self.xattrs_at(pfd, cname, &m.xattrs, path)?;
        self.times_at(pfd, cname, m.times, path)?;
        Ok(true)
    }

    /// Copies file data, leaving holes where whole blocks are zero: a
    /// sparse 10 GB file in a layer does not take 10 GB of disk again.
    fn copy_sparse(&mut self, r: &mut impl Read, f: &mut std::fs::File) -> io::Result<u64> {
        use std::io::{Seek, SeekFrom, Write};
        let mut total = 0u64;
        let mut holes = false;
        loop {
            let n = match r.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let chunk = &self.buf[..n];
            if n % 4096 == 0 && chunk.iter().all(|b| *b == 0) {
                f.seek(SeekFrom::Current(n as i64))?;
                holes = true;
            } else {
                f.write_all(chunk)?;
            }
            total += n as u64;
        }
        if holes {
            f.set_len(total)?;
        }
        Ok(total)
    }

    fn opaque(&mut self, dir: &[u8]) -> Result<(), ApplyError> {
        let fd = match open_in_root(
            self.root.as_raw_fd(),
            dir,
            libc::O_RDONLY | libc::O_DIRECTORY,
        ) {
            Ok(fd) => fd,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                return Ok(())
            }
            Err(e) => return Err(io_err("open directory", dir)(e)),
        };
        for child in
            crate::dirfd::list_names(fd.as_raw_fd()).map_err(io_err("read directory", dir))?
        {
            let p = if dir.is_empty() {
                child.to_bytes().to_vec()
            } else {
                [dir, b"/", child.to_bytes()].concat()
            };
            if !self.created.contains(&p) {
                remove_all_at(fd.as_raw_fd(), &child).map_err(io_err("remove", &p))?;
            }
        }
        Ok(())
    }

    /// Marks `dir` opaque for overlayfs, creating it if the layer has not.
    fn mark_opaque(&mut self, dir: &[u8], user_xattr: bool) -> Result<(), ApplyError> {
        self.invalidate(dir);
        let fd = self.make_dirs(dir, 0)?;
        let fd = open_in_root(fd.as_raw_fd(), b"", libc::O_RDONLY | libc::O_DIRECTORY)
            .map_err(io_err("open directory", dir))?;
        let name: &CStr = if user_xattr {
            c"user.overlay.opaque"
        } else {
            c"trusted.overlay.opaque"
        };
        // SAFETY: valid descriptor, C string and buffer.
        let rc =
            unsafe { libc::fsetxattr(fd.as_raw_fd(), name.as_ptr(), b"y".as_ptr().cast(), 1, 0) };
        check(rc).map_err(io_err("mark opaque", dir))
    }

    fn chown_failed(
        &mut self,
        err: io::Error,
        path: &[u8],
        (uid, gid): (u64, u64),
    ) -> Result<(), ApplyError> {
        // EINVAL: an ID with no mapping in our user namespace (rootless).
        if err.raw_os_error() == Some(libc::EINVAL) {
            return Err(ApplyError::Unmapped {
                path: String::from_utf8_lossy(path).into_owned(),
                uid,
                gid,
            });
        }
        if err.raw_os_error() == Some(libc::EPERM) && !self.privileged {
            if !self.warned_owner {
                self.warned_owner = true;
                self.warn("not privileged: file ownership is not restored".into());
            }
            return Ok(());
        }
        Err(io_err("chown", path)(err))
    }

    fn owner_mode_xattrs_fd(
        &mut self,
        fd: RawFd,
        uid: u64,
        gid: u64,
        mode: u32,
        xattrs: &Xattrs,
        path: &[u8],
    ) -> Result<(), ApplyError> {
        // SAFETY: valid descriptor.
        if let Err(err) = check(unsafe { libc::fchown(fd, uid as u32, gid as u32) }) {
            self.chown_failed(err, path, (uid, gid))?;
        }
        // After chown, which clears setuid and setgid.
        // SAFETY: valid descriptor.
        check(unsafe { libc::fchmod(fd, mode) }).map_err(io_err("chmod", path))?;
        for (k, v) in xattrs {
            let ck = cstr(k).map_err(io_err("set xattr on", path))?;
            // SAFETY: valid descriptor, C string and buffer.
            let rc = unsafe { libc::fsetxattr(fd, ck.as_ptr(), v.as_ptr().cast(), v.len(), 0) };
            if rc < 0 {
                let err = io::Error::last_os_error();
                self.xattr_failed(err, k, path)?;
            }
        }
        Ok(())
    }

    fn xattr_failed(&mut self, err: io::Error, key: &[u8], path: &[u8]) -> Result<(), ApplyError> {
        match err.raw_os_error() {
            Some(libc::EPERM) | Some(libc::ENOTSUP) => {
                self.warn(format!(
                    "{}: xattr {} not set: {err}",
                    String::from_utf8_lossy(path),
                    String::from_utf8_lossy(key)
                ));
                Ok(())
            }
            _ => Err(io_err("set xattr on", path)(err)),
        }
    }

    fn owner_at(
        &mut self,
        dir: RawFd,
        name: &CStr,
        uid: u64,
        gid: u64,
        path: &[u8],
    ) -> Result<(), ApplyError> {
        // SAFETY: valid descriptor and C string.
        if let Err(err) = check(unsafe {
            libc::fchownat(
                dir,
                name.as_ptr(),
                uid as u32,
                gid as u32,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        }) {
            self.chown_failed(err, path, (uid, gid))?;
        }
        Ok(())
    }

    fn xattrs_at(
        &mut self,
        dir: RawFd,
        name: &CStr,
        xattrs: &Xattrs,
        path: &[u8],
    ) -> Result<(), ApplyError> {
        if xattrs.is_empty() {
            return Ok(());
        }
        // lsetxattr through our own directory descriptor: the kernel
        // resolves it, and the final name is not followed.
        let p = [format!("/proc/self/fd/{dir}/").as_bytes(), name.to_bytes()].concat();
        let cp = cstr(&p).map_err(io_err("set xattr on", path))?;
        for (k, v) in xattrs {
            let ck = cstr(k).map_err(io_err("set xattr on", path))?;
            // SAFETY: C strings and a buffer of the given length.
            let rc =
                unsafe { libc::lsetxattr(cp.as_ptr(), ck.as_ptr(), v.as_ptr().cast(), v.len(), 0) };
            if rc < 0 {
                self.xattr_failed(io::Error::last_os_error(), k, path)?;
            }
        }
        Ok(())
    }

    fn times_at(
        &mut self,
        dir: RawFd,
        name: &CStr,
        t: libc::timespec,
        path: &[u8],
    ) -> Result<(), ApplyError> {
        // SAFETY: valid descriptor, C string and two timespecs.
        check(unsafe {
            libc::utimensat(
                dir,
                name.as_ptr(),
                [t, t].as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })
        .map_err(io_err("set times of", path))
    }

    fn finish_dirs(&mut self) -> Result<(), ApplyError> {
        for (p, t) in std::mem::take(&mut self.dir_times).into_iter().rev() {
            let fd = match open_in_root(
                self.root.as_raw_fd(),
                &p,
                libc::O_RDONLY | libc::O_DIRECTORY,
            ) {
                Ok(fd) => fd,
                // Deleted by a later whiteout of the same layer.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(io_err("open directory", &p)(e)),
            };
            // SAFETY: valid descriptor and two timespecs.
            check(unsafe { libc::futimens(fd.as_raw_fd(), [t, t].as_ptr()) })
                .map_err(io_err("set times of", &p))?;
        }
        Ok(())
    }
}

fn openat(dir: RawFd, name: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: valid descriptor and C string.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), flags | libc::O_CLOEXEC, 0o600) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn dev_of(h: &tar::Header) -> Result<libc::dev_t, ApplyError> {
    let major = h
        .device_major()
        .map_err(|e| ApplyError::Tar(e.to_string()))?
        .unwrap_or(0);
    let minor = h
        .device_minor()
        .map_err(|e| ApplyError::Tar(e.to_string()))?
        .unwrap_or(0);
    Ok(libc::makedev(major, minor))
}

/// An entry's owner, mode, xattrs and times, as it is applied.
struct Meta {
    uid: u64,
    gid: u64,
    mode: u32,
    xattrs: Xattrs,
    times: libc::timespec,
}

fn entry_mtime(e: &mut tar::Entry<'_, impl Read>) -> Result<(i64, u32), ApplyError> {
    if let Ok(Some(exts)) = e.pax_extensions() {
        for ext in exts.flatten() {
            if ext.key_bytes() == b"mtime" {
                let v = String::from_utf8_lossy(ext.value_bytes()).into_owned();
                let (s, frac) = v.split_once('.').unwrap_or((&v, ""));
                let secs: i64 = s
                    .parse()
                    .map_err(|_| ApplyError::Tar(format!("bad PAX mtime {v:?}")))?;
                let mut digits: String = frac.chars().take(9).collect();
                while digits.len() < 9 {
                    digits.push('0');
                }
                return Ok((secs, digits.parse().unwrap_or(0)));
            }
        }
    }
    let m = e
        .header()
        .mtime()
        .map_err(|err| ApplyError::Tar(err.to_string()))?;
    Ok((m as i64, 0))
}

/// A numeric header field; an empty one (all NULs or spaces, as some
/// writers leave uid and gid) is 0, as Go's archive/tar reads it.
fn numeric(parsed: std::io::Result<u64>, raw: &[u8]) -> Result<u64, ApplyError> {
    match parsed {
        Ok(v) => Ok(v),
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
        Err(e) => Err(ApplyError::Tar(e.to_string())),
    }
}

fn entry_xattrs(e: &mut tar::Entry<'_, impl Read>) -> Result<Xattrs, ApplyError> {
    let mut out = Vec::new();
    if let Ok(Some(exts)) = e.pax_extensions() {
        for ext in exts {
            let ext = ext.map_err(|err| ApplyError::Tar(err.to_string()))?;
            if let Some(k) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") {
                out.push((k.to_vec(), ext.value_bytes().to_vec()));
            }
        }
    }
    Ok(out)
}

/// Applies an uncompressed layer tar to `root`.
pub fn apply(input: impl Read, root: &Path) -> Result<ApplyReport, ApplyError> {
    apply_with(input, root, Whiteouts::Delete)
}

/// Applies an uncompressed layer tar to `root`, whiteouts as asked.
pub fn apply_with(
    input: impl Read,
    root: &Path,
    whiteouts: Whiteouts,
) -> Result<ApplyReport, ApplyError> {
    let croot = cstr(root.as_os_str().as_encoded_bytes())
        .map_err(io_err("open", root.as_os_str().as_encoded_bytes()))?;
    // SAFETY: valid C string.
    let fd = unsafe {
        libc::open(
            croot.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io_err("open", root.as_os_str().as_encoded_bytes())(
            io::Error::last_os_error(),
        ));
    }
    // SAFETY: the descriptor just opened.
    apply_at(input, unsafe { OwnedFd::from_raw_fd(fd) }, whiteouts)
}

/// Applies an uncompressed tar to the directory open as `root` (one
/// resolved inside a container's root, say), whiteouts as asked.
pub fn apply_at(
    input: impl Read,
    root: OwnedFd,
    whiteouts: Whiteouts,
) -> Result<ApplyReport, ApplyError> {
    // SAFETY: geteuid has no preconditions.
    let privileged = unsafe { libc::geteuid() } == 0;
    let mut a = Applier {
        root,
        privileged,
        whiteouts,
        report: ApplyReport::default(),
        created: HashSet::new(),
        dir_times: Vec::new(),
        warned_owner: false,
        warned_dev: false,
        parent_cache: None,
        buf: vec![0u8; 32 * 1024],
    };
    let mut ar = tar::Archive::new(input);
    let entries = ar.entries().map_err(|e| ApplyError::Tar(e.to_string()))?;
    for e in entries {
        let e = e.map_err(|e| ApplyError::Tar(e.to_string()))?;
        a.report.entries += 1;
        a.entry(e)?;
    }
    a.finish_dirs()?;
    Ok(a.report)
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
