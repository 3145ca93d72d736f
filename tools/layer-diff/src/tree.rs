//! A whole tree as a layer (what COPY and ADD need): placed under a
//! destination, its owner and mode optionally forced, paths excluded by
//! Docker's ignore rules, and the destination's parents written as
//! directories a runtime expects.

use crate::emit::{ChangeKind, Emitter};
use crate::walk::{join, Node};
use slipway_common::dirfd::Opened;
use slipway_common::fsmeta::{Kind, Meta};
use slipway_common::ignore::Matcher;
use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::Path;

enum InRoot {
    Missing,
    Dir(Meta),
    Other,
}

pub struct Tree<'e, 'a> {
    pub em: &'e mut Emitter<'a>,
    /// The destination, cleaned, without a leading `/` (empty for `/`).
    pub to: Vec<u8>,
    pub chown: Option<(u64, u64)>,
    pub chmod: Option<u32>,
    pub exclude: Matcher,
    pub parent_mtime: i64,
    /// The root the layer goes on: what it has is not written again.
    pub parents_in: Option<File>,
    /// Its path, to resolve the destination in.
    pub parents_in_path: Option<std::path::PathBuf>,
    /// A destination directory the root has, with nothing to put in it,
    /// gives no entries at all (rather than itself and its parents as
    /// they are there).
    pub skip_existing: bool,
}

impl Tree<'_, '_> {
    fn adjust(&self, mut m: Meta) -> Meta {
        if let Some((u, g)) = self.chown {
            m.uid = u;
            m.gid = g;
        }
        if let Some(mode) = self.chmod {
            if !matches!(m.kind, Kind::Symlink(_)) {
                m.mode = mode;
            }
        }
        m
    }

    /// What the root the layer goes on has at `rel` (resolved inside it):
    /// nothing, a directory (with its metadata), or something else.
    fn in_root(&self, rel: &[u8]) -> InRoot {
        use slipway_common::apply::openat_in_root;
        use std::os::fd::AsRawFd;
        let Some(root) = &self.parents_in else {
            return InRoot::Missing;
        };
        let fd = root.as_raw_fd();
        if openat_in_root(fd, rel, libc::O_PATH | libc::O_NOFOLLOW, 0).is_err() {
            return InRoot::Missing;
        }
        let dir = openat_in_root(
            fd,
            rel,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0,
        );
        // The directory itself, through its descriptor: "/." follows the
        // magic link to it.
        match dir.and_then(|d| Meta::read(Path::new(&format!("/proc/self/fd/{}/.", d.as_raw_fd()))))
        {
            Ok(m) => InRoot::Dir(m),
            Err(_) => InRoot::Other,
        }
    }

