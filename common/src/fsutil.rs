//! Small filesystem helpers for crash-safe writes: write to a temp file in
//! the same directory, fsync, rename, fsync the directory.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// An I/O error that names what was being done and to which path.
#[derive(Debug, thiserror::Error)]
#[error("{op} {}: {source}", path.display())]
pub struct IoError {
    pub op: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Attaches an operation and a path to an `io::Result`.
pub trait IoContext<T> {
    fn ctx(self, op: &'static str, path: &Path) -> Result<T, IoError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, op: &'static str, path: &Path) -> Result<T, IoError> {
        self.map_err(|source| IoError {
            op,
            path: path.to_path_buf(),
            source,
        })
    }
}

/// fsyncs a directory so a rename inside it survives a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replaces `path` with `bytes` atomically: readers see the old or the new
/// file, never a partial one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .ctx("create a temp file in", dir)?;
    tmp.write_all(bytes).ctx("write", tmp.path())?;
    tmp.as_file().sync_all().ctx("fsync", tmp.path())?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .ctx("rename into place", path)?;
    sync_dir(dir).ctx("fsync", dir)?;
    Ok(())
}

/// Creates a directory and its parents.
pub fn create_dir_all(path: &Path) -> Result<(), IoError> {
    fs::create_dir_all(path).ctx("create directory", path)
}
