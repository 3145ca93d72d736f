//! A named volume's first use, as docker makes it: an empty volume
//! mounted where the image has a directory gets that directory's content
//! (owners and modes kept) before the container starts, so a database's
//! or an app's initial files are in the volume.

use crate::config::{Mount, MountKind};
use crate::Error;
use slipway_common::apply::openat_in_root;
use slipway_common::container::volumes::Volumes;
use slipway_common::dirfd::Dir;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

fn empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none())
}

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap_or_default()
}

/// Fills each empty named volume of `mounts` from the image (its layers
/// `lowers`, topmost first) at the volume's target. `scratch` is an empty
/// directory to mount the image on, in a mount namespace of a child's own.
pub fn copy_up(
    store: &Path,
    lowers: &[PathBuf],
    mounts: &[Mount],
    scratch: &Path,
    rootless: bool,
) -> Result<(), Error> {
    let vols = Volumes::open(store);
    let todo: Vec<(&str, &PathBuf)> = mounts
        .iter()
        .filter_map(|m| match &m.kind {
            MountKind::Bind { source, .. } if vols.name_of(source).is_some() && empty(source) => {
                Some((m.target.as_str(), source))
            }
            _ => None,
        })
        .collect();
    if todo.is_empty() || lowers.is_empty() {
        return Ok(());
    }
    slipway_common::fsutil::create_dir_all(scratch)?;
    // SAFETY: container-run has no other thread here; the child only
    // runs the copy below and exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Error::Invalid(format!(
            "fork for the volume copy: {}",
            std::io::Error::last_os_error()
        )));
    }
    if pid == 0 {
        let code = match copy_in_child(lowers, &todo, scratch, rootless) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("container-run: error: {e}");
                125
            }
        };
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(code) }
    }
    let mut status = 0;
    // SAFETY: waitpid on our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let _ = std::fs::remove_dir(scratch);
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ok(())
    } else {
        Err(Error::Invalid(
            "the image's content could not be copied into a new volume (said above)".into(),
        ))
    }
}

fn copy_in_child(
    lowers: &[PathBuf],
    todo: &[(&str, &PathBuf)],
    scratch: &Path,
    rootless: bool,
) -> Result<(), String> {
    use slipway_common::mount::mount;
    // SAFETY: unshare with a flag, in our single-threaded child.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } < 0 {
        return Err(format!(
            "unshare the mount namespace: {}",
            std::io::Error::last_os_error()
        ));
    }
    mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None)
        .map_err(|e| format!("make / private: {e}"))?;
    let target = cstr(scratch);
    // The image read-only: overlay needs two lowers without an upper; a
    // one-layer image is its layer.
    if lowers.len() == 1 {
        mount(Some(&cstr(&lowers[0])), &target, None, libc::MS_BIND, None)
    } else {
        let list: Vec<String> = lowers.iter().map(|l| l.display().to_string()).collect();
        // A rootless store's layers mark whiteouts in user.* xattrs, as
        // an unprivileged overlay reads them.
        let opts = match rootless {
            true => ",userxattr",
            false => "",
        };
        let data = CString::new(format!("lowerdir={}{opts}", list.join(":"))).unwrap_or_default();
        mount(
            Some(c"overlay"),
            &target,
            Some(c"overlay"),
            libc::MS_RDONLY,
            Some(&data),
        )
    }
    .map_err(|e| format!("mount the image on {}: {e}", scratch.display()))?;
    let root =
        std::fs::File::open(scratch).map_err(|e| format!("open {}: {e}", scratch.display()))?;
    for (at, volume) in todo {
        let src = match openat_in_root(
            root.as_raw_fd(),
            at.as_bytes(),
            libc::O_RDONLY | libc::O_DIRECTORY,
            0,
        ) {
            Ok(fd) => Dir::from_owned(fd),
            // Nothing there in the image (or not a directory): the volume
            // stays empty, as docker leaves it.
            Err(_) => continue,
        };
        let dest = std::fs::File::open(volume)
            .map_err(|e| format!("open the volume {}: {e}", volume.display()))?;
        // The volume's own directory takes the image directory's owner
        // and mode.
        // SAFETY: fstat into a zeroed stat of a descriptor we hold.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above; fchown and fchmod of descriptors we hold.
        unsafe {
            if libc::fstat(src.fd(), &mut st) == 0 {
                libc::fchown(dest.as_raw_fd(), st.st_uid, st.st_gid);
                libc::fchmod(dest.as_raw_fd(), st.st_mode & 0o7777);
            }
        }
        // SAFETY: a descriptor we own, handed over.
        let dest = unsafe { OwnedFd::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(dest)) };
        slipway_common::copytree::copy_contents(&src, dest).map_err(|e| {
            format!(
                "copy the image's {at} into the volume {}: {e}",
                volume.display()
            )
        })?;
    }
    Ok(())
}
