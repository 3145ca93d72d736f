//! A bundle's hooks, each given the container's state on stdin as
//! runtime-spec config.md#posix-platform-hooks says. In the runtime's
//! namespaces: prestart and createRuntime while the container is created
//! (its namespaces exist, its process has not gone on), poststart once
//! its process runs, poststop once it is deleted. In the container's, run
//! by its own process as runc's init runs them: createContainer once its
//! mounts are made and before pivot_root (the path is the host's),
//! startContainer after `start` and before the command (the path is the
//! container's).

use crate::Error;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub path: PathBuf,
    /// argv, its first word the hook's argv[0].
    pub args: Vec<String>,
    pub env: Vec<String>,
    /// Seconds; killed after that.
    pub timeout: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hooks {
    pub prestart: Vec<Hook>,
    pub create_runtime: Vec<Hook>,
    pub poststart: Vec<Hook>,
    pub poststop: Vec<Hook>,
    pub create_container: Vec<Hook>,
    pub start_container: Vec<Hook>,
    /// What the container's own process says of itself to its hooks.
    pub identity: Identity,
}

/// The state fields the container's process cannot learn itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub id: String,
    pub bundle: Option<PathBuf>,
    pub annotations: std::collections::BTreeMap<String, String>,
}

impl Identity {
    /// The state for a hook the container's process runs: its PID as it
    /// sees it, as runc's init gives it.
    pub fn state(&self, status: &str) -> String {
        // SAFETY: getpid cannot fail.
        let pid = unsafe { libc::getpid() };
        state(&self.id, status, pid, &self.bundle, &self.annotations)
    }
}

fn list(hooks: &Option<Vec<oci_spec::runtime::Hook>>) -> Vec<Hook> {
    hooks
        .iter()
        .flatten()
        .map(|h| Hook {
            path: h.path().clone(),
            args: h.args().clone().unwrap_or_default(),
            env: h.env().clone().unwrap_or_default(),
            timeout: h.timeout().filter(|t| *t > 0).map(|t| t as u64),
        })
        .collect()
}

impl Hooks {
    pub fn from_spec(h: &oci_spec::runtime::Hooks) -> Result<Hooks, Error> {
        let hooks = Hooks {
            prestart: list(h.prestart()),
            create_runtime: list(h.create_runtime()),
            poststart: list(h.poststart()),
            poststop: list(h.poststop()),
            create_container: list(h.create_container()),
            start_container: list(h.start_container()),
            identity: Identity::default(),
        };
        for hook in [
            &hooks.prestart,
            &hooks.create_runtime,
            &hooks.poststart,
            &hooks.poststop,
            &hooks.create_container,
            &hooks.start_container,
        ]
        .into_iter()
        .flatten()
        {
            if !hook.path.is_absolute() {
                return Err(Error::Invalid(format!(
                    "bundle config.json: hook path {} is not absolute",
                    hook.path.display()
                )));
            }
        }
        Ok(hooks)
    }

    /// The hooks of the bundle a container was created from (for start and
    /// delete, which have only its state); none if it cannot be read now.
    pub fn of_bundle(bundle: &Path) -> Hooks {
        crate::bundle::read_spec(&bundle.join("config.json"))
            .ok()
            .and_then(|s| s.hooks().clone())
            .and_then(|h| Hooks::from_spec(&h).ok())
            .unwrap_or_default()
    }
}

/// The state a hook reads on stdin.
pub fn state(
    id: &str,
    status: &str,
    pid: libc::pid_t,
    bundle: &Option<PathBuf>,
    annotations: &std::collections::BTreeMap<String, String>,
) -> String {
    serde_json::json!({
        "ociVersion": crate::oci::OCI_VERSION,
        "id": id,
        "status": status,
        "pid": pid,
        "bundle": bundle.clone().unwrap_or_default(),
        "annotations": annotations,
    })
    .to_string()
}

/// Runs the hooks in order; the first that fails (or outlives its
/// timeout) stops the rest, named in the error with what it said.
pub fn run(phase: &str, hooks: &[Hook], state: &str) -> Result<(), String> {
    for h in hooks {
        run_one(h, state).map_err(|e| format!("{phase} hook {}: {e}", h.path.display()))?;
    }
    Ok(())
}

fn run_one(h: &Hook, state: &str) -> Result<(), String> {
    let mut c = Command::new(&h.path);
    if let Some((first, rest)) = h.args.split_first() {
        std::os::unix::process::CommandExt::arg0(&mut c, first);
        c.args(rest);
    }
    c.env_clear()
        .envs(h.env.iter().filter_map(|e| e.split_once('=')))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = c.spawn().map_err(|e| e.to_string())?;
    // Read as it comes, so a talkative hook never blocks on a full pipe.
    let said = child.stderr.take().map(|mut e| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut e, &mut s);
            s
        })
    });
    if let Some(mut w) = child.stdin.take() {
        // A hook that does not read its stdin is no failure: EPIPE, not
        // the SIGPIPE our command line restores, if it is gone already.
        // SAFETY: signal with a valid handler constant, restored below.
        let old = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        let _ = w.write_all(state.as_bytes());
        drop(w);
        // SAFETY: restores the handler signal returned.
        unsafe { libc::signal(libc::SIGPIPE, old) };
    }
    let deadline = h.timeout.map(|t| Instant::now() + Duration::from_secs(t));
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            if let Some(t) = said {
                let _ = t.join();
            }
            return Err(format!(
                "timed out after {} s",
                h.timeout.unwrap_or_default()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let said = said.and_then(|t| t.join().ok()).unwrap_or_default();
    if status.success() {
        return Ok(());
    }
    Err(format!(
        "{status}{}",
        match said.trim() {
            "" => String::new(),
            s => format!(": {}", slipway_common::cli::one_line(s)),
        }
    ))
}
