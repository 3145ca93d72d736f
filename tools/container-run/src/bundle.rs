//! --bundle: an OCI runtime bundle (runtime-spec `config.json` beside its
//! root filesystem), as `runc run` takes it. The spec becomes the same
//! command line a user would give, plus what only a spec says (its own
//! masked and read-only paths, additional groups); whatever this runtime
//! cannot honour exactly is refused by name, never silently dropped.

use crate::config::Plan;
use crate::{Args, Error};
use serde_json::Value;
use slipway_common::container::caps::{CapSet, CapSets};
use slipway_common::container::cgroups::DeviceRule;
use slipway_common::container::process::SpecPrivileges;
use slipway_common::container::seccomp::spec::Profile;
use slipway_common::container::seccomp::Filter;
use std::path::Path;

/// What a spec sets beyond the command line.
pub struct Extras {
    pub env: Vec<String>,
    pub masked: Option<Vec<String>>,
    pub readonly: Option<Vec<String>>,
    pub groups: Vec<u32>,
    /// (resource, soft, hard)
    pub rlimits: Vec<(i32, u64, u64)>,
    /// Capabilities, no_new_privs and linux.seccomp, as written.
    pub privileges: SpecPrivileges,
    pub sysctls: Vec<(String, String)>,
    pub oom_score_adj: Option<i32>,
    /// linux.cgroupsPath.
    pub cgroups_path: Option<String>,
    /// linux.resources.devices, and the nodes of linux.devices.
    pub device_rules: Option<Vec<DeviceRule>>,
    pub nodes: Vec<Node>,
}

/// A device node a spec's linux.devices asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub path: String,
    /// libc::S_IFCHR, S_IFBLK or S_IFIFO.
    pub kind: libc::mode_t,
    pub rdev: libc::dev_t,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

fn device_rules(v: &Value, path: &Path) -> Result<Vec<DeviceRule>, Error> {
    let bad = |why: String| {
        Error::Invalid(format!(
            "{}: linux.resources.devices: {why}",
            path.display()
        ))
    };
    let mut out = vec![];
    for r in v.as_array().into_iter().flatten() {
        let kind = match r.get("type").and_then(Value::as_str).unwrap_or("a") {
            "a" => 'a',
            "c" => 'c',
            "b" => 'b',
            other => return Err(bad(format!("type {other:?}"))),
        };
        let access = r.get("access").and_then(Value::as_str).unwrap_or("rwm");
        if !access.chars().all(|c| "rwm".contains(c)) {
            return Err(bad(format!("access {access:?}")));
        }
        out.push(DeviceRule {
            allow: r.get("allow").and_then(Value::as_bool).unwrap_or(false),
            kind,
            major: r.get("major").and_then(Value::as_i64),
            minor: r.get("minor").and_then(Value::as_i64),
            access: access.to_string().into(),
        });
    }
    Ok(out)
}

fn nodes(v: &Value, path: &Path) -> Result<Vec<Node>, Error> {
    let bad = |why: String| Error::Invalid(format!("{}: linux.devices: {why}", path.display()));
    let mut out = vec![];
    for d in v.as_array().into_iter().flatten() {
        let p = d.get("path").and_then(Value::as_str).unwrap_or_default();
        if !p.starts_with('/') {
            return Err(bad(format!("path {p:?} is not absolute")));
        }
        let kind = match d.get("type").and_then(Value::as_str).unwrap_or_default() {
            "c" | "u" => libc::S_IFCHR,
            "b" => libc::S_IFBLK,
            "p" => libc::S_IFIFO,
            other => return Err(bad(format!("{p}: type {other:?}"))),
        };
        let num = |k: &str| d.get(k).and_then(Value::as_u64).unwrap_or(0);
        out.push(Node {
            path: p.to_string(),
            kind,
            rdev: libc::makedev(num("major") as u32, num("minor") as u32),
            mode: d.get("fileMode").and_then(Value::as_u64).unwrap_or(0o666) as u32 & 0o7777,
            uid: num("uid") as u32,
            gid: num("gid") as u32,
        });
    }
    Ok(out)
}

