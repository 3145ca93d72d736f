//! User-defined networks, as `docker network` has them: a record per
//! network in `STORE/.slipway/networks/NAME.json` (its subnet, gateway,
//! labels; made and removed under a lock, so concurrent creates cannot
//! both take a name or a subnet), and while containers use it, what only
//! lasts until reboot under `/run/slipway/networks/ID/`: the endpoints
//! (address book and IPAM in one), the DNS responder's PID. As root, a
//! network is a Linux bridge with the gateway's address, a veth pair per
//! container, outbound NAT and published ports in nftables or iptables,
//! and a DNS responder on the gateway that knows the containers' names.

pub mod attach;
pub mod dns;
pub mod endpoints;
pub mod firewall;
pub mod link;
pub mod portproxy;
pub mod rootless;

/// A process recorded by its PID and start time (so a reused PID is not
/// taken for it): the line a record file holds.
pub(crate) fn pid_record(pid: i32) -> String {
    format!(
        "{pid} {}\n",
        crate::container::state::process_start(pid).unwrap_or(0)
    )
}

/// The process a record file names, if it still runs.
pub(crate) fn recorded_pid(file: &std::path::Path) -> Option<i32> {
    let text = std::fs::read_to_string(file).ok()?;
    let (pid, start) = text.trim().split_once(' ')?;
    let pid: i32 = pid.parse().ok()?;
    (crate::container::state::process_start(pid)? == start.parse::<u64>().ok()?).then_some(pid)
}

use crate::fsutil::{self, IoContext};
use crate::lock::{FileLock, LockKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("invalid network name {0:?}: letters, digits, _ . - (not first)")]
    BadName(String),
    #[error("{0} is a network mode here, not a name a network can take")]
    Reserved(String),
    #[error("network with name {0} already exists")]
    Exists(String),
    #[error("network {0} not found")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("network {0} has active endpoints ({1}): remove or disconnect them first")]
    InUse(String, String),
    #[error("{what}: {msg}")]
    Command { what: String, msg: String },
    #[error(transparent)]
    Io(#[from] fsutil::IoError),
}

/// An IPv4 subnet: its network address and prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn parse(s: &str) -> Result<Subnet, NetworkError> {
        let bad = || {
            NetworkError::Invalid(format!(
                "invalid subnet {s:?}: expected an IPv4 CIDR such as 10.90.0.0/24"
            ))
        };
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if !(8..=30).contains(&prefix) {
            return Err(NetworkError::Invalid(format!(
                "subnet {s}: the prefix must be between /8 and /30"
            )));
        }
        let sub = Subnet { addr, prefix };
        if u32::from(addr) & !sub.mask() != 0 {
            return Err(NetworkError::Invalid(format!(
                "subnet {s}: host bits are set (the network is {}/{prefix})",
                Ipv4Addr::from(u32::from(addr) & sub.mask())
            )));
        }
        Ok(sub)
    }

    pub fn mask(&self) -> u32 {
        u32::MAX << (32 - self.prefix)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr)
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        let m = self.mask() & other.mask();
        u32::from(self.addr) & m == u32::from(other.addr) & m
    }

    /// The addresses containers may have: all but the network's, the
    /// broadcast and the gateway.
    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> {
        let first = u32::from(self.addr) + 1;
        let last = (u32::from(self.addr) | !self.mask()) - 1;
        (first..=last).map(Ipv4Addr::from)
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A network as the store keeps it (and `network inspect` shows it, in
/// docker's shape, from this).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    pub id: String,
    pub created: String,
    pub driver: String,
    pub subnet: String,
    pub gateway: Ipv4Addr,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl Network {
    pub fn subnet(&self) -> Subnet {
        Subnet::parse(&self.subnet).expect("a recorded subnet is valid")
    }

    /// The bridge's name: from the ID, so that networks of two stores
    /// never share one.
    pub fn bridge(&self) -> String {
        format!("sw{}", &self.id[..12])
    }

    /// Where what lasts only while containers use it is kept.
    pub fn run_dir(&self) -> PathBuf {
        run_root().join(&self.id)
    }
}

/// `/run/slipway/networks` as root; an ordinary user's in their runtime
/// dir (`$XDG_RUNTIME_DIR/slipway/networks`, else
/// `/tmp/slipway-UID/networks`), the same inside their user namespace.
pub fn run_root() -> PathBuf {
    let uid = crate::userns::host_uid();
    if uid == 0 {
        return PathBuf::from("/run/slipway/networks");
    }
    match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(d) if d.is_absolute() => d.join("slipway/networks"),
        _ => std::env::temp_dir().join(format!("slipway-{uid}/networks")),
    }
}

/// What `network create` asks for.
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
    pub driver: Option<String>,
}

