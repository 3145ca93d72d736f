//! Advisory file locks (flock), released when the guard drops or the
//! process dies, so a `kill -9` never leaves a store locked.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// A held flock; dropping it closes the file and so releases the lock.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

/// For a forked child, which holds the lock too until it closes its copy.
impl AsRawFd for FileLock {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self._file.as_raw_fd()
    }
}

#[derive(Clone, Copy)]
pub enum LockKind {
    Shared,
    Exclusive,
}

impl FileLock {
    /// Blocks until the lock on `path` (created if missing) is held.
    pub fn acquire(path: &Path, kind: LockKind) -> io::Result<FileLock> {
        Self::lock(path, kind, 0).map(|l| l.expect("a blocking flock returns held"))
    }

    /// The lock if nobody holds it now, else None at once.
    pub fn try_acquire(path: &Path, kind: LockKind) -> io::Result<Option<FileLock>> {
        Self::lock(path, kind, libc::LOCK_NB)
    }

    fn lock(path: &Path, kind: LockKind, nb: libc::c_int) -> io::Result<Option<FileLock>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let op = match kind {
            LockKind::Shared => libc::LOCK_SH,
            LockKind::Exclusive => libc::LOCK_EX,
        } | nb;
        loop {
            // SAFETY: flock on a file descriptor we own; no memory is shared.
            let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
            if rc == 0 {
                return Ok(Some(FileLock { _file: file }));
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EWOULDBLOCK) if nb != 0 => return Ok(None),
                Some(libc::EINTR) => continue,
                _ => return Err(err),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_acquire_returns_none_while_another_holds_the_lock() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("lock");
        let held = FileLock::acquire(&p, LockKind::Exclusive).unwrap();
        assert!(FileLock::try_acquire(&p, LockKind::Exclusive)
            .unwrap()
            .is_none());
        drop(held);
        assert!(FileLock::try_acquire(&p, LockKind::Exclusive)
            .unwrap()
            .is_some());
    }
}
