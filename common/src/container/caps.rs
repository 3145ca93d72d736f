//! Linux capabilities: names, Docker's default set, and dropping a process
//! to a set (bounding, effective, permitted; inheritable and ambient empty).

use std::fmt;
use std::io;

/// Capability names by number, as in `linux/capability.h`.
/// Every capability name the kernel headers know, in number order.
pub const NAMES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// One capability, by its number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cap(pub u8);

impl Cap {
    pub const CHOWN: Cap = Cap(0);
    pub const DAC_OVERRIDE: Cap = Cap(1);
    pub const DAC_READ_SEARCH: Cap = Cap(2);
    pub const FOWNER: Cap = Cap(3);
    pub const SETPCAP: Cap = Cap(8);
    pub const NET_ADMIN: Cap = Cap(12);
    pub const SYS_MODULE: Cap = Cap(16);
    pub const SYS_RAWIO: Cap = Cap(17);
    pub const SYS_CHROOT: Cap = Cap(18);
    pub const SYS_PTRACE: Cap = Cap(19);
    pub const SYS_PACCT: Cap = Cap(20);
    pub const SYS_ADMIN: Cap = Cap(21);
    pub const SYS_BOOT: Cap = Cap(22);
    pub const SYS_NICE: Cap = Cap(23);
    pub const SYS_TIME: Cap = Cap(25);
    pub const SYS_TTY_CONFIG: Cap = Cap(26);
    pub const SYSLOG: Cap = Cap(34);
    pub const BPF: Cap = Cap(39);
    pub const PERFMON: Cap = Cap(38);

    /// Parses `NET_ADMIN`, `CAP_NET_ADMIN` or `net_admin`.
    pub fn parse(s: &str) -> Option<Cap> {
        let up = s.to_ascii_uppercase();
        let name = up.strip_prefix("CAP_").unwrap_or(&up);
        NAMES.iter().position(|n| *n == name).map(|i| Cap(i as u8))
    }
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match NAMES.get(self.0 as usize) {
            Some(n) => write!(f, "CAP_{n}"),
            None => write!(f, "CAP_{}", self.0),
        }
    }
}

/// A set of capabilities as a bit mask (bit N is capability N).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapSet(pub u64);

impl CapSet {
    /// Docker's default: what `docker run` grants without --cap-add.
    pub fn docker_default() -> CapSet {
        let names = [
            "CHOWN",
            "DAC_OVERRIDE",
            "FSETID",
            "FOWNER",
            "MKNOD",
            "NET_RAW",
            "SETGID",
            "SETUID",
            "SETFCAP",
            "SETPCAP",
            "NET_BIND_SERVICE",
            "SYS_CHROOT",
            "KILL",
            "AUDIT_WRITE",
        ];
        let mut s = CapSet(0);
        for n in names {
            s.insert(Cap::parse(n).expect("a known capability"));
        }
        s
    }

    /// Every capability this kernel knows.
    pub fn all() -> CapSet {
        let last = last_cap();
        CapSet(if last >= 63 {
            u64::MAX
        } else {
            (1u64 << (last + 1)) - 1
        })
    }

    pub fn contains(&self, c: Cap) -> bool {
        c.0 < 64 && self.0 & (1 << c.0) != 0
    }

    pub fn insert(&mut self, c: Cap) {
        self.0 |= 1 << c.0;
    }

    pub fn remove(&mut self, c: Cap) {
        self.0 &= !(1 << c.0);
    }

    pub fn iter(&self) -> impl Iterator<Item = Cap> + '_ {
        (0..64u8).map(Cap).filter(|c| self.contains(*c))
    }

    /// Docker's `--cap-add`/`--cap-drop` over a starting set: drops first,
    /// then adds, `ALL` meaning every capability.
    pub fn with_changes(mut self, add: &[String], drop: &[String]) -> Result<CapSet, String> {
        let parse = |s: &String| -> Result<Option<Cap>, String> {
            if s.eq_ignore_ascii_case("ALL") {
                return Ok(None);
            }
            Cap::parse(s)
                .map(Some)
                .ok_or_else(|| format!("unknown capability {s:?}"))
        };
        for d in drop {
            match parse(d)? {
                None => self = CapSet(0),
                Some(c) => self.remove(c),
            }
        }
        for a in add {
            match parse(a)? {
                None => self = CapSet::all(),
                Some(c) => self.insert(c),
            }
        }
        Ok(CapSet(self.0 & CapSet::all().0))
    }
}

