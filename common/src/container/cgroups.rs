//! A container's cgroup, on whichever hierarchy the host mounts: the unified
//! cgroup v2 tree, or the v1 controllers (also on hybrid hosts, where the
//! controllers that matter are v1 and the v2 mount holds none of them).

mod freeze;
mod spec;
mod usage;

pub use spec::{Cpu as SpecCpu, Memory as SpecMemory, SpecResources};
pub use usage::Usage;

use std::borrow::Cow;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ROOT: &str = "/sys/fs/cgroup";
const CGROUP2_MAGIC: i64 = 0x6367_7270;
/// Our cgroups live below this name in each hierarchy.
const PARENT: &str = "slipway";
const CPU_PERIOD: u64 = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("{0} needs the cgroup {1} controller, which this host does not mount")]
    NoController(&'static str, &'static str),
    #[error(transparent)]
    DeviceFilter(#[from] super::devfilter::DevFilterError),
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> CgroupError + 'a {
    move |source| CgroupError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Resource limits, as `docker run` spells them.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Bytes of memory (`--memory`); swap is limited to the same again, as
    /// Docker does when `--memory-swap` is not given.
    pub memory: Option<u64>,
    /// Deny every device but Docker's default ones (not for a privileged
    /// container): the devices controller on cgroup v1, a BPF device
    /// program on v2.
    #[serde(default)]
    pub devices: bool,
    /// A runtime spec's cgroupsPath: absolute below each hierarchy's
    /// root, or relative to this process's own cgroup. None: ours,
    /// `slipway/ID`.
    #[serde(default)]
    pub path: Option<String>,
    /// A runtime spec's linux.resources.devices: exactly these rules, in
    /// their order, instead of Docker's.
    #[serde(default)]
    pub spec_devices: Option<Vec<DeviceRule>>,
    /// Devices `--device` grants beyond the default ones.
    #[serde(default)]
    pub granted: Vec<DeviceRule>,
    /// Processes (`--pids-limit`).
    pub pids: Option<u64>,
    /// CPUs (`--cpus`), in billionths.
    pub nano_cpus: Option<u64>,
    /// A runtime spec's other linux.resources, written as given.
    #[serde(default)]
    pub spec: Option<SpecResources>,
}

impl Limits {
    pub fn is_empty(&self) -> bool {
        *self == Limits::default()
    }

    /// Docker's default policy, then what --device grants.
    pub fn device_rules(&self) -> Vec<DeviceRule> {
        if let Some(r) = &self.spec_devices {
            return r.clone();
        }
        DEFAULT_DEVICES
            .iter()
            .chain(&self.granted)
            .cloned()
            .collect()
    }
}

/// A rule that allows one device: `kind` 'c' or 'b', with `access` of
/// r, w and m (Docker's --device PERMS).
pub fn grant(kind: char, major: i64, minor: i64, access: &str) -> DeviceRule {
    DeviceRule {
        allow: true,
        kind,
        major: Some(major),
        minor: Some(minor),
        access: Cow::Owned(access.to_string()),
    }
}

/// Which kind of hierarchy the host has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hierarchy {
    V2,
    V1,
}

pub fn hierarchy() -> Hierarchy {
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let path = c"/sys/fs/cgroup";
    // SAFETY: valid C string and out buffer.
    let rc = unsafe { libc::statfs(path.as_ptr(), &mut st) };
    if rc == 0 && st.f_type as i64 == CGROUP2_MAGIC {
        Hierarchy::V2
    } else {
        Hierarchy::V1
    }
}

/// The cgroup directories of one container (one per v1 controller, or one
/// v2 directory).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Cgroup {
    pub paths: Vec<PathBuf>,
    pub v2: bool,
}

/// v1 controllers we place containers in: those that carry the limits
/// (and list every process, for stop and kill), the freezer (pause) and
/// the accounting ones `stats` reads.
const V1_CONTROLLERS: &[&str] = &[
    "memory", "pids", "cpu", "devices", "freezer", "cpuacct", "blkio",
];

/// A device cgroup rule: allow (or deny) `access` (r, w, m) to the `kind`
/// ('c', 'b' or 'a' for all) devices `major:minor` (None: any).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeviceRule {
    pub allow: bool,
    pub kind: char,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    pub access: Cow<'static, str>,
}

impl DeviceRule {
    /// As devices.allow and devices.deny take it: `c 1:3 rwm`.
    pub fn v1_line(&self) -> String {
        let n = |v: Option<i64>| v.map_or("*".to_string(), |v| v.to_string());
        format!(
            "{} {}:{} {}",
            self.kind,
            n(self.major),
            n(self.minor),
            self.access
        )
    }
}

