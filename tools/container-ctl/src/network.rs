//! network: user-defined bridge networks as `docker network` handles them:
//! create, ls, inspect, rm, prune, connect and disconnect.

use crate::{each, labels, out_err, Error};
use serde::Serialize;
use slipway_common::container::network::endpoints::{self, Endpoint, Request};
use slipway_common::container::network::{attach, CreateOptions, Network, Networks};
use slipway_common::container::state::Containers;
use slipway_common::layout::canonical_json;
use slipway_common::template::{Fields, Template};
use std::collections::BTreeMap;
use std::io::Write;

#[derive(clap::Subcommand, Debug)]
pub enum NetworkCommand {
    /// Make a bridge network; prints its ID.
    Create {
        /// The subnet, an IPv4 CIDR (default: the first free 10.89.N.0/24).
        #[arg(long, value_name = "CIDR")]
        subnet: Option<String>,
        /// The gateway (default: the subnet's first address).
        #[arg(long, value_name = "IP")]
        gateway: Option<String>,
        /// No way out: containers reach each other only.
        #[arg(long)]
        internal: bool,
        /// bridge, the only driver here.
        #[arg(short, long, value_name = "DRIVER")]
        driver: Option<String>,
        /// A label, KEY=VALUE (repeatable).
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
        name: String,
    },
    /// List networks.
    #[command(alias = "list")]
    Ls {
        /// Only IDs.
        #[arg(short, long)]
        quiet: bool,
        /// Whole IDs.
        #[arg(long)]
        no_trunc: bool,
        /// name=SUBSTRING, id=PREFIX, label=KEY[=VALUE], driver=bridge.
        #[arg(short, long, value_name = "KEY=VALUE")]
        filter: Vec<String>,
        /// A Go-style template per network: {{.ID}}, {{.Name}},
        /// {{.Driver}}, {{.Scope}}, {{.Internal}}, {{.Labels}},
        /// {{.CreatedAt}}, {{json .}}.
        #[arg(long, value_name = "TEMPLATE")]
        format: Option<String>,
    },
    /// Show networks as a JSON array, as docker network inspect.
    Inspect {
        #[arg(required = true, value_name = "NETWORK")]
        names: Vec<String>,
    },
    /// Remove networks no running container is on.
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true, value_name = "NETWORK")]
        names: Vec<String>,
    },
    /// Remove every network no running container is on.
    Prune {
        /// Do not ask (prune never asks).
        #[arg(short, long)]
        force: bool,
    },
    /// Put a running container on another network too (a new interface,
    /// eth1 and on).
    Connect {
        /// Another name it answers to on that network (repeatable).
        #[arg(long = "alias", value_name = "NAME")]
        aliases: Vec<String>,
        /// Its address there.
        #[arg(long, value_name = "IP")]
        ip: Option<String>,
        network: String,
        container: String,
    },
    /// Take a container off a network.
    Disconnect {
        /// Accepted for docker's sake: it always is.
        #[arg(short, long)]
        force: bool,
        network: String,
        container: String,
    },
}

const FIELDS: &[(&str, &str)] = &[
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("Internal", "INTERNAL"),
    ("Labels", "LABELS"),
    ("CreatedAt", "CREATED AT"),
];

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Row {
    #[serde(rename = "ID")]
    id: String,
    name: String,
    driver: String,
    scope: String,
    internal: String,
    labels: String,
    created_at: String,
}

impl Fields for Row {
    fn field(&self, name: &str) -> String {
        match name {
            "ID" => self.id.clone(),
            "Name" => self.name.clone(),
            "Driver" => self.driver.clone(),
            "Scope" => self.scope.clone(),
            "Internal" => self.internal.clone(),
            "Labels" => self.labels.clone(),
            "CreatedAt" => self.created_at.clone(),
            _ => String::new(),
        }
    }
    fn json(&self) -> String {
        String::from_utf8(canonical_json(self)).expect("JSON is UTF-8")
    }
}

