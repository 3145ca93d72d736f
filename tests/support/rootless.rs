//! An ordinary user made for one test, to run the tools rootless as: made
//! with useradd (a home, and unless asked otherwise a subordinate ID range
//! in /etc/subuid and /etc/subgid), given a directory of its own for its
//! store and volumes, and removed with its ranges when dropped, on a
//! failed test too. Needs root, as the container tests do.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use tempfile::TempDir;

/// useradd and userdel lock /etc/passwd and give up, rather than wait,
/// when another holds it: the tests of one binary take turns.
static ACCOUNTS: Mutex<()> = Mutex::new(());
static NEXT: AtomicU32 = AtomicU32::new(0);

pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// The first subordinate uid and gid and how many (the same range in
    /// both files, as useradd gives it), if the user has one.
    pub range: Option<(u32, u32)>,
    dir: Option<TempDir>,
}

fn run(c: &mut Command) -> Output {
    let out = c.stdin(Stdio::null()).output().expect("spawn");
    assert!(
        out.status.success(),
        "{c:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The user's first range in an /etc/subuid-style file.
fn range_of(file: &str, name: &str) -> Option<(u32, u32)> {
    let text = fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        if f.next()? != name {
            return None;
        }
        Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
    })
}

impl TestUser {
    /// A new user; with `range`, with useradd's subordinate ID range.
    pub fn new(range: bool) -> TestUser {
        // The user runs the built tools where cargo put them.
        let bins = crate::bin_dir();
        for d in bins.ancestors() {
            let mode = fs::metadata(d).map(|m| m.mode()).unwrap_or(0);
            assert!(
                mode & 0o001 != 0,
                "{} is not searchable by other users: the rootless tests run {} as an ordinary user",
                d.display(),
                bins.display()
            );
        }
        let name = format!(
            "slipway-t{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut c = Command::new("useradd");
        c.args(["--create-home", "--user-group", "--shell", "/bin/sh"]);
        if !range {
            c.args(["-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0"]);
        }
        c.arg(&name);
        {
            let _turn = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
            run(&mut c);
        }
        // From here on, Drop removes the user whatever happens.
        let mut user = TestUser {
            name: name.clone(),
            uid: 0,
            gid: 0,
            range: None,
            dir: None,
        };
        let id = |flag: &str| -> u32 {
            String::from_utf8_lossy(&run(Command::new("id").args([flag, &name])).stdout)
                .trim()
                .parse()
                .expect("a numeric id")
        };
        user.uid = id("-u");
        user.gid = id("-g");
        if range {
            let (u, g) = (
                range_of("/etc/subuid", &name),
                range_of("/etc/subgid", &name),
            );
            assert!(
                u.is_some() && u == g,
                "useradd gave {name} no matching ranges in /etc/subuid and /etc/subgid ({u:?}, {g:?})"
            );
            user.range = u;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        std::os::unix::fs::chown(dir.path(), Some(user.uid), Some(user.gid)).expect("chown");
        user.dir = Some(dir);
        user
    }

    /// The user's own directory (a temp dir it owns).
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("made in new").path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir().join(rel)
    }

    /// The user's store, below its directory.
    pub fn store(&self) -> PathBuf {
        self.path("store")
    }

    /// A built tool run as the user (real and effective IDs, its groups),
    /// with a clean environment: its HOME, PATH and store, in its dir.
    pub fn cmd(&self, tool: &str) -> Command {
        let mut c = Command::new("setpriv");
        c.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--init-groups")
            .arg("--")
            .arg(crate::bin(tool))
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", format!("/home/{}", self.name))
            .env("USER", &self.name)
            .env("SLIPWAY_STORE", self.store())
            .current_dir(self.dir());
        c
    }

    /// Writes a file the user can read (root writes it; the dir is the
    /// user's).
    pub fn write(&self, rel: &str, data: &[u8]) -> PathBuf {
        let p = self.path(rel);
        fs::write(&p, data).expect("write");
        std::os::unix::fs::chown(&p, Some(self.uid), Some(self.gid)).expect("chown");
        p
    }

    /// Whether a host uid is the user's or one of its subordinate ones.
    pub fn owns_uid(&self, uid: u32) -> bool {
        uid == self.uid || self.range.is_some_and(|(s, n)| uid >= s && uid - s < n)
    }

    /// Processes left running as the user or as its subordinate uids:
    /// (pid, command line).
    pub fn processes(&self) -> Vec<(u32, String)> {
        let mut out = Vec::new();
        for e in fs::read_dir("/proc").expect("/proc").flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(m) = fs::metadata(e.path()) else {
                continue;
            };
            if self.owns_uid(m.uid()) {
                let cmdline = fs::read(e.path().join("cmdline")).unwrap_or_default();
                let args = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                out.push((pid, args));
            }
        }
        out
    }

    /// Nothing of the user's containers is left: no process of its IDs,
    /// no mount of ours below its directory.
    pub fn assert_nothing_left(&self) {
        let left = self.processes();
        assert!(left.is_empty(), "processes left: {left:?}");
        let mounts = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        let dir = self.dir().to_string_lossy().into_owned();
        assert!(
            !mounts.contains(&dir),
            "a mount under {dir} is left: {mounts}"
        );
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        // The dir holds files of the subordinate IDs: root removes them.
        drop(self.dir.take());
        let _ = fs::remove_dir_all(std::env::temp_dir().join(format!("slipway-{}", self.uid)));
        let _turn = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        // userdel takes the user's subordinate ranges along; -f even if a
        // failed test left a process of it.
        let _ = Command::new("userdel")
            .args(["--force", "--remove", &self.name])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
