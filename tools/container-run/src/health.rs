//! HEALTHCHECK, as docker runs it: the image's check (or --health-cmd and
//! the other --health-* flags over it) run in the container by
//! `container-ctl exec` every interval, each run given its timeout; the
//! container is `starting` until a check passes, `healthy` after one
//! does, `unhealthy` after --health-retries failures in a row (failures
//! inside the start period do not count). The checker is a process of
//! the container's monitor (or of container-run in the foreground) and
//! dies with it.

use crate::config::invalid;
use crate::{Args, Error};
use slipway_common::container::state::{Containers, Health, HealthLog};
use slipway_common::image::{ContainerConfig, HealthConfig};
use slipway_common::time::{format_rfc3339, parse_duration_ns};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Docker's defaults: every 30 s, 30 s each, 3 failures, no start period.
const INTERVAL: u64 = 30_000_000_000;
const TIMEOUT: u64 = 30_000_000_000;
const RETRIES: u64 = 3;
/// Between checks in the start period, until one passes (docker 25's).
const START_INTERVAL: u64 = 5_000_000_000;
/// What of a check's output is kept, as docker keeps it.
const OUTPUT_MAX: usize = 4096;
const LOG_KEEP: usize = 5;

fn duration(flag: &str, v: &Option<String>) -> Result<Option<u64>, Error> {
    v.as_deref()
        .map(|s| parse_duration_ns(s).map_err(|e| invalid(format!("{flag}: {e}"))))
        .transpose()
}

/// The check the container runs: the flags over the image's; None when
/// there is none or it is turned off (--no-healthcheck, NONE).
pub fn config(args: &Args, image: &ContainerConfig) -> Result<Option<HealthConfig>, Error> {
    let flags = [
        ("--health-cmd", args.health_cmd.is_some()),
        ("--health-interval", args.health_interval.is_some()),
        ("--health-timeout", args.health_timeout.is_some()),
        ("--health-start-period", args.health_start_period.is_some()),
        ("--health-retries", args.health_retries.is_some()),
        (
            "--health-start-interval",
            args.health_start_interval.is_some(),
        ),
    ];
    if args.no_healthcheck {
        if let Some((f, _)) = flags.iter().find(|(_, given)| *given) {
            return Err(invalid(format!(
                "{f} cannot be given with --no-healthcheck"
            )));
        }
        return Ok(None);
    }
    let mut h = image.healthcheck.clone().unwrap_or_default();
    if let Some(cmd) = &args.health_cmd {
        h.test = vec!["CMD-SHELL".into(), cmd.clone()];
    }
    if let Some(i) = duration("--health-interval", &args.health_interval)? {
        h.interval = Some(i);
    }
    if let Some(t) = duration("--health-timeout", &args.health_timeout)? {
        h.timeout = Some(t);
    }
    if let Some(p) = duration("--health-start-period", &args.health_start_period)? {
        h.start_period = Some(p);
    }
    if let Some(r) = args.health_retries {
        h.retries = Some(r);
    }
    if let Some(i) = duration("--health-start-interval", &args.health_start_interval)? {
        h.start_interval = Some(i);
    }
    match h.test.first().map(String::as_str) {
        None | Some("NONE") => Ok(None),
        Some("CMD" | "CMD-SHELL") if h.test.len() > 1 => Ok(Some(h)),
        Some(other) => Err(invalid(format!(
            "the health check {other:?} is neither CMD, CMD-SHELL nor NONE"
        ))),
    }
}

/// The command a check runs in the container.
fn argv(h: &HealthConfig) -> Vec<String> {
    match h.test.first().map(String::as_str) {
        Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), h.test[1..].join(" ")],
        _ => h.test[1..].to_vec(),
    }
}

/// How long until the next check: the start interval while the
/// container is starting within its start period, else the interval.
fn pause(h: &HealthConfig, health: &Health, since_start: Duration) -> Duration {
    let interval = Duration::from_nanos(h.interval.filter(|i| *i > 0).unwrap_or(INTERVAL));
    let start_period = Duration::from_nanos(h.start_period.unwrap_or(0));
    if health.status == "starting" && since_start < start_period {
        let si = h
            .start_interval
            .filter(|i| *i > 0)
            .unwrap_or(START_INTERVAL);
        return Duration::from_nanos(si)
            .min(start_period - since_start)
            .max(Duration::from_millis(1));
    }
    interval
}

/// The next health after a check that ended with `code` (None: it timed
/// out or could not run), `in_start_period` saying whether a failure
/// counts yet.
pub fn next(mut h: Health, code: Option<i32>, in_start_period: bool, retries: u64) -> Health {
    if code == Some(0) {
        h.status = "healthy".into();
        h.failing_streak = 0;
    } else if !in_start_period || h.status == "healthy" {
        h.failing_streak += 1;
        if h.failing_streak >= retries.max(1) {
            h.status = "unhealthy".into();
        }
    }
    h
}

fn now() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let base = format_rfc3339(t.as_secs() as i64);
    format!("{}.{:09}Z", base.trim_end_matches('Z'), t.subsec_nanos())
}

