//! Entering the root without pivot_root. In the host's mount namespace
//! (a bundle that asks for none), chroot alone, as runc. With runc's
//! `--no-pivot`: the root moved over / and chroot'ed into, for a root
//! where pivot_root fails (one on the initramfs). Weaker than
//! pivot_root: the host's mounts stay in the container's mount namespace
//! beneath the root. A full proc or sysfs mount among them would let the
//! container mount a fresh, unmasked one (the kernel allows it while one
//! is visible somewhere in the namespace), so each is detached first, or
//! covered with a tmpfs where it cannot be, as runc's msMoveRoot does.

use slipway_common::mount::{mount, mounts, umount, MountInfo};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// The host's whole proc and sysfs mounts outside `root`.
fn exposed(mounts: Vec<MountInfo>, root: &Path) -> Vec<String> {
    mounts
        .into_iter()
        .filter(|m| m.root == "/" && matches!(m.fstype.as_str(), "proc" | "sysfs"))
        .filter(|m| !m.point.starts_with(root))
        .map(|m| m.point.to_string_lossy().into_owned())
        .collect()
}

/// Moves the root (a mount at `mountpoint`, open as `root`) over / and
/// enters it.
pub fn move_root(root: &OwnedFd, mountpoint: &Path) -> io::Result<()> {
    let ctx = |what: String| move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
    let info = mounts().map_err(ctx("read /proc/self/mountinfo".into()))?;
    // Deepest first, so a parent's detach does not take a child's path.
    let mut points = exposed(info, mountpoint);
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let c = CString::new(p.as_str()).map_err(io::Error::other)?;
        // Our detach must not reach the host through shared propagation.
        mount(None, &c, None, libc::MS_SLAVE | libc::MS_REC, None)
            .map_err(ctx(format!("make {p} a slave")))?;
        match umount(&c, libc::MNT_DETACH) {
            Ok(()) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EPERM)) => {
                mount(Some(c"tmpfs"), &c, Some(c"tmpfs"), 0, None)
                    .map_err(ctx(format!("cover {p}")))?;
            }
            Err(e) => return Err(ctx(format!("detach {p}"))(e)),
        }
    }
    // SAFETY: a valid directory descriptor.
    if unsafe { libc::fchdir(root.as_raw_fd()) } < 0 {
        return Err(ctx("enter the root".into())(io::Error::last_os_error()));
    }
    mount(Some(c"."), c"/", None, libc::MS_MOVE, None)
        .map_err(ctx("move the root over / (--no-pivot)".into()))?;
    chroot(root)
}

/// Enters the root (open as `root`) with chroot alone: for a container
/// in the host's mount namespace, whose mounts are the host's.
pub fn chroot(root: &OwnedFd) -> io::Result<()> {
    let ctx = |what: &str| {
        let e = io::Error::last_os_error();
        io::Error::new(e.kind(), format!("{what}: {e}"))
    };
    // SAFETY: a valid directory descriptor.
    if unsafe { libc::fchdir(root.as_raw_fd()) } < 0 {
        return Err(ctx("enter the root"));
    }
    // SAFETY: a valid C string.
    if unsafe { libc::chroot(c".".as_ptr()) } < 0 {
        return Err(ctx("chroot"));
    }
    std::env::set_current_dir("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_common::mount::parse_mountinfo;

    #[test]
    fn only_whole_proc_and_sysfs_mounts_outside_the_root_are_exposed() {
        let info = "\
22 1 0:21 / /proc rw - proc proc rw
23 1 0:22 / /sys rw - sysfs sysfs rw
24 22 0:40 /sys /proc/sys ro - proc proc rw
25 1 0:41 / /run/c/root rw - overlay overlay rw
26 25 0:42 / /run/c/root/proc rw - proc proc rw
27 1 0:43 / /mnt/with\\040space rw - proc proc rw
28 1 8:1 / /home rw - ext4 /dev/sda1 rw
";
        assert_eq!(
            exposed(parse_mountinfo(info), Path::new("/run/c/root")),
            ["/proc", "/sys", "/mnt/with space"]
        );
    }
}
