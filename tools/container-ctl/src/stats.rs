//! stats: what running containers use, as `docker stats` shows it: CPU
//! over the last interval, memory less the inactive file cache, network
//! and block I/O, PIDs; from the cgroup (v1 or v2) and the container's
//! network namespace.

use crate::{out_err, Error};
use serde::Serialize;
use slipway_common::container::cgroups::Usage;
use slipway_common::container::state::{Containers, State, Status};
use slipway_common::layout::canonical_json;
use slipway_common::template::{Fields, Template};
use slipway_common::time::{bytes_size, human_size3};
use std::io::{IsTerminal, Write};
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default: running ones).
    #[arg(short, long)]
    pub all: bool,
    /// Print one sample (over one second) and exit, instead of a new
    /// table every second.
    #[arg(long)]
    pub no_stream: bool,
    /// Do not truncate IDs.
    #[arg(long)]
    pub no_trunc: bool,
    /// A Go-style template per container: {{.Container}}, {{.ID}},
    /// {{.Name}}, {{.CPUPerc}}, {{.MemUsage}}, {{.MemPerc}}, {{.NetIO}},
    /// {{.BlockIO}}, {{.PIDs}}, {{json .}}; a leading "table " prints a
    /// header.
    #[arg(long, value_name = "TEMPLATE")]
    pub format: Option<String>,
    /// The containers (default: all running ones).
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

const DEFAULT: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

const FIELDS: &[(&str, &str)] = &[
    ("Container", "CONTAINER"),
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

#[derive(Debug, Serialize)]
pub struct Row {
    #[serde(rename = "Container")]
    container: String,
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "CPUPerc")]
    cpu: String,
    #[serde(rename = "MemUsage")]
    mem_usage: String,
    #[serde(rename = "MemPerc")]
    mem: String,
    #[serde(rename = "NetIO")]
    net: String,
    #[serde(rename = "BlockIO")]
    block: String,
    #[serde(rename = "PIDs")]
    pids: String,
}

impl Fields for Row {
    fn field(&self, name: &str) -> String {
        match name {
            "Container" => self.container.clone(),
            "ID" => self.id.clone(),
            "Name" => self.name.clone(),
            "CPUPerc" => self.cpu.clone(),
            "MemUsage" => self.mem_usage.clone(),
            "MemPerc" => self.mem.clone(),
            "NetIO" => self.net.clone(),
            "BlockIO" => self.block.clone(),
            "PIDs" => self.pids.clone(),
            _ => String::new(),
        }
    }
    fn json(&self) -> String {
        String::from_utf8(canonical_json(self)).expect("JSON is UTF-8")
    }
}

/// One reading of one container.
#[derive(Debug, Clone, Default)]
struct Sample {
    usage: Option<Usage>,
    /// The host's CPU time, all CPUs, in nanoseconds.
    system_ns: u64,
    rx: u64,
    tx: u64,
}

/// The host's total CPU time from /proc/stat's first line.
fn system_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let jiffies: u64 = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    jiffies * (1_000_000_000 / hz)
}

/// Bytes received and sent on the interfaces of `pid`'s network namespace
/// other than loopback; none for a container on the host's network.
fn net_io(pid: i32) -> (u64, u64) {
    let ns = |p: &str| {
        std::fs::metadata(format!("/proc/{p}/ns/net"))
            .ok()
            .map(|m| (m.dev(), m.ino()))
    };
    if ns(&pid.to_string()).is_none() || ns(&pid.to_string()) == ns("self") {
        return (0, 0);
    }
    parse_net_dev(&std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default())
}

pub fn parse_net_dev(text: &str) -> (u64, u64) {
    let (mut rx, mut tx) = (0, 0);
    for line in text.lines().skip(2) {
        let Some((iface, rest)) = line.split_once(':') else {
            continue;
        };
        if iface.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if f.len() >= 9 {
            rx += f[0];
            tx += f[8];
        }
    }
    (rx, tx)
}

fn sample(s: &State) -> Sample {
    let running = s.current_status() == Status::Running;
    let (rx, tx) = match s.pid {
        Some(pid) if running => net_io(pid),
        _ => (0, 0),
    };
    Sample {
        usage: s.cgroup.as_ref().filter(|_| running).map(|c| c.usage()),
        system_ns: system_ns(),
        rx,
        tx,
    }
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn online_cpus() -> u64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as u64
}

