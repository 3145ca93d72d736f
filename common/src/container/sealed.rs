//! The runtime runs from a sealed in-memory copy of itself, never from its
//! file on the host. A container's first process is a fork of the runtime
//! until it execs the command; if that command is `#!/proc/self/exe`, the
//! kernel runs the runtime's own binary inside the container, which could
//! then open it through /proc and rewrite it (CVE-2019-5736). Run from a
//! sealed memfd, all it can reach is a copy that refuses every write.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const F_SEAL_ALL: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// Whether this process already runs from a sealed copy.
pub fn is_sealed() -> bool {
    let Ok(f) = std::fs::File::open("/proc/self/exe") else {
        return false;
    };
    // SAFETY: fcntl on a valid descriptor.
    let seals = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GET_SEALS) };
    seals >= 0 && seals & F_SEAL_ALL == F_SEAL_ALL
}

/// Seals the copy against every write. The kernel refuses F_SEAL_WRITE
/// with EBUSY while any of the memfd's pages holds a reference besides
/// the page cache's, which others take for a moment (compaction, page
/// migration) on a busy host: that passes, so it is tried again.
fn seal(f: &std::fs::File) -> io::Result<()> {
    let mut wait = std::time::Duration::from_millis(5);
    for _ in 0..8 {
        // SAFETY: fcntl on a valid descriptor.
        if unsafe { libc::fcntl(f.as_raw_fd(), libc::F_ADD_SEALS, F_SEAL_ALL) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EBUSY) {
            return Err(e);
        }
        std::thread::sleep(wait);
        wait *= 2;
    }
    Err(io::Error::from_raw_os_error(libc::EBUSY))
}

/// Re-executes this program from a sealed memfd copy, with the same
/// arguments and environment; returns only if it is already sealed, or
/// with the error that kept it from being.
pub fn reexec_sealed(name: &str) -> io::Result<()> {
    if is_sealed() {
        return Ok(());
    }
    let mut exe = std::fs::File::open("/proc/self/exe")?;
    let cname = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a valid C string; flags are plain integers.
    let fd =
        unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor we just created.
    let mem = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut f = std::fs::File::from(mem);
    io::copy(&mut exe, &mut f)?;
    seal(&f)?;
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.into_encoded_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    // The sealed copy has no place on disk: the tools it runs (image-pull)
    // are found beside the file it was copied from.
    let from = std::fs::read_link("/proc/self/exe")?;
    let env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != crate::cli::SEALED_FROM)
        .chain([(crate::cli::SEALED_FROM.into(), from.into_os_string())])
        .filter_map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend(v.into_encoded_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: a valid descriptor and NUL-terminated arrays of C strings.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            f.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Err(io::Error::last_os_error())
}
