//! top: the container's processes, as `docker top` shows them: the host's
//! `ps` with the options given (default -ef), its lines kept for the
//! container's processes only.

use crate::{out_err, Error};
use slipway_common::container::state::{Containers, State, Status};
use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::process::Command;

/// Every process of the container: its cgroup's, or where it has none
/// (rootless) every process in its PID namespace.
pub fn processes(s: &State) -> BTreeSet<i32> {
    if let Some(cg) = &s.cgroup {
        let pids = cg.pids();
        if !pids.is_empty() {
            return pids.into_iter().collect();
        }
    }
    let Some(init) = s.pid.filter(|_| s.alive()) else {
        return BTreeSet::new();
    };
    let ns = |pid: &str| {
        std::fs::metadata(format!("/proc/{pid}/ns/pid"))
            .ok()
            .map(|m| (m.dev(), m.ino()))
    };
    let Some(own) = ns(&init.to_string()) else {
        return BTreeSet::new();
    };
    let mut out = BTreeSet::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        if ns(pid) == Some(own) {
            out.extend(pid.parse::<i32>().ok());
        }
    }
    out
}

/// Keeps the header and the lines of `ps` output whose PID column holds
/// one of `pids`.
pub fn filter(ps_out: &str, pids: &BTreeSet<i32>) -> Result<Vec<String>, Error> {
    let mut lines = ps_out.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| {
            Error::Invalid("the ps options given print no PID column: top needs one".into())
        })?;
    let mut out = vec![header.to_string()];
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            out.push(line.to_string());
        }
    }
    Ok(out)
}

pub fn top(containers: &Containers, name: &str, ps_args: &[String]) -> Result<(), Error> {
    let s = containers.find(name)?;
    if s.current_status() != Status::Running {
        return Err(Error::NotRunning(name.to_string()));
    }
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
    };
    let out = Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| Error::Os {
            what: "run ps (apt install procps)".into(),
            source: e,
        })?;
    if !out.status.success() {
        return Err(Error::Invalid(format!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let lines = filter(&String::from_utf8_lossy(&out.stdout), &processes(&s))?;
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    for l in lines {
        writeln!(w, "{l}").map_err(out_err)?;
    }
    w.flush().map_err(out_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_containers_lines_are_kept_wherever_the_pid_column_is() {
        let ps = "UID   PID  PPID  C STIME TTY TIME CMD\n\
                  root    1     0  0 10:00 ?   00:00:01 /sbin/init\n\
                  root  420     1  0 10:01 ?   00:00:00 sleep 1000\n\
                  root  421   420  0 10:01 ?   00:00:00 sh -c x 1 2\n";
        let pids: BTreeSet<i32> = [420, 421].into();
        let got = filter(ps, &pids).unwrap();
        assert_eq!(got.len(), 3);
        assert!(got[1].contains("sleep 1000") && got[2].contains("sh -c"));
        let aux = "USER PID %CPU\nroot 7 0.0\nroot 420 0.1\n";
        assert_eq!(
            filter(aux, &pids).unwrap(),
            ["USER PID %CPU", "root 420 0.1"]
        );
        assert!(filter("USER COMMAND\nroot x\n", &pids).is_err());
    }
}