/// The permitted set of this process: what it can hand on.
pub fn current_permitted() -> CapSet {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapPrm:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .map(CapSet)
        .unwrap_or_default()
}

/// The highest capability number the running kernel knows.
pub fn last_cap() -> u8 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_V3: u32 = 0x2008_0522;

fn check(rc: libc::c_long) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Removes from the bounding set every capability not in `keep`; needs
/// CAP_SETPCAP, so it runs before [`set`].
pub fn drop_bounding(keep: CapSet) -> io::Result<()> {
    for c in 0..=last_cap() {
        if !keep.contains(Cap(c)) {
            // SAFETY: prctl with integer arguments.
            let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, c as libc::c_ulong, 0, 0, 0) };
            // EINVAL: a capability this kernel does not have.
            if rc < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL) {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// Sets the effective and permitted sets to `caps`, the inheritable set
/// and the ambient set empty (Docker 23 and later: an inheritable set lets
/// a file capability grant more than the container was given).
pub fn set(caps: CapSet) -> io::Result<()> {
    let mut hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: caps.0 as u32,
            permitted: caps.0 as u32,
            inheritable: 0,
        },
        CapData {
            effective: (caps.0 >> 32) as u32,
            permitted: (caps.0 >> 32) as u32,
            inheritable: 0,
        },
    ];
    // SAFETY: header and two data structs as capset(2) v3 expects.
    check(unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) })?;
    // SAFETY: prctl with integer arguments.
    let rc = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    check(rc as libc::c_long)
}

/// The five sets a runtime spec gives, each as written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: CapSet,
    pub effective: CapSet,
    pub permitted: CapSet,
    pub inheritable: CapSet,
    pub ambient: CapSet,
}

impl CapSets {
    /// runtime-spec names (`CAP_CHOWN`…) as a set; an unknown name is an
    /// error, as runc refuses it.
    pub fn parse_names(names: &[String]) -> Result<CapSet, String> {
        let mut s = CapSet(0);
        for n in names {
            let c = n
                .strip_prefix("CAP_")
                .and_then(Cap::parse)
                .ok_or_else(|| format!("unknown capability {n:?}"))?;
            s.insert(c);
        }
        Ok(s)
    }
}

/// Sets the effective, permitted and inheritable sets as given, then the
/// ambient set. The kernel raises an ambient capability only if it is
/// permitted and inheritable; one that is not stays unraised with a
/// warning on stderr, as runc warns and goes on.
pub fn set_all(s: &CapSets) -> io::Result<()> {
    let mut hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let half = |c: CapSet, high: bool| if high { (c.0 >> 32) as u32 } else { c.0 as u32 };
    let data = [false, true].map(|high| CapData {
        effective: half(s.effective, high),
        permitted: half(s.permitted, high),
        inheritable: half(s.inheritable, high),
    });
    // SAFETY: header and two data structs as capset(2) v3 expects.
    check(unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) })?;
    // SAFETY: prctl with integer arguments.
    let rc = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    check(rc as libc::c_long)?;
    for c in s.ambient.iter() {
        // The kernel refuses it; runc goes on, and so do we (the bundle's
        // reader warns, outside the container's own output).
        if !(s.permitted.contains(c) && s.inheritable.contains(c)) {
            continue;
        }
        // SAFETY: prctl with integer arguments.
        let rc = unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                c.0 as libc::c_ulong,
                0,
                0,
            )
        };
        check(rc as libc::c_long).map_err(|e| {
            io::Error::new(e.kind(), format!("raise ambient capability {}: {e}", c.0))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_default_set_is_dockers_mask() {
        // What `grep CapEff /proc/self/status` shows in `docker run busybox`.
        assert_eq!(CapSet::docker_default().0, 0xa80425fb);
    }

    #[test]
    fn names_parse_in_every_spelling() {
        assert_eq!(Cap::parse("net_admin"), Some(Cap::NET_ADMIN));
        assert_eq!(Cap::parse("CAP_SYS_ADMIN"), Some(Cap::SYS_ADMIN));
        assert_eq!(Cap::parse("NOPE"), None);
        assert_eq!(Cap::SYS_ADMIN.to_string(), "CAP_SYS_ADMIN");
    }

    #[test]
    fn drop_all_then_add_one_leaves_one() {
        let s = CapSet::docker_default()
            .with_changes(&["NET_ADMIN".into()], &["all".into()])
            .unwrap();
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![Cap::NET_ADMIN]);
        assert!(CapSet::docker_default()
            .with_changes(&["BOGUS".into()], &[])
            .is_err());
    }
}
