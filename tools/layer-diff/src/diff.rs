//! Two trees to a layer: walk OLD and NEW side by side in sorted order,
//! write what NEW adds or changes and a whiteout for what it removes.

use crate::emit::{ChangeKind, Emitter};
use crate::walk::{join, Node};
use slipway_common::dirfd::Opened;
use slipway_common::fsmeta::{Kind, Meta};
use std::cmp::Ordering;
use std::ffi::CStr;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Compare {
    /// Type, mode, owner, xattrs, size and mtime, as Docker's change walker.
    Metadata,
    /// Type, mode, owner, xattrs and the bytes: mtimes are not trusted.
    Content,
}

/// Docker's sameFsTimeSpec: a side without nanoseconds matches any.
fn same_time(a: &Meta, b: &Meta) -> bool {
    a.mtime == b.mtime && (a.mtime_nsec == b.mtime_nsec || a.mtime_nsec == 0 || b.mtime_nsec == 0)
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

pub struct Differ<'e, 'a> {
    pub em: &'e mut Emitter<'a>,
    pub compare: Compare,
}

impl Differ<'_, '_> {
    fn unchanged(
        &self,
        a: &Meta,
        old: &Node,
        b: &Meta,
        new: &Node,
        name: &CStr,
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
            Compare::Content => Ok(a.size == b.size
                && (b.kind != Kind::File
                    || same_bytes(old.dir.open_file(name)?, new.dir.open_file(name)?)?)),
        }
    }

    pub fn diff(&mut self, old: &Path, new: &Path) -> io::Result<()> {
        let root = Meta::read(new)?;
        self.em.enter(b"", root, false);
        self.dir(&Node::open(old)?, &Node::open(new)?, b"")?;
        self.em.leave();
        Ok(())
    }

    fn content(&self, node: &Node, name: &CStr, m: &Meta) -> io::Result<Option<File>> {
        if m.kind == Kind::File && m.size > 0 && self.em.wants_content() {
            node.dir.open_file(name).map(Some)
        } else {
            Ok(None)
        }
    }

    fn dir(&mut self, old: &Node, new: &Node, rel: &[u8]) -> io::Result<()> {
        let a = old.dir.sorted_names()?;
        let b = new.dir.sorted_names()?;
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            let order = match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) => x.as_bytes().cmp(y.as_bytes()),
                (Some(_), None) => Ordering::Less,
                _ => Ordering::Greater,
            };
            match order {
                Ordering::Less => {
                    // Gone from NEW: one whiteout, even for a whole directory.
                    self.em.whiteout(&join(rel, a[i].to_bytes()))?;
                    i += 1;
                }
                Ordering::Greater => {
                    self.add_tree(new, &b[j], &join(rel, b[j].to_bytes()), ChangeKind::Added)?;
                    j += 1;
                }
                Ordering::Equal => {
                    let name = &b[j];
                    let r = join(rel, name.to_bytes());
                    let (ma, oa, _) = old.child(name, false)?;
                    let (mb, ob, pb) = new.child(name, false)?;
                    match (oa, ob) {
                        (Opened::Dir(da), Opened::Dir(db)) => {
                            let (na, nb) = (
                                Node {
                                    dir: da,
                                    path: old.child_path(name),
                                },
                                Node { dir: db, path: pb },
                            );
                            let same = self.unchanged(&ma, old, &mb, new, name)?;
                            if !same {
                                self.em.entry(&r, &mb, None, ChangeKind::Modified)?;
                            }
                            self.em.enter(&r, mb, !same);
                            self.dir(&na, &nb, &r)?;
                            self.em.leave();
                        }
                        // Was something else, now a directory: all of it is new.
                        (_, Opened::Dir(db)) => {
                            self.add_dir(Node { dir: db, path: pb }, mb, &r, ChangeKind::Modified)?
                        }
                        _ => {
                            if !self.unchanged(&ma, old, &mb, new, name)? {
                                let content = self.content(new, name, &mb)?;
                                self.em.entry(&r, &mb, content, ChangeKind::Modified)?;
                            }
                        }
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        Ok(())
    }

    fn add_tree(
        &mut self,
        parent: &Node,
        name: &CStr,
        rel: &[u8],
        kind: ChangeKind,
    ) -> io::Result<()> {
        let want = self.em.wants_content();
        let (m, opened, path) = parent.child(name, want)?;
        match opened {
            Opened::Dir(d) => self.add_dir(Node { dir: d, path }, m, rel, kind),
            Opened::File(f) => self.em.entry(rel, &m, Some(f), kind),
            Opened::None => self.em.entry(rel, &m, None, kind),
        }
    }

    fn add_dir(&mut self, node: Node, m: Meta, rel: &[u8], kind: ChangeKind) -> io::Result<()> {
        self.em.entry(rel, &m, None, kind)?;
        self.em.enter(rel, m, true);
        for name in node.dir.sorted_names()? {
            self.add_tree(&node, &name, &join(rel, name.to_bytes()), ChangeKind::Added)?;
        }
        self.em.leave();
        Ok(())
    }
}
