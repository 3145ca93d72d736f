//! Docker's default seccomp profile, compiled by hand into classic BPF.
//!
//! A port of moby's `profiles/seccomp/default.json` (generated from
//! `profiles/seccomp/default_linux.go`), as of moby commit 00f3d189e420.
//! Docker hands that profile to runc, which compiles it with libseccomp; this
//! module produces the same decisions without libseccomp, for the native
//! architecture only. The rule lists below keep moby's names and order so
//! they can be compared line by line; names this architecture does not have
//! (the 32-bit and time64 variants, legacy calls absent from arm64) resolve
//! to no number and are skipped, as libseccomp skips them.
//!
//! Left out, or different, relative to moby's profile under runc:
//! - The 32-bit sub-architectures moby admits beside the native one (x86 and
//!   x32 beside x86_64, arm beside aarch64). Their syscall numbers are tables
//!   of their own that libc does not carry for a 64-bit target, and copying
//!   them by hand is more risk than 32-bit binaries in an image are worth. A
//!   process entering the kernel through one of them is killed at its first
//!   call rather than refused every call one by one.
//! - The rules for other architectures (ppc64le, s390, s390x, mips, riscv64),
//!   including s390's variant of the `clone` rule.
//! - `minKernel` conditions are taken as met (the filter assumes a recent
//!   kernel), so `ptrace` and `process_vm_*` are allowed to every process.
//! - The `socket` rule compares only the low 32 bits of the address family:
//!   the kernel reads an `int`, and libseccomp's 64-bit "not equal" would let
//!   `AF_VSOCK` through with a non-zero upper word.
//! - runc's extra stub that answers ENOSYS, instead of the profile's EPERM,
//!   for syscalls newer than any the profile names.

use std::collections::BTreeMap;
use std::io;

use libc::sock_filter;

use super::caps::{Cap, CapSet};

pub mod spec;

/// A seccomp BPF program ready to install.
#[derive(Clone)]
pub struct Filter {
    insns: Vec<sock_filter>,
    /// seccomp(2)'s flags (a spec profile's `flags`).
    flags: libc::c_uint,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Filter({} instructions)", self.insns.len())
    }
}

impl Filter {
    /// Docker's default profile for a process holding `caps`.
    pub fn docker_default(caps: CapSet) -> Filter {
        let mut asm = Asm::default();
        check_arch(&mut asm);
        dispatch(&mut asm, &rules(caps));
        Filter {
            insns: asm.finish(),
            flags: 0,
        }
    }

    /// The number of instructions.
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    /// Installs the filter on the calling thread (needs no_new_privs or
    /// CAP_SYS_ADMIN); threads started afterwards inherit it.
    pub fn install(&self) -> io::Result<()> {
        let len = u16::try_from(self.insns.len())
            .ok()
            .filter(|&n| i32::from(n) <= libc::BPF_MAXINSNS)
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "seccomp filter too long")
            })?;
        let prog = libc::sock_fprog {
            len,
            filter: self.insns.as_ptr().cast_mut(),
        };
        let flags = self.flags;
        // SAFETY: `prog` points at `self.insns` for the duration of the call;
        // the kernel copies the program and never writes through the pointer.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------
// The profile, rule by rule as moby writes it.

/// moby's first rule: allowed to every process.
#[rustfmt::skip]
const ALLOWED: &[&str] = &[
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "capget", "capset", "chdir",
    "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres",
    "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
    "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
    "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
    "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
    "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown", "fchown32", "fchownat", "fcntl",
    "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr",
    "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
    "ftruncate64", "futex", "futex_time64", "futex_waitv", "futimesat", "getcpu", "getcwd",
    "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32",
    "getgroups", "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid",
    "getppid", "getpriority", "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32",
    "getrlimit", "get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt",
    "get_thread_area", "gettid", "gettimeofday", "getuid", "getuid32", "getxattr",
    "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl",
    "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get",
    "ioprio_set", "io_setup", "io_submit", "io_uring_enter", "io_uring_register", "io_uring_setup",
    "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self",
    "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr",
    "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "membarrier",
    "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock",
    "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open",
    "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64",
    "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
    "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open",
    "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc",
    "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv",
    "preadv2", "prlimit64", "process_mrelease", "pselect6", "pselect6_time64", "pwrite64",
    "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recv",
    "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr",
    "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction",
    "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
    "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity",
    "sched_getattr", "sched_getparam", "sched_get_priority_max", "sched_get_priority_min",
    "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64",
    "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield",
    "seccomp", "select", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send",
    "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32",
    "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer",
    "setpgid", "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
    "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid",
    "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr", "shmat",
    "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask",
    "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64",
    "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee",
    "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
    "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
    "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate",
    "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat",
    "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
    "writev",
];

/// Allowed to every process when `minKernel: 4.8` holds: from 4.8 on the
/// kernel re-runs seccomp after a tracer changes a syscall, so ptrace can no
/// longer be used to step around the filter.
const ALLOWED_SINCE_4_8: &[&str] = &["process_vm_readv", "process_vm_writev", "ptrace"];

/// moby's rules with `includes: {arches: [...]}` that cover this architecture.
#[cfg(target_arch = "x86_64")]
const ALLOWED_ON_THIS_ARCH: &[&str] = &[
    "arch_prctl", // amd64, x32
    "modify_ldt", // amd64, x32, x86
];
#[cfg(target_arch = "aarch64")]
const ALLOWED_ON_THIS_ARCH: &[&str] = &[
    // arm, arm64: arm32's private calls, which arm64 does not have.
    "arm_fadvise64_64",
    "arm_sync_file_range",
    "sync_file_range2",
    "breakpoint",
    "cacheflush",
    "set_tls",
];