const fn allow(
    kind: char,
    major: Option<i64>,
    minor: Option<i64>,
    access: &'static str,
) -> DeviceRule {
    DeviceRule {
        allow: true,
        kind,
        major,
        minor,
        access: Cow::Borrowed(access),
    }
}

/// Docker's (runc's) default device policy: everything denied, then mknod
/// of any node, and use of null, zero, full, random, urandom, tty, console,
/// ptmx, the ptys and tun. What a node made in the container may open.
pub const DEFAULT_DEVICES: &[DeviceRule] = &[
    DeviceRule {
        allow: false,
        kind: 'a',
        major: None,
        minor: None,
        access: Cow::Borrowed("rwm"),
    },
    allow('c', None, None, "m"),
    allow('b', None, None, "m"),
    allow('c', Some(1), Some(3), "rwm"),
    allow('c', Some(1), Some(5), "rwm"),
    allow('c', Some(1), Some(7), "rwm"),
    allow('c', Some(1), Some(8), "rwm"),
    allow('c', Some(1), Some(9), "rwm"),
    allow('c', Some(5), Some(0), "rwm"),
    allow('c', Some(5), Some(1), "rwm"),
    allow('c', Some(5), Some(2), "rwm"),
    allow('c', Some(136), None, "rwm"),
    allow('c', Some(10), Some(200), "rwm"),
];

/// A new v1 cpuset cgroup has no CPUs and no memory nodes, and takes no
/// process until it has: each directory from `base` down to `dir` that
/// lacks them gets its parent's.
fn cpuset_inherit(base: &Path, dir: &Path) -> Result<(), CgroupError> {
    let Ok(rel) = dir.strip_prefix(base) else {
        return Ok(());
    };
    let mut parent = base.to_path_buf();
    for part in rel.components() {
        let here = parent.join(part);
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let mine = fs::read_to_string(here.join(file)).unwrap_or_default();
            if mine.trim().is_empty() {
                let theirs = fs::read_to_string(parent.join(file))
                    .map_err(io_err("read", &parent.join(file)))?;
                write(&here.join(file), theirs.trim())?;
            }
        }
        parent = here;
    }
    Ok(())
}

fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    fs::write(path, value).map_err(io_err("write", path))
}

impl Cgroup {
    /// Creates the container's cgroup with `limits` set. On v1 a controller
    /// that is not mounted is left out, unless a limit needs it.
    pub fn create(id: &str, limits: &Limits) -> Result<Cgroup, CgroupError> {
        match hierarchy() {
            Hierarchy::V2 => Self::create_v2(id, limits),
            Hierarchy::V1 => Self::create_v1(id, limits),
        }
    }

    fn create_v2(id: &str, limits: &Limits) -> Result<Cgroup, CgroupError> {
        if let Some(p) = &limits.path {
            return Err(CgroupError::Unsupported(format!(
                "cgroupsPath {p:?} on a cgroup v2 host is not supported yet"
            )));
        }
        let root = Path::new(ROOT);
        let parent = root.join(PARENT);
        mkdir(&parent)?;
        let available = fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
        let spec_writes = match &limits.spec {
            Some(s) => s
                .v2()
                .map_err(|what| CgroupError::Unsupported(format!("{what} is not supported yet")))?,
            None => vec![],
        };
        let mut wanted: Vec<&str> = ["memory", "pids", "cpu"]
            .into_iter()
            .filter(|c| available.split_whitespace().any(|a| a == *c))
            .collect();
        for x in &spec_writes {
            if !available.split_whitespace().any(|a| a == x.controller) {
                return Err(CgroupError::NoController("linux.resources", x.controller));
            }
            if !wanted.contains(&x.controller) {
                wanted.push(x.controller);
            }
        }
        for (what, c) in [
            (limits.memory.map(|_| "--memory"), "memory"),
            (limits.pids.map(|_| "--pids-limit"), "pids"),
            (limits.nano_cpus.map(|_| "--cpus"), "cpu"),
        ] {
            if let Some(flag) = what {
                if !wanted.contains(&c) {
                    return Err(CgroupError::NoController(flag, c));
                }
            }
        }
        let enable: String = wanted.iter().map(|c| format!("+{c} ")).collect();
        if !enable.is_empty() {
            for dir in [root, parent.as_path()] {
                let f = dir.join("cgroup.subtree_control");
                let have = fs::read_to_string(&f).unwrap_or_default();
                if !wanted
                    .iter()
                    .all(|c| have.split_whitespace().any(|h| h == *c))
                {
                    write(&f, enable.trim_end())?;
                }
            }
        }
        let dir = parent.join(id);
        mkdir(&dir)?;
        let cg = Cgroup {
            paths: vec![dir.clone()],
            v2: true,
        };
        let set = || -> Result<(), CgroupError> {
            if let Some(m) = limits.memory {
                write(&dir.join("memory.max"), &m.to_string())?;
                let swap = dir.join("memory.swap.max");
                if swap.exists() {
                    write(&swap, &m.to_string())?;
                }
            }
            if let Some(p) = limits.pids {
                write(&dir.join("pids.max"), &p.to_string())?;
            }
            if let Some(n) = limits.nano_cpus {
                let quota = n * CPU_PERIOD / 1_000_000_000;
                write(&dir.join("cpu.max"), &format!("{quota} {CPU_PERIOD}"))?;
            }
            for x in &spec_writes {
                write(&dir.join(&x.file), &x.value)?;
            }
            if limits.devices {
                super::devfilter::attach(&dir, &limits.device_rules())?;
            }
            Ok(())
        };
        if let Err(e) = set() {
            cg.remove();
            return Err(e);
        }
        Ok(cg)
    }