/// docker network inspect's document.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Doc {
    name: String,
    id: String,
    created: String,
    scope: &'static str,
    driver: String,
    #[serde(rename = "EnableIPv6")]
    enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    ipam: Ipam,
    internal: bool,
    attachable: bool,
    containers: BTreeMap<String, DocEndpoint>,
    options: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Ipam {
    driver: &'static str,
    config: Vec<IpamConfig>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct IpamConfig {
    subnet: String,
    gateway: String,
}

#[derive(Serialize)]
pub struct DocEndpoint {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "MacAddress")]
    pub mac: String,
    #[serde(rename = "IPv4Address")]
    pub ipv4: String,
    #[serde(rename = "IPv6Address")]
    pub ipv6: String,
}

fn net_err(e: slipway_common::container::network::NetworkError) -> Error {
    Error::Invalid(e.to_string())
}

fn matches(n: &Network, f: &str) -> Result<bool, Error> {
    let (k, want) = f
        .split_once('=')
        .ok_or_else(|| Error::Invalid(format!("bad filter {f:?}: expected KEY=VALUE")))?;
    Ok(match k {
        "name" => n.name.contains(want),
        "id" => n.id.starts_with(want),
        "driver" => n.driver == want,
        "label" => match want.split_once('=') {
            Some((k, v)) => n.labels.get(k).is_some_and(|x| x == v),
            None => n.labels.contains_key(want),
        },
        _ => {
            return Err(Error::Invalid(format!(
                "invalid filter {k:?}: name, id, label or driver"
            )))
        }
    })
}

/// The live endpoints of a network (the dead swept out first).
fn live(n: &Network) -> Vec<Endpoint> {
    endpoints::sweep(n).unwrap_or_default()
}

/// The container's endpoints on the store's networks, for inspect.
pub fn of_container(store: &std::path::Path, id: &str) -> Vec<(Network, Endpoint)> {
    Networks::open(store)
        .list()
        .unwrap_or_default()
        .into_iter()
        .flat_map(|n| {
            endpoints::load(&n)
                .into_iter()
                .filter(|e| e.container_id == id && e.alive())
                .map(move |e| (n.clone(), e))
        })
        .collect()
}

fn doc(n: &Network) -> Doc {
    let prefix = n.subnet().prefix;
    Doc {
        name: n.name.clone(),
        id: n.id.clone(),
        created: n.created.clone(),
        scope: "local",
        driver: n.driver.clone(),
        enable_ipv6: false,
        ipam: Ipam {
            driver: "default",
            config: vec![IpamConfig {
                subnet: n.subnet.clone(),
                gateway: n.gateway.to_string(),
            }],
        },
        internal: n.internal,
        attachable: false,
        containers: live(n)
            .into_iter()
            .map(|e| {
                (
                    e.container_id.clone(),
                    DocEndpoint {
                        name: e.name.clone(),
                        mac: e.mac.clone(),
                        ipv4: format!("{}/{prefix}", e.ip),
                        ipv6: String::new(),
                    },
                )
            })
            .collect(),
        options: [("com.docker.network.bridge.name".to_string(), n.bridge())].into(),
        labels: n.labels.clone(),
    }
}

/// An ordinary user's bridges are in their own network namespace (see
/// `rootless`): joined before a container is linked to one.
fn enter_users_network() -> Result<(), Error> {
    use slipway_common::container::network::rootless;
    if !rootless::active() {
        return Ok(());
    }
    let pause = rootless::ensure_pause().map_err(net_err)?;
    rootless::join(pause).map_err(net_err)
}

