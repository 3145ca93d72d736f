//! Two trees to a layer: walk OLD and NEW side by side in sorted order,
//! write what NEW adds or changes and a whiteout for what it removes.
//!
//! With `--compare metadata` an unchanged tree costs what its metadata
//! costs: each directory is read whole (`getdents64`, then one `fstatat`
//! and one `listxattrat` per entry, nothing opened), OLD's on a second
//! thread (see `ahead`), and only what differs is opened and read.

use crate::ahead::{Ahead, Old};
use crate::emit::{ChangeKind, Emitter};
use crate::walk::{push, Listing};
use slipway_common::dirfd::{Dir, Names};
use slipway_common::fsmeta::{Kind, Meta};
use std::cmp::Ordering;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Compare {
    /// Type, mode, owner, xattrs, size and mtime, as Docker's change walker.
    Metadata,
    /// All that metadata compares, and the bytes too: a file rewritten
    /// with its size and mtime kept still counts as changed.
    Content,
}

/// Docker's sameFsTimeSpec: a side without nanoseconds matches any.
fn same_time(a: &Meta, b: &Meta) -> bool {
    a.mtime == b.mtime && (a.mtime_nsec == b.mtime_nsec || a.mtime_nsec == 0 || b.mtime_nsec == 0)
}

/// One inode seen from both trees (a hard-linked copy, or OLD and NEW
/// overlapping): nothing in it can differ, so it is not even compared, and
/// a directory not walked, as Docker's walker skips equal inodes.
fn same_object(a: &Meta, b: &Meta) -> bool {
    a.dev == b.dev && a.ino == b.ino
}

