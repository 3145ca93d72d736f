//! The containers container-run started, as container-ctl finds them:
//! `STORE/.slipway/containers/ID/state.json`, beside the container's
//! writable layer (`upper/`, `work/`) and its log.

use crate::container::cgroups::Cgroup;
use crate::fsutil::{self, IoContext, IoError};
use crate::lock::{FileLock, LockKind};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("container state {}: {msg}", path.display())]
    Corrupt { path: PathBuf, msg: String },
    #[error(
        "the name {0:?} is already in use by container {1}; remove it first (container-ctl rm {0})"
    )]
    NameInUse(String, String),
    #[error("invalid container name {0:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit")]
    BadName(String),
    #[error("no such container: {0}")]
    NotFound(String),
    #[error("{0:?} names {1} containers; give more of the ID")]
    Ambiguous(String, usize),
    #[error("container {0} is running (or being started)")]
    Running(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Exited,
}

/// How the container's process was made, for `container-ctl exec` to
/// make another one like it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ProcessSpec {
    pub env: Vec<String>,
    pub cwd: String,
    pub user: String,
    /// The capability set, as a mask.
    pub caps: u64,
    pub seccomp: bool,
    pub privileged: bool,
}

/// A container port published on the host (`-p`, `-P`), as `docker port`
/// shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
    /// tcp or udp.
    pub proto: String,
}

impl std::fmt::Display for PortMapping {
    /// `0.0.0.0:8080->80/tcp`, as the PORTS column of `docker ps`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}->{}/{}",
            self.host_ip, self.host_port, self.container_port, self.proto
        )
    }
}

/// A container's health as its checks found it, in docker inspect's
/// shape (State.Health); kept in `health.json` beside the state, which
/// only the checker writes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// starting, healthy or unhealthy.
    pub status: String,
    pub failing_streak: u64,
    /// The last five checks.
    pub log: Vec<HealthLog>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthLog {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

/// `--restart`, as docker inspect shows it in HostConfig.RestartPolicy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicy {
    /// no, on-failure, always or unless-stopped.
    pub name: String,
    /// For on-failure: the most restarts (0: no limit).
    pub maximum_retry_count: u32,
}

impl Default for RestartPolicy {
    fn default() -> RestartPolicy {
        RestartPolicy {
            name: "no".into(),
            maximum_retry_count: 0,
        }
    }
}

impl RestartPolicy {
    /// `no`, `always`, `unless-stopped`, `on-failure[:N]`.
    pub fn parse(s: &str) -> Result<RestartPolicy, String> {
        let (name, n) = s.split_once(':').unwrap_or((s, ""));
        let max = if n.is_empty() {
            0
        } else if name == "on-failure" {
            n.parse()
                .map_err(|_| format!("--restart {s:?}: the count must be a number"))?
        } else {
            return Err(format!("--restart {s:?}: only on-failure takes a count"));
        };
        match name {
            "no" | "always" | "unless-stopped" | "on-failure" => Ok(RestartPolicy {
                name: name.to_string(),
                maximum_retry_count: max,
            }),
            _ => Err(format!(
                "--restart {s:?}: takes no, on-failure[:N], always or unless-stopped"
            )),
        }
    }

    /// Whether a container that ended with `code`, restarted `count` times
    /// already, starts again; never after a stop asked for by the user.
    pub fn restarts(&self, code: i32, count: u32, stopped_by_user: bool) -> bool {
        if stopped_by_user {
            return false;
        }
        match self.name.as_str() {
            "always" | "unless-stopped" => true,
            "on-failure" => {
                code != 0 && (self.maximum_retry_count == 0 || count < self.maximum_retry_count)
            }
            _ => false,
        }
    }
}

/// The mark of a stop the user asked for.
const STOP_REQUESTED: &str = "stop-requested";

/// The file a container's health is kept in.
pub const HEALTH_FILE: &str = "health.json";

