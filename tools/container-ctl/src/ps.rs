//! ps: the containers as `docker ps` lists them.

use crate::lifecycle::settle;
use crate::{out_err, Error};
use serde::Serialize;
use slipway_common::container::state::{Containers, Health, State, Status};
use slipway_common::container::stores;
use slipway_common::layout::canonical_json;
use slipway_common::template::{ellipsis, Fields, Template};
use slipway_common::time;
use std::io::Write;

#[derive(clap::Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default: running ones).
    #[arg(short, long)]
    pub all: bool,
    /// Only container IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not truncate IDs and commands.
    #[arg(long)]
    pub no_trunc: bool,
    /// One JSON object per line, with full IDs and commands: ID, Image,
    /// Command, CreatedAt, RunningFor, State, Status, Names, ExitCode, Pid.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// A Go-style template per container: {{.ID}}, {{.Image}},
    /// {{.Command}}, {{.CreatedAt}}, {{.RunningFor}}, {{.Status}},
    /// {{.State}}, {{.Ports}}, {{.Names}}, {{.Labels}}, {{json .}}; a
    /// leading "table " prints a header.
    #[arg(long, value_name = "TEMPLATE")]
    pub format: Option<String>,
    /// Only containers that match, as docker's filters: id=, name=
    /// (a substring), label=KEY[=VALUE], status=created|running|paused|
    /// exited, exited=CODE, ancestor=IMAGE, health=starting|healthy|
    /// unhealthy|none. Repeated keys of one kind
    /// match any; different kinds must all match.
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// The N containers created last, whatever their state (as -a).
    #[arg(short = 'n', long, value_name = "N")]
    pub last: Option<usize>,
    /// The container created last, whatever its state.
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// The containers of every store containers were made in on this
    /// host since it booted, with a STORE column.
    #[arg(long)]
    pub all_stores: bool,
}

/// docker ps's own table.
const DEFAULT: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

const FIELDS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Status", "STATUS"),
    ("State", "STATE"),
    ("Ports", "PORTS"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Store", "STORE"),
];

/// One container as ps shows it; also its JSON form.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Row {
    #[serde(rename = "ID")]
    pub id: String,
    pub image: String,
    /// Quoted, as docker shows it.
    pub command: String,
    /// `2024-01-02 03:04:05 +0000 UTC`, as docker prints Go times.
    pub created_at: String,
    /// `5 seconds ago`.
    pub running_for: String,
    /// created, running or exited.
    pub state: String,
    /// `Up 3 seconds`, `Exited (0) 5 seconds ago`, `Created`.
    pub status: String,
    /// `0.0.0.0:8080->80/tcp, …`.
    pub ports: String,
    pub names: String,
    /// `k=v,k2=v2`.
    pub labels: String,
    /// The store it is kept in (with --all-stores).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub store: String,
    pub exit_code: Option<i32>,
    pub pid: Option<i32>,
}

impl Fields for Row {
    fn field(&self, name: &str) -> String {
        match name {
            "ID" => self.id.clone(),
            "Image" => self.image.clone(),
            "Command" => self.command.clone(),
            "CreatedAt" => self.created_at.clone(),
            "RunningFor" => self.running_for.clone(),
            "Status" => self.status.clone(),
            "State" => self.state.clone(),
            "Ports" => self.ports.clone(),
            "Names" => self.names.clone(),
            "Labels" => self.labels.clone(),
            "Store" => self.store.clone(),
            _ => String::new(),
        }
    }
    fn json(&self) -> String {
        String::from_utf8(canonical_json(self)).expect("JSON is UTF-8")
    }
}

/// go-units' HumanDuration, the words docker uses for ages.
fn duration(secs: i64) -> String {
    let s = time::human_since(0, secs);
    s.strip_suffix(" ago").unwrap_or(&s).to_string()
}

fn go_time(secs: i64) -> String {
    let t = time::format_rfc3339(secs);
    format!("{} +0000 UTC", t.trim_end_matches('Z').replace('T', " "))
}

pub fn status_word(s: Status) -> &'static str {
    match s {
        Status::Created => "created",
        Status::Running => "running",
        Status::Exited => "exited",
    }
}

