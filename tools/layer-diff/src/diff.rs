//! Two trees to a layer: walk OLD and NEW side by side in sorted order,
//! write what NEW adds or changes and a whiteout for what it removes.

use crate::emit::{ChangeKind, Emitter};
use crate::walk::{join, sorted_children};
use slipway_common::fsmeta::{Kind, Meta};
use std::cmp::Ordering;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
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

fn same_bytes(a: &Path, b: &Path) -> io::Result<bool> {
    let (mut fa, mut fb) = (File::open(a)?, File::open(b)?);
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
    fn unchanged(&self, a: &Meta, ap: &Path, b: &Meta, bp: &Path) -> io::Result<bool> {
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
            Compare::Content => {
                Ok(a.size == b.size && (b.kind != Kind::File || same_bytes(ap, bp)?))
            }
        }
    }

    pub fn diff(&mut self, old: &Path, new: &Path) -> io::Result<()> {
        let root = Meta::read(new)?;
        self.em.enter(b"", root, false);
        self.dir(old, new, b"")?;
        self.em.leave();
        Ok(())
    }

    fn dir(&mut self, old: &Path, new: &Path, rel: &[u8]) -> io::Result<()> {
        let a = sorted_children(old)?;
        let b = sorted_children(new)?;
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
                    self.em.whiteout(&join(rel, a[i].as_bytes()))?;
                    i += 1;
                }
                Ordering::Greater => {
                    let r = join(rel, b[j].as_bytes());
                    self.add_tree(&new.join(&b[j]), &r, ChangeKind::Added)?;
                    j += 1;
                }
                Ordering::Equal => {
                    let (ap, bp) = (old.join(&a[i]), new.join(&b[j]));
                    let r = join(rel, b[j].as_bytes());
                    let (ma, mb) = (Meta::read(&ap)?, Meta::read(&bp)?);
                    match (&ma.kind, &mb.kind) {
                        (Kind::Dir, Kind::Dir) => {
                            let same = self.unchanged(&ma, &ap, &mb, &bp)?;
                            if !same {
                                self.em.entry(&r, &mb, &bp, ChangeKind::Modified)?;
                            }
                            self.em.enter(&r, mb, !same);
                            self.dir(&ap, &bp, &r)?;
                            self.em.leave();
                        }
                        // Was something else, now a directory: all of it is new.
                        (_, Kind::Dir) => self.add_tree(&bp, &r, ChangeKind::Modified)?,
                        _ => {
                            if !self.unchanged(&ma, &ap, &mb, &bp)? {
                                self.em.entry(&r, &mb, &bp, ChangeKind::Modified)?;
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

    fn add_tree(&mut self, path: &Path, rel: &[u8], kind: ChangeKind) -> io::Result<()> {
        let m = Meta::read(path)?;
        self.em.entry(rel, &m, path, kind)?;
        if m.kind == Kind::Dir {
            self.em.enter(rel, m, true);
            for name in sorted_children(path)? {
                self.add_tree(
                    &path.join(&name),
                    &join(rel, name.as_bytes()),
                    ChangeKind::Added,
                )?;
            }
            self.em.leave();
        }
        Ok(())
    }
}
