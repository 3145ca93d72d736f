//! Content digests of what a COPY or ADD reads from the context, for its
//! cache key: the names, types, modes and bytes of a tree, not its mtimes
//! (a touched file is the same file) nor its owners (COPY sets them).
//!
//! Reading every byte of a large context on every build is what makes a
//! no-change rebuild slow, so a stat cache remembers each file's digest by
//! path beside its size, mtime, ctime and inode, as git's index does: a
//! file whose stat is unchanged is not read again. A file changed within
//! the last two seconds is never remembered, so a write that lands in the
//! same timestamp tick as our read cannot hide behind an unchanged stat.

use sha2::{Digest as _, Sha256};
use slipway_common::digest::Digest;
use slipway_common::ignore::Matcher;
use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

const MAGIC: &[u8] = b"slipway-stat-cache 1\n";
/// Files changed this recently are hashed but not remembered.
const SETTLE_NS: i128 = 2_000_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    size: u64,
    mtime: i128,
    ctime: i128,
    ino: u64,
    digest: [u8; 32],
}

impl Entry {
    fn matches(&self, m: &fs::Metadata) -> bool {
        self.size == m.size()
            && self.mtime == mtime_ns(m)
            && self.ctime == ctime_ns(m)
            && self.ino == m.ino()
    }
}

fn mtime_ns(m: &fs::Metadata) -> i128 {
    m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128
}

fn ctime_ns(m: &fs::Metadata) -> i128 {
    m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128
}

fn now_ns() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// File digests by absolute path, loaded from and saved to one file.
pub struct StatCache {
    file: Option<PathBuf>,
    entries: HashMap<PathBuf, Entry>,
    changed: bool,
    settle_ns: i128,
    /// Files read because the cache did not know them (for tests and
    /// progress).
    pub hashed: usize,
}

impl StatCache {
    /// A cache that is never saved.
    pub fn in_memory() -> StatCache {
        StatCache {
            file: None,
            entries: HashMap::new(),
            changed: false,
            settle_ns: SETTLE_NS,
            hashed: 0,
        }
    }

    /// Loads the cache file; a missing or unreadable one is an empty cache.
    pub fn load(file: PathBuf) -> StatCache {
        let entries = fs::File::open(&file)
            .ok()
            .and_then(|f| read_entries(&mut BufReader::new(f)).ok())
            .unwrap_or_default();
        StatCache {
            file: Some(file),
            entries,
            changed: false,
            settle_ns: SETTLE_NS,
            hashed: 0,
        }
    }

    /// Writes the cache back if it learned anything (temp file, rename: a
    /// reader sees the old cache or the new one).
    pub fn save(&mut self) -> io::Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        if !self.changed {
            return Ok(());
        }
        let dir = file.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir)?;
        let tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
        let mut w = BufWriter::new(tmp.as_file());
        w.write_all(MAGIC)?;
        for (path, e) in &self.entries {
            let p = path.as_os_str().as_bytes();
            w.write_all(&(p.len() as u32).to_le_bytes())?;
            w.write_all(p)?;
            w.write_all(&e.size.to_le_bytes())?;
            w.write_all(&e.mtime.to_le_bytes())?;
            w.write_all(&e.ctime.to_le_bytes())?;
            w.write_all(&e.ino.to_le_bytes())?;
            w.write_all(&e.digest)?;
        }
        w.flush()?;
        drop(w);
        tmp.persist(file).map_err(|e| e.error)?;
        self.changed = false;
        Ok(())
    }

    /// The sha256 of a regular file's bytes and xattrs, from the cache
    /// when its stat is unchanged.
    fn file_digest(&mut self, path: &Path, m: &fs::Metadata) -> io::Result<[u8; 32]> {
        if let Some(e) = self.entries.get(path) {
            if e.matches(m) {
                return Ok(e.digest);
            }
        }
        let started = now_ns();
        let mut h = Sha256::new();
        let mut f = fs::File::open(path)?;
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            h.update(&buf[..n]);
        }
        for (k, v) in slipway_common::fsmeta::xattrs(path)? {
            h.update(b"\0xattr\0");
            h.update((k.len() as u64).to_le_bytes());
            h.update(&k);
            h.update((v.len() as u64).to_le_bytes());
            h.update(&v);
        }
        let digest: [u8; 32] = h.finalize().into();
        self.hashed += 1;
        // Re-stat: a file that changed while it was read is not kept.
        let after = fs::symlink_metadata(path)?;
        let settled = started - mtime_ns(&after).max(ctime_ns(&after)) > self.settle_ns;
        if settled && mtime_ns(&after) == mtime_ns(m) && after.size() == m.size() {
            self.entries.insert(
                path.to_path_buf(),
                Entry {
                    size: after.size(),
                    mtime: mtime_ns(&after),
                    ctime: ctime_ns(&after),
                    ino: after.ino(),
                    digest,
                },
            );
            self.changed = true;
        }
        Ok(digest)
    }
}

