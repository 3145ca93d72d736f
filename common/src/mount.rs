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
