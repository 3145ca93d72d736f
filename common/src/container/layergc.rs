//! Removing unpacked layers no image needs. A layer dir is an overlayfs
//! lower dir: deleting one under a mounted overlay would pull files out
//! of a running container, so gc spares every layer some mount names,
//! and holds `layers.lock` exclusively while it looks, which those who
//! unpack and mount hold shared from unpacking until their overlay is up.

use crate::digest::Digest;
use crate::layers::layers_dir_for;
use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::Path;

pub use crate::layers::startup_lock;

/// What gc took out of the layer dirs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Removed {
    pub layers: usize,
    pub bytes: u64,
}

/// Removes the unpacked layers (root's and rootless ones) whose diff ID
/// is not in `live` and that no overlay mount on the host stacks, and
/// what unpacking left behind when it died.
pub fn remove_unused(store: &Path, live: &BTreeSet<Digest>) -> io::Result<Removed> {
    let mut removed = Removed::default();
    let dirs = [layers_dir_for(store, false), layers_dir_for(store, true)];
    if !dirs.iter().any(|d| d.is_dir()) {
        return Ok(removed);
    }
    let _held = crate::layers::exclusive_lock(store)?;
    let mounted = mounted_lowers();
    for dir in &dirs {
        let Ok(rd) = fs::read_dir(dir) else { continue };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let unused = match format!("sha256:{name}").parse::<Digest>() {
                Ok(d) => !live.contains(&d) && !mounted.contains(&name),
                // With the lock held nobody is unpacking: a temp dir is
                // a leftover of one who died.
                Err(_) => name.starts_with(".tmp-") && !mounted.contains(&name),
            };
            if !unused {
                continue;
            }
            // Renamed first, so that a removal cut short never leaves a
            // partial layer under a name a container would trust.
            let doomed = if name.starts_with(".tmp-") {
                e.path()
            } else {
                let to = dir.join(format!(".tmp-gc-{name}"));
                if fs::rename(e.path(), &to).is_err() {
                    continue;
                }
                to
            };
            let bytes = tree_size(&doomed);
            if fs::remove_dir_all(&doomed).is_ok() && !name.starts_with(".tmp-") {
                removed.layers += 1;
                removed.bytes += bytes;
            }
        }
    }
    Ok(removed)
}

fn tree_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            if m.is_dir() {
                todo.push(e.path());
            } else if m.is_file() {
                total += m.len();
            }
        }
    }
    total
}

/// The last path components of every overlay lower dir mounted in any
/// mount namespace we can see: containers mount theirs in a namespace
/// of their own, so every process's view is read, once per namespace.
fn mounted_lowers() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return names;
    };
    for e in rd.flatten() {
        let pid = e.file_name();
        if !pid.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(ns) = fs::read_link(e.path().join("ns/mnt")) else {
            continue;
        };
        if !seen.insert(ns) {
            continue;
        }
        if let Ok(info) = fs::read_to_string(e.path().join("mountinfo")) {
            names.extend(overlay_lowers(&info));
        }
    }
    names
}

/// The last components of the lower dirs of the overlay mounts in a
/// mountinfo text, and of bind-mounted layer dirs.
fn overlay_lowers(mountinfo: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((mount_part, fs_part)) = line.split_once(" - ") else {
            continue;
        };
        // A bind mount of one layer (image-store mount of a one-layer
        // image) shows the layer as the mount's root.
        if let Some(root) = mount_part.split(' ').nth(3) {
            if let Some(last) = root.rsplit('/').next().filter(|l| l.len() == 64) {
                out.push(last.to_string());
            }
        }
        let mut f = fs_part.split(' ');
        if f.next() != Some("overlay") {
            continue;
        }
        let Some(opts) = f.nth(1) else { continue };
        for opt in opts.split(',') {
            let Some(lowers) = opt.strip_prefix("lowerdir=") else {
                continue;
            };
            for l in lowers.split(':') {
                if let Some(last) = l.trim_end_matches('/').rsplit('/').next() {
                    if !last.is_empty() {
                        out.push(last.to_string());
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_lowers_names_every_lower_of_overlay_mounts_only() {
        let info = "\
25 1 0:22 / / rw,relatime - overlay overlay rw,lowerdir=init-ab:0123:/s/.slipway/layers/4567/,upperdir=/u,workdir=/w
26 25 0:5 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k
27 25 0:6 / /x rw - ext4 /dev/sda1 rw,lowerdir=nope
28 25 8:1 /s/.slipway/layers/{hex} /mnt ro - ext4 /dev/sda1 rw
";
        let hex = "8".repeat(64);
        let info = info.replace("{hex}", &hex);
        assert_eq!(
            overlay_lowers(&info),
            ["init-ab", "0123", "4567", hex.as_str()]
        );
    }

    #[test]
    fn remove_unused_keeps_live_and_mounted_layers_and_clears_leftovers() {
        let store = tempfile::tempdir().unwrap();
        let dir = layers_dir_for(store.path(), false);
        let live = Digest::of(b"live");
        let dead = Digest::of(b"dead");
        for d in [&live, &dead] {
            fs::create_dir_all(dir.join(d.hex()).join("etc")).unwrap();
            fs::write(dir.join(d.hex()).join("etc/f"), b"12345").unwrap();
        }
        fs::create_dir_all(dir.join(".tmp-abc/x")).unwrap();
        fs::create_dir_all(dir.join("init-1")).unwrap();
        let r = remove_unused(store.path(), &BTreeSet::from([live.clone()])).unwrap();
        assert_eq!(
            r,
            Removed {
                layers: 1,
                bytes: 5
            }
        );
        assert!(dir.join(live.hex()).join("etc/f").is_file());
        assert!(!dir.join(dead.hex()).exists());
        assert!(!dir.join(".tmp-abc").exists());
        assert!(dir.join("init-1").is_dir());
    }
}