fn read_entries(r: &mut impl Read) -> io::Result<HashMap<PathBuf, Entry>> {
    let mut magic = vec![0u8; MAGIC.len()];
    r.read_exact(&mut magic)?;
    if magic != MAGIC {
        return Err(io::Error::other("not a stat cache"));
    }
    let mut out = HashMap::new();
    let mut len = [0u8; 4];
    loop {
        match r.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
        let n = u32::from_le_bytes(len) as usize;
        if n > 1 << 16 {
            return Err(io::Error::other("a stat cache path is too long"));
        }
        let mut p = vec![0u8; n];
        r.read_exact(&mut p)?;
        let mut rest = [0u8; 8 + 16 + 16 + 8 + 32];
        r.read_exact(&mut rest)?;
        let u64_at = |i: usize| u64::from_le_bytes(rest[i..i + 8].try_into().expect("8 bytes"));
        let i128_at = |i: usize| i128::from_le_bytes(rest[i..i + 16].try_into().expect("16 bytes"));
        out.insert(
            PathBuf::from(OsString::from_vec(p)),
            Entry {
                size: u64_at(0),
                mtime: i128_at(8),
                ctime: i128_at(24),
                ino: u64_at(40),
                digest: rest[48..80].try_into().expect("32 bytes"),
            },
        );
    }
    Ok(out)
}

/// Feeds one field, length-prefixed so no two trees hash alike by accident.
fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

struct Walk<'a> {
    cache: &'a mut StatCache,
    exclude: &'a Matcher,
    h: Sha256,
    /// Hard links: the first path of each (dev, ino) with several links.
    links: HashMap<(u64, u64), Vec<u8>>,
}

