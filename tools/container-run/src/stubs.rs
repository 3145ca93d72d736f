//! Mount points that a volume, tmpfs or build mount needed and the image
//! lacked are made in the writable layer; left there they would show up
//! in `layer-diff --upper`, in every build step's layer and every commit.
//! After the container exits, those that are still empty and that no
//! lower layer has are taken out of the upper dir again, as BuildKit
//! removes its mount stubs.
//!
//! The container had the upper dir to itself and may have put symlinks
//! there: every step here goes through descriptors and never follows one,
//! so nothing outside the upper dir can be touched.

use crate::config::{Plan, Root};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

fn cstr(s: &str) -> Option<CString> {
    CString::new(s).ok()
}

/// A directory opened below `dir` without following a symlink.
fn open_dir(dir: RawFd, name: &str) -> Option<OwnedFd> {
    let c = cstr(name)?;
    // SAFETY: a valid descriptor and C string.
    let fd = unsafe {
        libc::openat(
            dir,
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    // SAFETY: a descriptor openat just returned.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// lstat of `name` in `dir`.
fn stat_at(dir: RawFd, name: &str) -> Option<libc::stat> {
    let c = cstr(name)?;
    // SAFETY: stat is plain data written by the kernel.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor, C string and out pointer.
    let rc = unsafe { libc::fstatat(dir, c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
    (rc == 0).then_some(st)
}

/// Whether `rel` exists in the stack of lower dirs (topmost first),
/// looked up without following symlinks: the first layer that has an
/// entry decides, a whiteout saying "deleted".
fn in_lowers(lowers: &[PathBuf], comps: &[&str]) -> bool {
    for l in lowers {
        let Ok(top) = std::fs::File::open(l) else {
            continue;
        };
        let mut fd: Option<OwnedFd> = None;
        let mut reached = true;
        for c in &comps[..comps.len() - 1] {
            let parent = fd.as_ref().map_or(top.as_raw_fd(), |f| f.as_raw_fd());
            match open_dir(parent, c) {
                Some(next) => fd = Some(next),
                None => {
                    reached = false;
                    break;
                }
            }
        }
        if !reached {
            continue;
        }
        let parent = fd.as_ref().map_or(top.as_raw_fd(), |f| f.as_raw_fd());
        if let Some(st) = stat_at(parent, comps[comps.len() - 1]) {
            let whiteout = st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == 0;
            return !whiteout;
        }
    }
    false
}

/// Removes `name` from `dir` if it is an empty directory or an empty
/// regular file; whether it did.
fn remove_empty(dir: RawFd, name: &str) -> bool {
    let Some(st) = stat_at(dir, name) else {
        return false;
    };
    let Some(c) = cstr(name) else { return false };
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => {
            // rmdir itself refuses a directory that is not empty.
            // SAFETY: a valid descriptor and C string.
            unsafe { libc::unlinkat(dir, c.as_ptr(), libc::AT_REMOVEDIR) == 0 }
        }
        libc::S_IFREG if st.st_size == 0 => {
            // SAFETY: a valid descriptor and C string.
            unsafe { libc::unlinkat(dir, c.as_ptr(), 0) == 0 }
        }
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
    let Ok(up) = std::fs::File::open(upper) else {
        return;
    };
    for m in &plan.mounts {
        let comps: Vec<&str> = m
            .target
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        if comps.is_empty() || comps.contains(&"..") {
            continue;
        }
        // The directories on the way, opened without following links.
        let mut dirs: Vec<OwnedFd> = vec![];
        for c in &comps[..comps.len() - 1] {
            let parent = dirs.last().map_or(up.as_raw_fd(), |f| f.as_raw_fd());
            match open_dir(parent, c) {
                Some(d) => dirs.push(d),
                None => break,
            }
        }
        if dirs.len() + 1 < comps.len() {
            continue;
        }
        // The target, then each parent made for it, deepest first.
        for depth in (1..=comps.len()).rev() {
            if in_lowers(&stack, &comps[..depth]) {
                break;
            }
            let parent = match depth {
                1 => up.as_raw_fd(),
                d => dirs[d - 2].as_raw_fd(),
            };
            if !remove_empty(parent, comps[depth - 1]) {
                break;
            }
        }
    }
}
