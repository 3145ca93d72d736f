//! container-run as a non-root user, as rootless podman runs: what cannot
//! work rootless is refused in one line before anything is made; then we
//! move into a user namespace of our own in which we are root (the
//! caller's subordinate IDs mapped after it) and run the container from
//! there, its store files and mounts all made inside.

use crate::{Args, Error};
use slipway_common::container::cgroups::{hierarchy, Hierarchy};
use slipway_common::userns::{self, Mapping};
use std::path::{Path, PathBuf};

/// Refuses what cannot work rootless, fixes the store to the user's, and
/// enters the user namespace (unless we are root of one already).
pub fn enter(args: &mut Args) -> Result<(), Error> {
    refuse(args)?;
    // Inside we are uid 0: the default store must be decided before.
    args.store.store = Some(args.store.path());
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return Ok(());
    }
    // On a user-defined network: the user's network namespace (and the
    // user namespace that owns it) is joined, not a new one made, so the
    // container's namespace can be linked to the network's bridge.
    if user_network(&args.network) {
        use slipway_common::container::network::rootless;
        let pause = rootless::ensure_pause().map_err(|e| Error::Unsupported(e.to_string()))?;
        // pasta publishes nothing once started: a proxy of ours binds the
        // ports here, in the host's network namespace, before we leave it.
        if rootless::Connector::running() == Some(rootless::Connector::Pasta)
            && (!args.publish.is_empty() || args.publish_all)
        {
            slipway_common::container::network::portproxy::start(pause)
                .map_err(|e| Error::Unsupported(e.to_string()))?;
        }
        return rootless::join(pause).map_err(|e| Error::Unsupported(e.to_string()));
    }
    userns::enter(&Mapping::for_caller()).map_err(|e| Error::Unsupported(e.to_string()))
}

/// Whether `--network` names a network rather than a mode.
fn user_network(mode: &str) -> bool {
    !matches!(mode, "none" | "host" | "private" | "bridge" | "default")
        && !mode.starts_with("container:")
}

fn refuse(args: &Args) -> Result<(), Error> {
    for (flag, asked, controller) in [
        ("--memory", args.memory.is_some(), "memory"),
        ("--pids-limit", args.pids_limit.is_some(), "pids"),
        ("--cpus", args.cpus.is_some(), "cpu"),
    ] {
        if asked {
            return Err(Error::Unsupported(cgroup_refusal(flag, controller)));
        }
    }
    if args.bundle.is_some() {
        return Err(Error::Unsupported(
            "--bundle cannot run rootless yet: a bundle runs as root, its own user namespace included".into(),
        ));
    }
    if args.runtime.is_some() {
        return Err(Error::Unsupported(
            "--runtime cannot run rootless yet: the runtime would need the user namespace's mappings in its bundle; run it as root".into(),
        ));
    }
    if (args.network == "private" || user_network(&args.network)) && !tun_usable() {
        return Err(Error::Unsupported(
            "--network private cannot work rootless here: slirp4netns needs read and write access to /dev/net/tun, which this user lacks (udev makes it mode 0666 on most hosts); use --network none or host".into(),
        ));
    }
    Ok(())
}

/// Why a cgroup limit cannot be set rootless on this host.
fn cgroup_refusal(flag: &str, controller: &str) -> String {
    let tail = format!("run as root, or without {flag}");
    if hierarchy() == Hierarchy::V1 {
        let kind = if Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists() {
            "cgroup v1 (a hybrid hierarchy)"
        } else {
            "cgroup v1"
        };
        return format!(
            "{flag} cannot work rootless: this host's cgroup controllers are {kind}, which cannot be delegated to a user; {tail}"
        );
    }
    match own_cgroup() {
        Some(dir) if delegated(&dir, controller) => format!(
            "{flag} is not supported rootless yet: container-run does not make cgroups in a delegated cgroup v2 tree; {tail}"
        ),
        _ => format!(
            "{flag} cannot work rootless: the cgroup v2 {controller} controller is not delegated to this user (systemd's Delegate=); {tail}"
        ),
    }
}

/// The cgroup v2 directory this process is in.
fn own_cgroup() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/')))
}

/// Whether `dir` is ours to write and offers `controller`.
fn delegated(dir: &Path, controller: &str) -> bool {
    let controllers = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    controllers.split_whitespace().any(|c| c == controller) && writable(dir)
}

fn writable(p: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: a valid C string.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

fn tun_usable() -> bool {
    // SAFETY: a valid C string.
    unsafe { libc::access(c"/dev/net/tun".as_ptr(), libc::R_OK | libc::W_OK) == 0 }
}