impl Walk<'_> {
    fn entry(&mut self, path: &Path, rel: &[u8], m: &fs::Metadata) -> io::Result<()> {
        let t = m.file_type();
        field(&mut self.h, rel);
        field(&mut self.h, &(m.mode() & 0o7777).to_le_bytes());
        if t.is_file() {
            if m.nlink() > 1 {
                if let Some(first) = self.links.get(&(m.dev(), m.ino())) {
                    field(&mut self.h, b"hardlink");
                    field(&mut self.h, &first.clone());
                    return Ok(());
                }
                self.links.insert((m.dev(), m.ino()), rel.to_vec());
            }
            field(&mut self.h, b"file");
            field(&mut self.h, &m.size().to_le_bytes());
            let d = self.cache.file_digest(path, m)?;
            field(&mut self.h, &d);
        } else if t.is_symlink() {
            field(&mut self.h, b"symlink");
            field(&mut self.h, fs::read_link(path)?.as_os_str().as_bytes());
        } else if t.is_dir() {
            // A directory's xattrs go into the layer too.
            field(&mut self.h, b"dir");
            for (k, v) in slipway_common::fsmeta::xattrs(path)? {
                field(&mut self.h, &k);
                field(&mut self.h, &v);
            }
        } else {
            let kind: &[u8] = if t.is_fifo() {
                b"fifo"
            } else if t.is_char_device() {
                b"char"
            } else if t.is_block_device() {
                b"block"
            } else {
                b"socket"
            };
            field(&mut self.h, kind);
            field(&mut self.h, &m.rdev().to_le_bytes());
        }
        Ok(())
    }

    /// A directory's entries in byte order, as layer-diff --dir walks
    /// them, with the same exclusions.
    fn dir(&mut self, path: &Path, rel: &[u8]) -> io::Result<()> {
        let mut names: Vec<OsString> = fs::read_dir(path)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let mut r = rel.to_vec();
            if !r.is_empty() {
                r.push(b'/');
            }
            r.extend_from_slice(name.as_bytes());
            let child = path.join(&name);
            let m = fs::symlink_metadata(&child)?;
            let ignored =
                !self.exclude.is_empty() && self.exclude.ignored(&String::from_utf8_lossy(&r));
            if m.is_dir() {
                if ignored && !self.exclude.has_exceptions() {
                    continue;
                }
                if !ignored {
                    self.entry(&child, &r, &m)?;
                }
                // An ignored directory with exceptions: only what comes
                // back inside it counts (and a directory that it holds).
                field(&mut self.h, b"enter");
                self.dir(&child, &r)?;
                field(&mut self.h, b"leave");
            } else if !ignored {
                self.entry(&child, &r, &m)?;
            }
        }
        Ok(())
    }
}

/// The digest of a source as a COPY reads it: a file, a symlink (its
/// target's text: sources come resolved, and a link is never followed
/// from here), or a directory tree without what `exclude` leaves out
/// (patterns relative to `src`, as layer-diff --dir --exclude takes them).
pub fn source_digest(cache: &mut StatCache, src: &Path, exclude: &Matcher) -> io::Result<Digest> {
    let mut w = Walk {
        cache,
        exclude,
        h: Sha256::new(),
        links: HashMap::new(),
    };
    let m = fs::symlink_metadata(src)?;
    w.entry(src, b".", &m)?;
    if m.is_dir() {
        w.dir(src, b"")?;
    }
    let out: [u8; 32] = w.h.finalize().into();
    Ok(format!("sha256:{}", hex::encode(out))
        .parse()
        .expect("a sha256 digest"))
}

