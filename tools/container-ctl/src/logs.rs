//! logs: a detached container's json-file log replayed, each record to
//! the stream it came from; with -f, followed until the container exits.

use crate::lifecycle::ended;
use crate::{out_err, Error};
use slipway_common::container::logfile;
use slipway_common::container::state::Containers;
use slipway_common::fsutil::{IoContext, IoError};
use std::io::{Read, Write};
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// Keep printing new output until the container exits.
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines ("all" for every line).
    #[arg(short = 'n', long, value_name = "N", default_value = "all")]
    pub tail: String,
    /// Prefix each line with the time it was written (RFC 3339).
    #[arg(short, long)]
    pub timestamps: bool,
    /// Only lines written since this time: RFC 3339 (2026-01-02T15:04:05Z),
    /// Unix seconds, or a duration before now (10m, 1h30m).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only lines written before this time (the same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Only what the log holds past this offset of its current file
    /// (attach: what comes after it joined).
    #[arg(skip)]
    pub from: Option<u64>,
}

/// One record of Docker's json-file driver.
#[derive(serde::Deserialize)]
struct Record {
    log: String,
    stream: String,
    #[serde(default)]
    time: String,
}

fn parse_tail(s: &str) -> Result<Option<usize>, Error> {
    if s == "all" {
        return Ok(None);
    }
    match s.parse::<i64>() {
        Ok(n) if n < 0 => Ok(None),
        Ok(n) => Ok(Some(n as usize)),
        Err(_) => Err(Error::Invalid(format!(
            "invalid --tail {s:?}: a number of lines, or all"
        ))),
    }
}

