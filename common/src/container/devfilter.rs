//! The device policy on cgroup v2, which has no devices.allow file: an
//! eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE that the kernel runs
//! for every open and mknod of a device node by a process in the cgroup,
//! built from the same rules as the v1 files (as runc's devicefilter
//! builds it), attached to the container's cgroup directory.

use super::cgroups::DeviceRule;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// One eBPF instruction (struct bpf_insn).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

// Opcodes (linux/bpf.h): class | op | source.
const LDX_MEM_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const ALU64_AND_K: u8 = 0x57;
const ALU32_AND_K: u8 = 0x54;
const ALU64_RSH_K: u8 = 0x77;
const ALU64_MOV_K: u8 = 0xb7;
const ALU64_MOV_X: u8 = 0xbf;
const JMP_JNE_K: u8 = 0x55; // if dst != imm goto pc + off
const JMP_EXIT: u8 = 0x95;

// struct bpf_cgroup_dev_ctx and its codes.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;
const ACC_ALL: i32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

fn access_bits(access: &str) -> i32 {
    access.chars().fold(0, |b, c| {
        b | match c {
            'm' => ACC_MKNOD,
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            _ => 0,
        }
    })
}

/// The program for `rules`, read as the v1 files read them: a rule for
/// every device with every access ("a *:* rwm") sets the default and
/// overrides the rules before it; of the others the last that matches
/// decides.
pub fn program(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut default_allow = false;
    let mut kept: Vec<&DeviceRule> = vec![];
    for r in rules {
        let everything = r.kind == 'a'
            && r.major.is_none()
            && r.minor.is_none()
            && access_bits(&r.access) == ACC_ALL;
        if everything {
            default_allow = r.allow;
            kept.clear();
        } else {
            kept.push(r);
        }
    }
    // r2 = type, r3 = access, r4 = major, r5 = minor.
    let mut p = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU64_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU64_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    // Later rules first, so that the last matching one answers.
    for r in kept.iter().rev() {
        p.extend(block(r));
    }
    p.push(insn(ALU64_MOV_K, 0, 0, 0, default_allow as i32));
    p.push(insn(JMP_EXIT, 0, 0, 0, 0));
    p
}

