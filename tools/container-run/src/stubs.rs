//! Mount points that a volume, tmpfs or build mount needed and the image
//! lacked are made in the writable layer; left there they would show up
//! in `layer-diff --upper`, in every build step's layer and every commit.
//! After the container exits, those that are still empty and that no
//! lower layer has are taken out of the upper dir again, as BuildKit
//! removes its mount stubs.

use crate::config::{Plan, Root};
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Whether `rel` exists in the stack of lower dirs (topmost first): the
/// first layer that has an entry decides, a whiteout saying "deleted".
fn in_lowers(lowers: &[PathBuf], rel: &Path) -> bool {
    for l in lowers {
        if let Ok(m) = fs::symlink_metadata(l.join(rel)) {
            return !(m.file_type().is_char_device() && m.rdev() == 0);
        }
    }
    false
}

/// An empty directory or an empty regular file.
fn is_empty_stub(p: &Path) -> bool {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::read_dir(p).is_ok_and(|mut d| d.next().is_none()),
        Ok(m) if m.is_file() => m.len() == 0,
        _ => false,
    }
}

/// Removes the empty mount points the plan's mounts left in the upper dir.
pub fn remove(plan: &Plan) {
    let Root::Overlay {
        lowers_dir,
        lowers,
        upper,
        ..
    } = &plan.root
    else {
        return;
    };
    let stack: Vec<PathBuf> = lowers.iter().map(|l| lowers_dir.join(l)).collect();
    for m in &plan.mounts {
        let mut rel = PathBuf::from(m.target.trim_start_matches('/'));
        // The target, then each parent made for it, deepest first.
        while !rel.as_os_str().is_empty() {
            let here = upper.join(&rel);
            if in_lowers(&stack, &rel) || !is_empty_stub(&here) {
                break;
            }
            let removed = if here.is_dir() {
                fs::remove_dir(&here)
            } else {
                fs::remove_file(&here)
            };
            if removed.is_err() {
                break;
            }
            rel = rel.parent().map(Path::to_path_buf).unwrap_or_default();
        }
    }
}
