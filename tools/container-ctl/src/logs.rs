//! logs: a detached container's json-file log replayed, each record to
//! the stream it came from; with -f, followed until the container exits.

use crate::lifecycle::ended;
use crate::{out_err, Error};
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
    #[arg(value_name = "CONTAINER")]
    pub container: String,
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

struct Printer {
    timestamps: bool,
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
    };
    let mut pending = Vec::new();
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
        if last {
            pending.push(b'\n');
            return p.print(&complete_lines(&mut pending));
        }
        if n == 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
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
    fn tail_takes_numbers_and_all() {
        assert_eq!(parse_tail("all").unwrap(), None);
        assert_eq!(parse_tail("3").unwrap(), Some(3));
        assert_eq!(parse_tail("-1").unwrap(), None);
        assert!(parse_tail("x").is_err());
    }
}
