//! The build cache's records, kept in the store beside the layout: for each
//! build step's cache key, the image that step made. image-build writes and
//! reads them; `image-store gc` keeps the images they name (they are the
//! cache) unless told to forget them.
//!
//! A record is a small JSON file named by the key. It is written to a temp
//! file and renamed, without fsync: a record lost to a crash is a cache miss,
//! and a torn one cannot be read and is a miss too.

use crate::digest::Digest;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// `STORE/.slipway/build-cache`.
pub fn dir(store: &Path) -> PathBuf {
    store.join(".slipway").join("build-cache")
}

fn steps_dir(store: &Path) -> PathBuf {
    dir(store).join("steps")
}

/// What a step made.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    /// The manifest digest of the step's image.
    pub image: Digest,
    /// When the step ran (seconds since 1970).
    pub created: u64,
}

/// The record of a key (a sha256 digest of the step's inputs), if any.
pub fn lookup(store: &Path, key: &Digest) -> Option<Record> {
    let bytes = fs::read(steps_dir(store).join(key.hex())).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Records what the step of `key` made, replacing an older record.
pub fn record(store: &Path, key: &Digest, rec: &Record) -> io::Result<()> {
    let dir = steps_dir(store);
    fs::create_dir_all(&dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(&dir)?;
    tmp.write_all(&serde_json::to_vec(rec).map_err(io::Error::other)?)?;
    tmp.persist(dir.join(key.hex())).map_err(|e| e.error)?;
    Ok(())
}

/// Every record, with its key.
pub fn records(store: &Path) -> Vec<(Digest, Record)> {
    let Ok(rd) = fs::read_dir(steps_dir(store)) else {
        return vec![];
    };
    rd.flatten()
        .filter_map(|e| {
            let key: Digest = format!("sha256:{}", e.file_name().to_str()?).parse().ok()?;
            let rec = serde_json::from_slice(&fs::read(e.path()).ok()?).ok()?;
            Some((key, rec))
        })
        .collect()
}

/// Forgets one record.
pub fn forget(store: &Path, key: &Digest) -> io::Result<()> {
    match fs::remove_file(steps_dir(store).join(key.hex())) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Where running builds keep their temp dirs (`image-build.PID.XXXX`).
pub fn builds_dir(store: &Path) -> PathBuf {
    store.join(".slipway").join("builds")
}

/// The repository image-build names its own images in:
/// `localhost/image-build/ID:STAGE-STEP` for the steps of a running build
/// (and `…-failed` for the state a RUN failed in), `ID:latest` for the
/// result of a build given no --tag.
pub const PRIVATE_REPO: &str = "localhost/image-build/";

/// A build's private name, not its untagged result: (build ID, tag).
/// These are listed only by `ls -a`, and gc removes them once their build
/// is over.
pub fn private_name(name: &str) -> Option<(&str, &str)> {
    let (id, tag) = name.strip_prefix(PRIVATE_REPO)?.split_once(':')?;
    (tag != "latest" && !id.contains('/')).then_some((id, tag))
}

/// The prefix of build `id`'s temp dir under [`builds_dir`]; the lock in
/// it tells whether the build still runs.
pub fn build_dir_prefix(id: &str) -> String {
    format!("image-build.{id}.")
}

/// Whether build `id` still runs (holds the lock of its temp dir).
pub fn build_alive(store: &Path, id: &str) -> bool {
    let Ok(rd) = fs::read_dir(builds_dir(store)) else {
        return false;
    };
    let prefix = build_dir_prefix(id);
    rd.flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .any(|e| {
            matches!(
                crate::lock::FileLock::try_acquire(
                    &e.path().join(".lock"),
                    crate::lock::LockKind::Exclusive
                ),
                Ok(None)
            )
        })
}

/// The lock a running build holds on its temp dir for as long as it
/// runs: what tells gc a live build from a dead one, whatever PID
/// namespace either is in.
pub fn hold_build_dir(dir: &Path) -> io::Result<crate::lock::FileLock> {
    crate::lock::FileLock::acquire(&dir.join(".lock"), crate::lock::LockKind::Exclusive)
}

/// Removes the temp dirs of builds that died without cleaning up (nobody
/// holds their lock); returns how many.
pub fn remove_dead_builds(store: &Path) -> usize {
    let Ok(rd) = fs::read_dir(builds_dir(store)) else {
        return 0;
    };
    let mut n = 0;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("image-build.") {
            continue;
        }
        let lock = e.path().join(".lock");
        let dead = if lock.exists() {
            matches!(
                crate::lock::FileLock::try_acquire(&lock, crate::lock::LockKind::Exclusive),
                Ok(Some(_))
            )
        } else {
            // A build makes its dir, then its lock: one without a lock is
            // starting now, unless it has been so for long.
            e.metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(600))
        };
        if dead && fs::remove_dir_all(e.path()).is_ok() {
            n += 1;
        }
    }
    n
}

/// Where RUN --mount=type=cache directories live, one per cache id.
pub fn mounts_dir(store: &Path) -> PathBuf {
    dir(store).join("mounts")
}

/// Forgets every record and every cache mount's contents, and the
/// leftovers of writers that died; returns how many records there were.
pub fn clear(store: &Path) -> io::Result<usize> {
    match fs::remove_dir_all(mounts_dir(store)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let dir = steps_dir(store);
    let Ok(rd) = fs::read_dir(&dir) else {
        return Ok(0);
    };
    let mut n = 0;
    for e in rd.flatten() {
        fs::remove_file(e.path())?;
        if !e.file_name().to_string_lossy().starts_with(".tmp-") {
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_found_by_its_key_until_forgotten() {
        let t = tempfile::tempdir().unwrap();
        let key = Digest::of(b"step");
        assert_eq!(lookup(t.path(), &key), None);
        let rec = Record {
            image: Digest::of(b"manifest"),
            created: 7,
        };
        record(t.path(), &key, &rec).unwrap();
        assert_eq!(lookup(t.path(), &key), Some(rec.clone()));
        assert_eq!(records(t.path()), vec![(key.clone(), rec)]);
        forget(t.path(), &key).unwrap();
        assert_eq!(lookup(t.path(), &key), None);
        record(t.path(), &key, &rec_at(1)).unwrap();
        assert_eq!(clear(t.path()).unwrap(), 1);
        assert!(records(t.path()).is_empty());
    }

    fn rec_at(created: u64) -> Record {
        Record {
            image: Digest::of(b"m"),
            created,
        }
    }

    #[test]
    fn a_torn_record_is_a_miss() {
        let t = tempfile::tempdir().unwrap();
        let key = Digest::of(b"k");
        fs::create_dir_all(steps_dir(t.path())).unwrap();
        fs::write(steps_dir(t.path()).join(key.hex()), b"{\"ima").unwrap();
        assert_eq!(lookup(t.path(), &key), None);
    }

    #[test]
    fn private_names_are_a_builds_steps_and_failures_not_its_result() {
        let n = "localhost/image-build/abc123:0-4-failed";
        assert_eq!(private_name(n), Some(("abc123", "0-4-failed")));
        assert_eq!(
            private_name("localhost/image-build/abc123:1-2"),
            Some(("abc123", "1-2"))
        );
        assert_eq!(private_name("localhost/image-build/abc123:latest"), None);
        assert_eq!(private_name("docker.io/library/busybox:latest"), None);
    }

    #[test]
    fn a_build_is_alive_while_it_holds_its_dirs_lock() {
        let t = tempfile::tempdir().unwrap();
        let dir = builds_dir(t.path()).join(format!("{}x", build_dir_prefix("b1")));
        fs::create_dir_all(&dir).unwrap();
        let held = hold_build_dir(&dir).unwrap();
        assert!(build_alive(t.path(), "b1"));
        assert!(!build_alive(t.path(), "b2"));
        drop(held);
        assert!(!build_alive(t.path(), "b1"));
    }
}
