//! wait, pause, unpause, rename and port: the small verbs over one
//! container's state.

use crate::lifecycle::{settle, wait_ended};
use crate::ps::paused;
use crate::{each, Error};
use slipway_common::container::state::{Containers, Status};

/// Blocks until each container has ended, then prints its exit code.
pub fn wait(containers: &Containers, names: &[String]) -> Result<(), Error> {
    each(names, |name| {
        let s = containers.find(name)?;
        wait_ended(containers, &s.id, None);
        let Ok(s) = containers.load(&s.id) else {
            return Err(Error::Invalid(format!(
                "container {name} was removed as it ended (--rm): its exit code is gone"
            )));
        };
        let s = settle(containers, s);
        println!("{}", s.exit_code.unwrap_or(255));
        Ok(())
    })
}

/// Freezes (pause) or thaws (unpause) every process of each container.
pub fn pause(containers: &Containers, names: &[String], frozen: bool) -> Result<(), Error> {
    each(names, |name| {
        let s = containers.find(name)?;
        if s.current_status() != Status::Running {
            return Err(Error::NotRunning(name.to_string()));
        }
        let Some(cg) = &s.cgroup else {
            return Err(Error::Invalid(format!(
                "container {name} has no cgroup of its own to freeze (a rootless container, or one without cgroups)"
            )));
        };
        match (frozen, paused(&s)) {
            (true, true) => Err(Error::Invalid(format!(
                "container {name} is already paused"
            ))),
            (false, false) => Err(Error::Invalid(format!("container {name} is not paused"))),
            _ => {
                cg.freeze(frozen)?;
                println!("{name}");
                Ok(())
            }
        }
    })
}

pub fn rename(containers: &Containers, old: &str, new: &str) -> Result<(), Error> {
    containers.rename(old, new)?;
    Ok(())
}

/// The ports a container publishes, all or the one asked for (`80`,
/// `80/udp`), as `docker port` prints them.
pub fn port(containers: &Containers, name: &str, which: Option<&str>) -> Result<(), Error> {
    let s = containers.find(name)?;
    let want = which
        .map(|w| {
            let (p, proto) = w.split_once('/').unwrap_or((w, "tcp"));
            p.parse::<u16>()
                .map(|p| (p, proto.to_string()))
                .map_err(|_| Error::Invalid(format!("invalid port {w:?}: expected PORT[/PROTO]")))
        })
        .transpose()?;
    let mut found = false;
    for p in &s.ports {
        match &want {
            Some((port, proto)) if (p.container_port, &p.proto) == (*port, proto) => {
                println!("{}:{}", p.host_ip, p.host_port);
            }
            Some(_) => continue,
            None => println!(
                "{}/{} -> {}:{}",
                p.container_port, p.proto, p.host_ip, p.host_port
            ),
        }
        found = true;
    }
    match want {
        Some((port, proto)) if !found => Err(Error::Invalid(format!(
            "no public port '{port}/{proto}' published for {name}"
        ))),
        _ => Ok(()),
    }
}