fn same_bytes(mut fa: File, mut fb: File) -> io::Result<bool> {
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let na = read_full(&mut fa, &mut ba)?;
        let nb = read_full(&mut fb, &mut bb)?;
        if na != nb || ba[..na] != bb[..nb] {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Where the merge of two sorted directories goes next.
#[derive(Clone, Copy)]
enum Step {
    /// Only in OLD (`i`).
    Old(usize),
    /// Only in NEW (`j`).
    New(usize),
    Both(usize, usize),
}

fn merge(a: &Names, b: &Names) -> Vec<Step> {
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let order = if i == a.len() {
            Ordering::Greater
        } else if j == b.len() {
            Ordering::Less
        } else {
            a.bytes(i).cmp(b.bytes(j))
        };
        match order {
            Ordering::Less => {
                out.push(Step::Old(i));
                i += 1;
            }
            Ordering::Greater => {
                out.push(Step::New(j));
                j += 1;
            }
            Ordering::Equal => {
                out.push(Step::Both(i, j));
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Whether the walk descends into both sides of a common entry.
fn walks_both(a: &Meta, b: &Meta) -> bool {
    a.kind == Kind::Dir && b.kind == Kind::Dir && !same_object(a, b)
}

/// Writes the changes from `old` to `new` to `em`.
pub fn diff(em: &mut Emitter<'_>, compare: Compare, old: &Path, new: &Path) -> io::Result<()> {
    let root = Meta::read(new)?;
    let id = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| (m.dev(), m.ino()))
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))
    };
    em.enter(b"", root, false);
    // OLD and NEW one directory (`layer-diff T T`): nothing can differ.
    if id(old)? != id(new)? {
        let dir = Dir::open(old)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", old.display())))?;
        let (mut ahead, mark) = Ahead::new(dir, old);
        // NEW's side here while the reader does OLD's; OLD's error, if
        // both fail, as a walk of OLD first gives.
        let new_root = Listing::open(new);
        let old_root = ahead.take(&mark)?;
        let mut w = Walk {
            em: &mut *em,
            compare,
            ahead,
        };
        w.dir(old_root, new_root?, &mut Vec::new())?;
    }
    em.leave();
    Ok(())
}

struct Walk<'e, 'a> {
    em: &'e mut Emitter<'a>,
    compare: Compare,
    ahead: Ahead,
}

impl Walk<'_, '_> {
    fn unchanged(
        &self,
        a: &Meta,
        old: &Listing,
        i: usize,
        b: &Meta,
        new: &Listing,
        j: usize,
    ) -> io::Result<bool> {
        if a.kind != b.kind
            || a.mode != b.mode
            || a.uid != b.uid
            || a.gid != b.gid
            || a.xattrs != b.xattrs
        {
            return Ok(false);
        }
        if b.kind == Kind::Dir {
            return Ok(true);
        }
        match self.compare {
            Compare::Metadata => Ok(a.size == b.size && same_time(a, b)),
            // Added to the metadata's verdict, never instead of it: a node
            // whose only change is its mtime must still reach the layer.
            Compare::Content => Ok(a.size == b.size
                && same_time(a, b)
                && (b.kind != Kind::File || same_bytes(old.open_file(i)?, new.open_file(j)?)?)),
        }
    }

    fn content(&self, node: &Listing, j: usize, m: &Meta) -> io::Result<Option<File>> {
        if m.kind == Kind::File && m.size > 0 && self.em.wants_content() {
            node.open_file(j).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Merges two directories; `rel` is their path in the layer, and comes
    /// back as it went in.
    fn dir(&mut self, old: Old, mut new: Listing, rel: &mut Vec<u8>) -> io::Result<()> {
        let steps = merge(&old.listing.names, &new.names);
        // The reader is walking OLD ahead: tell it now which directories
        // the diff will not walk, before it reads their insides.
        for s in &steps {
            let (i, walked) = match *s {
                Step::Old(i) => (i, false),
                Step::Both(i, j) => match (old.listing.meta(i), new.meta(j)) {
                    (Some(a), Some(b)) => (i, walks_both(a, b)),
                    _ => (i, true),
                },
                Step::New(_) => continue,
            };
            if !walked {
                old.skip(i);
            }
        }
        let Old {
            listing: mut old,
            children,
        } = old;
        for step in steps {
            match step {
                Step::Old(i) => {
                    // Gone from NEW: one whiteout, even for a whole directory.
                    let n = push(rel, old.names.bytes(i));
                    self.em.whiteout(rel)?;
                    rel.truncate(n);
                }
                Step::New(j) => {
                    let n = push(rel, new.names.bytes(j));
                    self.add(&mut new, j, rel, ChangeKind::Added)?;
                    rel.truncate(n);
                }
                Step::Both(i, j) => {
                    let ma = old.take(i)?;
                    let mb = new.take(j)?;
                    if same_object(&ma, &mb) {
                        continue;
                    }
                    let n = push(rel, new.names.bytes(j));
                    if walks_both(&ma, &mb) {
                        // NEW's side here while the reader does OLD's.
                        let sub_new = new.open_child(j, true);
                        let sub_old = match children.get(i).and_then(Option::as_ref) {
                            Some(mark) => self.ahead.take(mark),
                            None => Err(io::Error::other("lost a directory of OLD")),
                        };
                        let (sub_old, sub_new) = (sub_old?, sub_new?);
                        let same = self.unchanged(&ma, &old, i, &mb, &new, j)?;
                        if !same {
                            self.em.entry(rel, &mb, None, ChangeKind::Modified)?;
                        }
                        self.em.enter(rel, mb, !same);
                        self.dir(sub_old, sub_new, rel)?;
                        self.em.leave();
                    } else if mb.kind == Kind::Dir {
                        // Was something else, now a directory: all of it is new.
                        let sub = new.open_child(j, false)?;
                        self.add_dir(sub, mb, rel, ChangeKind::Modified)?;
                    } else if !self.unchanged(&ma, &old, i, &mb, &new, j)? {
                        let content = self.content(&new, j, &mb)?;
                        self.em.entry(rel, &mb, content, ChangeKind::Modified)?;
                    }
                    rel.truncate(n);
                }
            }
        }
        Ok(())
    }

    /// Entry `j` of `parent`, and all below it if it is a directory. What
    /// is all new is listed without xattrs: each entry's come through the
    /// descriptor it is opened with anyway, as `--dir` reads them.
    fn add(
        &mut self,
        parent: &mut Listing,
        j: usize,
        rel: &mut Vec<u8>,
        kind: ChangeKind,
    ) -> io::Result<()> {
        let mut m = parent.take(j)?;
        if m.kind == Kind::Dir {
            let sub = parent.open_child(j, false)?;
            parent.complete(j, &mut m, Some(sub.dir.fd()))?;
            self.add_dir(sub, m, rel, kind)
        } else {
            let content = self.content(parent, j, &m)?;
            parent.complete(j, &mut m, content.as_ref().map(|f| f.as_raw_fd()))?;
            self.em.entry(rel, &m, content, kind)
        }
    }

    fn add_dir(
        &mut self,
        mut node: Listing,
        m: Meta,
        rel: &mut Vec<u8>,
        kind: ChangeKind,
    ) -> io::Result<()> {
        self.em.entry(rel, &m, None, kind)?;
        self.em.enter(rel, m, true);
        for j in 0..node.names.len() {
            let n = push(rel, node.names.bytes(j));
            self.add(&mut node, j, rel, ChangeKind::Added)?;
            rel.truncate(n);
        }
        self.em.leave();
        Ok(())
    }
}
