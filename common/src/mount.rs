//! mount(2) and umount2(2) with Rust types: what container-run builds a
//! root with and image-store mounts images with.

use std::ffi::CStr;
use std::io;

/// mount(2): null where an argument is None.
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    // SAFETY: valid C strings or null, as mount(2) takes them.
    let rc = unsafe {
        libc::mount(
            source.map_or(std::ptr::null(), CStr::as_ptr),
            target.as_ptr(),
            fstype.map_or(std::ptr::null(), CStr::as_ptr),
            flags,
            data.map_or(std::ptr::null(), |d| d.as_ptr().cast()),
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// umount2(2).
pub fn umount(target: &CStr, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: a valid C string.
    if unsafe { libc::umount2(target.as_ptr(), flags) } < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// mount_setattr(2)'s `MOUNT_ATTR_RDONLY` and `MOUNT_ATTR_NODEV`.
pub const ATTR_RDONLY: u64 = 0x1;
pub const ATTR_NODEV: u64 = 0x4;

/// Sets mount attributes on the mount that descriptor `fd` (an O_PATH of
/// its root) names and every mount below it (mount_setattr with
/// AT_RECURSIVE, Linux 5.12): a bind mount made with MS_REC copies the
/// submounts, which a plain remount leaves as they were. Err(ENOSYS) on an
/// older kernel.
pub fn set_attr_recursive(fd: std::os::fd::RawFd, attr_set: u64) -> io::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: a descriptor, an empty C string and a mount_attr of the
    // size given.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// One line of /proc/self/mountinfo, as far as we read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// The mounted directory of its filesystem (`/` for a whole mount).
    pub root: String,
    pub point: std::path::PathBuf,
    pub fstype: String,
}

/// The mounts of our mount namespace.
pub fn mounts() -> io::Result<Vec<MountInfo>> {
    Ok(parse_mountinfo(&std::fs::read_to_string(
        "/proc/self/mountinfo",
    )?))
}

pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((mount_part, fs_part)) = line.split_once(" - ") else {
            continue;
        };
        let f: Vec<&str> = mount_part.split(' ').collect();
        let (Some(root), Some(point)) = (f.get(3), f.get(4)) else {
            continue;
        };
        out.push(MountInfo {
            root: unescape(root),
            point: unescape(point).into(),
            fstype: fs_part.split(' ').next().unwrap_or_default().to_string(),
        });
    }
    out
}

/// mountinfo's octal escapes (`\040` for a space) decoded.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Detaches every mount at or below `dir`, deepest first: before a tree
/// is removed, so that nothing mounted into it (a host directory bound
/// there) is removed with it.
pub fn detach_all_under(dir: &std::path::Path) -> io::Result<()> {
    let mut under: Vec<_> = mounts()?
        .into_iter()
        .map(|m| m.point)
        .filter(|p| p.starts_with(dir))
        .collect();
    under.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    for p in under {
        let Ok(c) = std::ffi::CString::new(p.into_os_string().into_encoded_bytes()) else {
            continue;
        };
        // A child already gone with its parent's detach is no failure.
        match umount(&c, libc::MNT_DETACH) {
            Err(e) if !matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOENT)) => {
                return Err(e)
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_give_root_point_and_type_with_escapes_decoded() {
        let info = "\
22 1 0:21 / /proc rw - proc proc rw
24 22 0:40 /sys /proc/sys ro - proc proc rw
27 1 0:43 / /mnt/with\\040space rw shared:1 - ext4 /dev/sda1 rw
";
        let m = parse_mountinfo(info);
        assert_eq!(m.len(), 3);
        assert_eq!((m[1].root.as_str(), m[1].fstype.as_str()), ("/sys", "proc"));
        assert_eq!(m[2].point, std::path::Path::new("/mnt/with space"));
    }
}
