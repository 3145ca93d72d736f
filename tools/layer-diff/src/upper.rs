//! An overlayfs upper directory to a layer: a 0/0 character device (or a
//! file marked with the overlay whiteout xattr) is a whiteout, a directory
//! marked opaque hides the lower ones, and overlay's own xattrs stay out.

use crate::emit::{ChangeKind, Emitter};
use crate::walk::{join, Node};
use slipway_common::dirfd::Opened;
use slipway_common::fsmeta::{Kind, Meta};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

fn is_whiteout(m: &Meta) -> bool {
    m.kind == (Kind::Char { major: 0, minor: 0 })
        || (m.kind == Kind::File
            && m.size == 0
            && [&b"trusted.overlay.whiteout"[..], b"user.overlay.whiteout"]
                .iter()
                .any(|n| m.xattrs.contains_key(*n)))
}

fn is_opaque(m: &Meta) -> bool {
    [&b"trusted.overlay.opaque"[..], b"user.overlay.opaque"]
        .iter()
        .any(|n| m.xattrs.get(*n).is_some_and(|v| v == b"y"))
}

pub struct Upper<'e, 'a> {
    pub em: &'e mut Emitter<'a>,
    /// Lower directories, to tell added from modified in `--changes`.
    pub lowers: Vec<PathBuf>,
}

impl Upper<'_, '_> {
    pub fn walk(&mut self, upper: &Path) -> io::Result<()> {
        let mut root = Meta::read(upper)?;
        root.drop_overlay_xattrs();
        self.em.enter(b"", root, false);
        self.dir(&mut Node::open(upper)?, b"")?;
        self.em.leave();
        Ok(())
    }

    fn kind_of(&self, rel: &[u8]) -> ChangeKind {
        let rel = Path::new(std::ffi::OsStr::from_bytes(rel));
        if self
            .lowers
            .iter()
            .any(|l| l.join(rel).symlink_metadata().is_ok())
        {
            ChangeKind::Modified
        } else {
            ChangeKind::Added
        }
    }

    fn dir(&mut self, node: &mut Node, rel: &[u8]) -> io::Result<()> {
        let want = self.em.wants_content();
        let names = node.sorted_names()?;
        for name in names.iter() {
            let r = join(rel, name.to_bytes());
            let (mut m, opened) = node.child(name, want)?;
            if is_whiteout(&m) {
                self.em.whiteout(&r)?;
                continue;
            }
            let opaque = m.kind == Kind::Dir && is_opaque(&m);
            m.drop_overlay_xattrs();
            let kind = self.kind_of(&r);
            match opened {
                Opened::Dir(d) => {
                    self.em.entry(&r, &m, None, kind)?;
                    if opaque {
                        self.em.opaque(&r)?;
                    }
                    self.em.enter(&r, m, true);
                    let path = node.child_path(name);
                    self.dir(&mut Node { dir: d, path }, &r)?;
                    self.em.leave();
                }
                Opened::File(f) => self.em.entry(&r, &m, Some(f), kind)?,
                Opened::None => self.em.entry(&r, &m, None, kind)?,
            }
        }
        Ok(())
    }
}
