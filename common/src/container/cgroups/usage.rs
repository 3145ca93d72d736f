//! What a container uses, read from its cgroup as `docker stats` reads it:
//! CPU time, memory without the inactive page cache, block I/O, PIDs.

use super::Cgroup;
use std::fs;
use std::path::Path;

/// One sample of a container's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU time of all its processes, in nanoseconds.
    pub cpu_ns: u64,
    /// Memory in use, less the inactive file cache (docker's figure).
    pub memory: u64,
    /// The memory limit; None when there is none.
    pub memory_limit: Option<u64>,
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub pids: u64,
}

fn read(dir: Option<&Path>, file: &str) -> String {
    dir.and_then(|d| fs::read_to_string(d.join(file)).ok())
        .unwrap_or_default()
}

fn number(s: &str) -> Option<u64> {
    s.trim().parse().ok()
}

/// `key value` lines (memory.stat, cpu.stat): the value of `key`.
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| number(v)).flatten()
    })
}

/// A limit of v1 (a huge number when unset) or v2 ("max").
fn limit(s: &str) -> Option<u64> {
    number(s).filter(|&n| n < i64::MAX as u64 / 2)
}

impl Cgroup {
    /// Reads the counters now. A controller the host lacks reads as zero.
    pub fn usage(&self) -> Usage {
        if self.v2 {
            let d = self.paths.first().map(|p| p.as_path());
            let stat = read(d, "memory.stat");
            let current = number(&read(d, "memory.current")).unwrap_or(0);
            let inactive = keyed(&stat, "inactive_file").unwrap_or(0);
            let (mut rd, mut wr) = (0, 0);
            for line in read(d, "io.stat").lines() {
                for kv in line.split_whitespace().skip(1) {
                    match kv.split_once('=') {
                        Some(("rbytes", v)) => rd += number(v).unwrap_or(0),
                        Some(("wbytes", v)) => wr += number(v).unwrap_or(0),
                        _ => {}
                    }
                }
            }
            Usage {
                cpu_ns: keyed(&read(d, "cpu.stat"), "usage_usec").unwrap_or(0) * 1000,
                memory: current.saturating_sub(inactive),
                memory_limit: limit(&read(d, "memory.max")),
                read_bytes: rd,
                write_bytes: wr,
                pids: number(&read(d, "pids.current")).unwrap_or(0),
            }
        } else {
            let mem = self.dir_of("memory");
            let stat = read(mem, "memory.stat");
            let current = number(&read(mem, "memory.usage_in_bytes")).unwrap_or(0);
            let inactive = keyed(&stat, "total_inactive_file").unwrap_or(0);
            let (mut rd, mut wr) = (0, 0);
            // "MAJ:MIN Read N" lines, then a "Total N".
            for line in read(self.dir_of("blkio"), "blkio.throttle.io_service_bytes").lines() {
                let f: Vec<&str> = line.split_whitespace().collect();
                if let [_, op, n] = f.as_slice() {
                    match *op {
                        "Read" => rd += number(n).unwrap_or(0),
                        "Write" => wr += number(n).unwrap_or(0),
                        _ => {}
                    }
                }
            }
            let cpu = self
                .dir_of("cpuacct")
                .or_else(|| self.dir_of("cpu,cpuacct"));
            Usage {
                cpu_ns: number(&read(cpu, "cpuacct.usage")).unwrap_or(0),
                memory: current.saturating_sub(inactive),
                memory_limit: limit(&read(mem, "memory.limit_in_bytes")),
                read_bytes: rd,
                write_bytes: wr,
                pids: number(&read(self.dir_of("pids"), "pids.current")).unwrap_or(0),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_lines_are_read_by_their_key() {
        let stat = "anon 10\nfile 20\ninactive_file 7\n";
        assert_eq!(keyed(stat, "inactive_file"), Some(7));
        assert_eq!(keyed(stat, "file"), Some(20));
        assert_eq!(keyed(stat, "active_file"), None);
    }

    #[test]
    fn an_unset_limit_is_none_on_both_versions() {
        assert_eq!(limit("max\n"), None);
        assert_eq!(limit("9223372036854771712\n"), None);
        assert_eq!(limit("67108864\n"), Some(64 << 20));
    }
}