/// Splits the complete lines off the front of `pending`.
fn complete_lines(pending: &mut Vec<u8>) -> Vec<Vec<u8>> {
    let Some(last) = pending.iter().rposition(|b| *b == b'\n') else {
        return Vec::new();
    };
    let rest = pending.split_off(last + 1);
    let done = std::mem::replace(pending, rest);
    done.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// A --since or --until time, in nanoseconds since the epoch.
fn parse_time(flag: &str, s: &str) -> Result<i128, Error> {
    let bad = || {
        Error::Invalid(format!(
            "invalid {flag} {s:?}: an RFC 3339 time, Unix seconds or a duration such as 10m"
        ))
    };
    if let Some(t) = record_time(s) {
        return Ok(t);
    }
    if let Ok(secs) = s.parse::<f64>() {
        return Ok((secs * 1e9) as i128);
    }
    let ago = slipway_common::time::parse_duration_ns(s).map_err(|_| bad())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as i128;
    Ok(now - ago as i128)
}

/// A record's time (RFC 3339 with nanoseconds), in nanoseconds.
fn record_time(s: &str) -> Option<i128> {
    let secs = slipway_common::time::parse_rfc3339(s)? as i128;
    let frac = s
        .split_once('.')
        .map(|(_, f)| f.trim_end_matches(|c: char| !c.is_ascii_digit()))
        .map(|f| {
            let digits: String = f.chars().take_while(char::is_ascii_digit).take(9).collect();
            format!("{digits:0<9}").parse::<i128>().unwrap_or(0)
        })
        .unwrap_or(0);
    Some(secs * 1_000_000_000 + frac)
}

struct Printer {
    timestamps: bool,
    since: Option<i128>,
    until: Option<i128>,
}

impl Printer {
    fn print(&self, lines: &[Vec<u8>]) -> Result<(), Error> {
        let stdout = std::io::stdout();
        let stderr = std::io::stderr();
        let (mut out, mut err) = (stdout.lock(), stderr.lock());
        for line in lines {
            // A record cut short by a crash is left out.
            let Ok(r) = serde_json::from_slice::<Record>(line) else {
                continue;
            };
            if self.since.is_some() || self.until.is_some() {
                let t = record_time(&r.time).unwrap_or(0);
                if self.since.is_some_and(|s| t < s) || self.until.is_some_and(|u| t >= u) {
                    continue;
                }
            }
            let w: &mut dyn Write = if r.stream == "stderr" {
                &mut err
            } else {
                &mut out
            };
            if self.timestamps {
                write!(w, "{} ", r.time).map_err(out_err)?;
            }
            w.write_all(r.log.as_bytes()).map_err(out_err)?;
        }
        out.flush().map_err(out_err)?;
        err.flush().map_err(out_err)
    }
}

pub fn logs(containers: &Containers, a: &LogsArgs) -> Result<(), Error> {
    let tail = parse_tail(&a.tail)?;
    let s = containers.find(&a.container)?;
    if s.log.driver == "none" {
        return Err(Error::Invalid(format!(
            "container {}: configured logging driver does not support reading (--log-driver none)",
            a.container
        )));
    }
    let path = containers.log_path(&s.id);
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !s.detached => {
            return Err(Error::Invalid(format!(
                "container {} was not run with -d: its output went to the terminal, not to a log",
                a.container
            )))
        }
        Err(source) => {
            return Err(Error::Io(IoError {
                op: "open",
                path,
                source,
            }))
        }
    };
    let p = Printer {
        timestamps: a.timestamps,
        since: a
            .since
            .as_deref()
            .map(|t| parse_time("--since", t))
            .transpose()?,
        until: a
            .until
            .as_deref()
            .map(|t| parse_time("--until", t))
            .transpose()?,
    };
    // The rotated files first, oldest first, then the current one.
    let mut pending = Vec::new();
    if let Some(offset) = a.from {
        use std::io::Seek;
        file.seek(std::io::SeekFrom::Start(offset))
            .ctx("seek in", &path)?;
    }
    let rotated = logfile::files(&path);
    for old in rotated.iter().filter(|f| **f != path && a.from.is_none()) {
        std::fs::File::open(old)
            .and_then(|mut f| f.read_to_end(&mut pending))
            .ctx("read", old)?;
    }
    file.read_to_end(&mut pending).ctx("read", &path)?;
    let mut lines = complete_lines(&mut pending);
    if let Some(n) = tail {
        lines.drain(..lines.len().saturating_sub(n));
    }
    p.print(&lines)?;
    if !a.follow {
        return Ok(());
    }
    let mut dead_since = None;
    loop {
        // Once the end is recorded, the monitor has written the last of
        // the output: one more read has it all.
        let last = ended(containers, &s.id, &mut dead_since);
        let n = file.read_to_end(&mut pending).ctx("read", &path)?;
        p.print(&complete_lines(&mut pending))?;
        if n == 0 && rotated_away(&file, &path) {
            // The monitor moved this file aside and writes a new one.
            file = std::fs::File::open(&path).ctx("open", &path)?;
            continue;
        }
        if last {
            pending.push(b'\n');
            return p.print(&complete_lines(&mut pending));
        }
        if n == 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Whether `path` now names another file than the one open.
fn rotated_away(file: &std::fs::File, path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.ino() != b.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_lines_are_taken() {
        let mut p = b"{\"a\":1}\n{\"b\":2}\n{\"c\"".to_vec();
        let lines = complete_lines(&mut p);
        assert_eq!(lines, vec![b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()]);
        assert_eq!(p, b"{\"c\"");
        assert!(complete_lines(&mut p).is_empty());
    }

    #[test]
    fn times_read_as_rfc3339_seconds_or_a_duration_ago() {
        assert_eq!(
            parse_time("--since", "1970-01-01T00:00:01.5Z").unwrap(),
            1_500_000_000
        );
        assert_eq!(parse_time("--since", "2").unwrap(), 2_000_000_000);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i128;
        let ago = parse_time("--since", "10m").unwrap();
        assert!((now - ago - 600_000_000_000).abs() < 5_000_000_000);
        assert!(parse_time("--since", "yesterday").is_err());
        assert_eq!(
            record_time("2026-12-06T05:00:00.000000123Z").unwrap() % 1_000_000_000,
            123
        );
    }

    #[test]
    fn tail_takes_numbers_and_all() {
        assert_eq!(parse_tail("all").unwrap(), None);
        assert_eq!(parse_tail("3").unwrap(), Some(3));
        assert_eq!(parse_tail("-1").unwrap(), None);
        assert!(parse_tail("x").is_err());
    }
}