/// Whether a running container's processes are frozen (pause).
pub fn paused(s: &State) -> bool {
    s.current_status() == Status::Running && s.cgroup.as_ref().is_some_and(|c| c.paused())
}

#[cfg(test)]
pub fn row(s: &State, trunc: bool, now: i64) -> Row {
    row_with(s, None, trunc, now)
}

/// A row with the container's health, as its checker last recorded it.
pub fn row_with(s: &State, health: Option<&Health>, trunc: bool, now: i64) -> Row {
    let created = time::parse_rfc3339(&s.created).unwrap_or(now);
    let status = s.current_status();
    // The start is not recorded apart from the creation: container-run
    // starts a container as soon as it has recorded it.
    let text = match status {
        Status::Created => "Created".to_string(),
        Status::Running if paused(s) => format!("Up {} (Paused)", duration(now - created)),
        Status::Running => match health.map(|h| h.status.as_str()) {
            Some("starting") => format!("Up {} (health: starting)", duration(now - created)),
            Some(h) => format!("Up {} ({h})", duration(now - created)),
            None => format!("Up {}", duration(now - created)),
        },
        Status::Exited => {
            // 255 is docker's code for a container whose end nobody saw.
            let code = s.exit_code.unwrap_or(255);
            let word = if s.restarting { "Restarting" } else { "Exited" };
            match s.finished.as_deref().and_then(time::parse_rfc3339) {
                Some(f) => format!("{word} ({code}) {}", time::human_since(f, now)),
                None => format!("{word} ({code})"),
            }
        }
    };
    let command = s.command.join(" ");
    let command = if trunc {
        ellipsis(&command, 20)
    } else {
        command
    };
    Row {
        id: if trunc {
            s.id.chars().take(12).collect()
        } else {
            s.id.clone()
        },
        image: s.image.clone(),
        command: serde_json::to_string(&command).expect("a string serializes"),
        created_at: go_time(created),
        running_for: time::human_since(created, now),
        state: if paused(s) {
            "paused".to_string()
        } else if s.restarting && status == Status::Exited {
            "restarting".to_string()
        } else {
            status_word(status).to_string()
        },
        status: text,
        ports: s
            .ports
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        names: s.name.clone(),
        labels: s
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
        store: String::new(),
        exit_code: (status == Status::Exited).then(|| s.exit_code.unwrap_or(255)),
        pid: if status == Status::Running {
            s.pid
        } else {
            None
        },
    }
}

/// One `--filter KEY=VALUE`.
struct Filter {
    key: String,
    value: String,
}

fn parse_filters(given: &[String]) -> Result<Vec<Filter>, Error> {
    given
        .iter()
        .map(|f| {
            let (k, v) = f.split_once('=').ok_or_else(|| {
                Error::Invalid(format!("bad format of filter {f:?} (expected name=value)"))
            })?;
            match k {
                "id" | "name" | "label" | "status" | "exited" | "ancestor" | "health"
                | "restart-policy" => Ok(Filter {
                    key: k.to_string(),
                    value: v.to_string(),
                }),
                _ => Err(Error::Invalid(format!(
                    "invalid filter {k:?}: this ps takes id, name, label, status, exited, ancestor, health and restart-policy"
                ))),
            }
        })
        .collect()
}

fn matches(f: &Filter, s: &State, r: &Row) -> bool {
    let v = f.value.as_str();
    match f.key.as_str() {
        "id" => s.id.starts_with(v),
        "name" => s.name.contains(v),
        "label" => match v.split_once('=') {
            Some((k, want)) => s.labels.get(k).is_some_and(|x| x == want),
            None => s.labels.contains_key(v),
        },
        "status" => r.state == v,
        "exited" => r.exit_code.is_some_and(|c| c.to_string() == v),
        // podman's: no, on-failure, always, unless-stopped.
        "restart-policy" => s.restart.name == v,
        // starting, healthy, unhealthy, or none (no check).
        "health" => {
            let h = if r.status.contains("(health: starting)") {
                "starting"
            } else if r.status.contains("(unhealthy)") {
                "unhealthy"
            } else if r.status.contains("(healthy)") {
                "healthy"
            } else {
                "none"
            };
            h == v
        }
        "ancestor" => {
            let short = |n: &str| n.strip_suffix(":latest").unwrap_or(n).to_string();
            short(&s.image) == short(v) || s.image_id.as_deref().is_some_and(|i| i.contains(v))
        }
        _ => false,
    }
}