    fn create_v1(id: &str, limits: &Limits) -> Result<Cgroup, CgroupError> {
        let mut cg = Cgroup {
            paths: Vec::new(),
            v2: false,
        };
        for (what, c) in [
            (limits.memory.map(|_| "--memory"), "memory"),
            (limits.pids.map(|_| "--pids-limit"), "pids"),
            (limits.nano_cpus.map(|_| "--cpus"), "cpu"),
        ] {
            if let Some(flag) = what {
                if !Path::new(ROOT).join(c).join("tasks").exists() {
                    return Err(CgroupError::NoController(flag, c));
                }
            }
        }
        let spec_writes = limits.spec.as_ref().map(|s| s.v1()).unwrap_or_default();
        let mut controllers: Vec<&str> = V1_CONTROLLERS.to_vec();
        for x in &spec_writes {
            if !Path::new(ROOT).join(x.controller).join("tasks").exists() {
                return Err(CgroupError::NoController("linux.resources", x.controller));
            }
            if !controllers.contains(&x.controller) {
                controllers.push(x.controller);
            }
        }
        let result = (|| {
            for c in &controllers {
                let base = Path::new(ROOT).join(c);
                if !base.join("tasks").exists() {
                    continue;
                }
                let dir = match &limits.path {
                    Some(p) => {
                        let dir = v1_path(&base, c, p);
                        fs::create_dir_all(&dir).map_err(io_err("create cgroup", &dir))?;
                        dir
                    }
                    None => {
                        let parent = base.join(PARENT);
                        mkdir(&parent)?;
                        let dir = parent.join(id);
                        mkdir(&dir)?;
                        dir
                    }
                };
                cg.paths.push(dir.clone());
                if *c == "cpuset" {
                    cpuset_inherit(&base, &dir)?;
                }
                match *c {
                    "memory" => {
                        if let Some(m) = limits.memory {
                            write(&dir.join("memory.limit_in_bytes"), &m.to_string())?;
                            let sw = dir.join("memory.memsw.limit_in_bytes");
                            if sw.exists() {
                                write(&sw, &(m.saturating_mul(2)).to_string())?;
                            }
                        }
                    }
                    "pids" => {
                        if let Some(p) = limits.pids {
                            write(&dir.join("pids.max"), &p.to_string())?;
                        }
                    }
                    "devices" if limits.devices => {
                        for r in &limits.device_rules() {
                            let file = if r.allow {
                                "devices.allow"
                            } else {
                                "devices.deny"
                            };
                            write(&dir.join(file), &r.v1_line())?;
                        }
                    }
                    "cpu" => {
                        if let Some(n) = limits.nano_cpus {
                            write(&dir.join("cpu.cfs_period_us"), &CPU_PERIOD.to_string())?;
                            let quota = n * CPU_PERIOD / 1_000_000_000;
                            write(&dir.join("cpu.cfs_quota_us"), &quota.to_string())?;
                        }
                    }
                    _ => {}
                }
                for x in spec_writes.iter().filter(|x| x.controller == *c) {
                    write(&dir.join(&x.file), &x.value)?;
                }
            }
            Ok(())
        })();
        match result {
            Ok(()) => Ok(cg),
            Err(e) => {
                cg.remove();
                Err(e)
            }
        }
    }