pub fn network(
    store: &std::path::Path,
    containers: &Containers,
    cmd: &NetworkCommand,
) -> Result<(), Error> {
    let nets = Networks::open(store);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match cmd {
        NetworkCommand::Create {
            subnet,
            gateway,
            internal,
            driver,
            labels: l,
            name,
        } => {
            let o = CreateOptions {
                subnet: subnet.clone(),
                gateway: gateway.clone(),
                internal: *internal,
                labels: labels(l)?,
                driver: driver.clone(),
            };
            let n = nets.create(name, &o).map_err(net_err)?;
            writeln!(out, "{}", n.id).map_err(out_err)?;
        }
        NetworkCommand::Ls {
            quiet,
            no_trunc,
            filter,
            format,
        } => {
            let mut list = Vec::new();
            for n in nets.list().map_err(net_err)? {
                let mut keep = true;
                for f in filter {
                    keep &= matches(&n, f)?;
                }
                if keep {
                    list.push(n);
                }
            }
            let id = |n: &Network| match no_trunc {
                true => n.id.clone(),
                false => n.id[..12].to_string(),
            };
            if *quiet {
                for n in &list {
                    writeln!(out, "{}", id(n)).map_err(out_err)?;
                }
            } else {
                let spec = format
                    .as_deref()
                    .unwrap_or("table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}");
                let t = Template::parse(spec, FIELDS).map_err(|e| Error::Invalid(e.to_string()))?;
                let rows: Vec<Row> = list
                    .iter()
                    .map(|n| Row {
                        id: id(n),
                        name: n.name.clone(),
                        driver: n.driver.clone(),
                        scope: "local".into(),
                        internal: n.internal.to_string(),
                        labels: n
                            .labels
                            .iter()
                            .map(|(k, x)| format!("{k}={x}"))
                            .collect::<Vec<_>>()
                            .join(","),
                        created_at: n.created.clone(),
                    })
                    .collect();
                let shown: Vec<&dyn Fields> = rows.iter().map(|r| r as &dyn Fields).collect();
                t.write(&shown, &mut out).map_err(out_err)?;
            }
        }
        NetworkCommand::Inspect { names } => {
            let mut docs = Vec::new();
            let found = each(names, |q| {
                docs.push(doc(&nets.get(q).map_err(net_err)?));
                Ok(())
            });
            let text = serde_json::to_string_pretty(&docs).expect("JSON");
            writeln!(out, "{text}").map_err(out_err)?;
            found?;
        }
        NetworkCommand::Rm { names } => {
            each(names, |q| {
                nets.remove(q).map_err(net_err)?;
                println!("{q}");
                Ok(())
            })?;
        }
        NetworkCommand::Prune { .. } => {
            let mut deleted = Vec::new();
            for n in nets.list().map_err(net_err)? {
                if live(&n).is_empty() && nets.remove(&n.name).is_ok() {
                    deleted.push(n.name);
                }
            }
            if !deleted.is_empty() {
                writeln!(out, "Deleted Networks:\n{}", deleted.join("\n")).map_err(out_err)?;
            }
        }
        NetworkCommand::Connect {
            aliases,
            ip,
            network,
            container,
        } => {
            let n = nets.get(network).map_err(net_err)?;
            let s = containers.find(container)?;
            let pid = match (s.alive(), s.pid) {
                (true, Some(pid)) => pid,
                _ => return Err(Error::NotRunning(container.clone())),
            };
            let mine = of_container(store, &s.id);
            if mine.iter().any(|(m, _)| m.id == n.id) {
                return Err(Error::Invalid(format!(
                    "container {container} is already on network {}",
                    n.name
                )));
            }
            let ip = ip
                .as_deref()
                .map(|i| {
                    i.parse()
                        .map_err(|_| Error::Invalid(format!("invalid --ip {i:?}")))
                })
                .transpose()?;
            let r = Request {
                container_id: s.id.clone(),
                name: s.name.clone(),
                aliases: aliases.clone(),
                ip,
                mac: None,
                iface: next_iface(pid),
                ports: Vec::new(),
            };
            enter_users_network()?;
            attach::connect(&n, &r, pid, false).map_err(net_err)?;
        }
        NetworkCommand::Disconnect {
            network, container, ..
        } => {
            let n = nets.get(network).map_err(net_err)?;
            let s = containers.find(container)?;
            if !of_container(store, &s.id).iter().any(|(m, _)| m.id == n.id) {
                return Err(Error::Invalid(format!(
                    "container {container} is not connected to network {}",
                    n.name
                )));
            }
            attach::disconnect(&n, &s.id);
        }
    }
    out.flush().map_err(out_err)
}

/// The first ethN the container's namespace does not have (its
/// interfaces, as /proc/PID/net/dev lists them).
fn next_iface(pid: i32) -> String {
    let dev = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
    let have: Vec<&str> = dev
        .lines()
        .filter_map(|l| l.split_once(':').map(|(n, _)| n.trim()))
        .collect();
    (0..)
        .map(|i| format!("eth{i}"))
        .find(|n| !have.contains(&n.as_str()))
        .expect("an unused name")
}
