//! One step of a walk: an open directory, its path, and its path inside
//! the layer.

use slipway_common::dirfd::{fxattrs, xattrs_at, Dir, Names, Opened};
use slipway_common::fsmeta::{Kind, Meta};
use std::ffi::{CStr, OsStr};
use std::io;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn at(path: &Path) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn child_of(dir: &Path, name: &CStr) -> PathBuf {
    dir.join(OsStr::from_bytes(name.to_bytes()))
}

pub struct Node {
    pub dir: Dir,
    pub path: PathBuf,
}

impl Node {
    pub fn open(path: &Path) -> io::Result<Node> {
        Ok(Node {
            dir: Dir::open(path).map_err(at(path))?,
            path: path.to_path_buf(),
        })
    }

    pub fn child_path(&self, name: &CStr) -> PathBuf {
        child_of(&self.path, name)
    }

    pub fn sorted_names(&mut self) -> io::Result<Names> {
        self.dir.read_names().map_err(at(&self.path))
    }

    /// Metadata of a child, with the child opened if it is a directory, and as a file if `open_files` and it is one.
    pub fn child(&self, name: &CStr, open_files: bool) -> io::Result<(Meta, Opened)> {
        self.dir
            .entry(name, open_files, || self.child_path(name))
            .map_err(|e| at(&self.child_path(name))(e))
    }
}

/// A directory read whole: its names in byte order and the metadata of
/// each, read without opening anything. An entry's error waits until the
/// entry is used, so that what a diff never looks at (what NEW deleted)
/// cannot fail it.
pub struct Listing {
    /// Shared with the OLD reader, which opens subdirectories through it.
    pub dir: Arc<Dir>,
    pub path: PathBuf,
    pub names: Names,
    metas: Vec<Option<io::Result<Meta>>>,
    /// Whether the metadata has the xattrs yet (see `complete`).
    xattrs: bool,
}

impl Listing {
    /// Reads `dir`; without `xattrs` (for what is all written out, and
    /// so opened anyway) each entry's come later, through `complete`.
    pub fn read(mut dir: Dir, path: PathBuf, xattrs: bool) -> io::Result<Listing> {
        let names = dir.read_names().map_err(at(&path))?;
        let metas = names
            .iter()
            .map(|n| {
                let m = if xattrs {
                    dir.meta_at(n, || child_of(&path, n))
                } else {
                    dir.stat_at(n)
                };
                Some(m.map_err(|e| at(&child_of(&path, n))(e)))
            })
            .collect();
        Ok(Listing {
            dir: Arc::new(dir),
            path,
            names,
            metas,
            xattrs,
        })
    }

    pub fn open(path: &Path) -> io::Result<Listing> {
        Listing::read(Dir::open(path).map_err(at(path))?, path.to_path_buf(), true)
    }

    pub fn child_path(&self, i: usize) -> PathBuf {
        child_of(&self.path, self.names.get(i))
    }

    /// The `i`th entry's metadata, if it could be read.
    pub fn meta(&self, i: usize) -> Option<&Meta> {
        match &self.metas[i] {
            Some(Ok(m)) => Some(m),
            _ => None,
        }
    }

    /// The `i`th entry's metadata, handed over once.
    pub fn take(&mut self, i: usize) -> io::Result<Meta> {
        self.metas[i].take().unwrap_or_else(|| {
            Err(io::Error::other(format!(
                "{}: looked at twice",
                self.child_path(i).display()
            )))
        })
    }

    /// Gives `m`, the `i`th entry's, its xattrs if the listing was read
    /// without: through `opened`, the entry opened, if there is one.
    pub fn complete(&self, i: usize, m: &mut Meta, opened: Option<RawFd>) -> io::Result<()> {
        if self.xattrs || m.kind == Kind::Socket {
            return Ok(());
        }
        m.xattrs = match opened {
            Some(fd) => fxattrs(fd),
            None => xattrs_at(self.dir.fd(), self.names.get(i), || self.child_path(i)),
        }
        .map_err(|e| at(&self.child_path(i))(e))?;
        Ok(())
    }

    /// Opens the `i`th entry, a subdirectory, and reads it.
    pub fn open_child(&self, i: usize, xattrs: bool) -> io::Result<Listing> {
        let path = self.child_path(i);
        let dir = self.dir.open_dir(self.names.get(i)).map_err(at(&path))?;
        Listing::read(dir, path, xattrs)
    }

    /// Opens the `i`th entry, a regular file, to read its content.
    pub fn open_file(&self, i: usize) -> io::Result<std::fs::File> {
        self.dir
            .open_file(self.names.get(i))
            .map_err(|e| at(&self.child_path(i))(e))
    }
}

/// Appends `/name` (or `name` at the top) to `rel`, and gives back the
/// length to truncate to after.
pub fn push(rel: &mut Vec<u8>, name: &[u8]) -> usize {
    let len = rel.len();
    if len > 0 {
        rel.push(b'/');
    }
    rel.extend_from_slice(name);
    len
}

/// `rel/name` (or `name` at the top).
pub fn join(rel: &[u8], name: &[u8]) -> Vec<u8> {
    if rel.is_empty() {
        name.to_vec()
    } else {
        [rel, b"/", name].concat()
    }
}