/// A rule's checks, each jumping past the block when it fails, then its
/// answer.
fn block(r: &DeviceRule) -> Vec<Insn> {
    // Jumps to the next block are written with off = -1 and fixed below.
    let next = -1;
    let mut b = vec![];
    match r.kind {
        'c' => b.push(insn(JMP_JNE_K, 2, 0, next, DEV_CHAR)),
        'b' => b.push(insn(JMP_JNE_K, 2, 0, next, DEV_BLOCK)),
        _ => {}
    }
    let bits = access_bits(&r.access);
    if bits != ACC_ALL {
        // Every access asked for must be one the rule names.
        b.push(insn(ALU64_MOV_X, 1, 3, 0, 0));
        b.push(insn(ALU32_AND_K, 1, 0, 0, !bits & ACC_ALL));
        b.push(insn(JMP_JNE_K, 1, 0, next, 0));
    }
    if let Some(m) = r.major {
        b.push(insn(JMP_JNE_K, 4, 0, next, m as i32));
    }
    if let Some(m) = r.minor {
        b.push(insn(JMP_JNE_K, 5, 0, next, m as i32));
    }
    b.push(insn(ALU64_MOV_K, 0, 0, 0, r.allow as i32));
    b.push(insn(JMP_EXIT, 0, 0, 0, 0));
    let len = b.len();
    for (i, ins) in b.iter_mut().enumerate() {
        if ins.code == JMP_JNE_K && ins.off == next {
            ins.off = (len - i - 1) as i16;
        }
    }
    b
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// Other programs on the path (systemd's, an engine's) keep running too.
const BPF_F_ALLOW_MULTI: u32 = 2;

/// union bpf_attr for BPF_PROG_LOAD, up to the fields used.
#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// union bpf_attr for BPF_PROG_ATTACH.
#[repr(C)]
#[derive(Default)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<i64> {
    // SAFETY: attr is a live, zero-padded bpf_attr of its size.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>(),
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DevFilterError {
    #[error("bpf(BPF_PROG_LOAD) of the device filter: {0}{1}")]
    Load(io::Error, String),
    #[error("open {0}: {1}")]
    Open(String, io::Error),
    #[error("bpf(BPF_PROG_ATTACH) of the device filter to {0}: {1}")]
    Attach(String, io::Error),
}

/// Loads the program for `rules` and attaches it to the cgroup v2
/// directory `dir`; it stays there until the directory is removed.
pub fn attach(dir: &Path, rules: &[DeviceRule]) -> Result<(), DevFilterError> {
    let prog = program(rules);
    let license = c"Apache";
    let mut name = [0u8; 16];
    name[..9].copy_from_slice(b"slipway_d");
    let load = |log: &mut [u8]| {
        let mut attr = ProgLoad {
            prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
            insn_cnt: prog.len() as u32,
            insns: prog.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level: u32::from(!log.is_empty()),
            log_size: log.len() as u32,
            log_buf: if log.is_empty() {
                0
            } else {
                log.as_mut_ptr() as u64
            },
            prog_name: name,
            ..ProgLoad::default()
        };
        bpf(BPF_PROG_LOAD, &mut attr)
    };
    // Without a log (a verbose one can overflow its buffer and fail the
    // load); on failure once more with one, for the verifier's reason.
    let fd = load(&mut []).map_err(|e| {
        let mut log = vec![0u8; 1 << 16];
        let _ = load(&mut log);
        let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
        let text = String::from_utf8_lossy(&log[..end]);
        let why = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| format!(" (verifier: {})", l.trim()))
            .unwrap_or_default();
        DevFilterError::Load(e, why)
    })?;
    // SAFETY: a descriptor the kernel just returned, owned here.
    let prog_fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let shown = dir.display().to_string();
    let c = CString::new(dir.as_os_str().as_encoded_bytes())
        .map_err(|e| DevFilterError::Open(shown.clone(), io::Error::other(e)))?;
    // SAFETY: a valid C string.
    let dfd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if dfd < 0 {
        return Err(DevFilterError::Open(shown, io::Error::last_os_error()));
    }
    // SAFETY: a descriptor open just returned, owned here.
    let dir_fd = unsafe { OwnedFd::from_raw_fd(dfd) };
    let mut at = ProgAttach {
        target_fd: dir_fd.as_raw_fd() as u32,
        attach_bpf_fd: prog_fd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    bpf(BPF_PROG_ATTACH, &mut at).map_err(|e| DevFilterError::Attach(shown, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::cgroups::DEFAULT_DEVICES;

    #[test]
    fn a_deny_all_rule_becomes_the_default_and_later_rules_come_first() {
        let p = program(DEFAULT_DEVICES);
        // The prologue, then the last rule (c 10:200 rwm) first.
        assert_eq!(p[6], insn(JMP_JNE_K, 2, 0, 4, DEV_CHAR));
        assert_eq!(p[7], insn(JMP_JNE_K, 4, 0, 3, 10));
        assert_eq!(p[8], insn(JMP_JNE_K, 5, 0, 2, 200));
        assert_eq!(p[9], insn(ALU64_MOV_K, 0, 0, 0, 1));
        // Ends denying.
        assert_eq!(p[p.len() - 2], insn(ALU64_MOV_K, 0, 0, 0, 0));
        assert_eq!(p[p.len() - 1].code, JMP_EXIT);
        // mknod of any char device: only MKNOD may be asked for.
        let m = block(&DEFAULT_DEVICES[1]);
        assert_eq!(m[1], insn(ALU64_MOV_X, 1, 3, 0, 0));
        assert_eq!(m[2], insn(ALU32_AND_K, 1, 0, 0, ACC_READ | ACC_WRITE));
        assert_eq!(m[3], insn(JMP_JNE_K, 1, 0, 2, 0));
    }

    /// The unified hierarchy, pure v2 or the v2 mount of a hybrid host.
    fn cgroup2_root() -> Option<&'static Path> {
        ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
            .into_iter()
            .map(Path::new)
            .find(|p| {
                let c = CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
                // SAFETY: statfs is plain data written by the kernel.
                let mut st: libc::statfs = unsafe { std::mem::zeroed() };
                // SAFETY: valid C string and out buffer.
                let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
                rc == 0 && st.f_type as i64 == 0x6367_7270
            })
    }

    #[test]
    fn the_kernel_runs_the_filter_a_process_in_the_cgroup_opens_only_allowed_devices() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root to load a BPF program");
            return;
        }
        let Some(root) = cgroup2_root() else {
            eprintln!("skipped: no cgroup2 mount");
            return;
        };
        let dir = root.join(format!("slipway-devfilter-test-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let result = attach(&dir, DEFAULT_DEVICES);
        let out = result.as_ref().ok().map(|()| {
            // /dev/null (c 1:3) is allowed, /dev/kmsg (c 1:11) is not.
            std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(format!(
                    "echo $$ > {}/cgroup.procs; (: </dev/null) 2>/dev/null && echo null; (: </dev/kmsg) 2>/dev/null && echo kmsg; true",
                    dir.display()
                ))
                .output()
                .unwrap()
        });
        let _ = std::fs::remove_dir(&dir);
        result.unwrap();
        assert_eq!(String::from_utf8_lossy(&out.unwrap().stdout), "null\n");
    }
}