    pub fn walk(&mut self, src: &Path) -> io::Result<()> {
        // The destination as it resolves in the root the layer goes on: a
        // symlink on the way (a usr-merged /lib -> usr/lib) is followed
        // inside that root, so the layer writes where the path leads and
        // never replaces the link with a directory, as BuildKit's copy.
        if let Some(rp) = &self.parents_in_path {
            let to = String::from_utf8_lossy(&self.to).into_owned();
            let real = slipway_common::fsutil::resolve_in_root(rp, &to)?;
            let rel = real.strip_prefix(rp).unwrap_or(Path::new(""));
            self.to = std::os::unix::ffi::OsStrExt::as_bytes(rel.as_os_str()).to_vec();
        }
        // A directory the root has, with nothing new to go in it, is no
        // change at all: as an overlay copies up a parent only when
        // something changes inside it.
        if self.skip_existing
            && matches!(self.in_root(&self.to), InRoot::Dir(_))
            && is_empty_dir(src)?
        {
            return Ok(());
        }
        let root = self.adjust(Meta::read(src)?);
        // A file whose destination is a directory the root has goes into
        // it under its own name, as BuildKit's copy (and cp) put it.
        if root.kind != Kind::Dir && !self.to.is_empty() {
            if let (InRoot::Dir(_), Some(name)) = (self.in_root(&self.to), src.file_name()) {
                self.to.push(b'/');
                self.to
                    .extend_from_slice(std::os::unix::ffi::OsStrExt::as_bytes(name));
            }
        }
        // The destination's parents: directories, root's unless --chown
        // says, where the root the layer goes on lacks them.
        let comps: Vec<&[u8]> = self
            .to
            .split(|b| *b == b'/')
            .filter(|c| !c.is_empty())
            .collect();
        let (puid, pgid) = match (&self.parents_in, self.chown) {
            (Some(_), Some(o)) => o,
            _ => (0, 0),
        };
        for i in 0..comps.len().saturating_sub(1) {
            let rel = comps[..=i].join(&b'/');
            // A parent the root has goes in as it is there, as an overlay
            // copy-up would: a layer stacked alone keeps its metadata.
            match self.in_root(&rel) {
                InRoot::Dir(m) => {
                    self.em.entry(&rel, &m, None, ChangeKind::Added)?;
                    continue;
                }
                // A symlink (say /var/run) is left to be followed.
                InRoot::Other => continue,
                InRoot::Missing => {}
            }
            let m = Meta {
                kind: Kind::Dir,
                mode: 0o755,
                uid: puid,
                gid: pgid,
                size: 0,
                mtime: self.parent_mtime,
                mtime_nsec: 0,
                dev: 0,
                ino: 0,
                nlink: 1,
                xattrs: BTreeMap::new(),
            };
            self.em.entry(&rel, &m, None, ChangeKind::Added)?;
        }
        let to = self.to.clone();
        if root.kind != Kind::Dir {
            if to.is_empty() {
                return Err(io::Error::other(
                    "a single file needs a destination path (--to)",
                ));
            }
            let content = if root.kind == Kind::File {
                Some(File::open(src)?)
            } else {
                None
            };
            return self.em.entry(&to, &root, content, ChangeKind::Added);
        }
        // A directory's contents go into the destination: one the root
        // has keeps its own mode and owner.
        if !to.is_empty() {
            match self.in_root(&to) {
                InRoot::Dir(m) => self.em.entry(&to, &m, None, ChangeKind::Added)?,
                InRoot::Other => {}
                InRoot::Missing => self.em.entry(&to, &root, None, ChangeKind::Added)?,
            }
        }
        self.em.enter(&to, root, true);
        self.dir(&mut Node::open(src)?, b"")?;
        self.em.leave();
        Ok(())
    }

    fn dir(&mut self, node: &mut Node, rel: &[u8]) -> io::Result<()> {
        let want = self.em.wants_content();
        let names = node.sorted_names()?;
        for name in names.iter() {
            let r = join(rel, name.to_bytes());
            let out = join(&self.to, &r);
            let ignored =
                !self.exclude.is_empty() && self.exclude.ignored(&String::from_utf8_lossy(&r));
            let (m, opened) = node.child(name, want && !ignored)?;
            let m = self.adjust(m);
            match opened {
                Opened::Dir(d) => {
                    if ignored && !self.exclude.has_exceptions() {
                        continue;
                    }
                    if ignored {
                        // An exception may bring back something inside: the
                        // directory is written only if it does.
                        self.em.enter(&out, m, false);
                    } else {
                        self.em.entry(&out, &m, None, ChangeKind::Added)?;
                        self.em.enter(&out, m, true);
                    }
                    let path = node.child_path(name);
                    self.dir(&mut Node { dir: d, path }, &r)?;
                    self.em.leave();
                }
                _ if ignored => {}
                Opened::File(f) => self.em.entry(&out, &m, Some(f), ChangeKind::Added)?,
                Opened::None => self.em.entry(&out, &m, None, ChangeKind::Added)?,
            }
        }
        Ok(())
    }
}

/// Whether `src` is a directory with nothing in it.
fn is_empty_dir(src: &Path) -> io::Result<bool> {
    if !src.is_dir() {
        return Ok(false);
    }
    Ok(std::fs::read_dir(src)?.next().is_none())
}
