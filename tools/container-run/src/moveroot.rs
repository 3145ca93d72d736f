//! Entering the root without pivot_root. In the host's mount namespace
//! (a bundle that asks for none), chroot alone, as runc. With runc's
//! `--no-pivot`: the root moved over / and chroot'ed into, for a root
//! where pivot_root fails (one on the initramfs). Weaker than
//! pivot_root: the host's mounts stay in the container's mount namespace
//! beneath the root. A full proc or sysfs mount among them would let the
//! container mount a fresh, unmasked one (the kernel allows it while one
//! is visible somewhere in the namespace), so each is detached first, or
//! covered with a tmpfs where it cannot be, as runc's msMoveRoot does.

use slipway_common::container::sys::{At, Loc, Syscall};
use slipway_common::mount::MountInfo;
use std::io;
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
pub fn move_root(sys: &dyn Syscall, root: &At, mountpoint: &Path) -> io::Result<()> {
    // Deepest first, so a parent's detach does not take a child's path.
    let mut points = exposed(sys.mountinfo()?, mountpoint);
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let at = Loc::Path(Path::new(&p));
        // Our detach must not reach the host through shared propagation.
        sys.mount(None, at, None, libc::MS_SLAVE | libc::MS_REC, None)?;
        match sys.umount(at, libc::MNT_DETACH) {
            Ok(()) => {}
            Err(e) if matches!(e.errno(), Some(libc::EINVAL | libc::EPERM)) => {
                sys.mount(Some(Loc::Name("tmpfs")), at, Some("tmpfs"), 0, None)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    sys.fchdir(root)?;
    let (here, slash) = (Loc::Path(Path::new(".")), Loc::Path(Path::new("/")));
    sys.mount(Some(here), slash, None, libc::MS_MOVE, None)?;
    chroot(sys, root)
}

/// Enters the root (open as `root`) with chroot alone: for a container
/// in the host's mount namespace, whose mounts are the host's.
pub fn chroot(sys: &dyn Syscall, root: &At) -> io::Result<()> {
    sys.fchdir(root)?;
    sys.chroot_here()?;
    Ok(sys.chdir(Path::new("/"))?)
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