/// One container, as recorded on disk.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    pub name: String,
    /// The image as the user named it, and its ID (config digest).
    pub image: String,
    pub image_id: Option<String>,
    pub command: Vec<String>,
    pub created: String,
    pub status: Status,
    /// The container's init as seen from the host, and its start time in
    /// clock ticks (from /proc/PID/stat) so a reused PID is not mistaken.
    pub pid: Option<i32>,
    pub pid_start: Option<u64>,
    pub exit_code: Option<i32>,
    pub oom_killed: bool,
    pub finished: Option<String>,
    pub cgroup: Option<Cgroup>,
    /// The writable layer, when it is not the container dir's own `upper/`.
    pub upper: Option<PathBuf>,
    pub detached: bool,
    pub auto_remove: bool,
    #[serde(default)]
    pub process: ProcessSpec,
    /// The hostname it was given.
    #[serde(default)]
    pub hostname: String,
    /// What `container-ctl stop` sends first (`--stop-signal`, else the
    /// image's STOPSIGNAL; SIGTERM when neither says), and how long it
    /// then waits before SIGKILL when `stop -t` does not say.
    #[serde(default)]
    pub stop_signal: Option<String>,
    #[serde(default)]
    pub stop_timeout: Option<u32>,
    /// The bundle it was created from (container-runtime's `create`), and
    /// the spec's annotations, for `state`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
    /// The image's labels with `--label` over them, as docker inspect
    /// shows them in Config.Labels.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    /// The ports published on the host, host ports chosen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortMapping>,
    /// The named volumes it mounts (which `volume rm` will not take).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    /// When its monitor starts it again, and how often it has.
    #[serde(default)]
    pub restart: RestartPolicy,
    #[serde(default)]
    pub restart_count: u32,
    /// Where its output goes when detached (--log-driver, --log-opt).
    #[serde(default)]
    pub log: crate::container::logfile::LogConfig,
    /// The health check it runs (the image's HEALTHCHECK under the
    /// --health-* flags), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<crate::image::HealthConfig>,
    /// The overlay's lower dirs, topmost first (the init layer, then the
    /// image's layers), for `diff` and `cp` of a stopped container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lowers: Vec<PathBuf>,
    /// container-run's arguments that made it, for `container-ctl start`
    /// to make it again (empty for a runtime bundle's container).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub run_args: Vec<String>,
    /// Ended, and its monitor waits out the back-off before it starts it
    /// again (its restart policy says so).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restarting: bool,
}

/// The log of a detached container: JSON lines as Docker's json-file
/// driver writes them.
pub const LOG_FILE: &str = "container.log";

/// `STORE/.slipway/containers`.
pub fn containers_dir(store: &Path) -> PathBuf {
    store.join(".slipway").join("containers")
}

/// A new random container ID: 64 hex digits, as Docker's.
pub fn new_id() -> String {
    let mut b = [0u8; 32];
    // SAFETY: getrandom into a buffer of its length.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != b.len() as isize {
        // Time and PID are unique enough on one host if getrandom fails.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        return crate::digest::Digest::of(format!("{t}-{}", std::process::id()).as_bytes())
            .hex()
            .to_string();
    }
    hex::encode(b)
}

pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && name.len() <= 128
}

/// The start time of process `pid` in clock ticks since boot.
pub fn process_start(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after
    // the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(19)?.parse().ok()
}

impl State {
    /// Whether the recorded process is still the one that runs.
    pub fn alive(&self) -> bool {
        match (self.pid, self.pid_start) {
            (Some(pid), Some(start)) => process_start(pid) == Some(start),
            _ => false,
        }
    }

    /// Whether its process is being set up: its PID is recorded from the
    /// clone on, its status says running only once the command runs.
    pub fn in_setup(&self) -> bool {
        self.status == Status::Created && self.alive()
    }

    /// The status, corrected for a runner that died without recording it.
    pub fn current_status(&self) -> Status {
        match self.status {
            Status::Running if !self.alive() => Status::Exited,
            s => s,
        }
    }
}

/// The containers directory of a store, locked for changes of names.
pub struct Containers {
    dir: PathBuf,
}

impl Containers {
    pub fn open(store: &Path) -> Result<Containers, StateError> {
        let dir = containers_dir(store);
        fsutil::create_dir_all(&dir)?;
        Ok(Containers { dir })
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// The store these containers are kept in.
    pub fn store(&self) -> &Path {
        self.dir
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("/"))
    }

    fn lock(&self) -> Result<FileLock, StateError> {
        let p = self.dir.join(".lock");
        Ok(FileLock::acquire(&p, LockKind::Exclusive).ctx("lock", &p)?)
    }

    /// Records a new container, its name checked unique under the lock.
    pub fn create(&self, state: &State) -> Result<PathBuf, StateError> {
        if !valid_name(&state.name) {
            return Err(StateError::BadName(state.name.clone()));
        }
        let _lock = self.lock()?;
        self.sweep_unrecorded();
        for other in self.list()? {
            if other.name == state.name {
                return Err(StateError::NameInUse(state.name.clone(), other.id));
            }
        }
        let dir = self.dir(&state.id);
        fsutil::create_dir_all(&dir)?;
        if let Some(store) = self.dir.parent().and_then(Path::parent) {
            super::stores::note(store);
        }
        if let Err(e) = self.save(state) {
            // A full disk must not leave a directory that no command
            // lists or removes.
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        Ok(dir)
    }

    /// Removes the empty directories of containers whose creation failed
    /// before their state was written (one that is being created is
    /// never seen: creation holds the lock the caller holds).
    fn sweep_unrecorded(&self) {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let hidden = e.file_name().to_string_lossy().starts_with('.');
            if !hidden && p.is_dir() && !p.join("state.json").exists() {
                // remove_dir: only an empty one goes.
                let _ = std::fs::remove_dir(&p);
            }
        }
    }