/// moby's rules with `includes: {caps: [...]}`: allowed only to a process
/// holding the capability, so that adding the capability with --cap-add is
/// enough to use what it guards.
const ALLOWED_WITH_CAP: &[(Cap, &[&str])] = &[
    (Cap::DAC_READ_SEARCH, &["open_by_handle_at"]),
    (
        Cap::SYS_ADMIN,
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    (Cap::SYS_BOOT, &["reboot"]),
    (Cap::SYS_CHROOT, &["chroot"]),
    (
        Cap::SYS_MODULE,
        &["delete_module", "init_module", "finit_module"],
    ),
    (Cap::SYS_PACCT, &["acct"]),
    (
        Cap::SYS_PTRACE,
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    (Cap::SYS_RAWIO, &["iopl", "ioperm"]),
    (
        Cap::SYS_TIME,
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
    ),
    (Cap::SYS_TTY_CONFIG, &["vhangup"]),
    (
        Cap::SYS_NICE,
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    (Cap::SYSLOG, &["syslog"]),
    (Cap::BPF, &["bpf"]),
    (Cap::PERFMON, &["perf_event_open"]),
];

/// The `personality` values moby accepts: PER_LINUX, PER_LINUX32, UNAME26,
/// PER_LINUX32|UNAME26, and 0xffffffff, which only queries. Anything else
/// could switch off ASLR (ADDR_NO_RANDOMIZE) or change how the kernel reads
/// memory protections (READ_IMPLIES_EXEC).
const PERSONALITIES: &[u64] = &[0x0, 0x0008, 0x2_0000, 0x2_0008, 0xffff_ffff];

/// `AF_VSOCK` from `linux/socket.h`: libc defines it for glibc targets only.
/// moby refuses it because vsock reaches the host (or a hypervisor) without
/// going through the container's network namespace.
const AF_VSOCK: u32 = 40;

/// The namespace flags `clone` may only carry with CAP_SYS_ADMIN.
const CLONE_NAMESPACES: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u32;

/// What the filter does with one syscall number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    Allow,
    Errno(i32),
    /// Allowed when the first argument equals one of these, all 64 bits.
    FirstArgIn(&'static [u64]),
    /// Allowed unless the low 32 bits of the first argument equal this.
    FirstArgNot(u32),
    /// Allowed when the low 32 bits of the first argument have none of
    /// these bits set.
    FirstArgClear(u32),
}

/// The profile resolved for `caps` on this architecture, by syscall number.
fn rules(caps: CapSet) -> BTreeMap<u32, Rule> {
    let mut rules = BTreeMap::new();
    allow(&mut rules, ALLOWED);
    allow(&mut rules, ALLOWED_SINCE_4_8);
    allow(&mut rules, ALLOWED_ON_THIS_ARCH);
    for (cap, names) in ALLOWED_WITH_CAP {
        if caps.contains(*cap) {
            allow(&mut rules, names);
        }
    }

    // The argument rules apply only where nothing above allowed the call
    // outright: libseccomp lets an unconditional rule for a syscall override
    // its conditional ones, and with CAP_SYS_ADMIN moby excludes the clone
    // rules anyway.
    unless_allowed(&mut rules, "personality", Rule::FirstArgIn(PERSONALITIES));
    unless_allowed(&mut rules, "socket", Rule::FirstArgNot(AF_VSOCK));
    if !caps.contains(Cap::SYS_ADMIN) {
        unless_allowed(&mut rules, "clone", Rule::FirstArgClear(CLONE_NAMESPACES));
        // clone3 passes its flags in memory, out of a filter's sight. ENOSYS
        // rather than EPERM makes glibc fall back to clone, whose flags the
        // rule above can see.
        unless_allowed(&mut rules, "clone3", Rule::Errno(libc::ENOSYS));
    }
    rules
}

/// The same profile as a runtime-spec `linux.seccomp` object, for an OCI
/// runtime (runc, crun) to compile with libseccomp: built from the very
/// rules the filter is, so both decide alike.
pub fn docker_default_spec(caps: CapSet) -> oci_spec::runtime::LinuxSeccomp {
    use oci_spec::runtime::{
        Arch, LinuxSeccompAction as Action, LinuxSeccompArg, LinuxSeccompArgBuilder,
        LinuxSeccompBuilder, LinuxSeccompOperator as Op, LinuxSyscall, LinuxSyscallBuilder,
    };
    let name_of = |nr: u32| {
        NUMBERS
            .iter()
            .chain(NUMBERS_ON_THIS_ARCH)
            .chain(NUMBERS_MISSING_IN_LIBC)
            .find(|&&(_, n)| n as u32 == nr)
            .and_then(|(sys, _)| sys.strip_prefix("SYS_"))
    };
    // The builders fail only on a missing required field, which these set.
    let syscall = |names: Vec<String>, action, errno: Option<u32>, arg: Option<LinuxSeccompArg>| {
        let mut b = LinuxSyscallBuilder::default().names(names).action(action);
        if let Some(e) = errno {
            b = b.errno_ret(e);
        }
        if let Some(a) = arg {
            b = b.args(vec![a]);
        }
        b.build().expect("names and action are set")
    };
    let arg = |value: u64, value_two: Option<u64>, op| -> LinuxSeccompArg {
        let b = LinuxSeccompArgBuilder::default()
            .index(0usize)
            .value(value)
            .op(op);
        match value_two {
            Some(v) => b.value_two(v),
            None => b,
        }
        .build()
        .expect("index, value and op are set")
    };
    let mut allowed = vec![];
    let mut syscalls: Vec<LinuxSyscall> = vec![];
    for (nr, rule) in rules(caps) {
        let Some(name) = name_of(nr) else { continue };
        let one = || vec![name.to_string()];
        match rule {
            Rule::Allow => allowed.push(name.to_string()),
            Rule::Errno(e) => {
                syscalls.push(syscall(one(), Action::ScmpActErrno, Some(e as u32), None))
            }
            Rule::FirstArgIn(values) => {
                for v in values {
                    let a = arg(*v, None, Op::ScmpCmpEq);
                    syscalls.push(syscall(one(), Action::ScmpActAllow, None, Some(a)));
                }
            }
            Rule::FirstArgNot(v) => {
                let a = arg(u64::from(v), None, Op::ScmpCmpNe);
                syscalls.push(syscall(one(), Action::ScmpActAllow, None, Some(a)));
            }
            Rule::FirstArgClear(bits) => {
                let a = arg(u64::from(bits), Some(0), Op::ScmpCmpMaskedEq);
                syscalls.push(syscall(one(), Action::ScmpActAllow, None, Some(a)));
            }
        }
    }
    syscalls.insert(0, syscall(allowed, Action::ScmpActAllow, None, None));
    let arch = if cfg!(target_arch = "aarch64") {
        Arch::ScmpArchAarch64
    } else {
        Arch::ScmpArchX86_64
    };
    LinuxSeccompBuilder::default()
        .default_action(Action::ScmpActErrno)
        .default_errno_ret(libc::EPERM as u32)
        .architectures(vec![arch])
        .syscalls(syscalls)
        .build()
        .expect("the default action is set")
}

fn allow(rules: &mut BTreeMap<u32, Rule>, names: &[&str]) {
    for nr in names.iter().filter_map(|name| number(name)) {
        rules.insert(nr, Rule::Allow);
    }
}

fn unless_allowed(rules: &mut BTreeMap<u32, Rule>, name: &str, rule: Rule) {
    if let Some(nr) = number(name) {
        rules.entry(nr).or_insert(rule);
    }
}

// ---------------------------------------------------------------------------
// Syscall numbers: libc's for the names above that this architecture has.

/// This architecture's number for a syscall name, if it has that syscall.
fn number(name: &str) -> Option<u32> {
    NUMBERS
        .iter()
        .chain(NUMBERS_ON_THIS_ARCH)
        .chain(NUMBERS_MISSING_IN_LIBC)
        .find(|(sys, _)| sys.strip_prefix("SYS_") == Some(name))
        .map(|&(_, nr)| nr as u32)
}

macro_rules! numbers {
    ($($sys:ident),* $(,)?) => {
        &[$((stringify!($sys), libc::$sys)),*]
    };
}

/// libc's numbers for the profile's names that x86_64 and aarch64 both have.
#[rustfmt::skip]
const NUMBERS: &[(&str, libc::c_long)] = numbers![
    SYS_accept, SYS_accept4, SYS_acct, SYS_adjtimex, SYS_bind, SYS_bpf, SYS_brk, SYS_capget,
    SYS_capset, SYS_chdir, SYS_chroot, SYS_clock_adjtime, SYS_clock_getres, SYS_clock_gettime,
    SYS_clock_nanosleep, SYS_clock_settime, SYS_clone, SYS_clone3, SYS_close, SYS_close_range,
    SYS_connect, SYS_copy_file_range, SYS_delete_module, SYS_dup, SYS_dup3, SYS_epoll_create1,
    SYS_epoll_ctl, SYS_epoll_pwait, SYS_epoll_pwait2, SYS_eventfd2, SYS_execve, SYS_execveat,
    SYS_exit, SYS_exit_group, SYS_faccessat, SYS_faccessat2, SYS_fadvise64, SYS_fallocate,
    SYS_fanotify_init, SYS_fanotify_mark, SYS_fchdir, SYS_fchmod, SYS_fchmodat, SYS_fchown,
    SYS_fchownat, SYS_fcntl, SYS_fdatasync, SYS_fgetxattr, SYS_finit_module, SYS_flistxattr,
    SYS_flock, SYS_fremovexattr, SYS_fsconfig, SYS_fsetxattr, SYS_fsmount, SYS_fsopen, SYS_fspick,
    SYS_fstat, SYS_fstatfs, SYS_fsync, SYS_ftruncate, SYS_futex, SYS_futex_waitv,
    SYS_get_mempolicy, SYS_get_robust_list, SYS_getcpu, SYS_getcwd, SYS_getdents64, SYS_getegid,
    SYS_geteuid, SYS_getgid, SYS_getgroups, SYS_getitimer, SYS_getpeername, SYS_getpgid,
    SYS_getpid, SYS_getppid, SYS_getpriority, SYS_getrandom, SYS_getresgid, SYS_getresuid,
    SYS_getrlimit, SYS_getrusage, SYS_getsid, SYS_getsockname, SYS_getsockopt, SYS_gettid,
    SYS_gettimeofday, SYS_getuid, SYS_getxattr, SYS_init_module, SYS_inotify_add_watch,
    SYS_inotify_init1, SYS_inotify_rm_watch, SYS_io_cancel, SYS_io_destroy, SYS_io_getevents,
    SYS_io_setup, SYS_io_submit, SYS_io_uring_enter, SYS_io_uring_register, SYS_io_uring_setup,
    SYS_ioctl, SYS_ioprio_get, SYS_ioprio_set, SYS_kcmp, SYS_kill, SYS_landlock_add_rule,
    SYS_landlock_create_ruleset, SYS_landlock_restrict_self, SYS_lgetxattr, SYS_linkat,
    SYS_listen, SYS_listxattr, SYS_llistxattr, SYS_lookup_dcookie, SYS_lremovexattr, SYS_lseek,
    SYS_lsetxattr, SYS_madvise, SYS_mbind, SYS_membarrier, SYS_memfd_create, SYS_memfd_secret,
    SYS_mincore, SYS_mkdirat, SYS_mknodat, SYS_mlock, SYS_mlock2, SYS_mlockall, SYS_mmap,
    SYS_mount, SYS_mount_setattr, SYS_move_mount, SYS_mprotect, SYS_mq_getsetattr, SYS_mq_notify,
    SYS_mq_open, SYS_mq_timedreceive, SYS_mq_timedsend, SYS_mq_unlink, SYS_mremap, SYS_msgctl,
    SYS_msgget, SYS_msgrcv, SYS_msgsnd, SYS_msync, SYS_munlock, SYS_munlockall, SYS_munmap,
    SYS_name_to_handle_at, SYS_nanosleep, SYS_newfstatat, SYS_open_by_handle_at, SYS_open_tree,
    SYS_openat, SYS_openat2, SYS_perf_event_open, SYS_personality, SYS_pidfd_getfd,
    SYS_pidfd_open, SYS_pidfd_send_signal, SYS_pipe2, SYS_pkey_alloc, SYS_pkey_free,
    SYS_pkey_mprotect, SYS_ppoll, SYS_prctl, SYS_pread64, SYS_preadv, SYS_preadv2, SYS_prlimit64,
    SYS_process_madvise, SYS_process_mrelease, SYS_process_vm_readv, SYS_process_vm_writev,
    SYS_pselect6, SYS_ptrace, SYS_pwrite64, SYS_pwritev, SYS_pwritev2, SYS_quotactl,
    SYS_quotactl_fd, SYS_read, SYS_readahead, SYS_readlinkat, SYS_readv, SYS_reboot, SYS_recvfrom,
    SYS_recvmmsg, SYS_recvmsg, SYS_remap_file_pages, SYS_removexattr, SYS_renameat, SYS_renameat2,
    SYS_restart_syscall, SYS_rseq, SYS_rt_sigaction, SYS_rt_sigpending, SYS_rt_sigprocmask,
    SYS_rt_sigqueueinfo, SYS_rt_sigreturn, SYS_rt_sigsuspend, SYS_rt_sigtimedwait,
    SYS_rt_tgsigqueueinfo, SYS_sched_get_priority_max, SYS_sched_get_priority_min,
    SYS_sched_getaffinity, SYS_sched_getattr, SYS_sched_getparam, SYS_sched_getscheduler,
    SYS_sched_rr_get_interval, SYS_sched_setaffinity, SYS_sched_setattr, SYS_sched_setparam,
    SYS_sched_setscheduler, SYS_sched_yield, SYS_seccomp, SYS_semctl, SYS_semget, SYS_semop,
    SYS_semtimedop, SYS_sendfile, SYS_sendmmsg, SYS_sendmsg, SYS_sendto, SYS_set_mempolicy,
    SYS_set_mempolicy_home_node, SYS_set_robust_list, SYS_set_tid_address, SYS_setdomainname,
    SYS_setfsgid, SYS_setfsuid, SYS_setgid, SYS_setgroups, SYS_sethostname, SYS_setitimer,
    SYS_setns, SYS_setpgid, SYS_setpriority, SYS_setregid, SYS_setresgid, SYS_setresuid,
    SYS_setreuid, SYS_setrlimit, SYS_setsid, SYS_setsockopt, SYS_settimeofday, SYS_setuid,
    SYS_setxattr, SYS_shmat, SYS_shmctl, SYS_shmdt, SYS_shmget, SYS_shutdown, SYS_sigaltstack,
    SYS_signalfd4, SYS_socket, SYS_socketpair, SYS_splice, SYS_statfs, SYS_statx, SYS_symlinkat,
    SYS_sync, SYS_sync_file_range, SYS_syncfs, SYS_sysinfo, SYS_syslog, SYS_tee, SYS_tgkill,
    SYS_timer_create, SYS_timer_delete, SYS_timer_getoverrun, SYS_timer_gettime,
    SYS_timer_settime, SYS_timerfd_create, SYS_timerfd_gettime, SYS_timerfd_settime, SYS_times,
    SYS_tkill, SYS_truncate, SYS_umask, SYS_umount2, SYS_uname, SYS_unlinkat, SYS_unshare,
    SYS_utimensat, SYS_vhangup, SYS_vmsplice, SYS_wait4, SYS_waitid, SYS_write, SYS_writev,
];

/// Those only x86_64 has (aarch64 has none of its own).
#[cfg(target_arch = "x86_64")]
#[rustfmt::skip]
const NUMBERS_ON_THIS_ARCH: &[(&str, libc::c_long)] = numbers![
    SYS_access, SYS_alarm, SYS_arch_prctl, SYS_chmod, SYS_chown, SYS_creat, SYS_dup2,
    SYS_epoll_create, SYS_epoll_ctl_old, SYS_epoll_wait, SYS_epoll_wait_old, SYS_eventfd,
    SYS_fork, SYS_futimesat, SYS_get_thread_area, SYS_getdents, SYS_getpgrp, SYS_inotify_init,
    SYS_ioperm, SYS_iopl, SYS_lchown, SYS_link, SYS_lstat, SYS_mkdir, SYS_mknod, SYS_modify_ldt,
    SYS_open, SYS_pause, SYS_pipe, SYS_poll, SYS_readlink, SYS_rename, SYS_rmdir, SYS_select,
    SYS_set_thread_area, SYS_signalfd, SYS_stat, SYS_symlink, SYS_time, SYS_unlink, SYS_utime,
    SYS_utimes, SYS_vfork,
];
#[cfg(target_arch = "aarch64")]
const NUMBERS_ON_THIS_ARCH: &[(&str, libc::c_long)] = &[];

/// libc 0.2 defines `SYS_io_pgetevents` for musl only; the numbers are the
/// kernel's (arch/x86/entry/syscalls/syscall_64.tbl, asm-generic/unistd.h).
#[cfg(target_arch = "x86_64")]
const NUMBERS_MISSING_IN_LIBC: &[(&str, libc::c_long)] = &[("SYS_io_pgetevents", 333)];
#[cfg(target_arch = "aarch64")]
const NUMBERS_MISSING_IN_LIBC: &[(&str, libc::c_long)] = &[("SYS_io_pgetevents", 292)];

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
compile_error!("the seccomp filter knows the syscall numbers of Linux x86_64 and aarch64 only");

// ---------------------------------------------------------------------------
// The BPF program.

/// `AUDIT_ARCH_*` from `linux/audit.h` (libc has none): the ELF machine
/// with the 64-bit and little-endian flags.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

/// `__X32_SYSCALL_BIT` from `asm/unistd.h`: x32 calls arrive with the
/// x86_64 arch value and this bit set in the number.
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Offsets into `struct seccomp_data`.
const NR: u32 = 0;
const ARCH: u32 = 4;
const ARG0: u32 = 16;
/// Where the halves of a 64-bit argument sit: BPF loads 32-bit words.
const LOW: u32 = if cfg!(target_endian = "little") { 0 } else { 4 };
const HIGH: u32 = 4 - LOW;

const LD_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGE: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const JSET: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
/// moby's `defaultAction`: SCMP_ACT_ERRNO with `defaultErrnoRet` 1.
const DENY: u32 = errno(libc::EPERM);
/// For a foreign architecture: its numbers mean other calls than ours, so
/// nothing in the allowlist applies to it.
const KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;

const fn errno(e: i32) -> u32 {
    libc::SECCOMP_RET_ERRNO | (e as u32 & libc::SECCOMP_RET_DATA)
}

/// Syscalls compared in one run of `jeq`s. Each run ends in its own returns,
/// so every jump stays within the 255 instructions a BPF offset can span;
/// 128 leaves room for the argument checks that follow the run.
const RUN: usize = 128;

/// Leaves the syscall number in the accumulator, or returns.
#[cfg(target_arch = "x86_64")]
fn check_arch(asm: &mut Asm) {
    let kill = asm.label();
    let deny = asm.label();
    let native = asm.label();
    // Without this check a 64-bit process could reach the i386 table, whose
    // numbers mean other calls, through `int 0x80`.
    asm.load(ARCH);
    asm.jump(JEQ, AUDIT_ARCH, Next, To(kill));
    asm.load(NR);
    asm.jump(JGE, X32_SYSCALL_BIT, Next, To(native));
    // -1 is what a tracer writes to skip a call: it gets the default, as in
    // libseccomp's filters, rather than being taken for an x32 call.
    asm.jump(JEQ, u32::MAX, To(deny), Next);
    asm.bind(kill);
    asm.ret(KILL);
    asm.bind(deny);
    asm.ret(DENY);
    asm.bind(native);
}

/// Leaves the syscall number in the accumulator, or returns.
#[cfg(target_arch = "aarch64")]
fn check_arch(asm: &mut Asm) {
    let native = asm.label();
    // A 32-bit arm binary runs in compat mode, with this arch value changed
    // and numbers that mean other calls than arm64's.
    asm.load(ARCH);
    asm.jump(JEQ, AUDIT_ARCH, To(native), Next);
    asm.ret(KILL);
    asm.bind(native);
    asm.load(NR);
}

/// Runs of `jeq`s over the sorted numbers, each run guarded by a `jge` that
/// skips it for numbers belonging to a later run.
fn dispatch(asm: &mut Asm, rules: &BTreeMap<u32, Rule>) {
    let rules: Vec<(u32, Rule)> = rules.iter().map(|(&nr, &rule)| (nr, rule)).collect();
    let runs: Vec<&[(u32, Rule)]> = rules.chunks(RUN).collect();
    for (i, run) in runs.iter().enumerate() {
        let next_run = asm.label();
        if let Some(next) = runs.get(i + 1) {
            asm.jump(JGE, next[0].0, To(next_run), Next);
        }
        let allow = asm.label();
        let mut checks = Vec::new();
        for &(nr, rule) in run.iter() {
            let target = if rule == Rule::Allow {
                allow
            } else {
                let check = asm.label();
                checks.push((check, rule));
                check
            };
            asm.jump(JEQ, nr, To(target), Next);
        }
        asm.ret(DENY);
        if run.iter().any(|&(_, rule)| rule == Rule::Allow) {
            asm.bind(allow);
            asm.ret(ALLOW);
        }
        for (check, rule) in checks {
            asm.bind(check);
            emit(asm, rule);
        }
        asm.bind(next_run);
    }
}

/// The instructions deciding one syscall whose number has matched.
fn emit(asm: &mut Asm, rule: Rule) {
    match rule {
        Rule::Allow => asm.ret(ALLOW),
        Rule::Errno(e) => asm.ret(errno(e)),
        Rule::FirstArgIn(values) => {
            let allow = asm.label();
            let mut highs: Vec<u32> = values.iter().map(|v| (v >> 32) as u32).collect();
            highs.sort_unstable();
            highs.dedup();
            for high in highs {
                let other_high = asm.label();
                asm.load(ARG0 + HIGH);
                asm.jump(JEQ, high, Next, To(other_high));
                asm.load(ARG0 + LOW);
                for v in values.iter().filter(|v| (*v >> 32) as u32 == high) {
                    asm.jump(JEQ, *v as u32, To(allow), Next);
                }
                asm.bind(other_high);
            }
            asm.ret(DENY);
            asm.bind(allow);
            asm.ret(ALLOW);
        }
        Rule::FirstArgNot(value) => {
            let deny = asm.label();
            asm.load(ARG0 + LOW);
            asm.jump(JEQ, value, To(deny), Next);
            asm.ret(ALLOW);
            asm.bind(deny);
            asm.ret(DENY);
        }
        Rule::FirstArgClear(bits) => {
            let deny = asm.label();
            asm.load(ARG0 + LOW);
            asm.jump(JSET, bits, To(deny), Next);
            asm.ret(ALLOW);
            asm.bind(deny);
            asm.ret(DENY);
        }
    }
}

// ---------------------------------------------------------------------------
// A small assembler: jumps name labels, resolved to offsets at the end.

#[derive(Clone, Copy)]
struct Label(usize);

#[derive(Clone, Copy)]
enum Target {
    Next,
    To(Label),
}
use Target::{Next, To};

enum Insn {
    Plain(sock_filter),
    Jump {
        code: u16,
        k: u32,
        jt: Target,
        jf: Target,
    },
}

#[derive(Default)]
struct Asm {
    insns: Vec<Insn>,
    labels: Vec<Option<usize>>,
}

impl Asm {
    fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Places `label` at the next instruction.
    fn bind(&mut self, label: Label) {
        debug_assert!(self.labels[label.0].is_none(), "label bound twice");
        self.labels[label.0] = Some(self.insns.len());
    }

    fn load(&mut self, offset: u32) {
        self.plain(LD_ABS, offset);
    }

    fn ret(&mut self, action: u32) {
        self.plain(RET, action);
    }

    fn plain(&mut self, code: u16, k: u32) {
        self.insns.push(Insn::Plain(sock_filter {
            code,
            jt: 0,
            jf: 0,
            k,
        }));
    }

    fn jump(&mut self, code: u16, k: u32, jt: Target, jf: Target) {
        self.insns.push(Insn::Jump { code, k, jt, jf });
    }

    /// The program with every label turned into a forward offset. Panics if
    /// an offset does not fit a byte: Docker's program's shape is fixed by
    /// this file, so that is a bug here, which the tests would catch.
    fn finish(self) -> Vec<sock_filter> {
        self.try_finish().expect("Docker's profile compiles")
    }

    /// As `finish`, an offset that does not fit a byte (a profile's block
    /// for one syscall over 255 instructions) an error.
    fn try_finish(self) -> Result<Vec<sock_filter>, String> {
        let labels = self.labels;
        let offset = |from: usize, target: Target| -> Result<u8, String> {
            let To(label) = target else { return Ok(0) };
            let to = labels[label.0].expect("jump to an unbound label");
            let distance = to.checked_sub(from + 1).expect("BPF jumps only forward");
            u8::try_from(distance)
                .map_err(|_| format!("a jump of {distance} instructions (BPF allows 255)"))
        };
        if self.insns.len() > libc::BPF_MAXINSNS as usize {
            return Err(format!(
                "{} instructions (BPF allows {})",
                self.insns.len(),
                libc::BPF_MAXINSNS
            ));
        }
        self.insns
            .into_iter()
            .enumerate()
            .map(|(i, insn)| match insn {
                Insn::Plain(f) => Ok(f),
                Insn::Jump { code, k, jt, jf } => Ok(sock_filter {
                    code,
                    jt: offset(i, jt)?,
                    jf: offset(i, jf)?,
                    k,
                }),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPERM: u32 = errno(libc::EPERM);
    const ENOSYS: u32 = errno(libc::ENOSYS);

    /// `struct seccomp_data` as the kernel lays it out for the filter.
    fn data(arch: u32, nr: libc::c_long, args: [u64; 6]) -> [u8; 64] {
        assert_eq!(std::mem::size_of::<libc::seccomp_data>(), 64);
        let mut d = [0u8; 64];
        d[0..4].copy_from_slice(&(nr as i32).to_ne_bytes());
        d[4..8].copy_from_slice(&arch.to_ne_bytes());
        for (i, arg) in args.iter().enumerate() {
            let at = 16 + 8 * i;
            d[at..at + 8].copy_from_slice(&arg.to_ne_bytes());
        }
        d
    }

    /// Classic BPF, restricted to what this module emits; anything else
    /// fails the test.
    fn run(prog: &[sock_filter], data: &[u8; 64]) -> u32 {
        let mut a: u32 = 0;
        let mut pc = 0;
        loop {
            let f = prog[pc];
            pc += 1;
            let jump = |taken: bool| usize::from(if taken { f.jt } else { f.jf });
            match f.code {
                LD_ABS => {
                    let k = f.k as usize;
                    assert!(k & 3 == 0 && k + 4 <= data.len(), "load at {k}");
                    a = u32::from_ne_bytes(data[k..k + 4].try_into().unwrap());
                }
                JEQ => pc += jump(a == f.k),
                JGE => pc += jump(a >= f.k),
                JSET => pc += jump(a & f.k != 0),
                c if c == (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16 => {
                    pc += jump(a > f.k)
                }
                c if c == (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16 => a &= f.k,
                RET => return f.k,
                code => panic!("opcode {code:#x} at {} outside the subset", pc - 1),
            }
        }
    }

    fn verdict(filter: &Filter, nr: libc::c_long, args: [u64; 6]) -> u32 {
        run(&filter.insns, &data(AUDIT_ARCH, nr, args))
    }

    fn call(caps: CapSet, nr: libc::c_long) -> u32 {
        verdict(&Filter::docker_default(caps), nr, [0; 6])
    }

    fn some_cap_sets() -> Vec<CapSet> {
        vec![
            CapSet(0),
            CapSet::docker_default(),
            CapSet(u64::MAX >> (63 - 40)),
        ]
    }

    #[test]
    fn a_spec_profile_decides_by_default_action_rules_and_arguments() {
        let profile: spec::Profile = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"],
            "syscalls": [
                {"names": ["read", "write", "no_such_call"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                 "args": [{"index": 0, "value": 0x1_0000_0000_u64, "op": "SCMP_CMP_GE"}]},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 0x7E02_0000, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["kill"], "action": "SCMP_ACT_KILL_PROCESS",
                 "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_NE"},
                          {"index": 1, "value": 3, "op": "SCMP_CMP_LT"}]}
            ]
        }))
        .unwrap();
        let f = Filter::from_spec(&profile).unwrap();
        let v = |nr: libc::c_long, args: [u64; 6]| verdict(&f, nr, args);
        let enosys = errno(38);
        assert_eq!(v(libc::SYS_read, [0; 6]), ALLOW);
        assert_eq!(v(libc::SYS_getpid, [0; 6]), enosys, "the default action");
        assert_eq!(v(libc::SYS_personality, [8, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(v(libc::SYS_personality, [9, 0, 0, 0, 0, 0]), enosys);
        assert_eq!(v(libc::SYS_personality, [1 << 40, 0, 0, 0, 0, 0]), errno(1));
        assert_eq!(
            v(libc::SYS_clone, [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]),
            ALLOW
        );
        let newns = libc::CLONE_NEWNS as u64;
        assert_eq!(v(libc::SYS_clone, [newns, 0, 0, 0, 0, 0]), enosys);
        // kill: both conditions (signal != 9 and signal < 3).
        assert_eq!(
            v(libc::SYS_kill, [1, 2, 0, 0, 0, 0]),
            libc::SECCOMP_RET_KILL_PROCESS
        );
        assert_eq!(v(libc::SYS_kill, [1, 9, 0, 0, 0, 0]), enosys);
        assert_eq!(v(libc::SYS_kill, [1, 5, 0, 0, 0, 0]), enosys);
        // What cannot be honoured is named.
        let mut bad = profile.clone();
        bad.default_action = "SCMP_ACT_NOTIFY".into();
        assert!(Filter::from_spec(&bad)
            .unwrap_err()
            .contains("SCMP_ACT_NOTIFY"));
        bad = profile;
        bad.flags = vec!["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV".into()];
        assert!(Filter::from_spec(&bad)
            .unwrap_err()
            .contains("WAIT_KILLABLE_RECV"));
    }

    #[test]
    fn program_is_short_and_well_formed() {
        for caps in some_cap_sets() {
            let prog = &Filter::docker_default(caps).insns;
            assert!(!prog.is_empty());
            assert!(prog.len() <= libc::BPF_MAXINSNS as usize, "{}", prog.len());
            // Every jump lands inside the program, every instruction that
            // does not jump or return has a successor, and, jumps being
            // forward only, every path therefore ends in a return.
            let mut reached = vec![false; prog.len()];
            reached[0] = true;
            for (i, f) in prog.iter().enumerate() {
                let class = u32::from(f.code) & 0x07;
                let next: Vec<usize> = if class == libc::BPF_RET {
                    vec![]
                } else if class == libc::BPF_JMP {
                    vec![i + 1 + usize::from(f.jt), i + 1 + usize::from(f.jf)]
                } else {
                    vec![i + 1]
                };
                for n in next {
                    assert!(n < prog.len(), "instruction {i} leads past the end");
                    reached[n] |= reached[i];
                }
            }
            let dead: Vec<usize> = (0..prog.len()).filter(|&i| !reached[i]).collect();
            assert!(dead.is_empty(), "unreachable instructions {dead:?}");
        }
    }

    #[test]
    fn ordinary_calls_are_allowed() {
        for caps in some_cap_sets() {
            for nr in [
                libc::SYS_read,
                libc::SYS_write,
                libc::SYS_execve,
                libc::SYS_exit_group,
                libc::SYS_openat,
                libc::SYS_rseq,
                libc::SYS_close_range,
                libc::SYS_futex,
                libc::SYS_ptrace,
            ] {
                assert_eq!(call(caps, nr), ALLOW, "syscall {nr}");
            }
        }
    }

    #[test]
    fn unlisted_calls_get_eperm() {
        let caps = CapSet::docker_default();
        for nr in [
            libc::SYS_kexec_load,
            libc::SYS_swapon,
            libc::SYS_userfaultfd,
            libc::SYS_keyctl,
            1000,
        ] {
            assert_eq!(call(caps, nr), EPERM, "syscall {nr}");
        }
    }

    #[test]
    fn capability_guarded_calls_follow_the_capability() {
        let default = CapSet::docker_default();
        let with = |cap: Cap| {
            let mut caps = default;
            caps.insert(cap);
            caps
        };
        for (cap, nr) in [
            (Cap::SYS_ADMIN, libc::SYS_mount),
            (Cap::SYS_ADMIN, libc::SYS_umount2),
            (Cap::SYS_ADMIN, libc::SYS_unshare),
            (Cap::SYS_ADMIN, libc::SYS_setns),
            (Cap::SYS_BOOT, libc::SYS_reboot),
            (Cap::SYS_MODULE, libc::SYS_finit_module),
            (Cap::SYS_TIME, libc::SYS_clock_settime),
            (Cap::SYS_PTRACE, libc::SYS_kcmp),
            (Cap::SYS_NICE, libc::SYS_mbind),
            (Cap::SYSLOG, libc::SYS_syslog),
            (Cap::BPF, libc::SYS_bpf),
            (Cap::PERFMON, libc::SYS_perf_event_open),
            (Cap::DAC_READ_SEARCH, libc::SYS_open_by_handle_at),
        ] {
            assert_eq!(call(default, nr), EPERM, "syscall {nr} without {cap}");
            assert_eq!(call(with(cap), nr), ALLOW, "syscall {nr} with {cap}");
        }
        // In Docker's default set.
        assert_eq!(call(default, libc::SYS_chroot), ALLOW);
        assert_eq!(call(CapSet(0), libc::SYS_chroot), EPERM);
    }

    #[test]
    fn clone_needs_cap_sys_admin_for_namespaces() {
        let thread = (libc::CLONE_VM
            | libc::CLONE_FS
            | libc::CLONE_FILES
            | libc::CLONE_SIGHAND
            | libc::CLONE_THREAD
            | libc::CLONE_SYSVSEM
            | libc::CLONE_SETTLS
            | libc::CLONE_PARENT_SETTID
            | libc::CLONE_CHILD_CLEARTID) as u64;
        let fork = libc::SIGCHLD as u64;
        let user_ns = libc::CLONE_NEWUSER as u64 | fork;
        let plain = Filter::docker_default(CapSet::docker_default());
        let mut admin_caps = CapSet::docker_default();
        admin_caps.insert(Cap::SYS_ADMIN);
        let admin = Filter::docker_default(admin_caps);
        let clone = |f: &Filter, flags: u64| verdict(f, libc::SYS_clone, [flags, 0, 0, 0, 0, 0]);

        assert_eq!(clone(&plain, thread), ALLOW);
        assert_eq!(clone(&plain, fork), ALLOW);
        assert_eq!(clone(&plain, user_ns), EPERM);
        for ns in [libc::CLONE_NEWNS, libc::CLONE_NEWNET, libc::CLONE_NEWCGROUP] {
            assert_eq!(clone(&plain, ns as u64), EPERM, "{ns:#x}");
        }
        assert_eq!(clone(&admin, user_ns), ALLOW);

        assert_eq!(verdict(&plain, libc::SYS_clone3, [0; 6]), ENOSYS);
        assert_eq!(verdict(&admin, libc::SYS_clone3, [0; 6]), ALLOW);
    }

    #[test]
    fn socket_refuses_vsock_only() {
        let f = Filter::docker_default(CapSet::docker_default());
        let socket = |family: u64| verdict(&f, libc::SYS_socket, [family, 1, 0, 0, 0, 0]);
        assert_eq!(socket(libc::AF_INET as u64), ALLOW);
        assert_eq!(socket(libc::AF_UNIX as u64), ALLOW);
        assert_eq!(socket(libc::AF_NETLINK as u64), ALLOW);
        assert_eq!(socket(40), EPERM);
        // The kernel reads an int: junk above it must not smuggle vsock in.
        assert_eq!(socket(0xdead_0000_0000_0028), EPERM);
    }

    #[test]
    fn personality_takes_the_listed_values_only() {
        let f = Filter::docker_default(CapSet::docker_default());
        let personality = |p: u64| verdict(&f, libc::SYS_personality, [p, 0, 0, 0, 0, 0]);
        for p in [0, 8, 0x2_0000, 0x2_0008, 0xffff_ffff] {
            assert_eq!(personality(p), ALLOW, "{p:#x}");
        }
        // ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, and a listed value with
        // upper bits set.
        for p in [0x4_0000, 0x40_0000, 0x1_0000_0000] {
            assert_eq!(personality(p), EPERM, "{p:#x}");
        }
    }

    #[test]
    fn foreign_architectures_are_not_allowed() {
        let f = Filter::docker_default(CapSet(u64::MAX));
        const AUDIT_ARCH_I386: u32 = 0x4000_0003;
        const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
        for arch in [AUDIT_ARCH_I386, AUDIT_ARCH_ARM, 0] {
            // Numbers the native filter allows: read and close on i386 and
            // arm are 3 and 6, which on x86_64 are close and lstat.
            for nr in [0, 1, 3, 6, 11] {
                assert_eq!(run(&f.insns, &data(arch, nr, [0; 6])), KILL);
            }
        }
        #[cfg(target_arch = "x86_64")]
        {
            let x32_read = libc::c_long::from(X32_SYSCALL_BIT) | libc::SYS_read;
            assert_eq!(run(&f.insns, &data(AUDIT_ARCH, x32_read, [0; 6])), KILL);
        }
        assert_eq!(run(&f.insns, &data(AUDIT_ARCH, -1, [0; 6])), EPERM);
    }

    #[test]
    fn names_resolve_to_this_arch() {
        assert_eq!(number("read"), Some(libc::SYS_read as u32));
        assert_eq!(number("clone3"), Some(libc::SYS_clone3 as u32));
        assert_eq!(number("chown32"), None);
        assert_eq!(number("socketcall"), None);
        assert!(number("io_pgetevents").is_some());
        // Every number this module knows belongs to a name the profile uses.
        let used: Vec<&str> = ALLOWED
            .iter()
            .chain(ALLOWED_SINCE_4_8)
            .chain(ALLOWED_ON_THIS_ARCH)
            .chain(ALLOWED_WITH_CAP.iter().flat_map(|(_, names)| names.iter()))
            .chain(&["personality", "socket", "clone", "clone3"])
            .copied()
            .collect();
        for (sys, _) in NUMBERS
            .iter()
            .chain(NUMBERS_ON_THIS_ARCH)
            .chain(NUMBERS_MISSING_IN_LIBC)
        {
            assert!(used.contains(&&sys[4..]), "{sys} is in no rule");
        }
    }

    /// What the child checks, by exit code.
    fn in_child(filter: &Filter) -> i32 {
        let errno = || io::Error::last_os_error().raw_os_error();
        let zero: libc::c_ulong = 0;
        // SAFETY: prctl with integer arguments.
        if unsafe {
            libc::prctl(
                libc::PR_SET_NO_NEW_PRIVS,
                1 as libc::c_ulong,
                zero,
                zero,
                zero,
            )
        } != 0
        {
            return 10;
        }
        if filter.install().is_err() {
            return 11;
        }
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_GET_SECCOMP, zero, zero, zero, zero) } != 2 {
            return 12;
        }
        // As root this would succeed without the filter.
        // SAFETY: unshare takes flags only.
        let rc = unsafe { libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUTS) };
        if rc != -1 || errno() != Some(libc::EPERM) {
            return 13;
        }
        // Only the filter answers ENOSYS here; the kernel would say EINVAL.
        // SAFETY: a null clone_args with size 0 is refused before any use.
        let rc = unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize) };
        if rc != -1 || errno() != Some(libc::ENOSYS) {
            return 14;
        }
        // SAFETY: socket takes integers.
        let fd = unsafe { libc::socket(AF_VSOCK as i32, libc::SOCK_STREAM, 0) };
        if fd != -1 || errno() != Some(libc::EPERM) {
            return 15;
        }
        // SAFETY: getpid has no arguments.
        if unsafe { libc::syscall(libc::SYS_getpid) } <= 0 {
            return 16;
        }
        // SAFETY: socket takes integers; the descriptor is closed at once.
        let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0) };
        if fd < 0 {
            return 17;
        }
        // SAFETY: `fd` is ours.
        unsafe { libc::close(fd) };
        0
    }

    #[test]
    fn installed_filter_refuses_in_a_child() {
        // Built before forking: the child of a threaded test runner must not
        // allocate, another thread may have held the allocator's lock.
        let filter = Filter::docker_default(CapSet::docker_default());
        // SAFETY: the child makes raw syscalls only and leaves with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
        if pid == 0 {
            let code = in_child(&filter);
            // SAFETY: ends the child without running the parent's atexit work.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        loop {
            // SAFETY: waits for our own child.
            if unsafe { libc::waitpid(pid, &mut status, 0) } == pid {
                break;
            }
            assert_eq!(io::Error::last_os_error().raw_os_error(), Some(libc::EINTR));
        }
        assert!(
            libc::WIFEXITED(status),
            "child ended by signal: {status:#x}"
        );
        assert_eq!(
            libc::WEXITSTATUS(status),
            0,
            "child failed check (see in_child)"
        );
    }

    #[test]
    fn the_runtime_spec_form_has_the_filters_decisions() {
        use oci_spec::runtime::{LinuxSeccompAction, LinuxSeccompOperator};
        let spec = docker_default_spec(CapSet::docker_default());
        let syscalls = spec.syscalls().clone().unwrap();
        let allowed = syscalls[0].names();
        let has = |n: &str| allowed.iter().any(|a| a == n);
        assert!(has("read") && has("clock_gettime"));
        assert!(!has("mount") && !has("kexec_load"));
        let rule = |name: &str| {
            syscalls
                .iter()
                .find(|r| {
                    r.names()[0] == name
                        && (r.args().is_some() || r.action() == LinuxSeccompAction::ScmpActErrno)
                })
                .cloned()
        };
        let clone = rule("clone").unwrap();
        assert_eq!(
            clone.args().as_ref().unwrap()[0].op(),
            LinuxSeccompOperator::ScmpCmpMaskedEq
        );
        assert_eq!(
            rule("clone3").unwrap().errno_ret(),
            Some(libc::ENOSYS as u32)
        );
        // With CAP_SYS_ADMIN clone is allowed outright.
        let admin = docker_default_spec(CapSet::all());
        assert!(admin.syscalls().as_ref().unwrap()[0]
            .names()
            .iter()
            .any(|n| n == "mount"));
    }
}