/// Every file, link and directory below `root` with a short digest of
/// what it is (a file's content and mode, a link's target), by path
/// below `root`; `rel` is `root`'s path in the context, where `ignore`'s
/// patterns start. What the build records to name the files that changed.
pub fn listing(
    cache: &mut StatCache,
    root: &Path,
    ignore: &Matcher,
    rel: &str,
) -> io::Result<std::collections::BTreeMap<String, String>> {
    let mut out = std::collections::BTreeMap::new();
    let base = rel.trim_start_matches("./").trim_matches('/');
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, sub)) = stack.pop() {
        for e in fs::read_dir(&dir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let below = if sub.is_empty() {
                name
            } else {
                format!("{sub}/{name}")
            };
            let in_ctx = match base {
                "" | "." => below.clone(),
                b => format!("{b}/{below}"),
            };
            if !ignore.is_empty() && ignore.ignored(&in_ctx) && !ignore.has_exceptions() {
                continue;
            }
            let path = e.path();
            let m = fs::symlink_metadata(&path)?;
            let what = if m.is_dir() {
                stack.push((path, below.clone()));
                format!("dir {:o}", m.mode() & 0o7777)
            } else if m.file_type().is_symlink() {
                format!("link {}", fs::read_link(&path)?.display())
            } else if m.is_file() {
                let d = cache.file_digest(&path, &m)?;
                format!("{} {:o}", hex::encode(&d[..8]), m.mode() & 0o7777)
            } else {
                format!("special {:o}", m.mode())
            };
            out.insert(below, what);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join("d/sub")).unwrap();
        fs::write(t.path().join("a"), "a").unwrap();
        fs::write(t.path().join("d/b"), "b").unwrap();
        fs::write(t.path().join("d/sub/c.log"), "c").unwrap();
        std::os::unix::fs::symlink("a", t.path().join("l")).unwrap();
        t
    }

    fn digest(t: &Path, ex: &[&str]) -> Digest {
        source_digest(&mut StatCache::in_memory(), t, &Matcher::new(ex).unwrap()).unwrap()
    }

    #[test]
    fn bytes_modes_names_and_links_change_the_digest_but_mtimes_do_not() {
        let t = tree();
        let d0 = digest(t.path(), &[]);
        assert_eq!(d0, digest(t.path(), &[]));
        // A touch is not a change.
        let f = fs::File::options()
            .write(true)
            .open(t.path().join("a"))
            .unwrap();
        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(5))
            .unwrap();
        assert_eq!(d0, digest(t.path(), &[]));
        fs::write(t.path().join("a"), "A").unwrap();
        let d1 = digest(t.path(), &[]);
        assert_ne!(d0, d1);
        fs::set_permissions(t.path().join("d/b"), fs::Permissions::from_mode(0o600)).unwrap();
        let d2 = digest(t.path(), &[]);
        assert_ne!(d1, d2);
        fs::rename(t.path().join("d/b"), t.path().join("d/b2")).unwrap();
        let d3 = digest(t.path(), &[]);
        assert_ne!(d2, d3);
        fs::remove_file(t.path().join("l")).unwrap();
        std::os::unix::fs::symlink("d", t.path().join("l")).unwrap();
        assert_ne!(d3, digest(t.path(), &[]));
    }

    #[test]
    fn excluded_paths_do_not_count() {
        let t = tree();
        let d0 = digest(t.path(), &["**/*.log"]);
        fs::write(t.path().join("d/sub/c.log"), "changed").unwrap();
        assert_eq!(d0, digest(t.path(), &["**/*.log"]));
        assert_ne!(d0, digest(t.path(), &[]));
    }

    #[test]
    fn the_stat_cache_skips_unchanged_files_and_survives_a_reload() {
        let t = tree();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        for f in ["a", "d/b", "d/sub/c.log"] {
            fs::File::options()
                .write(true)
                .open(t.path().join(f))
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        let file = t.path().join("cache/stat");
        let mut c = StatCache::load(file.clone());
        // Set-back mtimes change the ctime: nothing here is old enough
        // to be remembered but for this.
        c.settle_ns = -SETTLE_NS;
        let d0 = source_digest(&mut c, &t.path().join("d"), &Matcher::default()).unwrap();
        assert_eq!(c.hashed, 2);
        c.save().unwrap();
        let mut c = StatCache::load(file.clone());
        c.settle_ns = -SETTLE_NS;
        let d1 = source_digest(&mut c, &t.path().join("d"), &Matcher::default()).unwrap();
        assert_eq!((d0.clone(), c.hashed), (d1, 0));
        // A same-size rewrite with the old mtime still changes the ctime.
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(t.path().join("d/b"), "x").unwrap();
        fs::File::options()
            .write(true)
            .open(t.path().join("d/b"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let d2 = source_digest(&mut c, &t.path().join("d"), &Matcher::default()).unwrap();
        assert_eq!(c.hashed, 1);
        assert_ne!(d0, d2);
    }

    #[test]
    fn a_freshly_written_file_is_not_remembered() {
        let t = tree();
        let mut c = StatCache::load(t.path().join("stat"));
        source_digest(&mut c, &t.path().join("a"), &Matcher::default()).unwrap();
        source_digest(&mut c, &t.path().join("a"), &Matcher::default()).unwrap();
        assert_eq!(c.hashed, 2);
    }
}
