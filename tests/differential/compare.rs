//! The comparator of `scripts/differential`: one image built by Buildah and
//! the same Dockerfile built by image-build, each exported as an OCI layout
//! and unpacked by umoci, compared entry by entry and config field by config
//! field. Every difference gets a key (`fs /etc/hostname only-buildah`,
//! `fs /a mode`, `config Env`, `layers`, `history`); a key that an entry of
//! the known-differences file matches is allowed, any other is a failure.
//!
//! ```text
//! differential compare --case NAME --known FILE --since EPOCH \
//!     BUILDAH_LAYOUT BUILDAH_ROOTFS IMAGE_BUILD_LAYOUT IMAGE_BUILD_ROOTFS
//! differential known FILE CASE KEY
//! differential check-known FILE
//! ```
//!
//! `--buildah-config FILE` takes the config fields from Buildah's Docker
//! form of the image (`buildah inspect`'s `.Docker`): its OCI form drops the
//! Docker-only ones (Shell, Healthcheck, OnBuild). `known` exits 0 when the
//! file allows KEY for CASE (the script asks it about whole-build outcomes).
//!
//! `compare` prints one line, `identical`, `known: KEY; …` or
//! `FAIL: KEY: DETAIL; …`, and exits 0, 10 or 1; it reads nothing but the
//! layouts and the trees, so the trees are the peer's (umoci's) work.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The image config fields compared (the `config` object of the image config).
const CONFIG_FIELDS: &[&str] = &[
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Volumes",
    "Labels",
    "StopSignal",
    "Healthcheck",
    "OnBuild",
    "Shell",
];

/// Labels only one of the tools writes as its signature.
const TOOL_LABELS: &[&str] = &["io.buildah.version"];

/// How many differences a FAIL line shows before "and N more".
const SHOWN: usize = 6;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("compare") => compare_cmd(&args[1..]),
        Some("known") if args.len() == 4 => read_known(Path::new(&args[1])).map(|k| {
            if k.iter().any(|k| k.matches(&args[2], &args[3])) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }),
        Some("check-known") if args.len() == 2 => read_known(Path::new(&args[1])).map(|k| {
            println!("{} known differences", k.len());
            ExitCode::SUCCESS
        }),
        _ => {
            eprintln!(
                "usage: differential compare --case NAME --known FILE --since EPOCH \
                 BUILDAH_LAYOUT BUILDAH_ROOTFS IMAGE_BUILD_LAYOUT IMAGE_BUILD_ROOTFS\n       \
                 differential known FILE CASE KEY\n       \
                 differential check-known FILE"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("differential: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn compare_cmd(args: &[String]) -> Result<ExitCode, String> {
    let mut case = None;
    let mut known = None;
    let mut buildah_config = None;
    let mut since = 0i64;
    let mut pos = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--case" => case = Some(value()?),
            "--known" => known = Some(PathBuf::from(value()?)),
            "--buildah-config" => buildah_config = Some(PathBuf::from(value()?)),
            "--since" => since = value()?.parse().map_err(|e| format!("--since: {e}"))?,
            _ => pos.push(PathBuf::from(a)),
        }
    }
    let (Some(case), Some(known), [bl, br, sl, sr]) = (case, known, pos.as_slice()) else {
        return Err("compare needs --case, --known and four paths".into());
    };
    let known = read_known(&known)?;
    let mut diffs = Vec::new();
    let mut buildah = load_image(bl)?;
    if let Some(path) = buildah_config {
        // `buildah inspect --type image` output: the Docker form under "Docker".
        let mut inspect = read_json(&path)?;
        buildah.config = inspect
            .get_mut("Docker")
            .map(Value::take)
            .unwrap_or(inspect);
    }
    compare_images(&buildah, &load_image(sl)?, &mut diffs);
    compare_trees(&walk(br)?, &walk(sr)?, since, &mut diffs);

    let (allowed, failed): (Vec<_>, Vec<_>) = diffs
        .into_iter()
        .partition(|d| known.iter().any(|k| k.matches(&case, &d.key)));
    if !failed.is_empty() {
        let shown: Vec<String> = failed.iter().take(SHOWN).map(Diff::to_string).collect();
        let more = failed.len().saturating_sub(SHOWN);
        let tail = if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        };
        println!("FAIL: {}{tail}", shown.join("; "));
        return Ok(ExitCode::from(1));
    }
    if allowed.is_empty() {
        println!("identical");
        return Ok(ExitCode::SUCCESS);
    }
    let keys: Vec<&str> = allowed.iter().map(|d| d.key.as_str()).collect();
    println!("known: {}", keys.join("; "));
    Ok(ExitCode::from(10))
}

/// One difference: the key known entries match, and what each side has.
struct Diff {
    key: String,
    detail: String,
}

impl std::fmt::Display for Diff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.detail.is_empty() {
            f.write_str(&self.key)
        } else {
            write!(f, "{}: {}", self.key, self.detail)
        }
    }
}

fn diff(
    out: &mut Vec<Diff>,
    key: String,
    buildah: impl std::fmt::Display,
    ours: impl std::fmt::Display,
) {
    out.push(Diff {
        key,
        detail: format!("buildah {buildah}, image-build {ours}"),
    });
}

