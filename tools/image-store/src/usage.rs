//! Every byte under the store, by what holds it (as `docker system df`
//! splits images, containers and the build cache): what `du -sb STORE`
//! counts, each inode once, without crossing into what is mounted below
//! (a running container's root, an `image-store mount`).

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The parts, in the order they are shown.
pub const PARTS: [&str; 7] = [
    "image blobs",
    "unpacked layers",
    "containers",
    "build cache",
    "cache mounts",
    "running builds",
    "other",
];

/// Which part a path (relative to the store) belongs to.
fn part_of(rel: &Path) -> &'static str {
    let mut c = rel.components().map(|c| c.as_os_str().to_string_lossy());
    match (
        c.next().as_deref(),
        c.next().as_deref(),
        c.next().as_deref(),
    ) {
        (Some("blobs"), _, _) => "image blobs",
        (Some(".slipway"), Some("layers" | "layers-userns"), _) => "unpacked layers",
        (Some(".slipway"), Some("containers"), _) => "containers",
        (Some(".slipway"), Some("build-cache"), Some("mounts")) => "cache mounts",
        (Some(".slipway"), Some("build-cache"), _) => "build cache",
        (Some(".slipway"), Some("builds"), _) => "running builds",
        _ => "other",
    }
}

/// The bytes of each part, and their total.
pub fn usage(root: &Path) -> io::Result<(BTreeMap<&'static str, u64>, u64)> {
    let top = std::fs::symlink_metadata(root)?;
    let mut parts: BTreeMap<&'static str, u64> = PARTS.iter().map(|p| (*p, 0)).collect();
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut total = top.len();
    seen.insert((top.dev(), top.ino()));
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            // Gone meanwhile (a build cleaning up): nothing to count.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for e in entries {
            let e = e?;
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            if m.dev() != top.dev() || !seen.insert((m.dev(), m.ino())) {
                continue;
            }
            let rel = e.path();
            let rel = rel.strip_prefix(root).unwrap_or(&rel);
            *parts.entry(part_of(rel)).or_default() += m.len();
            total += m.len();
            if m.is_dir() {
                todo.push(e.path());
            }
        }
    }
    *parts.entry("other").or_default() += top.len();
    Ok((parts, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fall_in_their_parts() {
        for (p, want) in [
            ("blobs/sha256/ab", "image blobs"),
            (".slipway/layers/ab/etc", "unpacked layers"),
            (".slipway/build-cache/mounts/x", "cache mounts"),
            (".slipway/build-cache/steps/k", "build cache"),
            (".slipway/containers/id/upper", "containers"),
            ("index.json", "other"),
        ] {
            assert_eq!(part_of(Path::new(p)), want, "{p}");
        }
    }

    #[test]
    fn hard_links_count_once_and_parts_add_up_to_the_total() {
        let t = tempfile::tempdir().unwrap();
        let blobs = t.path().join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        std::fs::write(blobs.join("a"), vec![0u8; 1000]).unwrap();
        let layers = t.path().join(".slipway/layers/x");
        std::fs::create_dir_all(&layers).unwrap();
        std::fs::hard_link(blobs.join("a"), layers.join("same")).unwrap();
        std::fs::write(layers.join("own"), vec![0u8; 500]).unwrap();
        let (parts, total) = usage(t.path()).unwrap();
        assert_eq!(parts.values().sum::<u64>(), total);
        let files = 1000 + 500;
        assert!(total >= files && total < files + 10 * 4096, "{total}");
    }
}
