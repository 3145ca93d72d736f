//! A network's endpoints while it is in use: one per container on it,
//! with its address (the IPAM: an address is in at most one endpoint, all
//! changes made under the network's lock), its names for the DNS
//! responder, and the process that holds it. An endpoint whose process
//! is gone (a container killed with its monitor, a reboot's leftovers
//! are under /run and go with it) is swept out by the next change.

use super::{Network, NetworkError};
use crate::container::state::{process_start, PortMapping};
use crate::fsutil::{self, IoContext};
use crate::lock::{FileLock, LockKind};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub container_id: String,
    /// The names it answers to: its name, --network-alias values, its
    /// hostname and short ID.
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub ip: Ipv4Addr,
    pub mac: String,
    /// Its interface inside the container, and the host's end.
    pub iface: String,
    pub veth: String,
    #[serde(default)]
    pub ports: Vec<PortMapping>,
    /// container-run while it sets the container up, then the
    /// container's first process.
    pub pid: i32,
    pub pid_start: Option<u64>,
}

impl Endpoint {
    pub fn alive(&self) -> bool {
        self.pid > 0
            && process_start(self.pid).is_some()
            && process_start(self.pid) == self.pid_start
    }

    /// Whether `name` (a DNS query's, lower case, no trailing dot) is one
    /// of its names.
    pub fn answers(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
            || (name.len() == 12 && self.container_id.starts_with(name))
    }
}

fn file(n: &Network) -> PathBuf {
    n.run_dir().join("endpoints.json")
}

/// The network's lock, held across every change of its endpoints, its
/// bridge and its rules.
pub fn lock(n: &Network) -> Result<FileLock, NetworkError> {
    let dir = n.run_dir();
    fsutil::create_dir_all(&dir)?;
    let p = dir.join(".lock");
    Ok(FileLock::acquire(&p, LockKind::Exclusive).ctx("lock", &p)?)
}

/// Every endpoint recorded, live or not.
pub fn load(n: &Network) -> Vec<Endpoint> {
    std::fs::read(file(n))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

pub fn save(n: &Network, eps: &[Endpoint]) -> Result<(), NetworkError> {
    let bytes = serde_json::to_vec_pretty(eps).expect("endpoints serialize");
    fsutil::write_atomic_unsynced(&file(n), &bytes)?;
    Ok(())
}

/// The live endpoints (under the lock, which the caller holds): the dead
/// are dropped from the record.
pub fn live_locked(n: &Network) -> Result<Vec<Endpoint>, NetworkError> {
    let all = load(n);
    let live: Vec<Endpoint> = all.iter().filter(|e| e.alive()).cloned().collect();
    if super::rootless::active() {
        // A dead container's published ports stop being forwarded.
        for dead in all.iter().filter(|e| !e.alive()) {
            let _ = super::rootless::forward(dead, false);
        }
    }
    if live.len() != all.len() {
        save(n, &live)?;
    }
    Ok(live)
}

/// Drops the dead endpoints; with none left alive, the network's
/// bridge, rules and responder go too. The live ones.
pub fn sweep(n: &Network) -> Result<Vec<Endpoint>, NetworkError> {
    if !n.run_dir().exists() {
        return Ok(Vec::new());
    }
    let _lock = lock(n)?;
    let before = load(n).len();
    let live = live_locked(n)?;
    if live.is_empty() {
        super::attach::tear_down(n);
    } else if live.len() != before {
        super::firewall::apply(n, &live)?;
    }
    Ok(live)
}

/// What a container asks of a network.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub container_id: String,
    pub name: String,
    pub aliases: Vec<String>,
    pub ip: Option<Ipv4Addr>,
    pub mac: Option<String>,
    pub iface: String,
    pub ports: Vec<PortMapping>,
}

/// Docker's MAC for an address: 02:42 and the address's four bytes.
pub fn mac_for(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}

/// Picks the endpoint's address and records it, held by this process
/// (the caller holds the lock): the asked-for one if it is free, else
/// the first free one.
pub fn allocate(
    n: &Network,
    live: &mut Vec<Endpoint>,
    r: &Request,
) -> Result<Endpoint, NetworkError> {
    let sub = n.subnet();
    if let Some(e) = live.iter().find(|e| e.container_id == r.container_id) {
        return Ok(e.clone());
    }
    let taken = |ip: Ipv4Addr| ip == n.gateway || live.iter().any(|e| e.ip == ip);
    let ip = match r.ip {
        Some(ip) if !sub.contains(ip) || !sub.hosts().any(|h| h == ip) => {
            return Err(NetworkError::Invalid(format!(
                "--ip {ip} is not an address of network {} ({sub})",
                n.name
            )))
        }
        Some(ip) if taken(ip) => {
            return Err(NetworkError::Invalid(format!(
                "address {ip} is already in use on network {}",
                n.name
            )))
        }
        Some(ip) => ip,
        None => sub.hosts().find(|ip| !taken(*ip)).ok_or_else(|| {
            NetworkError::Invalid(format!("network {} has no free address left", n.name))
        })?,
    };
    let me = std::process::id() as i32;
    let e = Endpoint {
        container_id: r.container_id.clone(),
        name: r.name.clone(),
        aliases: r.aliases.clone(),
        ip,
        mac: r.mac.clone().unwrap_or_else(|| mac_for(ip)),
        iface: r.iface.clone(),
        veth: veth_name(&r.container_id, n),
        ports: r.ports.clone(),
        pid: me,
        pid_start: process_start(me),
    };
    live.push(e.clone());
    save(n, live)?;
    Ok(e)
}

/// The host's end of a container's veth on a network: unique per
/// container and network, within IFNAMSIZ.
fn veth_name(container_id: &str, n: &Network) -> String {
    format!("v{}{}", &container_id[..9], &n.id[..4])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_dockers() {
        assert_eq!(mac_for("10.89.0.2".parse().unwrap()), "02:42:0a:59:00:02");
    }

    #[test]
    fn an_endpoint_answers_to_its_names_and_short_id() {
        let e = Endpoint {
            container_id: "0123456789abcdef".repeat(4),
            name: "web".into(),
            aliases: vec!["www".into()],
            ip: "10.89.0.2".parse().unwrap(),
            mac: String::new(),
            iface: "eth0".into(),
            veth: String::new(),
            ports: Vec::new(),
            pid: 0,
            pid_start: None,
        };
        assert!(e.answers("WEB") && e.answers("www") && e.answers("0123456789ab"));
        assert!(!e.answers("db") && !e.answers("0123"));
        assert!(!e.alive());
    }
}