/// Docker's rule: filters of one key match if any does; every key must.
fn selected(filters: &[Filter], s: &State, r: &Row) -> bool {
    let mut keys: Vec<&str> = filters.iter().map(|f| f.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.iter().all(|k| {
        filters
            .iter()
            .filter(|f| f.key == *k)
            .any(|f| matches(f, s, r))
    })
}

/// Every container (running or not) that `filters` (ps's) select.
pub fn filtered(containers: &Containers, filters: &[String]) -> Result<Vec<State>, Error> {
    let filters = parse_filters(filters)?;
    let now = time::now();
    Ok(containers
        .list()?
        .into_iter()
        .map(|s| settle(containers, s))
        .filter(|s| {
            filters.is_empty()
                || selected(
                    &filters,
                    s,
                    &row_with(s, containers.health(&s.id).as_ref(), false, now),
                )
        })
        .collect())
}

pub fn ps(containers: &Containers, a: &PsArgs) -> Result<(), Error> {
    if a.all_stores {
        return all_stores(containers, a);
    }
    let now = time::now();
    let filters = parse_filters(&a.filter)?;
    let last = if a.latest { Some(1) } else { a.last };
    // As docker: -n and -l show stopped ones too, and so does a status
    // or exited filter.
    let all = a.all
        || last.is_some()
        || filters
            .iter()
            .any(|f| f.key == "status" || f.key == "exited");
    // Newest first, as docker lists them.
    let list: Vec<State> = containers
        .list()?
        .into_iter()
        .rev()
        .take(last.unwrap_or(usize::MAX))
        .map(|s| settle(containers, s))
        .filter(|s| all || s.current_status() == Status::Running || s.restarting)
        .filter(|s| {
            filters.is_empty()
                || selected(
                    &filters,
                    s,
                    &row_with(s, containers.health(&s.id).as_ref(), false, now),
                )
        })
        .collect();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if a.quiet {
        for s in &list {
            writeln!(
                out,
                "{}",
                row_with(s, containers.health(&s.id).as_ref(), !a.no_trunc, now).id
            )
            .map_err(out_err)?;
        }
    } else if a.json {
        for s in &list {
            writeln!(
                out,
                "{}",
                row_with(s, containers.health(&s.id).as_ref(), false, now).json()
            )
            .map_err(out_err)?;
        }
    } else {
        let t = Template::parse(a.format.as_deref().unwrap_or(DEFAULT), FIELDS)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let rows: Vec<Row> = list
            .iter()
            .map(|s| row_with(s, containers.health(&s.id).as_ref(), !a.no_trunc, now))
            .collect();
        let shown: Vec<&dyn Fields> = rows.iter().map(|r| r as &dyn Fields).collect();
        t.write(&shown, &mut out).map_err(out_err)?;
    }
    out.flush().map_err(out_err)
}

/// ps over every store noted on this host, the current one first.
fn all_stores(current: &Containers, a: &PsArgs) -> Result<(), Error> {
    let now = time::now();
    let filters = parse_filters(&a.filter)?;
    let all = a.all
        || filters
            .iter()
            .any(|f| f.key == "status" || f.key == "exited");
    let mut stores = vec![current.store().to_path_buf()];
    let here = std::fs::canonicalize(current.store()).unwrap_or_default();
    stores.extend(stores::known().into_iter().filter(|s| *s != here));
    let mut rows = Vec::new();
    for store in &stores {
        let Ok(containers) = Containers::open(store) else {
            continue;
        };
        for s in containers.list()?.into_iter().rev() {
            let s = settle(&containers, s);
            if !all && s.current_status() != Status::Running {
                continue;
            }
            let mut r = row_with(&s, containers.health(&s.id).as_ref(), !a.no_trunc, now);
            if !filters.is_empty() && !selected(&filters, &s, &r) {
                continue;
            }
            r.store = store.display().to_string();
            rows.push(r);
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if a.quiet {
        for r in &rows {
            writeln!(out, "{}", r.id).map_err(out_err)?;
        }
    } else if a.json {
        for r in &rows {
            writeln!(out, "{}", r.json()).map_err(out_err)?;
        }
    } else {
        let spec = a
            .format
            .clone()
            .unwrap_or_else(|| format!("{DEFAULT}\t{{{{.Store}}}}"));
        let t = Template::parse(&spec, FIELDS).map_err(|e| Error::Invalid(e.to_string()))?;
        let shown: Vec<&dyn Fields> = rows.iter().map(|r| r as &dyn Fields).collect();
        t.write(&shown, &mut out).map_err(out_err)?;
    }
    out.flush().map_err(out_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(status: Status) -> State {
        State {
            id: "0123456789abcdef".repeat(4),
            name: "web".into(),
            image: "busybox".into(),
            image_id: None,
            command: vec!["sh".into(), "-c".into(), "while :; do sleep 1; done".into()],
            created: time::format_rfc3339(1_000),
            status,
            pid: None,
            pid_start: None,
            exit_code: Some(3),
            oom_killed: false,
            finished: Some(time::format_rfc3339(1_060)),
            cgroup: None,
            upper: None,
            detached: true,
            auto_remove: false,
            process: Default::default(),
            hostname: String::new(),
            stop_signal: None,
            stop_timeout: None,
            bundle: None,
            annotations: Default::default(),
            labels: Default::default(),
            ports: Vec::new(),
            lowers: Vec::new(),
            run_args: Vec::new(),
            restarting: false,
            healthcheck: None,
            log: Default::default(),
            volumes: Vec::new(),
            restart: Default::default(),
            restart_count: 0,
        }
    }

    #[test]
    fn rows_read_as_dockers() {
        let r = row(&state(Status::Exited), true, 1_065);
        assert_eq!(r.id, "0123456789ab");
        assert_eq!(r.command, "\"sh -c while :; do s…\"");
        assert_eq!(r.status, "Exited (3) 5 seconds ago");
        assert_eq!(r.running_for, "About a minute ago");
        assert_eq!(r.created_at, "1970-01-01 00:16:40 +0000 UTC");
        assert_eq!(r.state, "exited");
        let full = row(&state(Status::Created), false, 1_065);
        assert_eq!(full.id.len(), 64);
        assert_eq!(full.command, "\"sh -c while :; do sleep 1; done\"");
        assert_eq!(full.status, "Created");
        assert_eq!(full.exit_code, None);
    }

    #[test]
    fn a_dead_process_recorded_as_running_shows_as_exited() {
        let mut s = state(Status::Running);
        s.pid = Some(i32::MAX);
        s.pid_start = Some(1);
        s.exit_code = None;
        s.finished = None;
        assert_eq!(row(&s, true, 1_065).status, "Exited (255)");
    }

    #[test]
    fn filters_of_one_key_match_any_and_of_two_keys_both() {
        let mut s = state(Status::Exited);
        s.name = "web-1".into();
        s.labels.insert("tier".into(), "front".into());
        s.ports.push(slipway_common::container::state::PortMapping {
            host_ip: "0.0.0.0".into(),
            host_port: 8080,
            container_port: 80,
            proto: "tcp".into(),
        });
        let r = row(&s, true, 1_065);
        assert_eq!(r.ports, "0.0.0.0:8080->80/tcp");
        assert_eq!(r.labels, "tier=front");
        let pick = |f: &[&str]| {
            let f: Vec<String> = f.iter().map(|x| x.to_string()).collect();
            selected(&parse_filters(&f).unwrap(), &s, &r)
        };
        assert!(pick(&["name=web"]));
        assert!(pick(&["name=db", "name=web"]));
        assert!(!pick(&["name=web", "status=running"]));
        assert!(pick(&["name=web", "status=exited", "exited=3"]));
        assert!(pick(&["label=tier", "label=tier=front"]));
        assert!(!pick(&["label=tier=back"]));
        assert!(pick(&["ancestor=busybox"]));
        assert!(parse_filters(&["volume=x".to_string()]).is_err());
        assert!(parse_filters(&["name".to_string()]).is_err());
    }
}