/// One check: `container-ctl exec` of the test, killed at the timeout.
fn probe(ctl: &Path, store: &Path, id: &str, h: &HealthConfig) -> HealthLog {
    let start = now();
    let timeout = Duration::from_nanos(h.timeout.filter(|t| *t > 0).unwrap_or(TIMEOUT));
    let spawned = Command::new(ctl)
        .arg("--store")
        .arg(store)
        .arg("exec")
        .arg(id)
        .args(argv(h))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            return HealthLog {
                start,
                end: now(),
                exit_code: -1,
                output: format!("run {}: {e}", ctl.display()),
            }
        }
    };
    // Both pipes drained by threads: a chatty check must not block.
    let read = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut out);
            }
            out
        })
    };
    let out = read(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err = read(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let code = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s.code(),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break None,
        }
    };
    let mut output = out.join().unwrap_or_default();
    output.extend(err.join().unwrap_or_default());
    output.truncate(OUTPUT_MAX);
    let mut output = String::from_utf8_lossy(&output).into_owned();
    if code.is_none() {
        output = format!("Health check exceeded timeout ({}s)", timeout.as_secs_f64());
    }
    HealthLog {
        start,
        end: now(),
        exit_code: code.unwrap_or(-1),
        output,
    }
}

/// Runs the checks of container `id` until it ends; what the monitor
/// forks. Never returns.
pub fn checker(store: &Path, id: &str, h: &HealthConfig, alive: impl Fn() -> bool) -> ! {
    // SAFETY: prctl with integer arguments: we die with the monitor.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    let Ok(containers) = Containers::open(store) else {
        // SAFETY: ends this process.
        unsafe { libc::_exit(0) }
    };
    let ctl = slipway_common::cli::find_tool("container-ctl");
    let mut health = Health {
        status: "starting".into(),
        ..Health::default()
    };
    let _ = containers.save_health(id, &health);
    let started = Instant::now();
    let start_period = Duration::from_nanos(h.start_period.unwrap_or(0));
    loop {
        std::thread::sleep(pause(h, &health, started.elapsed()));
        if !alive() {
            break;
        }
        let log = match &ctl {
            Some(ctl) => probe(ctl, store, id, h),
            None => HealthLog {
                start: now(),
                end: now(),
                exit_code: -1,
                output: "container-ctl is neither beside container-run nor in PATH".into(),
            },
        };
        let code = (log.exit_code >= 0).then_some(log.exit_code);
        health = next(
            health,
            code,
            started.elapsed() < start_period,
            h.retries.filter(|r| *r > 0).unwrap_or(RETRIES),
        );
        health.log.push(log);
        if health.log.len() > LOG_KEEP {
            health.log.remove(0);
        }
        if !alive() {
            break;
        }
        let _ = containers.save_health(id, &health);
    }
    // SAFETY: ends this process.
    unsafe { libc::_exit(0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(status: &str, streak: u64) -> Health {
        Health {
            status: status.into(),
            failing_streak: streak,
            log: vec![],
        }
    }

    #[test]
    fn health_moves_as_dockers_does() {
        // A pass makes it healthy; failures count only after the start
        // period (or once it was healthy), up to the retries.
        assert_eq!(next(h("starting", 0), Some(0), true, 3).status, "healthy");
        assert_eq!(next(h("starting", 0), Some(1), true, 3), h("starting", 0));
        let one = next(h("starting", 0), Some(1), false, 2);
        assert_eq!(one, h("starting", 1));
        assert_eq!(next(one, None, false, 2), h("unhealthy", 2));
        assert_eq!(next(h("healthy", 0), Some(1), true, 1), h("unhealthy", 1));
        assert_eq!(next(h("unhealthy", 5), Some(0), false, 3), h("healthy", 0));
    }

    #[test]
    fn the_start_interval_applies_while_starting_in_the_start_period() {
        let secs = |s: u64| Some(s * 1_000_000_000);
        let c = HealthConfig {
            interval: secs(30),
            start_period: secs(60),
            start_interval: secs(2),
            ..HealthConfig::default()
        };
        let t = Duration::from_secs;
        assert_eq!(pause(&c, &h("starting", 0), t(1)), t(2));
        assert_eq!(pause(&c, &h("starting", 0), t(59)), t(1));
        assert_eq!(pause(&c, &h("starting", 0), t(61)), t(30));
        assert_eq!(pause(&c, &h("healthy", 0), t(1)), t(30));
        let no_period = HealthConfig {
            interval: secs(30),
            ..HealthConfig::default()
        };
        assert_eq!(pause(&no_period, &h("starting", 0), t(0)), t(30));
    }

    #[test]
    fn shell_checks_run_under_sh_and_exec_checks_as_given() {
        let shell = HealthConfig {
            test: vec!["CMD-SHELL".into(), "wget -q -O- localhost".into()],
            ..HealthConfig::default()
        };
        assert_eq!(argv(&shell), ["/bin/sh", "-c", "wget -q -O- localhost"]);
        let exec = HealthConfig {
            test: vec!["CMD".into(), "test".into(), "-f".into(), "/ok".into()],
            ..HealthConfig::default()
        };
        assert_eq!(argv(&exec), ["test", "-f", "/ok"]);
    }
}