    pub fn save(&self, state: &State) -> Result<(), StateError> {
        let bytes = serde_json::to_vec_pretty(state).expect("state serializes");
        fsutil::write_atomic(&self.dir(&state.id).join("state.json"), &bytes)?;
        Ok(())
    }

    /// As [`Containers::save`] for the runner of a live container: the name
    /// on disk wins over the one in `state`, which `rename` may have changed
    /// since the runner read it.
    pub fn save_running(&self, state: &mut State) -> Result<(), StateError> {
        if let Ok(disk) = self.load(&state.id) {
            state.name = disk.name;
        }
        self.save(state)
    }

    /// As [`Containers::save`], not waiting for the disk: for the PID of
    /// a process being set up, which no reboot outlives.
    pub fn save_unsynced(&self, state: &State) -> Result<(), StateError> {
        let bytes = serde_json::to_vec_pretty(state).expect("state serializes");
        fsutil::write_atomic_unsynced(&self.dir(&state.id).join("state.json"), &bytes)?;
        Ok(())
    }

    pub fn load(&self, id: &str) -> Result<State, StateError> {
        let p = self.dir(id).join("state.json");
        let bytes = std::fs::read(&p).ctx("read", &p)?;
        serde_json::from_slice(&bytes).map_err(|e| StateError::Corrupt {
            path: p,
            msg: e.to_string(),
        })
    }

    /// Every recorded container, oldest first.
    pub fn list(&self) -> Result<Vec<State>, StateError> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir).ctx("read", &self.dir)? {
            let e = e.ctx("read", &self.dir)?;
            let name = e.file_name();
            let Some(id) = name.to_str() else { continue };
            if id.starts_with('.') || !e.path().join("state.json").is_file() {
                continue;
            }
            if let Ok(s) = self.load(id) {
                out.push(s);
            }
        }
        out.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Claims a created or exited container for a start, under the lock:
    /// it is marked as being set up by this process, so that a second
    /// start at the same time finds it busy.
    pub fn claim_start(&self, query: &str) -> Result<State, StateError> {
        let _lock = self.lock()?;
        let mut state = self.find(query)?;
        if state.alive() {
            return Err(StateError::Running(state.name));
        }
        let me = std::process::id() as i32;
        state.status = Status::Created;
        state.pid = Some(me);
        state.pid_start = process_start(me);
        self.save(&state)?;
        Ok(state)
    }

    /// Gives a container another name, checked unique under the lock.
    pub fn rename(&self, query: &str, name: &str) -> Result<State, StateError> {
        if !valid_name(name) {
            return Err(StateError::BadName(name.to_string()));
        }
        let _lock = self.lock()?;
        let mut state = self.find(query)?;
        if let Some(other) = self.list()?.into_iter().find(|o| o.name == name) {
            if other.id != state.id {
                return Err(StateError::NameInUse(name.to_string(), other.id));
            }
        }
        state.name = name.to_string();
        self.save(&state)?;
        Ok(state)
    }

    /// Finds a container by name, full ID or unique ID prefix.
    pub fn find(&self, query: &str) -> Result<State, StateError> {
        let all = self.list()?;
        if let Some(s) = all.iter().find(|s| s.name == query || s.id == query) {
            return Ok(s.clone());
        }
        let hits: Vec<&State> = all
            .iter()
            .filter(|s| !query.is_empty() && s.id.starts_with(query))
            .collect();
        match hits.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(StateError::NotFound(query.to_string())),
            many => Err(StateError::Ambiguous(query.to_string(), many.len())),
        }
    }

    /// Marks that the user stopped the container (stop, kill, rm -f): its
    /// monitor does not restart it then.
    pub fn request_stop(&self, id: &str) {
        let _ = std::fs::write(self.dir(id).join(STOP_REQUESTED), b"");
    }

    /// Whether the user asked it to stop (the mark left in place).
    pub fn stop_requested(&self, id: &str) -> bool {
        self.dir(id).join(STOP_REQUESTED).exists()
    }

    /// Whether the user stopped it; the mark is taken away.
    pub fn take_stop_request(&self, id: &str) -> bool {
        std::fs::remove_file(self.dir(id).join(STOP_REQUESTED)).is_ok()
    }

    /// The container's health, if it has a check that has reported.
    pub fn health(&self, id: &str) -> Option<Health> {
        let bytes = std::fs::read(self.dir(id).join(HEALTH_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Records the container's health (atomically: readers see the old
    /// or the new, never half).
    pub fn save_health(&self, id: &str, h: &Health) -> Result<(), StateError> {
        let bytes = serde_json::to_vec_pretty(h).expect("health serializes");
        fsutil::write_atomic_unsynced(&self.dir(id).join(HEALTH_FILE), &bytes)?;
        Ok(())
    }

    /// Deletes a container's directory (its writable layer included). A
    /// rootless container's writable layer holds files of the user's
    /// subordinate IDs (and overlay's mode-0 work dir): a non-root caller
    /// removes it from inside a user namespace with the user's mapping.
    pub fn remove(&self, id: &str) -> Result<(), StateError> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 && self.dir(id).exists() {
            let m = crate::userns::Mapping::for_caller();
            let inside =
                crate::userns::run_in_new(&m, || self.remove_here(id).map_err(|e| e.to_string()));
            if inside.is_ok() {
                return Ok(());
            }
        }
        self.remove_here(id)
    }

    fn remove_here(&self, id: &str) -> Result<(), StateError> {
        let dir = self.dir(id);
        // A container in the host's mount namespace left its mounts here
        // (a volume among them): removing through them would remove the
        // host's files.
        crate::mount::detach_all_under(&dir).map_err(|source| IoError {
            op: "unmount what is mounted under",
            path: dir.clone(),
            source,
        })?;
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(IoError {
                op: "remove",
                path: dir,
                source: e,
            }
            .into()),
        }
    }
}

