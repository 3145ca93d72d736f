//! Trees copied as tar streams: walked through directory descriptors
//! (nothing followed that should not be), written by the layer writer and
//! applied by the safe applier. What `container-ctl cp` and a named
//! volume's copy-up share.

use crate::apply::{apply_at, Whiteouts};
use crate::dirfd::{Dir, Opened};
use crate::fsmeta::{Kind, Meta};
use crate::layer_tar::LayerWriter;
use std::ffi::{CStr, OsStr};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Who owns what is copied: the given IDs (and no extended attributes),
/// or as the files say.
pub struct Owner {
    pub ids: Option<(u64, u64)>,
}

impl Owner {
    pub fn fix(&self, meta: &mut Meta) {
        if let Some((u, g)) = self.ids {
            meta.uid = u;
            meta.gid = g;
            meta.xattrs.clear();
        }
        // Overlay's own attributes never travel.
        meta.xattrs
            .retain(|k, _| !k.starts_with(b"trusted.overlay.") && !k.starts_with(b"user.overlay."));
    }
}

/// Writes the tree at `dir`/`name` as `tar_name` and below.
pub fn tar_tree<W: Write>(
    w: &mut LayerWriter<W>,
    dir: &Dir,
    name: &CStr,
    tar_name: &[u8],
    owner: &Owner,
) -> io::Result<()> {
    let (mut meta, opened) = dir.entry(name, true, || {
        Path::new(&format!("/proc/self/fd/{}", dir.fd())).join(OsStr::from_bytes(name.to_bytes()))
    })?;
    owner.fix(&mut meta);
    match opened {
        Opened::File(mut f) => w.entry(tar_name, &meta, Some(&mut f)),
        Opened::Dir(sub) => {
            w.entry(tar_name, &meta, None)?;
            tar_children(w, &sub, tar_name, owner)
        }
        // A socket is no file to copy: docker leaves it out too.
        Opened::None if meta.kind == Kind::Socket => Ok(()),
        Opened::None => w.entry(tar_name, &meta, None),
    }
}

/// Writes what directory `dir` holds, each entry under `prefix`.
pub fn tar_children<W: Write>(
    w: &mut LayerWriter<W>,
    dir: &Dir,
    prefix: &[u8],
    owner: &Owner,
) -> io::Result<()> {
    for n in dir.sorted_names()? {
        let child = if prefix.is_empty() {
            n.as_bytes().to_vec()
        } else {
            [prefix, b"/", n.as_bytes()].concat()
        };
        tar_tree(w, dir, &n, &child, owner)?;
    }
    Ok(())
}

/// A pipe: its read end, its write end.
pub fn pipe() -> io::Result<(File, File)> {
    let mut fds = [0; 2];
    // SAFETY: a two-int array for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the two descriptors pipe2 just made are ours.
    Ok(unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) })
}

/// Copies what directory `src` holds into the directory open as `dest`,
/// owners, modes and times kept.
pub fn copy_contents(src: &Dir, dest: OwnedFd) -> Result<(), String> {
    let (reader, writer) = pipe().map_err(|e| format!("pipe: {e}"))?;
    std::thread::scope(|sc| {
        let producer = sc.spawn(move || {
            let mut w = LayerWriter::new(writer, None);
            tar_children(&mut w, src, b"", &Owner { ids: None })?;
            w.finish().map(drop)
        });
        let applied = apply_at(reader, dest, Whiteouts::Literal);
        let produced = producer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the reader panicked")));
        applied.map_err(|e| e.to_string())?;
        produced.map_err(|e| format!("read: {e}"))
    })
}