/// docker's CPU figure: the container's share of all the host's CPU time
/// over the interval, times the number of CPUs (so one busy CPU is 100%).
pub fn cpu_percent(prev_cpu: u64, cpu: u64, prev_sys: u64, sys: u64, cpus: u64) -> f64 {
    let dc = cpu.saturating_sub(prev_cpu) as f64;
    let ds = sys.saturating_sub(prev_sys) as f64;
    if ds > 0.0 {
        dc / ds * cpus as f64 * 100.0
    } else {
        0.0
    }
}

fn row(s: &State, prev: &Sample, now: &Sample, trunc: bool) -> Row {
    let id = if trunc {
        s.id.chars().take(12).collect()
    } else {
        s.id.clone()
    };
    let net = format!("{} / {}", human_size3(now.rx), human_size3(now.tx));
    let Some(u) = &now.usage else {
        // No cgroup of its own (rootless) or not running: docker's "--".
        return Row {
            container: id.clone(),
            id,
            name: s.name.clone(),
            cpu: "--".into(),
            mem_usage: "-- / --".into(),
            mem: "--".into(),
            net,
            block: "-- / --".into(),
            pids: "--".into(),
        };
    };
    let cpu = prev.usage.as_ref().map_or(0.0, |p| {
        cpu_percent(
            p.cpu_ns,
            u.cpu_ns,
            prev.system_ns,
            now.system_ns,
            online_cpus(),
        )
    });
    let limit = u
        .memory_limit
        .unwrap_or_else(host_memory)
        .min(host_memory().max(1));
    Row {
        container: id.clone(),
        id,
        name: s.name.clone(),
        cpu: format!("{cpu:.2}%"),
        mem_usage: format!("{} / {}", bytes_size(u.memory), bytes_size(limit)),
        mem: format!("{:.2}%", u.memory as f64 / limit.max(1) as f64 * 100.0),
        net,
        block: format!(
            "{} / {}",
            human_size3(u.read_bytes),
            human_size3(u.write_bytes)
        ),
        pids: u.pids.to_string(),
    }
}

fn chosen(containers: &Containers, a: &StatsArgs) -> Result<Vec<State>, Error> {
    if a.containers.is_empty() {
        return Ok(containers
            .list()?
            .into_iter()
            .filter(|s| a.all || s.current_status() == Status::Running)
            .collect());
    }
    a.containers
        .iter()
        .map(|n| containers.find(n).map_err(Error::from))
        .collect()
}

pub fn stats(containers: &Containers, a: &StatsArgs) -> Result<(), Error> {
    let t = Template::parse(a.format.as_deref().unwrap_or(DEFAULT), FIELDS)
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let tty = std::io::stdout().is_terminal();
    let mut list = chosen(containers, a)?;
    let mut prev: Vec<Sample> = list.iter().map(sample).collect();
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let now: Vec<Sample> = list.iter().map(sample).collect();
        let rows: Vec<Row> = list
            .iter()
            .zip(prev.iter().zip(&now))
            .map(|(s, (p, n))| row(s, p, n, !a.no_trunc))
            .collect();
        let shown: Vec<&dyn Fields> = rows.iter().map(|r| r as &dyn Fields).collect();
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        if tty && !a.no_stream {
            write!(out, "\x1b[2J\x1b[H").map_err(out_err)?;
        }
        t.write(&shown, &mut out).map_err(out_err)?;
        out.flush().map_err(out_err)?;
        if a.no_stream {
            return Ok(());
        }
        // Containers come and go between frames when none were named.
        if a.containers.is_empty() {
            let next = chosen(containers, a)?;
            prev = next
                .iter()
                .map(|s| match list.iter().position(|o| o.id == s.id) {
                    Some(i) => now[i].clone(),
                    None => sample(s),
                })
                .collect();
            list = next;
        } else {
            prev = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_sums_all_but_loopback() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo:  500 5 0 0 0 0 0 0  500 5 0 0 0 0 0 0\n  \
tap0: 1200 10 0 0 0 0 0 0  648 6 0 0 0 0 0 0\n";
        assert_eq!(parse_net_dev(text), (1200, 648));
    }

    #[test]
    fn one_busy_cpu_of_two_is_a_hundred_percent() {
        // 1 s of the container's CPU time over 2 s of host time (2 CPUs).
        let p = cpu_percent(0, 1_000_000_000, 0, 2_000_000_000, 2);
        assert!((p - 100.0).abs() < 1e-9);
        assert_eq!(cpu_percent(5, 5, 10, 10, 2), 0.0);
    }
}
