//! The init layer: the mount points a container needs (/dev, /proc, /sys,
//! /etc/hostname, /etc/hosts, /etc/resolv.conf) that the image lacks, as a
//! read-only lower layer between the image and the writable one, as
//! Docker's "-init" layer. Made in the container's upper dir instead, they
//! would show up in every commit and every build step's layer.

use slipway_common::digest::Digest;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

const DIRS: &[&str] = &["dev", "proc", "sys"];
const ETC_FILES: &[&str] = &["hostname", "hosts", "resolv.conf"];

/// What `path` is in a stack of lower dirs, topmost first: the first
/// layer that has it (a 0/0 character device there is overlay's whiteout,
/// so nothing).
fn find(lowers: &[PathBuf], path: &str) -> Option<fs::Metadata> {
    for l in lowers {
        if let Ok(m) = fs::symlink_metadata(l.join(path)) {
            if m.file_type().is_char_device() && m.rdev() == 0 {
                return None;
            }
            return Some(m);
        }
    }
    None
}

/// Returns the init layer for `lowers` (topmost first), making it in
/// `layers_dir` if it does not exist yet; None when the image has every
/// mount point already.
pub fn ensure(layers_dir: &Path, lowers: &[PathBuf]) -> io::Result<Option<PathBuf>> {
    let mut dirs = Vec::new();
    for d in DIRS {
        if find(lowers, d).is_none() {
            dirs.push(*d);
        }
    }
    // Files under /etc only where /etc is a real directory: a symlinked
    // /etc must not be hidden by a directory of ours.
    let etc = find(lowers, "etc");
    let mut files = Vec::new();
    let etc_meta = match &etc {
        Some(m) if m.is_dir() => Some(m),
        Some(_) => None,
        None => {
            files.extend(ETC_FILES);
            None
        }
    };
    if etc_meta.is_some() {
        for f in ETC_FILES {
            if find(lowers, &format!("etc/{f}")).is_none() {
                files.push(*f);
            }
        }
    }
    if dirs.is_empty() && files.is_empty() {
        return Ok(None);
    }
    // The layer is named by what it holds, so equal needs share one.
    let etc_desc = etc_meta
        .map(|m| format!("{:o}:{}:{}:{}", m.mode(), m.uid(), m.gid(), m.mtime()))
        .unwrap_or_default();
    let key = format!("dirs={dirs:?} files={files:?} etc={etc_desc}");
    let hex = Digest::of(key.as_bytes()).hex()[..24].to_string();
    let dest = layers_dir.join(format!("init-{hex}"));
    if dest.is_dir() {
        return Ok(Some(dest));
    }
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-init-")
        .tempdir_in(layers_dir)?;
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755))?;
    for d in &dirs {
        fs::DirBuilder::new()
            .mode(0o755)
            .create(tmp.path().join(d))?;
    }
    if !files.is_empty() {
        let etc_dir = tmp.path().join("etc");
        fs::DirBuilder::new().mode(0o755).create(&etc_dir)?;
        for f in &files {
            let p = etc_dir.join(f);
            fs::write(&p, b"")?;
            fs::set_permissions(&p, fs::Permissions::from_mode(0o644))?;
        }
        // The merged /etc takes its attributes from the topmost layer
        // that has it: ours must look like the image's.
        if let Some(m) = etc_meta {
            fs::set_permissions(&etc_dir, fs::Permissions::from_mode(m.mode() & 0o7777))?;
            std::os::unix::fs::lchown(&etc_dir, Some(m.uid()), Some(m.gid()))?;
            let t = libc::timespec {
                tv_sec: m.mtime(),
                tv_nsec: m.mtime_nsec(),
            };
            let c = std::ffi::CString::new(etc_dir.as_os_str().as_encoded_bytes())
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            // SAFETY: a valid C string and two timespecs.
            unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), [t, t].as_ptr(), 0) };
        }
    }
    let tmp = tmp.keep();
    match fs::rename(&tmp, &dest) {
        Ok(()) => Ok(Some(dest)),
        Err(_) if dest.is_dir() => {
            let _ = fs::remove_dir_all(&tmp);
            Ok(Some(dest))
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            Err(e)
        }
    }
}