// ---- known differences ----------------------------------------------------

/// `CASE-GLOB | DIFF-GLOB | why image-build is right`: `*` matches any run
/// of characters, `?` one; every entry must give its reason.
struct Known {
    case: String,
    key: String,
}

impl Known {
    fn matches(&self, case: &str, key: &str) -> bool {
        glob(self.case.as_bytes(), case.as_bytes()) && glob(self.key.as_bytes(), key.as_bytes())
    }
}

fn read_known(path: &Path) -> Result<Vec<Known>, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parts: Vec<&str> = line.splitn(3, '|').map(str::trim).collect();
        match parts.as_slice() {
            [case, key, why] if !case.is_empty() && !key.is_empty() && !why.is_empty() => {
                out.push(Known {
                    case: case.to_string(),
                    key: key.to_string(),
                })
            }
            _ => {
                return Err(format!(
                    "{}:{}: want CASE | DIFFERENCE | REASON (a reason is required)",
                    path.display(),
                    n + 1
                ))
            }
        }
    }
    Ok(out)
}

fn glob(pat: &[u8], s: &[u8]) -> bool {
    match pat.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        Some((b'?', rest)) => !s.is_empty() && glob(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

// ---- images ---------------------------------------------------------------

struct Image {
    config: Value,
    layers: usize,
    history: usize,
}

fn read_json(path: &Path) -> Result<Value, String> {
    let bytes = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn blob(layout: &Path, desc: &Value) -> Result<Value, String> {
    let digest = desc["digest"]
        .as_str()
        .ok_or("a descriptor without a digest")?;
    let (alg, hex) = digest.split_once(':').ok_or("a malformed digest")?;
    read_json(&layout.join("blobs").join(alg).join(hex))
}

/// The one image of a layout: its config, layer count and the count of
/// history entries that made a layer.
fn load_image(layout: &Path) -> Result<Image, String> {
    let index = read_json(&layout.join("index.json"))?;
    let manifests = index["manifests"]
        .as_array()
        .ok_or("index.json without manifests")?;
    let [desc] = manifests.as_slice() else {
        return Err(format!(
            "{}: want one image, found {}",
            layout.display(),
            manifests.len()
        ));
    };
    let manifest = blob(layout, desc)?;
    let config = blob(layout, &manifest["config"])?;
    let layers = manifest["layers"].as_array().map_or(0, Vec::len);
    let history = config["history"].as_array().map_or(0, |h| {
        h.iter()
            .filter(|e| e["empty_layer"] != Value::Bool(true))
            .count()
    });
    Ok(Image {
        config,
        layers,
        history,
    })
}

/// null, a missing key, "", [] and {} are all "not set".
fn normalize(v: &Value) -> Value {
    match v {
        Value::String(s) if s.is_empty() => Value::Null,
        Value::Array(a) if a.is_empty() => Value::Null,
        Value::Object(o) if o.is_empty() => Value::Null,
        other => other.clone(),
    }
}

fn compare_images(b: &Image, s: &Image, out: &mut Vec<Diff>) {
    for field in CONFIG_FIELDS {
        let mut bv = b.config["config"][field].clone();
        let mut sv = s.config["config"][field].clone();
        if *field == "Labels" {
            for v in [&mut bv, &mut sv] {
                if let Value::Object(o) = v {
                    for l in TOOL_LABELS {
                        o.remove(*l);
                    }
                }
            }
        }
        let (bv, sv) = (normalize(&bv), normalize(&sv));
        if bv != sv {
            diff(out, format!("config {field}"), &bv, &sv);
        }
    }
    if b.layers != s.layers {
        diff(out, "layers".into(), b.layers, s.layers);
    }
    if b.history != s.history {
        diff(out, "history".into(), b.history, s.history);
    }
}

// ---- trees ----------------------------------------------------------------

#[derive(PartialEq)]
struct Entry {
    kind: String,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    sha256: String,
    link: String,
    xattrs: BTreeMap<String, String>,
    mtime: i64,
    nlink: u64,
}

fn walk(root: &Path) -> Result<BTreeMap<String, Entry>, String> {
    let mut out = BTreeMap::new();
    walk_into(root, root, &mut out).map_err(|e| format!("{}: {e}", root.display()))?;
    Ok(out)
}

fn walk_into(root: &Path, dir: &Path, out: &mut BTreeMap<String, Entry>) -> io::Result<()> {
    let mut names: Vec<_> = fs::read_dir(dir)?.collect::<io::Result<Vec<_>>>()?;
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let path = e.path();
        let md = fs::symlink_metadata(&path)?;
        let ft = md.file_type();
        let rel = format!("/{}", path.strip_prefix(root).unwrap_or(&path).display());
        let (kind, sha256, link) = if ft.is_file() {
            ("file".to_string(), sha256_file(&path)?, String::new())
        } else if ft.is_dir() {
            ("dir".to_string(), String::new(), String::new())
        } else if ft.is_symlink() {
            let t = fs::read_link(&path)?;
            (
                "symlink".to_string(),
                String::new(),
                String::from_utf8_lossy(t.as_os_str().as_bytes()).into(),
            )
        } else if ft.is_char_device() || ft.is_block_device() {
            let c = if ft.is_char_device() { "char" } else { "block" };
            let r = md.rdev();
            (
                format!("{c} {}:{}", libc_major(r), libc_minor(r)),
                String::new(),
                String::new(),
            )
        } else if ft.is_fifo() {
            ("fifo".to_string(), String::new(), String::new())
        } else {
            ("socket".to_string(), String::new(), String::new())
        };
        let xattrs = slipway_common::fsmeta::xattrs(&path)?
            .into_iter()
            .map(|(k, v)| (String::from_utf8_lossy(&k).into_owned(), hex::encode(v)))
            .collect();
        out.insert(
            rel,
            Entry {
                size: if ft.is_file() { md.len() } else { 0 },
                mode: md.mode() & 0o7777,
                uid: md.uid(),
                gid: md.gid(),
                mtime: md.mtime(),
                nlink: if ft.is_dir() { 0 } else { md.nlink() },
                kind,
                sha256,
                link,
                xattrs,
            },
        );
        if ft.is_dir() {
            walk_into(root, &path, out)?;
        }
    }
    Ok(())
}

fn libc_major(dev: u64) -> u64 {
    ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)
}

fn libc_minor(dev: u64) -> u64 {
    ((dev >> 12) & 0xffff_ff00) | (dev & 0xff)
}

fn sha256_file(path: &Path) -> io::Result<String> {
    let mut f = fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Compares what both trees hold. mtimes are compared only for non-directories
/// that at least one side dates from before the build (`since`): files taken
/// from the context, a tar or the base keep their mtime in both BuildKit and
/// Buildah; what a build step makes is stamped with the clock of that step.
fn compare_trees(
    b: &BTreeMap<String, Entry>,
    s: &BTreeMap<String, Entry>,
    since: i64,
    out: &mut Vec<Diff>,
) {
    for (path, be) in b {
        let Some(se) = s.get(path) else {
            out.push(Diff {
                key: format!("fs {path} only-buildah"),
                detail: be.kind.clone(),
            });
            continue;
        };
        if be == se {
            continue;
        }
        if be.kind != se.kind {
            diff(out, format!("fs {path} type"), &be.kind, &se.kind);
            continue;
        }
        if be.mode != se.mode {
            diff(
                out,
                format!("fs {path} mode"),
                format!("{:04o}", be.mode),
                format!("{:04o}", se.mode),
            );
        }
        if be.uid != se.uid || be.gid != se.gid {
            diff(
                out,
                format!("fs {path} owner"),
                format!("{}:{}", be.uid, be.gid),
                format!("{}:{}", se.uid, se.gid),
            );
        }
        if be.size != se.size {
            diff(out, format!("fs {path} size"), be.size, se.size);
        } else if be.sha256 != se.sha256 {
            diff(
                out,
                format!("fs {path} content"),
                &be.sha256[..12],
                &se.sha256[..12],
            );
        }
        if be.link != se.link {
            diff(out, format!("fs {path} link"), &be.link, &se.link);
        }
        if be.nlink != se.nlink {
            diff(out, format!("fs {path} nlink"), be.nlink, se.nlink);
        }
        for name in be.xattrs.keys().chain(se.xattrs.keys()) {
            if be.xattrs.get(name) != se.xattrs.get(name) {
                let show = |x: Option<&String>| x.map_or("none".to_string(), Clone::clone);
                diff(
                    out,
                    format!("fs {path} xattr {name}"),
                    show(be.xattrs.get(name)),
                    show(se.xattrs.get(name)),
                );
                break;
            }
        }
        if be.kind != "dir" && be.mtime != se.mtime && (be.mtime < since || se.mtime < since) {
            // One second later in Buildah's is its tar writer's rounding
            // (Go's archive/tar rounds a header without PAX to the nearest
            // second); a key of its own so that known.txt can say so.
            let key = if be.mtime == se.mtime + 1 {
                "mtime-rounded"
            } else {
                "mtime"
            };
            diff(out, format!("fs {path} {key}"), be.mtime, se.mtime);
        }
    }
    for (path, se) in s {
        if !b.contains_key(path) {
            out.push(Diff {
                key: format!("fs {path} only-image-build"),
                detail: se.kind.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn glob_matches_runs_and_single_characters() {
        for (p, s, want) in [
            ("*", "anything at all", true),
            (
                "fs /etc/host* only-buildah",
                "fs /etc/hostname only-buildah",
                true,
            ),
            ("fs /etc/host* only-buildah", "fs /etc/hostname mode", false),
            ("copy-?/Dockerfile", "copy-a/Dockerfile", true),
            ("copy-?/Dockerfile", "copy-ab/Dockerfile", false),
            ("config Env", "config Env", true),
            ("config Env", "config Envx", false),
        ] {
            assert_eq!(glob(p.as_bytes(), s.as_bytes()), want, "{p} vs {s}");
        }
    }
}
