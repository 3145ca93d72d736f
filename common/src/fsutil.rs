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
    replace(path, bytes, true)
}

/// As [`write_atomic`], without waiting for the disk: for a record that
/// holds only while this boot lasts (a PID).
pub fn write_atomic_unsynced(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    replace(path, bytes, false)
}

fn replace(path: &Path, bytes: &[u8], durable: bool) -> Result<(), IoError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .ctx("create a temp file in", dir)?;
    tmp.write_all(bytes).ctx("write", tmp.path())?;
    if durable {
        tmp.as_file().sync_all().ctx("fsync", tmp.path())?;
    }
    tmp.persist(path)
        .map_err(|e| e.error)
        .ctx("rename into place", path)?;
    if durable {
        sync_dir(dir).ctx("fsync", dir)?;
    }
    Ok(())
}

/// Creates a directory and its parents.
pub fn create_dir_all(path: &Path) -> Result<(), IoError> {
    fs::create_dir_all(path).ctx("create directory", path)
}

/// `rel` resolved inside `root` as if `root` were `/`: symlinks on the way
/// are followed, an absolute one from `root`, and `..` never climbs above
/// it, as containerd's fs.RootPath resolves paths for BuildKit. The result
/// is below `root`; what does not exist is kept as written. More than 255
/// symlinks is ELOOP.
pub fn resolve_in_root(root: &Path, rel: &str) -> io::Result<PathBuf> {
    use std::collections::VecDeque;
    let mut pending: VecDeque<String> = rel.split('/').map(str::to_string).collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(c) = pending.pop_front() {
        match c.as_str() {
            "" | "." => continue,
            ".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let mut here = root.to_path_buf();
        here.extend(&resolved);
        here.push(&c);
        match fs::symlink_metadata(&here) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > 255 {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = fs::read_link(&here)?;
                let target = target.to_string_lossy();
                if target.starts_with('/') {
                    resolved.clear();
                }
                for (i, t) in target.split('/').enumerate() {
                    pending.insert(i, t.to_string());
                }
            }
            _ => resolved.push(c),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(&resolved);
    Ok(out)
}

/// Finds PROGRAM in our PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_inside_the_root_whatever_the_links_say() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("usr/lib")).unwrap();
        std::os::unix::fs::symlink("usr/lib", r.join("lib")).unwrap();
        std::os::unix::fs::symlink("/", r.join("up")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", r.join("usr/esc")).unwrap();
        std::os::unix::fs::symlink("loop", r.join("loop")).unwrap();
        let res = |p: &str| resolve_in_root(r, p).unwrap();
        assert_eq!(res("lib/x86_64/f"), r.join("usr/lib/x86_64/f"));
        assert_eq!(res("up/etc/passwd"), r.join("etc/passwd"));
        assert_eq!(res("usr/esc/shadow"), r.join("etc/shadow"));
        assert_eq!(res("../../etc"), r.join("etc"));
        assert_eq!(res("/"), r.to_path_buf());
        assert_eq!(
            resolve_in_root(r, "loop").unwrap_err().raw_os_error(),
            Some(libc::ELOOP)
        );
    }
}
