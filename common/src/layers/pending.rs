//! Layers published before their files are on disk. Forcing every
//! unpacked layer to disk (syncfs) before it is trusted costs a cold build
//! or pull its largest wait on an ordinary disk; skipping it, as Docker's
//! overlay2 and containerd do by default, lets a power cut leave a layer
//! of empty files that is trusted forever (containerd#5854, moby#49784).
//!
//! Instead, a layer is renamed into place at once with a marker in
//! `LAYERS/.pending/HEX` naming the boot it was written in. Within that
//! boot the page cache serves its files whole. A marker from another boot
//! means the machine went down before anyone knew the layer was on disk:
//! the layer is thrown away and unpacked again from its blob, which is
//! synced. A marker far older than the kernel's writeback delay is
//! cleared by whoever next looks: by then writeback has put the files on
//! disk. (Confirming with a syncfs instead would make that next build
//! wait for every other writer's dirty pages on the filesystem.)

use crate::lock::{FileLock, LockKind};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How old a marker must be before its layer counts as on disk: ten
/// times the kernel's dirty_expire (the age at which writeback writes a
/// dirty page; 30 s by default), and at least five minutes.
fn settle_after() -> Duration {
    let expire = fs::read_to_string("/proc/sys/vm/dirty_expire_centisecs")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(30), |c| Duration::from_millis(c * 10));
    (expire * 10).max(Duration::from_secs(300))
}

fn pending_dir(layers: &Path) -> PathBuf {
    layers.join(".pending")
}

fn lock(layers: &Path, kind: LockKind) -> io::Result<FileLock> {
    let dir = pending_dir(layers);
    fs::create_dir_all(&dir)?;
    FileLock::acquire(&dir.join(".lock"), kind)
}

/// This boot's ID; None where the kernel does not say (then layers are
/// synced before they are published).
fn boot_id() -> Option<String> {
    let id = fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let id = id.trim();
    (!id.is_empty()).then(|| id.to_string())
}

/// Marks the layer `name` of `layers` as not yet known to be on disk;
/// hold the guard until the layer is renamed into place. None: there is
/// no boot ID to mark with, and the caller must sync first.
pub(super) fn mark(layers: &Path, name: &str) -> io::Result<Option<FileLock>> {
    let Some(boot) = boot_id() else {
        return Ok(None);
    };
    let held = lock(layers, LockKind::Shared)?;
    fs::write(pending_dir(layers).join(name), boot)?;
    Ok(Some(held))
}

/// Syncs the filesystem holding `path`.
pub(super) fn syncfs(path: &Path) -> io::Result<()> {
    let f = fs::File::open(path)?;
    // SAFETY: syncfs on a descriptor we own.
    if unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&f)) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

enum Verdict {
    /// Its layer is gone: the marker is stale.
    Orphan,
    /// Written before the last boot and never confirmed: not trusted.
    Torn,
    /// Old enough that writeback has written it.
    Settled,
    Fresh,
}

fn verdict(layers: &Path, marker: &Path, name: &str, boot: &str, now: SystemTime) -> Verdict {
    if !layers.join(name).is_dir() {
        return Verdict::Orphan;
    }
    match fs::read_to_string(marker) {
        Ok(b) if b.trim() == boot => {}
        _ => return Verdict::Torn,
    }
    let age = fs::metadata(marker)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| now.duration_since(t).ok())
        .unwrap_or_default();
    if age >= settle_after() {
        Verdict::Settled
    } else {
        Verdict::Fresh
    }
}

/// Throws away the layers of `layers` a crash may have torn and clears
/// the markers of those now surely on disk. Call before trusting a layer
/// directory; cheap when there is nothing to do (one directory read).
pub fn settle(layers: &Path) -> io::Result<()> {
    let dir = pending_dir(layers);
    let names = |dir: &Path| -> Vec<String> {
        fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default()
    };
    let boot = boot_id().unwrap_or_default();
    let now = SystemTime::now();
    let due = |n: &String| !matches!(verdict(layers, &dir.join(n), n, &boot, now), Verdict::Fresh);
    if !names(&dir).iter().any(due) {
        return Ok(());
    }
    // No publisher is between its marker and its rename while this is
    // held, so a marker without its layer is truly stale.
    let _held = lock(layers, LockKind::Exclusive)?;
    for name in names(&dir) {
        let marker = dir.join(&name);
        match verdict(layers, &marker, &name, &boot, now) {
            Verdict::Fresh => {}
            Verdict::Settled | Verdict::Orphan => fs::remove_file(&marker)?,
            Verdict::Torn => {
                // Renamed first: a removal cut short must not leave part
                // of a layer under the name containers trust.
                let doomed = layers.join(format!(".tmp-torn-{name}"));
                fs::rename(layers.join(&name), &doomed)?;
                fs::remove_dir_all(&doomed)?;
                fs::remove_file(&marker)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(layers: &Path, name: &str) {
        fs::create_dir_all(layers.join(name)).unwrap();
        fs::write(layers.join(name).join("f"), b"data").unwrap();
    }

    fn age(path: &Path, secs: u64) {
        let t = SystemTime::now() - Duration::from_secs(secs);
        fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }

    #[test]
    fn a_layer_marked_in_another_boot_is_thrown_away() {
        let t = tempfile::tempdir().unwrap();
        layer(t.path(), "aa");
        drop(mark(t.path(), "aa").unwrap());
        fs::write(pending_dir(t.path()).join("aa"), "some-other-boot").unwrap();
        settle(t.path()).unwrap();
        assert!(!t.path().join("aa").exists());
        assert!(!pending_dir(t.path()).join("aa").exists());
    }

    #[test]
    fn a_fresh_mark_of_this_boot_is_left_and_an_old_one_confirmed() {
        let t = tempfile::tempdir().unwrap();
        layer(t.path(), "aa");
        layer(t.path(), "bb");
        drop(mark(t.path(), "aa").unwrap());
        drop(mark(t.path(), "bb").unwrap());
        age(&pending_dir(t.path()).join("bb"), 3600);
        settle(t.path()).unwrap();
        assert!(t.path().join("aa/f").exists() && t.path().join("bb/f").exists());
        assert!(
            pending_dir(t.path()).join("aa").exists(),
            "too fresh to confirm"
        );
        assert!(
            !pending_dir(t.path()).join("bb").exists(),
            "confirmed on disk"
        );
    }

    #[test]
    fn a_marker_whose_layer_is_gone_is_cleared() {
        let t = tempfile::tempdir().unwrap();
        drop(mark(t.path(), "cc").unwrap());
        settle(t.path()).unwrap();
        assert!(!pending_dir(t.path()).join("cc").exists());
    }
}
