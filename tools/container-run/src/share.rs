//! --pid, --ipc, --uts and --userns: a namespace of the container's own
//! (docker's default), the host's, or another container's, as docker run
//! takes them.

use crate::config::invalid;
use crate::Error;
use slipway_common::container::state::{Containers, Status};

/// The clone flags of the host's namespaces shared, and the namespaces of
/// other containers joined (kind, /proc/PID/ns/KIND).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Shared {
    pub host: libc::c_int,
    pub join: Vec<(String, std::path::PathBuf)>,
}

/// Where the other containers are, and whether we are rootless.
struct Ctx<'a> {
    containers: &'a Containers,
    rootless: bool,
}

/// One namespace flag: its name, the namespace's kind and clone flag,
/// and the modes that mean the container's own.
struct Flag<'a> {
    flag: &'a str,
    kind: &'a str,
    nstype: libc::c_int,
    own: &'a [&'a str],
}

/// Reads one `--KIND MODE`.
fn mode(f: Flag<'_>, given: Option<&str>, ctx: &Ctx<'_>, out: &mut Shared) -> Result<(), Error> {
    let Flag {
        flag,
        kind,
        nstype,
        own,
    } = f;
    let (containers, rootless) = (ctx.containers, ctx.rootless);
    let Some(m) = given else { return Ok(()) };
    if own.contains(&m) {
        return Ok(());
    }
    if m == "host" {
        if rootless {
            return Err(Error::Unsupported(format!(
                "{flag} host: a rootless container cannot share the host's {kind} namespace (it cannot mount what that needs)"
            )));
        }
        out.host |= nstype;
        return Ok(());
    }
    if let Some(name) = m.strip_prefix("container:") {
        let s = containers.find(name)?;
        let pid = match s.pid {
            Some(pid) if s.current_status() == Status::Running => pid,
            _ => {
                return Err(invalid(format!(
                    "{flag} container:{name}: the container is not running"
                )))
            }
        };
        out.join
            .push((kind.to_string(), format!("/proc/{pid}/ns/{kind}").into()));
        return Ok(());
    }
    Err(invalid(format!(
        "{flag} {m:?}: takes {}, host or container:NAME",
        own.join(", ")
    )))
}

pub fn parse(
    pid: Option<&str>,
    ipc: Option<&str>,
    uts: Option<&str>,
    userns: Option<&str>,
    containers: &Containers,
    rootless: bool,
) -> Result<Shared, Error> {
    let mut out = Shared::default();
    let ctx = Ctx {
        containers,
        rootless,
    };
    let flag = |flag, kind, nstype, own| Flag {
        flag,
        kind,
        nstype,
        own,
    };
    mode(
        flag("--pid", "pid", libc::CLONE_NEWPID, &["private"]),
        pid,
        &ctx,
        &mut out,
    )?;
    // "shareable": others may join it, which any of ours allows. "none"
    // (no /dev/shm at all) is not something slipway makes.
    mode(
        flag(
            "--ipc",
            "ipc",
            libc::CLONE_NEWIPC,
            &["private", "shareable"],
        ),
        ipc,
        &ctx,
        &mut out,
    )?;
    mode(
        flag("--uts", "uts", libc::CLONE_NEWUTS, &["private"]),
        uts,
        &ctx,
        &mut out,
    )?;
    // Root's containers run in the host's user namespace, rootless ones
    // in the user's: that is docker's "host"; remapping is not made here.
    match userns {
        None | Some("" | "host") => {}
        Some(m) => {
            return Err(Error::Unsupported(format!(
                "--userns {m:?}: slipway runs root's containers in the host's user namespace and rootless ones in the user's; only host is taken"
            )))
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_read_as_docker_takes_them() {
        let t = tempfile::tempdir().unwrap();
        let c = Containers::open(t.path()).unwrap();
        let s = parse(
            Some("host"),
            Some("shareable"),
            None,
            Some("host"),
            &c,
            false,
        )
        .unwrap();
        assert_eq!(s.host, libc::CLONE_NEWPID);
        assert!(s.join.is_empty());
        let s = parse(None, Some("host"), Some("host"), None, &c, false).unwrap();
        assert_eq!(s.host, libc::CLONE_NEWIPC | libc::CLONE_NEWUTS);
        assert!(parse(Some("host"), None, None, None, &c, true).is_err());
        assert!(parse(Some("bogus"), None, None, None, &c, false).is_err());
        assert!(parse(None, Some("none"), None, None, &c, false).is_err());
        assert!(parse(None, None, None, Some("keep-id"), &c, false).is_err());
        assert!(parse(Some("container:nosuch"), None, None, None, &c, false).is_err());
    }
}