    /// Moves process `pid` into the cgroup.
    pub fn add(&self, pid: i32) -> Result<(), CgroupError> {
        for dir in &self.paths {
            write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// The container's directory of v1 `controller` (the v2 directory on
    /// v2, which holds them all).
    pub fn dir_of(&self, controller: &str) -> Option<&Path> {
        if self.v2 {
            return self.paths.first().map(PathBuf::as_path);
        }
        let base = Path::new(ROOT).join(controller);
        self.paths
            .iter()
            .find(|p| p.starts_with(&base))
            .map(PathBuf::as_path)
    }

    /// The processes in the cgroup.
    pub fn pids(&self) -> Vec<i32> {
        let Some(dir) = self.paths.first() else {
            return Vec::new();
        };
        fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Sends `signal` to every process in the cgroup.
    pub fn signal_all(&self, signal: i32) {
        if self.v2 && signal == libc::SIGKILL {
            if let Some(dir) = self.paths.first() {
                if fs::write(dir.join("cgroup.kill"), "1").is_ok() {
                    return;
                }
            }
        }
        for pid in self.pids() {
            // SAFETY: kill with integer arguments.
            unsafe { libc::kill(pid, signal) };
        }
    }

    /// Kills what is left and removes the directories; waits briefly for
    /// dying processes to leave. Best effort: called on every exit path.
    pub fn remove(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        for dir in self.paths.iter().rev() {
            loop {
                match fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    Err(_) if Instant::now() < deadline => {
                        self.signal_all(libc::SIGKILL);
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => break,
                }
            }
        }
    }

    /// Whether the memory limit killed a process (the OOM killer ran).
    pub fn oom_killed(&self) -> bool {
        for dir in &self.paths {
            if self.v2 {
                if let Ok(s) = fs::read_to_string(dir.join("memory.events")) {
                    return s
                        .lines()
                        .any(|l| l.strip_prefix("oom_kill ").is_some_and(|n| n.trim() != "0"));
                }
            } else if let Ok(s) = fs::read_to_string(dir.join("memory.oom_control")) {
                return s
                    .lines()
                    .any(|l| l.strip_prefix("oom_kill ").is_some_and(|n| n.trim() != "0"));
            }
        }
        false
    }
}

/// A cgroupsPath in the v1 `controller` hierarchy mounted at `base`: an
/// absolute one below its root, a relative one below our own cgroup
/// there (as runc reads both); never above the root.
fn v1_path(base: &Path, controller: &str, path: &str) -> PathBuf {
    let own = if path.starts_with('/') {
        String::new()
    } else {
        fs::read_to_string("/proc/self/cgroup")
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                let mut f = l.splitn(3, ':');
                let (_, ctrls, p) = (f.next()?, f.next()?, f.next()?);
                ctrls
                    .split(',')
                    .any(|c| c == controller)
                    .then(|| p.to_string())
            })
            .unwrap_or_default()
    };
    let mut dir = base.to_path_buf();
    for part in own.split('/').chain(path.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                if dir != base {
                    dir.pop();
                }
            }
            p => dir.push(p),
        }
    }
    dir
}

fn mkdir(p: &Path) -> Result<(), CgroupError> {
    match fs::create_dir(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_err("create cgroup", p)(e)),
    }
}

pub use crate::time::parse_bytes;

/// Parses `--cpus` (a decimal number of CPUs) into billionths.
pub fn parse_cpus(s: &str) -> Result<u64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("invalid --cpus {s:?}: expected a number such as 1.5"))?;
    if !(v > 0.0 && v.is_finite()) {
        return Err(format!("invalid --cpus {s:?}: must be more than 0"));
    }
    Ok((v * 1e9) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cgroups_path_stays_below_the_hierarchy_root() {
        let base = Path::new("/sys/fs/cgroup/pids");
        assert_eq!(
            v1_path(base, "pids", "/a/b"),
            Path::new("/sys/fs/cgroup/pids/a/b")
        );
        assert_eq!(
            v1_path(base, "pids", "/../../etc"),
            Path::new("/sys/fs/cgroup/pids/etc")
        );
        // Relative: below our own cgroup in that hierarchy.
        assert!(v1_path(base, "pids", "x/y").ends_with("x/y"));
        assert!(v1_path(base, "pids", "x/y").starts_with(base));
    }

    #[test]
    fn sizes_parse_as_docker_reads_them() {
        assert_eq!(parse_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("512").unwrap(), 512);
        assert_eq!(parse_bytes("1.5k").unwrap(), 1536);
        assert!(parse_bytes("lots").is_err());
        assert_eq!(parse_cpus("0.5").unwrap(), 500_000_000);
        assert!(parse_cpus("0").is_err());
    }
}
