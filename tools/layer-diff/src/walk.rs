//! One step of a walk: an open directory, its path, and its path inside
//! the layer.

use slipway_common::dirfd::{Dir, Opened};
use slipway_common::fsmeta::Meta;
use std::ffi::{CStr, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub struct Node {
    pub dir: Dir,
    pub path: PathBuf,
}

impl Node {
    pub fn open(path: &Path) -> io::Result<Node> {
        Ok(Node {
            dir: Dir::open(path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?,
            path: path.to_path_buf(),
        })
    }

    pub fn child_path(&self, name: &CStr) -> PathBuf {
        self.path.join(OsStr::from_bytes(name.to_bytes()))
    }

    /// Metadata of a child, with the child opened as a `Node` if it is a
    /// directory, and as a file if `open_files` and it is one.
    pub fn child(&self, name: &CStr, open_files: bool) -> io::Result<(Meta, Opened, PathBuf)> {
        let path = self.child_path(name);
        let (m, o) = self
            .dir
            .entry(name, &path, open_files)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok((m, o, path))
    }
}

/// `rel/name` (or `name` at the top).
pub fn join(rel: &[u8], name: &[u8]) -> Vec<u8> {
    if rel.is_empty() {
        name.to_vec()
    } else {
        [rel, b"/", name].concat()
    }
}