/// Names that are modes of `--network`, never a network's.
const RESERVED: &[&str] = &["none", "host", "private", "bridge", "default"];

pub struct Networks {
    dir: PathBuf,
}

impl Networks {
    pub fn open(store: &Path) -> Networks {
        Networks {
            dir: store.join(".slipway").join("networks"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    fn lock(&self) -> Result<FileLock, NetworkError> {
        fsutil::create_dir_all(&self.dir)?;
        let p = self.dir.join(".lock");
        Ok(FileLock::acquire(&p, LockKind::Exclusive).ctx("lock", &p)?)
    }

    pub fn list(&self) -> Result<Vec<Network>, NetworkError> {
        let mut out = Vec::new();
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => {
                return Err(fsutil::IoError {
                    op: "read",
                    path: self.dir.clone(),
                    source: e,
                }
                .into())
            }
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(n) = name.strip_suffix(".json").filter(|n| !n.starts_with('.')) {
                out.push(self.get(n)?);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// A network by name, full ID or unique ID prefix.
    pub fn get(&self, query: &str) -> Result<Network, NetworkError> {
        let p = self.path(query);
        if crate::container::state::valid_name(query) {
            match std::fs::read(&p) {
                Ok(b) => {
                    return serde_json::from_slice(&b)
                        .map_err(|e| NetworkError::Invalid(format!("{}: {e}", p.display())))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(fsutil::IoError {
                        op: "read",
                        path: p,
                        source: e,
                    }
                    .into())
                }
            }
        }
        let hits: Vec<Network> = match std::fs::read_dir(&self.dir) {
            Ok(_) if query.len() >= 3 => self
                .list()?
                .into_iter()
                .filter(|n| n.id.starts_with(query))
                .collect(),
            _ => Vec::new(),
        };
        match <[Network; 1]>::try_from(hits) {
            Ok([one]) => Ok(one),
            Err(_) => Err(NetworkError::NotFound(query.to_string())),
        }
    }

    pub fn create(&self, name: &str, o: &CreateOptions) -> Result<Network, NetworkError> {
        if !crate::container::state::valid_name(name) {
            return Err(NetworkError::BadName(name.to_string()));
        }
        if RESERVED.contains(&name) {
            return Err(NetworkError::Reserved(name.to_string()));
        }
        match o.driver.as_deref() {
            None | Some("bridge") => {}
            Some(d) => {
                return Err(NetworkError::Invalid(format!(
                    "driver {d:?}: only bridge networks are made here"
                )))
            }
        }
        let _lock = self.lock()?;
        let existing = self.list()?;
        if existing.iter().any(|n| n.name == name) {
            return Err(NetworkError::Exists(name.to_string()));
        }
        // Subnets are the host's: every store's networks keep clear of each
        // other, chosen one at a time.
        fsutil::create_dir_all(&run_root())?;
        let host_lock = run_root().join(".create.lock");
        let _host = FileLock::acquire(&host_lock, LockKind::Exclusive).ctx("lock", &host_lock)?;
        if let Some(store) = self.dir.parent().and_then(Path::parent) {
            crate::container::stores::note(store);
        }
        let here = std::fs::canonicalize(&self.dir).ok();
        let mut others: Vec<Network> = Vec::new();
        for store in crate::container::stores::known() {
            let o = Networks::open(&store);
            if std::fs::canonicalize(&o.dir).ok() != here {
                others.extend(o.list().unwrap_or_default());
            }
        }
        let taken: Vec<Subnet> = existing
            .iter()
            .chain(&others)
            .map(Network::subnet)
            .collect();
        let subnet = match &o.subnet {
            Some(s) => {
                let s = Subnet::parse(s)?;
                if let Some(n) = existing
                    .iter()
                    .chain(&others)
                    .find(|n| n.subnet().overlaps(&s))
                {
                    return Err(NetworkError::Invalid(format!(
                        "subnet {s} overlaps network {} ({})",
                        n.name, n.subnet
                    )));
                }
                if let Some(r) = link::routed_subnets().iter().find(|r| r.overlaps(&s)) {
                    return Err(NetworkError::Invalid(format!(
                        "subnet {s} overlaps {r}, which the host routes already"
                    )));
                }
                s
            }
            None => free_subnet(&taken, &link::routed_subnets())?,
        };
        let gateway = match &o.gateway {
            Some(g) => {
                let ip: Ipv4Addr = g
                    .parse()
                    .map_err(|_| NetworkError::Invalid(format!("invalid gateway {g:?}")))?;
                if !subnet.contains(ip) || !subnet.hosts().any(|h| h == ip) {
                    return Err(NetworkError::Invalid(format!(
                        "gateway {ip} is not a host address of subnet {subnet}"
                    )));
                }
                ip
            }
            None => subnet.hosts().next().expect("a /30 or wider has hosts"),
        };
        let n = Network {
            name: name.to_string(),
            id: crate::container::state::new_id(),
            created: crate::time::format_rfc3339(crate::time::now()),
            driver: "bridge".into(),
            subnet: subnet.to_string(),
            gateway,
            internal: o.internal,
            labels: o.labels.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&n).expect("a network serializes");
        fsutil::write_atomic(&self.path(name), &bytes)?;
        Ok(n)
    }

    /// Removes the record, once no live container is on the network; the
    /// bridge and rules that dead ones left go with it.
    pub fn remove(&self, query: &str) -> Result<Network, NetworkError> {
        let _lock = self.lock()?;
        let n = self.get(query)?;
        let live = endpoints::sweep(&n)?;
        if !live.is_empty() {
            let names: Vec<String> = live.iter().map(|e| e.name.clone()).collect();
            return Err(NetworkError::InUse(n.name.clone(), names.join(", ")));
        }
        attach::tear_down(&n);
        let p = self.path(&n.name);
        std::fs::remove_file(&p).ctx("remove", &p)?;
        // Its runtime dir goes with it: nothing will use the network again.
        let _ = std::fs::remove_dir_all(n.run_dir());
        Ok(n)
    }
}

/// The first 10.89.N.0/24 that neither a network of this store nor a
/// route of the host uses (another store's bridge has a route).
fn free_subnet(taken: &[Subnet], routed: &[Subnet]) -> Result<Subnet, NetworkError> {
    (0..=255u8)
        .map(|n| Subnet {
            addr: Ipv4Addr::new(10, 89, n, 0),
            prefix: 24,
        })
        .find(|s| !taken.iter().chain(routed).any(|t| t.overlaps(s)))
        .ok_or_else(|| {
            NetworkError::Invalid(
                "no free subnet left in 10.89.0.0/16: give one with --subnet".into(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_and_refuse_host_bits() {
        let s = Subnet::parse("10.90.1.0/24").unwrap();
        assert!(s.contains("10.90.1.7".parse().unwrap()));
        assert!(!s.contains("10.90.2.7".parse().unwrap()));
        assert_eq!(s.hosts().count(), 254);
        assert!(Subnet::parse("10.90.1.1/24")
            .unwrap_err()
            .to_string()
            .contains("host bits"));
        assert!(Subnet::parse("fd00::/64").is_err());
        assert!(Subnet::parse("10.0.0.0/8").unwrap().overlaps(&s));
    }

    #[test]
    fn a_free_subnet_avoids_networks_and_routes() {
        let taken = [Subnet::parse("10.89.0.0/24").unwrap()];
        let routed = [Subnet::parse("10.89.1.0/24").unwrap()];
        assert_eq!(
            free_subnet(&taken, &routed).unwrap().to_string(),
            "10.89.2.0/24"
        );
    }

    #[test]
    fn create_refuses_modes_duplicates_and_overlaps() {
        let d = tempfile::tempdir().unwrap();
        let nets = Networks::open(d.path());
        let o = CreateOptions {
            subnet: Some("10.123.0.0/24".into()),
            ..Default::default()
        };
        let n = nets.create("app", &o).unwrap();
        assert_eq!(n.gateway.to_string(), "10.123.0.1");
        assert!(matches!(
            nets.create("app", &CreateOptions::default()),
            Err(NetworkError::Exists(_))
        ));
        assert!(matches!(
            nets.create("host", &CreateOptions::default()),
            Err(NetworkError::Reserved(_))
        ));
        let e = nets.create("other", &o).unwrap_err().to_string();
        assert!(e.contains("overlaps network app"), "{e}");
        assert_eq!(nets.get(&n.id[..8]).unwrap().name, "app");
    }
}
