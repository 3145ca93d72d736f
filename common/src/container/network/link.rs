//! The links of a network, made with iproute2's `ip` (as root): the
//! bridge with the gateway's address, and per container a veth pair, one
//! end on the bridge, the other in the container's network namespace
//! with its address, MAC and default route.

use super::endpoints::Endpoint;
use super::{Network, NetworkError, Subnet};
use std::io::Write;
use std::process::{Command, Stdio};

/// Runs a command; its stderr's first line is the error.
pub(super) fn run(what: &str, cmd: &mut Command, input: Option<&str>) -> Result<(), NetworkError> {
    let fail = |msg: String| NetworkError::Command {
        what: what.to_string(),
        msg,
    };
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            let prog = cmd.get_program().to_string_lossy().into_owned();
            fail(format!("run {prog}: {e}"))
        })?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        let _ = stdin.write_all(text.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(fail(
            err.lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("failed")
                .to_string(),
        ));
    }
    Ok(())
}

fn ip(args: &[&str]) -> Command {
    let mut c = super::rootless::command("ip");
    c.args(args);
    c
}

/// Whether the interface is in the network namespace the commands run
/// in (the user's, for a rootless user: /sys shows the host's).
fn exists(iface: &str) -> bool {
    super::rootless::command("ip")
        .args(["link", "show", "dev", iface])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The IPv4 subnets the host routes (its own links, other bridges), for
/// a new network to keep clear of.
pub fn routed_subnets() -> Vec<Subnet> {
    let Ok(out) = super::rootless::command("ip")
        .args(["-4", "route", "show"])
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|d| Subnet::parse(d).ok())
        .collect()
}

fn write_sysctl(path: &str, value: &str) -> Result<(), NetworkError> {
    std::fs::write(path, value).map_err(|e| NetworkError::Command {
        what: format!("write {path}"),
        msg: e.to_string(),
    })
}

/// The bridge, up with the gateway's address: made if missing.
pub fn ensure_bridge(n: &Network) -> Result<(), NetworkError> {
    let br = n.bridge();
    if !exists(&br) {
        let gw = format!("{}/{}", n.gateway, n.subnet().prefix);
        run(
            "make the bridge",
            &mut ip(&["link", "add", &br, "type", "bridge"]),
            None,
        )?;
        let up = run(
            "address the bridge",
            &mut ip(&["addr", "add", &gw, "dev", &br]),
            None,
        )
        .and_then(|()| {
            run(
                "bring the bridge up",
                &mut ip(&["link", "set", &br, "up"]),
                None,
            )
        });
        if let Err(e) = up {
            delete_bridge(n);
            return Err(e);
        }
    }
    // Published ports reach containers from the host's loopback too (as
    // docker's do without its userland proxy), and containers reach out.
    write_sysctl(&format!("/proc/sys/net/ipv4/conf/{br}/route_localnet"), "1")?;
    if !n.internal {
        write_sysctl("/proc/sys/net/ipv4/ip_forward", "1")?;
    }
    Ok(())
}

pub fn delete_bridge(n: &Network) {
    let br = n.bridge();
    if exists(&br) {
        let _ = run("remove the bridge", &mut ip(&["link", "del", &br]), None);
    }
}

/// The container's veth: made with its end in the namespace of `pid`,
/// named, addressed and routed there.
pub fn add_veth(
    n: &Network,
    e: &Endpoint,
    pid: i32,
    default_route: bool,
) -> Result<(), NetworkError> {
    let netns = format!("/proc/{pid}/ns/net");
    if exists(&e.veth) {
        // Left by a container of this ID that died: it is not in use.
        let _ = run(
            "remove a stale veth",
            &mut ip(&["link", "del", &e.veth]),
            None,
        );
    }
    let pid_s = pid.to_string();
    run(
        "make the container's veth",
        &mut ip(&[
            "link", "add", &e.veth, "type", "veth", "peer", "name", &e.iface, "address", &e.mac,
            "netns", &pid_s,
        ]),
        None,
    )?;
    let inside = || -> Result<(), NetworkError> {
        run(
            "put the veth on the bridge",
            &mut ip(&["link", "set", &e.veth, "master", &n.bridge(), "up"]),
            None,
        )?;
        let mut batch = format!(
            "addr add {}/{} dev {}\nlink set {} up\n",
            e.ip,
            n.subnet().prefix,
            e.iface,
            e.iface
        );
        if default_route && !n.internal {
            batch.push_str(&format!(
                "route add default via {} dev {}\n",
                n.gateway, e.iface
            ));
        }
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={netns}"))
            .args(["--", "ip", "-batch", "-"]);
        run("address the container's interface", &mut c, Some(&batch))
    };
    if let Err(err) = inside() {
        delete_veth(e);
        return Err(err);
    }
    Ok(())
}

pub fn delete_veth(e: &Endpoint) {
    if exists(&e.veth) {
        let _ = run("remove the veth", &mut ip(&["link", "del", &e.veth]), None);
    }
}