impl Extras {
    /// Applies the spec's own settings over a plan made from the args.
    pub fn apply(self, plan: &mut Plan) {
        // Exactly the spec's environment: no PATH or HOSTNAME of ours.
        plan.env = self.env;
        if let Some(m) = self.masked {
            plan.masked = m;
        }
        if let Some(r) = self.readonly {
            plan.readonly = r;
        }
        plan.extra_groups = self.groups;
        plan.rlimits = self.rlimits;
        plan.spec_privileges = Some(self.privileges);
        plan.sysctls = self.sysctls;
        plan.oom_score_adj = self.oom_score_adj;
        plan.limits.path = self.cgroups_path;
        if let Some(mut r) = self.device_rules {
            // As runc: the spec's rules, then the nodes it lists and the
            // standard ones (null, zero, the ptys…), always allowed.
            for n in &self.nodes {
                let kind = if n.kind == libc::S_IFBLK { 'b' } else { 'c' };
                if n.kind != libc::S_IFIFO {
                    r.push(slipway_common::container::cgroups::grant(
                        kind,
                        i64::from(libc::major(n.rdev)),
                        i64::from(libc::minor(n.rdev)),
                        "rwm",
                    ));
                }
            }
            r.extend(
                slipway_common::container::cgroups::DEFAULT_DEVICES
                    .iter()
                    .filter(|d| d.allow)
                    .cloned(),
            );
            plan.limits.spec_devices = Some(r);
        }
        plan.spec_nodes = self.nodes;
        // runc writes no /etc/hosts, /etc/hostname or /etc/resolv.conf.
        plan.etc.clear();
    }
}

fn unsupported(what: impl std::fmt::Display) -> Error {
    Error::Unsupported(format!("bundle config.json: {what} is not supported"))
}

fn strs(v: Option<&Value>) -> Option<Vec<String>> {
    v.and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    })
}

/// The mounts container-run makes itself, as a runtime-spec default
/// config lists them.
const STANDARD: &[&str] = &[
    "/proc",
    "/dev",
    "/dev/pts",
    "/dev/shm",
    "/dev/mqueue",
    "/sys",
    "/sys/fs/cgroup",
];

