//! An overlayfs upper directory to a layer: a 0/0 character device (or a
//! file marked with the overlay whiteout xattr) is a whiteout, a directory
//! marked opaque hides the lower ones, and overlay's own xattrs stay out.
//!
//! Overlay marks directories opaque far more often than anything is
//! hidden (a directory made where a whiteout was, and on some kernels
//! every new one). Given the lowers, an opaque directory the lowers lack
//! is written as a plain one, and one they have is written as BuildKit's
//! differ writes it: a whiteout for each lower entry it no longer has,
//! never an opaque marker that would hide more on another parent.

use crate::emit::{ChangeKind, Emitter};
use crate::walk::{join, Node};
use slipway_common::dirfd::{Dir, Opened};
use slipway_common::fsmeta::{Kind, Meta};
use std::collections::BTreeSet;
use std::ffi::{CStr, CString};
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
    /// Lower directories (best: the one merged root below the upper), to
    /// tell added from modified and to resolve opaque directories.
    pub lowers: Vec<PathBuf>,
    /// Make the upper dir say what the layer says (`--fix-upper`), so it
    /// stacks as the layer's unpacked copy on any parent: opaque marks
    /// dropped, whiteouts made for what they hid.
    pub fix: bool,
}

const OPAQUE_XATTRS: [&CStr; 2] = [c"trusted.overlay.opaque", c"user.overlay.opaque"];

fn drop_opaque(d: &Dir) -> io::Result<()> {
    for n in OPAQUE_XATTRS {
        // SAFETY: valid descriptor and C string.
        if unsafe { libc::fremovexattr(d.fd(), n.as_ptr()) } < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ENODATA) {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// A directory's access and modification times, for futimens.
fn dir_times(d: &Dir) -> io::Result<[libc::timespec; 2]> {
    // SAFETY: stat is plain data the kernel fills.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor and out pointer.
    if unsafe { libc::fstat(d.fd(), &mut st) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok([
        libc::timespec {
            tv_sec: st.st_atime,
            tv_nsec: st.st_atime_nsec,
        },
        libc::timespec {
            tv_sec: st.st_mtime,
            tv_nsec: st.st_mtime_nsec,
        },
    ])
}

/// An overlay whiteout, a 0/0 character device, named `name` in `d`.
fn make_whiteout(d: &Dir, name: &[u8]) -> io::Result<()> {
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: valid descriptor and C string.
    if unsafe { libc::mknodat(d.fd(), c.as_ptr(), libc::S_IFCHR, libc::makedev(0, 0)) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The lower's directory at `rel`, reached without following a symlink
/// on the way, as overlay looks a path up in a lower layer.
fn lower_dir(lower: &Path, rel: &[u8]) -> Option<Dir> {
    let mut d = Dir::open(lower).ok()?;
    for c in rel.split(|b| *b == b'/').filter(|c| !c.is_empty()) {
        d = d.open_dir(&CString::new(c).ok()?).ok()?;
    }
    Some(d)
}

impl Upper<'_, '_> {
    pub fn walk(&mut self, upper: &Path) -> io::Result<()> {
        let mut root = Meta::read(upper)?;
        root.drop_overlay_xattrs();
        self.em.enter(b"", root, false);
        self.dir(&mut Node::open(upper)?, b"", false)?;
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

    /// The names the lowers have in directory `rel` (none when no lower
    /// has it as a directory).
    fn lower_names(&self, rel: &[u8]) -> BTreeSet<Vec<u8>> {
        let mut out = BTreeSet::new();
        for l in &self.lowers {
            if let Some(d) = lower_dir(l, rel) {
                for n in d.sorted_names().into_iter().flatten() {
                    out.insert(n.into_bytes());
                }
            }
        }
        out
    }

    fn lower_has_dir(&self, rel: &[u8]) -> bool {
        self.lowers.iter().any(|l| lower_dir(l, rel).is_some())
    }

    /// Directory `rel` of the upper, which hides the lower's own: a
    /// whiteout for each lower entry it lacks. Its subdirectories that the
    /// lowers also have hide theirs in turn (`hiding`).
    fn dir(&mut self, node: &mut Node, rel: &[u8], hiding: bool) -> io::Result<()> {
        let want = self.em.wants_content();
        let names = node.sorted_names()?;
        // What it hides, whited out in name order among its own entries
        // (as the fixed upper dir lists them).
        let mut gone: Vec<Vec<u8>> = vec![];
        if hiding {
            let have: BTreeSet<&[u8]> = names.iter().map(|n| n.to_bytes()).collect();
            gone = self
                .lower_names(rel)
                .into_iter()
                .filter(|n| !have.contains(n.as_slice()))
                .rev()
                .collect();
        }
        let times = if self.fix && !gone.is_empty() {
            Some(dir_times(&node.dir)?)
        } else {
            None
        };
        for name in names.iter() {
            while gone.last().is_some_and(|g| g.as_slice() < name.to_bytes()) {
                let g = gone.pop().expect("checked");
                self.hide(node, rel, &g)?;
            }
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
                    // Without the lowers only the marker can say it.
                    if opaque && self.lowers.is_empty() {
                        self.em.opaque(&r)?;
                    }
                    let hides = (opaque || hiding) && self.lower_has_dir(&r);
                    if opaque && self.fix {
                        drop_opaque(&d)?;
                    }
                    self.em.enter(&r, m, true);
                    let path = node.child_path(name);
                    self.dir(&mut Node { dir: d, path }, &r, hides)?;
                    self.em.leave();
                }
                Opened::File(f) => self.em.entry(&r, &m, Some(f), kind)?,
                Opened::None => self.em.entry(&r, &m, None, kind)?,
            }
        }
        while let Some(g) = gone.pop() {
            self.hide(node, rel, &g)?;
        }
        if let Some(t) = times {
            // Whiteouts made in it leave the directory as the layer has it.
            // SAFETY: valid descriptor and two timespecs.
            if unsafe { libc::futimens(node.dir.fd(), t.as_ptr()) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    fn hide(&mut self, node: &Node, rel: &[u8], name: &[u8]) -> io::Result<()> {
        self.em.whiteout(&join(rel, name))?;
        if self.fix {
            make_whiteout(&node.dir, name)?;
        }
        Ok(())
    }
}
