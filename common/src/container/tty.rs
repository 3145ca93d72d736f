//! -t: a pseudo-terminal from the container's own devpts instance, so
//! that `tty` inside names a device the container can see. The child
//! opens it and passes the master to us over a socket; we copy between it
//! and our terminal in raw mode and pass window sizes on.

use std::io;

use super::process::exit_code;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// A connected pair for passing the master descriptor.
pub fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: socketpair into a two-element array.
    check(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: descriptors we just created.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// In the container (after pivot_root): a new pty from /dev/pts/ptmx; the
/// slave becomes our controlling terminal and stdin, stdout and stderr,
/// owned by the user the process will run as; the master goes to `sock`.
pub fn attach_new_pty(sock: &OwnedFd, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: valid C string.
    let master = check(unsafe {
        libc::open(
            c"/dev/pts/ptmx".as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: a descriptor we just opened.
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    // SAFETY: ioctls on the master with the argument types they take.
    let slave = unsafe {
        let unlock: libc::c_int = 0;
        check(libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock))?;
        check(libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY,
        ))?
    };
    // SAFETY: the descriptor TIOCGPTPEER returned.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    // The size of the terminal we were started from, before the command
    // can ask for it.
    copy_winsize(1, slave.as_raw_fd());
    // SAFETY: fchown, ioctl and dup2 on valid descriptors.
    unsafe {
        check(libc::fchown(slave.as_raw_fd(), uid, gid))?;
        check(libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0))?;
        for fd in 0..3 {
            check(libc::dup2(slave.as_raw_fd(), fd))?;
        }
    }
    send_fd(sock, master.as_raw_fd())
}

/// A one-byte message with room for one descriptor: what both ends of
/// the pty handover use. The buffers must outlive every use of the header.
fn message(byte: &mut [u8; 1], iov: &mut libc::iovec, cbuf: &mut Vec<u8>) -> libc::msghdr {
    *iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: CMSG_SPACE is a pure computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    cbuf.resize(space, 0);
    // SAFETY: msghdr is plain data; the pointers set below stay valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    msg
}

fn send_fd(sock: &OwnedFd, fd: RawFd) -> io::Result<()> {
    let (mut byte, mut cbuf) = ([0u8; 1], Vec::new());
    let mut iov = libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    };
    let msg = message(&mut byte, &mut iov, &mut cbuf);
    // SAFETY: the control buffer has room for one header and one fd.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<RawFd>(), fd);
        if libc::sendmsg(sock.as_raw_fd(), &msg, 0) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Receives the master the child sent; None if it sent none (it failed
/// before opening the pty).
pub fn recv_fd(sock: &OwnedFd) -> io::Result<Option<OwnedFd>> {
    let (mut byte, mut cbuf) = ([0u8; 1], Vec::new());
    let mut iov = libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    };
    let mut msg = message(&mut byte, &mut iov, &mut cbuf);
    // SAFETY: a valid socket and message.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: reading the control message the kernel filled in.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        if n == 0 || c.is_null() || (*c).cmsg_type != libc::SCM_RIGHTS {
            return Ok(None);
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<RawFd>());
        Ok(Some(OwnedFd::from_raw_fd(fd)))
    }
}

/// Copies our terminal's window size to the container's pty.
pub fn copy_winsize(from: RawFd, to: RawFd) {
    // SAFETY: winsize is plain data; ioctls with the types they take.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(from, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(to, libc::TIOCSWINSZ, &ws);
        }
    }
}

/// Our terminal in raw mode while the container has it; restored on drop.
pub struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    pub fn enter(fd: RawFd) -> Option<RawMode> {
        // SAFETY: termios is plain data; tcgetattr/tcsetattr on a valid fd.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut t) != 0 {
                return None;
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(fd, libc::TCSANOW, &t);
            Some(RawMode { fd, saved })
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restoring the attributes saved from the same descriptor.
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
    }
}

/// -t in the foreground: our terminal raw, keys to the container's pty,
/// its output to ours, window sizes passed on, signals forwarded.
pub fn relay(pid: libc::pid_t, set: &libc::sigset_t, master: OwnedFd, interactive: bool) -> i32 {
    let _raw = if interactive { RawMode::enter(0) } else { None };
    copy_winsize(1, master.as_raw_fd());
    // SAFETY: a valid set; the kernel returns a new descriptor.
    let sfd = unsafe { libc::signalfd(-1, set, libc::SFD_CLOEXEC) };
    let mut stdin_open = interactive;
    let mut master_open = true;
    let mut code = None;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        if code.is_some() && !master_open {
            break;
        }
        let mut fds = vec![libc::pollfd {
            fd: sfd,
            events: libc::POLLIN,
            revents: 0,
        }];
        if master_open {
            fds.push(libc::pollfd {
                fd: master.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        if stdin_open && code.is_none() {
            fds.push(libc::pollfd {
                fd: 0,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // With the container gone, only what is left in the pty remains.
        let timeout = if code.is_some() { 100 } else { -1 };
        // SAFETY: a valid array of pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n == 0 {
            break;
        }
        if n < 0 {
            continue;
        }
        for p in &fds {
            if p.revents == 0 {
                continue;
            }
            if p.fd == sfd {
                // SAFETY: reading one record into a buffer of its size.
                let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
                // SAFETY: as above.
                unsafe {
                    libc::read(
                        sfd,
                        (&mut info as *mut libc::signalfd_siginfo).cast(),
                        std::mem::size_of::<libc::signalfd_siginfo>(),
                    )
                };
                let sig = info.ssi_signo as libc::c_int;
                if sig == libc::SIGCHLD {
                    let mut status = 0;
                    // SAFETY: waitpid on our child.
                    if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
                        code = Some(exit_code(status));
                    }
                } else if sig == libc::SIGWINCH {
                    copy_winsize(1, master.as_raw_fd());
                } else {
                    // SAFETY: kill with integer arguments.
                    unsafe { libc::kill(pid, sig) };
                }
            } else if p.fd == master.as_raw_fd() {
                // SAFETY: reading into a buffer of its length.
                let n = unsafe { libc::read(p.fd, buf.as_mut_ptr().cast(), buf.len()) };
                // EIO: every slave descriptor is closed.
                if n <= 0 || write_all(1, &buf[..n as usize]).is_err() {
                    master_open = false;
                }
            } else {
                // SAFETY: reading into a buffer of its length.
                let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
                if n <= 0 {
                    stdin_open = false;
                    // End of input: the terminal's end-of-file character.
                    let _ = write_all(master.as_raw_fd(), &[4]);
                } else {
                    let _ = write_all(master.as_raw_fd(), &buf[..n as usize]);
                }
            }
        }
    }
    if code.is_none() {
        let mut status = 0;
        // SAFETY: waitpid on our child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        code = Some(exit_code(status));
    }
    code.unwrap_or(125)
}

pub fn write_all(fd: libc::c_int, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: writing from a live buffer of its length.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        bytes = &bytes[n as usize..];
    }
    Ok(())
}