/// The command line equivalent of the bundle at `args.bundle`.
pub fn to_args(args: &Args, dir: &Path) -> Result<(Args, Extras), Error> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Os {
        what: format!("read {}", path.display()),
        source,
    })?;
    let spec: Value = serde_json::from_str(&text)
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    if !args.args.is_empty() || args.rootfs.is_some() {
        return Err(Error::Invalid(
            "--bundle takes the command and root from config.json: give neither an image, a command nor --rootfs".into(),
        ));
    }
    if !args.devices.is_empty() {
        return Err(Error::Invalid(
            "--device does not apply to --bundle: the bundle's config.json says which devices it gets".into(),
        ));
    }
    let mut a = Args {
        args: Vec::new(),
        rootfs: None,
        bundle: None,
        runtime: None,
        secret_env: Vec::new(),
        upper: args.upper.clone(),
        name: args.name.clone(),
        rm: args.rm,
        detach: args.detach,
        tty: false,
        init: args.init,
        stop_timeout: args.stop_timeout,
        stop_signal: None,
        interactive: !args.detach,
        env: Vec::new(),
        env_file: Vec::new(),
        workdir: None,
        user: None,
        entrypoint: Some(String::new()),
        hostname: None,
        volumes: Vec::new(),
        tmpfs: Vec::new(),
        read_only: false,
        network: "none".into(),
        publish: args.publish.clone(),
        memory: None,
        pids_limit: None,
        cpus: None,
        cap_add: Vec::new(),
        cap_drop: vec!["ALL".into()],
        privileged: false,
        devices: Vec::new(),
        security_opt: args.security_opt.clone(),
        platform: None,
        store: args.store.clone(),
        help: None,
    };
    let root = spec
        .pointer("/root/path")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Invalid(format!("{}: no root.path", path.display())))?;
    a.rootfs = Some(dir.join(root));
    a.read_only = spec.pointer("/root/readonly").and_then(Value::as_bool) == Some(true);
    let process = spec
        .get("process")
        .ok_or_else(|| Error::Invalid(format!("{}: no process", path.display())))?;
    a.args = strs(process.get("args")).unwrap_or_default();
    if a.args.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: process.args is empty",
            path.display()
        )));
    }
    a.tty = process.get("terminal").and_then(Value::as_bool) == Some(true);
    a.workdir = process
        .get("cwd")
        .and_then(Value::as_str)
        .map(str::to_string);
    let uid = process
        .pointer("/user/uid")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let gid = process
        .pointer("/user/gid")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    a.user = Some(format!("{uid}:{gid}"));
    let groups = process
        .pointer("/user/additionalGids")
        .and_then(Value::as_array)
        .map(|g| {
            g.iter()
                .filter_map(|x| x.as_u64().map(|x| x as u32))
                .collect()
        })
        .unwrap_or_default();
    a.hostname = spec
        .get("hostname")
        .and_then(Value::as_str)
        .map(str::to_string);
    // The five sets as written, for any user (runc's way, not Docker's).
    let set = |name: &str| -> Result<CapSet, Error> {
        let names = strs(process.pointer(&format!("/capabilities/{name}"))).unwrap_or_default();
        CapSets::parse_names(&names).map_err(|e| {
            Error::Invalid(format!(
                "{}: process.capabilities.{name}: {e}",
                path.display()
            ))
        })
    };
    let caps = CapSets {
        bounding: set("bounding")?,
        effective: set("effective")?,
        permitted: set("permitted")?,
        inheritable: set("inheritable")?,
        ambient: set("ambient")?,
    };
    // The bounding set is what the container may ever hold: the plan's
    // (and its records') one set.
    a.cap_add = strs(process.pointer("/capabilities/bounding")).unwrap_or_default();
    let no_new_privs = process.get("noNewPrivileges").and_then(Value::as_bool) == Some(true);
    for key in ["apparmorProfile", "selinuxLabel"] {
        if process.get(key).is_some_and(|v| !v.is_null()) {
            return Err(unsupported(format!("process.{key}")));
        }
    }
    let mut rlimits = Vec::new();
    for r in process
        .get("rlimits")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = r.get("type").and_then(Value::as_str).unwrap_or_default();
        let resource =
            rlimit_resource(name).ok_or_else(|| unsupported(format!("rlimit {name:?}")))?;
        let soft = r.get("soft").and_then(Value::as_u64).unwrap_or(0);
        let hard = r.get("hard").and_then(Value::as_u64).unwrap_or(0);
        rlimits.push((resource, soft, hard));
    }
    if spec
        .get("hooks")
        .is_some_and(|h| h.as_object().is_some_and(|o| !o.is_empty()))
    {
        return Err(unsupported("hooks"));
    }

    let linux = spec.get("linux").cloned().unwrap_or(Value::Null);
    for key in ["uidMappings", "gidMappings", "intelRdt"] {
        let set = linux.get(key).is_some_and(|v| match v {
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            Value::Null => false,
            _ => true,
        });
        if set {
            return Err(unsupported(format!("linux.{key}")));
        }
    }
    // A spec without a seccomp section gets no filter, as from runc; one
    // with a section gets exactly its profile.
    a.security_opt.push("seccomp=unconfined".into());
    let seccomp = match linux.get("seccomp").filter(|v| !v.is_null()) {
        Some(v) => {
            let profile: Profile = serde_json::from_value(v.clone())
                .map_err(|e| Error::Invalid(format!("{}: linux.seccomp: {e}", path.display())))?;
            Some(Filter::from_spec(&profile).map_err(|e| {
                Error::Unsupported(format!("bundle config.json: linux.seccomp: {e}"))
            })?)
        }
        None => None,
    };
    let mut kinds = Vec::new();
    let netns = linux
        .get("namespaces")
        .and_then(Value::as_array)
        .is_some_and(|a| {
            a.iter()
                .any(|n| n.get("type").and_then(Value::as_str) == Some("network"))
        });
    let mut sysctls = Vec::new();
    for (k, v) in linux
        .get("sysctl")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if !namespaced_sysctl(k, netns) {
            return Err(unsupported(format!(
                "linux.sysctl {k}: not a sysctl of the container's own namespaces"
            )));
        }
        let v = v.as_str().ok_or_else(|| {
            Error::Invalid(format!(
                "{}: linux.sysctl {k}: not a string",
                path.display()
            ))
        })?;
        sysctls.push((k.clone(), v.to_string()));
    }
    for ns in linux
        .get("namespaces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let kind = ns.get("type").and_then(Value::as_str).unwrap_or_default();
        if ns
            .get("path")
            .is_some_and(|p| p.as_str().is_some_and(|p| !p.is_empty()))
        {
            return Err(unsupported(format!("joining an existing {kind} namespace")));
        }
        kinds.push(kind.to_string());
    }
    for needed in ["mount", "pid", "ipc", "uts"] {
        if !kinds.iter().any(|k| k == needed) {
            return Err(unsupported(format!(
                "sharing the host's {needed} namespace"
            )));
        }
    }
    if kinds.iter().any(|k| k == "user") {
        return Err(unsupported("a user namespace (rootless)"));
    }
    a.network = if kinds.iter().any(|k| k == "network") {
        "none".into()
    } else {
        "host".into()
    };
    if let Some(r) = linux.get("resources") {
        a.memory = r
            .pointer("/memory/limit")
            .and_then(Value::as_i64)
            .filter(|m| *m > 0)
            .map(|m| m.to_string());
        a.pids_limit = r
            .pointer("/pids/limit")
            .and_then(Value::as_i64)
            .filter(|p| *p > 0)
            .map(|p| p as u64);
        let quota = r
            .pointer("/cpu/quota")
            .and_then(Value::as_i64)
            .filter(|q| *q > 0);
        let period = r
            .pointer("/cpu/period")
            .and_then(Value::as_u64)
            .unwrap_or(100_000);
        a.cpus = quota.map(|q| format!("{}", q as f64 / period as f64));
    }
    for m in spec
        .get("mounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let dest = m
            .get("destination")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = m.get("type").and_then(Value::as_str).unwrap_or_default();
        let opts = strs(m.get("options")).unwrap_or_default();
        let bind = kind == "bind" || opts.iter().any(|o| o == "bind" || o == "rbind");
        if STANDARD.contains(&dest) && !bind {
            continue;
        }
        if bind {
            let src = m.get("source").and_then(Value::as_str).unwrap_or_default();
            let src = if src.starts_with('/') {
                src.to_string()
            } else {
                dir.join(src).display().to_string()
            };
            let ro = if opts.iter().any(|o| o == "ro") {
                ":ro"
            } else {
                ""
            };
            a.volumes.push(format!("{src}:{dest}{ro}"));
        } else if kind == "tmpfs" {
            a.tmpfs.push(format!("{dest}:{}", opts.join(",")));
        } else {
            return Err(unsupported(format!("a {kind} mount at {dest}")));
        }
    }
    let env = strs(process.get("env")).unwrap_or_default();
    let extras = Extras {
        env,
        masked: strs(linux.get("maskedPaths")),
        readonly: strs(linux.get("readonlyPaths")),
        groups,
        rlimits,
        privileges: SpecPrivileges {
            caps,
            no_new_privs,
            seccomp,
        },
        sysctls,
        device_rules: linux
            .pointer("/resources/devices")
            .filter(|v| !v.is_null())
            .map(|v| device_rules(v, &path))
            .transpose()?,
        nodes: linux
            .get("devices")
            .map(|v| nodes(v, &path))
            .transpose()?
            .unwrap_or_default(),
        cgroups_path: linux
            .get("cgroupsPath")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
            .map(str::to_string),
        oom_score_adj: process
            .get("oomScoreAdj")
            .and_then(Value::as_i64)
            .map(|v| v as i32),
    };
    Ok((a, extras))
}

/// runc's rule: only sysctls the container's IPC, UTS or network
/// namespace holds may be set; the rest would change the host.
fn namespaced_sysctl(key: &str, netns: bool) -> bool {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    IPC.contains(&key)
        || key.starts_with("fs.mqueue.")
        || key == "kernel.domainname"
        || key == "kernel.hostname"
        || (netns && key.starts_with("net."))
}

/// A runtime-spec rlimit name as setrlimit's resource number.
fn rlimit_resource(name: &str) -> Option<i32> {
    let r = match name {
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        _ => return None,
    };
    Some(r as i32)
}
