//! volume: named volumes as `docker volume` handles them: create, ls,
//! inspect, rm and prune.

use crate::{each, labels, out_err, Error};
use serde::Serialize;
use slipway_common::container::state::{new_id, Containers};
use slipway_common::container::volumes::{Volume, Volumes};
use slipway_common::layout::canonical_json;
use slipway_common::template::{Fields, Template};
use std::io::Write;

#[derive(clap::Subcommand, Debug)]
pub enum VolumeCommand {
    /// Make a volume (a random name when none is given); an existing one
    /// is left as it is. Prints its name.
    Create {
        /// A label, KEY=VALUE (repeatable).
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
        name: Option<String>,
    },
    /// List volumes.
    #[command(alias = "list")]
    Ls {
        /// Only names.
        #[arg(short, long)]
        quiet: bool,
        /// name=SUBSTRING, label=KEY[=VALUE], dangling=true|false (no
        /// container names it).
        #[arg(short, long, value_name = "KEY=VALUE")]
        filter: Vec<String>,
        /// A Go-style template per volume: {{.Name}}, {{.Driver}},
        /// {{.Mountpoint}}, {{.Labels}}, {{.CreatedAt}}, {{json .}}.
        #[arg(long, value_name = "TEMPLATE")]
        format: Option<String>,
    },
    /// Show volumes as a JSON array, as docker volume inspect.
    Inspect {
        #[arg(required = true, value_name = "VOLUME")]
        names: Vec<String>,
    },
    /// Remove volumes no container names (remove the containers first).
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true, value_name = "VOLUME")]
        names: Vec<String>,
    },
    /// Remove the volumes no container names, with --all (every volume
    /// slipway makes is named: without it, as docker's prune of anonymous
    /// volumes, there is nothing to remove).
    Prune {
        /// Every unused volume.
        #[arg(short, long)]
        all: bool,
        /// Do not ask (prune never asks).
        #[arg(short, long)]
        force: bool,
        /// label=KEY[=VALUE]: only volumes with that label.
        #[arg(long, value_name = "KEY=VALUE")]
        filter: Vec<String>,
    },
}

const FIELDS: &[(&str, &str)] = &[
    ("Name", "VOLUME NAME"),
    ("Driver", "DRIVER"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Labels", "LABELS"),
    ("CreatedAt", "CREATED AT"),
];

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Row {
    name: String,
    driver: String,
    mountpoint: String,
    labels: String,
    created_at: String,
}

impl Fields for Row {
    fn field(&self, name: &str) -> String {
        match name {
            "Name" => self.name.clone(),
            "Driver" => self.driver.clone(),
            "Mountpoint" => self.mountpoint.clone(),
            "Labels" => self.labels.clone(),
            "CreatedAt" => self.created_at.clone(),
            _ => String::new(),
        }
    }
    fn json(&self) -> String {
        String::from_utf8(canonical_json(self)).expect("JSON is UTF-8")
    }
}

fn label_matches(v: &Volume, want: &str) -> bool {
    match want.split_once('=') {
        Some((k, val)) => v.labels.get(k).is_some_and(|x| x == val),
        None => v.labels.contains_key(want),
    }
}

fn vol_err(e: slipway_common::container::volumes::VolumeError) -> Error {
    Error::Invalid(e.to_string())
}

pub fn volume(
    store: &std::path::Path,
    containers: &Containers,
    cmd: &VolumeCommand,
) -> Result<(), Error> {
    let vols = Volumes::open(store);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match cmd {
        VolumeCommand::Create { labels: l, name } => {
            let name = name.clone().unwrap_or_else(new_id);
            let (v, _) = vols.create(&name, &labels(l)?).map_err(vol_err)?;
            writeln!(out, "{}", v.name).map_err(out_err)?;
        }
        VolumeCommand::Ls {
            quiet,
            filter,
            format,
        } => {
            let mut list = vols.list().map_err(vol_err)?;
            for f in filter {
                let (k, want) = f.split_once('=').ok_or_else(|| {
                    Error::Invalid(format!("bad filter {f:?}: expected KEY=VALUE"))
                })?;
                let mut keep = Vec::new();
                for v in list {
                    let ok = match k {
                        "name" => v.name.contains(want),
                        "label" => label_matches(&v, want),
                        "dangling" => {
                            let unused = vols.user(containers, &v.name).map_err(vol_err)?.is_none();
                            match want {
                                "true" | "1" => unused,
                                "false" | "0" => !unused,
                                _ => {
                                    return Err(Error::Invalid(format!(
                                        "bad filter {f:?}: dangling takes true or false"
                                    )))
                                }
                            }
                        }
                        _ => {
                            return Err(Error::Invalid(format!(
                                "invalid filter {k:?}: name, label or dangling"
                            )))
                        }
                    };
                    if ok {
                        keep.push(v);
                    }
                }
                list = keep;
            }
            if *quiet {
                for v in &list {
                    writeln!(out, "{}", v.name).map_err(out_err)?;
                }
            } else {
                let spec = format.as_deref().unwrap_or("table {{.Driver}}\t{{.Name}}");
                let t = Template::parse(spec, FIELDS).map_err(|e| Error::Invalid(e.to_string()))?;
                let rows: Vec<Row> = list
                    .iter()
                    .map(|v| Row {
                        name: v.name.clone(),
                        driver: v.driver.clone(),
                        mountpoint: v.mountpoint.display().to_string(),
                        labels: v
                            .labels
                            .iter()
                            .map(|(k, x)| format!("{k}={x}"))
                            .collect::<Vec<_>>()
                            .join(","),
                        created_at: v.created_at.clone(),
                    })
                    .collect();
                let shown: Vec<&dyn Fields> = rows.iter().map(|r| r as &dyn Fields).collect();
                t.write(&shown, &mut out).map_err(out_err)?;
            }
        }
        VolumeCommand::Inspect { names } => {
            let mut docs = Vec::new();
            let found = each(names, |n| {
                docs.push(vols.get(n).map_err(vol_err)?);
                Ok(())
            });
            let text = serde_json::to_string_pretty(&docs).expect("JSON");
            writeln!(out, "{text}").map_err(out_err)?;
            found?;
        }
        VolumeCommand::Rm { names } => {
            each(names, |n| {
                vols.remove(containers, n).map_err(vol_err)?;
                println!("{n}");
                Ok(())
            })?;
        }
        VolumeCommand::Prune { all, filter, .. } => {
            let mut deleted = Vec::new();
            let mut bytes = 0u64;
            if *all {
                for v in vols.list().map_err(vol_err)? {
                    let wanted = filter.iter().all(|f| match f.strip_prefix("label=") {
                        Some(l) => label_matches(&v, l),
                        None => false,
                    });
                    if !wanted || vols.user(containers, &v.name).map_err(vol_err)?.is_some() {
                        continue;
                    }
                    bytes += crate::lifecycle::tree_size(&v.mountpoint);
                    vols.remove(containers, &v.name).map_err(vol_err)?;
                    deleted.push(v.name);
                }
            }
            if !deleted.is_empty() {
                writeln!(out, "Deleted Volumes:\n{}\n", deleted.join("\n")).map_err(out_err)?;
            }
            writeln!(
                out,
                "Total reclaimed space: {}",
                slipway_common::time::human_size(bytes)
            )
            .map_err(out_err)?;
        }
    }
    out.flush().map_err(out_err)
}