/// Where a container's files are, for container-ctl.
impl Containers {
    /// The container's writable layer: its own `upper/`, or the `--upper`
    /// directory it was given.
    pub fn upper_dir(&self, state: &State) -> PathBuf {
        state
            .upper
            .clone()
            .unwrap_or_else(|| self.dir(&state.id).join("upper"))
    }

    /// The json-file log of a detached container.
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.dir(id).join(LOG_FILE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockers_rule() {
        assert!(valid_name("web-1.a_b"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(""));
    }

    #[test]
    fn start_time_of_this_process_is_readable() {
        let me = std::process::id() as i32;
        assert!(process_start(me).is_some());
        assert_eq!(process_start(me), process_start(me));
    }

    fn state(id: &str, name: &str) -> State {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": name, "image": "bb", "command": ["true"],
            "created": "2026-01-01T00:00:00Z", "status": "created",
            "oom_killed": false, "detached": false, "auto_remove": false,
        }))
        .unwrap()
    }

    #[test]
    fn a_failed_create_leaves_no_directory_and_strays_are_swept() {
        let tmp = tempfile::tempdir().unwrap();
        let c = Containers::open(tmp.path()).unwrap();
        // An earlier creation that died before its state was written.
        std::fs::create_dir(c.dir("stray")).unwrap();
        // This one cannot write its state (state.json is a directory, as
        // a full disk would refuse the file).
        std::fs::create_dir_all(c.dir("bad").join("state.json")).unwrap();
        assert!(c.create(&state("bad", "b")).is_err());
        assert!(
            !c.dir("bad").exists(),
            "the failed container's directory stays"
        );
        assert!(!c.dir("stray").exists(), "the stray directory stays");
        c.create(&state("good", "g")).unwrap();
        assert_eq!(c.list().unwrap().len(), 1);
    }

    #[test]
    fn a_rename_is_checked_unique_and_outlives_the_runners_next_save() {
        let tmp = tempfile::tempdir().unwrap();
        let c = Containers::open(tmp.path()).unwrap();
        let mut running = state("a1", "web");
        c.create(&running).unwrap();
        c.create(&state("b2", "db")).unwrap();
        assert!(matches!(
            c.rename("web", "db"),
            Err(StateError::NameInUse(..))
        ));
        assert!(matches!(c.rename("web", "-x"), Err(StateError::BadName(_))));
        assert_eq!(c.rename("a1", "front").unwrap().name, "front");
        // The runner still holds the old name and records the exit.
        running.status = Status::Exited;
        c.save_running(&mut running).unwrap();
        assert_eq!(c.find("front").unwrap().status, Status::Exited);
        assert!(c.find("web").is_err());
    }

    #[test]
    fn restart_policies_read_and_decide_as_dockers() {
        let p = |s| RestartPolicy::parse(s).unwrap();
        assert!(p("always").restarts(0, 99, false));
        assert!(!p("always").restarts(1, 0, true));
        assert!(p("unless-stopped").restarts(0, 0, false));
        assert!(!p("no").restarts(1, 0, false));
        let f = p("on-failure:2");
        assert!(f.restarts(1, 1, false) && !f.restarts(1, 2, false) && !f.restarts(0, 0, false));
        assert!(p("on-failure").restarts(3, 1000, false));
        for bad in ["sometimes", "always:3", "on-failure:x"] {
            assert!(RestartPolicy::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_are_64_hex_and_differ() {
        let (a, b) = (new_id(), new_id());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
