//! Where changes go: a layer tar, or `--changes` JSON lines. Parent
//! directories of a change are written before it (as containerd does), so
//! the layer keeps their owners and modes wherever it is applied.

use slipway_common::fsmeta::{Kind, Meta};
use slipway_common::layer_tar::LayerWriter;
use std::fs::File;
use std::io::{self, Write};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

#[derive(serde::Serialize)]
struct ChangeLine<'a> {
    path: &'a str,
    kind: ChangeKind,
}

enum Sink<'a> {
    Tar(LayerWriter<Box<dyn Write + 'a>>),
    Changes(Box<dyn Write + 'a>),
}

struct Pending {
    rel: Vec<u8>,
    meta: Meta,
    written: bool,
}

pub struct Emitter<'a> {
    sink: Sink<'a>,
    pending: Vec<Pending>,
    pub warnings: Vec<String>,
}

/// One `--changes` line.
fn change_line(out: &mut dyn Write, rel: &[u8], kind: ChangeKind) -> io::Result<()> {
    let line = serde_json::to_string(&ChangeLine {
        path: &shown(rel),
        kind,
    })
    .expect("JSON");
    writeln!(out, "{line}")
}

fn shown(rel: &[u8]) -> String {
    format!("/{}", String::from_utf8_lossy(rel))
}

impl<'a> Emitter<'a> {
    pub fn tar(out: Box<dyn Write + 'a>, clamp: Option<i64>) -> Self {
        Emitter {
            sink: Sink::Tar(LayerWriter::new(out, clamp)),
            pending: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub fn changes(out: Box<dyn Write + 'a>) -> Self {
        Emitter {
            sink: Sink::Changes(out),
            pending: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Whether file contents are wanted (a tar), or only names (--changes).
    pub fn wants_content(&self) -> bool {
        matches!(self.sink, Sink::Tar(_))
    }

    /// Entering a directory. One already `written` (a change itself) is
    /// only tracked; any other is written just before the first change
    /// below it, if there is one.
    pub fn enter(&mut self, rel: &[u8], meta: Meta, written: bool) {
        self.pending.push(Pending {
            rel: rel.to_vec(),
            meta,
            written,
        });
    }

    pub fn leave(&mut self) {
        self.pending.pop();
    }

    fn flush_parents(&mut self) -> io::Result<()> {
        for i in 0..self.pending.len() {
            if self.pending[i].written {
                continue;
            }
            self.pending[i].written = true;
            let (rel, meta) = (self.pending[i].rel.clone(), self.pending[i].meta.clone());
            if rel.is_empty() {
                continue; // the root itself is never an entry
            }
            self.write(&rel, &meta, None, ChangeKind::Modified)?;
        }
        Ok(())
    }

    fn write(
        &mut self,
        rel: &[u8],
        meta: &Meta,
        content: Option<File>,
        kind: ChangeKind,
    ) -> io::Result<()> {
        match &mut self.sink {
            Sink::Tar(w) => match content {
                Some(mut f) if meta.kind == Kind::File && meta.size > 0 => {
                    w.entry(rel, meta, Some(&mut f))
                }
                None if meta.kind == Kind::File && meta.size > 0 => Err(io::Error::other(format!(
                    "{}: no content to write",
                    shown(rel)
                ))),
                _ => w.entry(rel, meta, None),
            },
            Sink::Changes(out) => change_line(out, rel, kind),
        }
    }

    /// An added or modified entry; a regular file's content comes from
    /// `content` (not needed with --changes).
    pub fn entry(
        &mut self,
        rel: &[u8],
        meta: &Meta,
        content: Option<File>,
        kind: ChangeKind,
    ) -> io::Result<()> {
        if meta.kind == Kind::Socket {
            self.warnings
                .push(format!("{}: socket skipped", shown(rel)));
            return Ok(());
        }
        self.flush_parents()?;
        self.write(rel, meta, content, kind)
    }

    pub fn whiteout(&mut self, rel: &[u8]) -> io::Result<()> {
        self.flush_parents()?;
        match &mut self.sink {
            Sink::Tar(w) => w.whiteout(rel),
            Sink::Changes(out) => change_line(out, rel, ChangeKind::Deleted),
        }
    }

    /// Everything the lower layers have in `rel` is hidden.
    pub fn opaque(&mut self, rel: &[u8]) -> io::Result<()> {
        match &mut self.sink {
            Sink::Tar(w) => w.opaque(rel),
            // docker diff reports the directory itself, already written.
            Sink::Changes(_) => Ok(()),
        }
    }

    pub fn finish(self) -> io::Result<()> {
        match self.sink {
            Sink::Tar(w) => w.finish().map(drop),
            Sink::Changes(mut out) => out.flush(),
        }
    }
}
