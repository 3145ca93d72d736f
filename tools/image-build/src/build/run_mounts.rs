//! RUN --mount: what each mount reads (for the step's cache key) and the
//! container-run options that give it to the container. Bind mounts come
//! from the context (as .dockerignore leaves it) or from a stage or image
//! mounted by image-store; cache mounts are directories kept in the store
//! across builds; secrets are copied into the build's private temp dir
//! with the mode and owner asked for, never into a layer, the history or
//! a cache key.

use super::{Driver, State};
use crate::context::Item;
use crate::digests::source_digest;
use crate::mounts::{self, Mount, Sharing};
use crate::plan::{Run, Source};
use crate::tools::{Action, Call, Word};
use serde_json::{json, Value};
use slipway_common::buildcache;
use slipway_common::digest::Digest;
use slipway_common::ignore::Matcher;
use slipway_common::lock::{FileLock, LockKind};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// Where a `--secret` comes from.
#[derive(Clone, Debug)]
pub enum SecretSource {
    File(PathBuf),
    Env(String),
}

/// One mount, parsed, with what it reads.
pub(super) struct Planned {
    pub(super) mount: Mount,
    /// A bind mount's stage or image: (reference, manifest digest).
    from: Option<(String, String)>,
    /// A bind mount's source in the context.
    item: Option<Item>,
}

/// What the container gets: options for container-run, the same without
/// the build's temp files (for the debug hint), and locks to hold while
/// it runs.
pub(super) struct Given {
    pub args: Vec<Word>,
    /// Variables container-run is given and passes on (`-e NAME`).
    pub env: Vec<(String, std::ffi::OsString)>,
    pub hint: Vec<String>,
    pub locks: Vec<FileLock>,
    pub prep: Vec<Action>,
    /// Removes what prep made, once the command is done.
    pub done: Vec<Action>,
}

pub(super) fn volume(source: &str, target: &str, ro: bool) -> Result<String, String> {
    if source.contains(':') || target.contains(':') {
        return Err(format!(
            "{source}:{target}: a mount path with ':' cannot be given to container-run -v"
        ));
    }
    Ok(format!(
        "{source}:{target}:{}",
        if ro { "ro" } else { "rw" }
    ))
}

impl Driver<'_> {
    /// The step's mounts, values expanded, and their part of the cache key.
    pub(super) fn plan_mounts(
        &mut self,
        st: &State,
        run: &Run,
    ) -> Result<(Vec<Planned>, Vec<Value>), String> {
        let mut froms = run.from.iter();
        let mut planned = vec![];
        let mut key = vec![];
        for spec in &run.flags.mount {
            // Mount values are expanded even where the command is not.
            let expand = |v: &str| -> Result<String, String> {
                self.lex.process_word(v, &st.lookup()).map_err(|e| e.0)
            };
            let mount = mounts::parse(spec, &expand).map_err(|e| format!("--mount={spec}: {e}"))?;
            let mut p = Planned {
                mount,
                from: None,
                item: None,
            };
            let mut content = Value::Null;
            if let Mount::Cache { from: true, .. } = &p.mount {
                let (image, digest) = self.mount_from(&mut froms, spec)?;
                content = json!(digest);
                p.from = Some((image, digest));
            }
            if let Mount::Bind { source, from, .. } = &p.mount {
                if *from {
                    let (image, digest) = self.mount_from(&mut froms, spec)?;
                    content = json!(digest);
                    p.from = Some((image, digest));
                } else {
                    let src = if source.is_empty() {
                        "."
                    } else {
                        source.as_str()
                    };
                    let (_, mut items) = self
                        .ctx
                        .resolve("RUN --mount", &[src.to_string()], "/mnt", "/")
                        .map_err(|e| format!("--mount={spec}: {e}"))?;
                    let item = items.remove(0);
                    if let Some(stat) = &self.shared.stat {
                        let mut stat = super::lock(stat);
                        let ex = Matcher::new(&item.excludes).map_err(|e| e.0)?;
                        let d = source_digest(&mut stat, &item.src, &ex)
                            .map_err(|e| format!("{}: {e}", item.rel))?;
                        content = json!(d);
                    }
                    p.item = Some(item);
                }
            }
            key.push(json!({"mount": p.mount, "content": content}));
            planned.push(p);
        }
        Ok((planned, key))
    }

    /// The stage or image a mount's `from=` names, the next in the plan's
    /// order: (reference, manifest digest).
    fn mount_from(
        &mut self,
        froms: &mut std::slice::Iter<'_, Source>,
        spec: &str,
    ) -> Result<(String, String), String> {
        match froms.next() {
            Some(Source::Stage(i)) => {
                let done = super::lock(&self.shared.results)
                    .get(i)
                    .cloned()
                    .ok_or_else(|| format!("stage {i} was not built"))?;
                // By image ID: the stage's image keys alike whether it was built
                // here or came compressed from a --cache-from registry.
                let digest = match &done.digest {
                    Some(d) => self.image_id(d).unwrap_or_else(|| d.clone()),
                    None => done.image.clone(),
                };
                Ok((done.image.clone(), digest))
            }
            Some(Source::Image(r)) => {
                let found = self.image(r).map_err(|e| format!("from={r}: {e}"))?;
                self.material(r, &found);
                Ok((found.pin(r), found.digest))
            }
            None => Err(format!(
                "--mount={spec}: the plan names no source for from="
            )),
        }
    }

    /// A cache mount's directory seeded from `source` in `image`, made
    /// the first time only, as BuildKit initialises a cache mount that
    /// has a base: later builds find what earlier ones left there.
    fn seeded_cache_dir(
        &mut self,
        root: &std::path::Path,
        dir: &std::path::Path,
        image: &str,
        source: &str,
    ) -> Result<(), String> {
        let rootfs = self.unpack(image)?;
        // Resolved inside the image: a symlink in it never leads out.
        let src = slipway_common::fsutil::resolve_in_root(&rootfs, source)
            .map_err(|e| format!("{source} in {image}: {e}"))?;
        let meta =
            std::fs::metadata(&src).map_err(|_| format!("{source}: not found in {image}"))?;
        if !meta.is_dir() {
            return Err(format!(
                "{source} in {image}: a cache mount's source must be a directory"
            ));
        }
        std::fs::create_dir_all(root).map_err(io(root))?;
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempdir_in(root)
            .map_err(io(root))?;
        let copy = Call::new("layer-diff")
            .arg("--dir")
            .arg(src.as_path())
            .arg("--to")
            .arg("/")
            .pipe(Call::new("layer-diff").arg("--apply").arg(tmp.path()));
        self.act(&[Action::Call(copy)]).map_err(|e| e.to_string())?;
        use std::os::unix::fs::MetadataExt;
        std::fs::set_permissions(
            tmp.path(),
            std::fs::Permissions::from_mode(meta.mode() & 0o7777),
        )
        .map_err(io(tmp.path()))?;
        chown(tmp.path(), meta.uid(), meta.gid())?;
        match std::fs::rename(tmp.path(), dir) {
            Ok(()) => {
                let _ = tmp.keep();
                Ok(())
            }
            // Another build made it first.
            Err(_) if dir.is_dir() => Ok(()),
            Err(e) => Err(format!("{}: {e}", dir.display())),
        }
    }

    /// After a cache miss: makes what the mounts need and returns the
    /// container-run options for them.
    pub(super) fn give_mounts(&mut self, planned: &[Planned]) -> Result<Given, String> {
        let mut g = Given {
            args: vec![],
            env: vec![],
            hint: vec![],
            locks: vec![],
            prep: vec![],
            done: vec![],
        };
        for (n, p) in planned.iter().enumerate() {
            match &p.mount {
                Mount::Tmpfs { target, size } => {
                    let mut spec = format!("{target}:exec");
                    if let Some(s) = size {
                        spec.push_str(&format!(",size={s}"));
                    }
                    g.args.extend(["--tmpfs".into(), spec.clone().into()]);
                    g.hint.extend(["--tmpfs".into(), spec]);
                }
                Mount::Bind { .. } => self.give_bind(n, p, &mut g)?,
                Mount::Cache { .. } => self.give_cache(n, p, &mut g)?,
                Mount::Secret { .. } => self.give_secret(n, p, &mut g)?,
                Mount::Ssh { .. } => {
                    let k = planned[..n]
                        .iter()
                        .filter(|q| matches!(q.mount, Mount::Ssh { .. }))
                        .count();
                    self.give_ssh(n, k, p, &mut g)?
                }
            }
        }
        Ok(g)
    }

    /// A bind mount: the source itself read-only, or a copy where it must
    /// be one (rw, or a source .dockerignore trims).
    fn give_bind(&mut self, n: usize, p: &Planned, g: &mut Given) -> Result<(), String> {
        let script = self.script();
        let Mount::Bind {
            target, source, rw, ..
        } = &p.mount
        else {
            unreachable!("a bind mount")
        };
        let src = match (&p.from, &p.item) {
            (Some((image, _)), _) => {
                if script {
                    return Err("--print-script cannot write RUN --mount from= yet: its source is only known once the build runs".into());
                }
                let root = self.unpack(image)?;
                // Resolved inside the image: a symlink in it
                // never leads out to the host.
                let real = slipway_common::fsutil::resolve_in_root(&root, source)
                    .map_err(|e| format!("{source} in {image}: {e}"))?;
                if std::fs::symlink_metadata(&real).is_err() {
                    return Err(format!("{source}: not found in {image}"));
                }
                real
            }
            (None, Some(item)) => item.src.clone(),
            (None, None) => unreachable!("a bind mount has a source"),
        };
        let excludes = p
            .item
            .as_ref()
            .map(|i| i.excludes.clone())
            .unwrap_or_default();
        // What .dockerignore leaves out is not in the context,
        // and a writable mount's writes are thrown away: both
        // get a copy, the rest the source itself, read-only.
        let needs_copy = *rw || !excludes.is_empty();
        if needs_copy {
            let dir = Word::Tmp(format!("mount-{n}"));
            let is_dir = src.is_dir();
            let to = if is_dir {
                "/".to_string()
            } else {
                "/file".to_string()
            };
            let mut c = Call::new("layer-diff")
                .arg("--dir")
                .arg(src.as_path())
                .arg("--to")
                .arg(to.as_str());
            for e in &excludes {
                c = c.arg("--exclude").arg(e.as_str());
            }
            g.prep.push(Action::Mkdir(dir.clone()));
            g.done.push(Action::Remove(dir.clone()));
            g.prep.push(Action::Call(
                c.pipe(Call::new("layer-diff").arg("--apply").arg(dir.clone())),
            ));
            let staged = match (self.exec.running(), is_dir) {
                (Some(r), true) => r.tmp.join(format!("mount-{n}")),
                (Some(r), false) => r.tmp.join(format!("mount-{n}/file")),
                (None, _) => {
                    return Err("--print-script cannot write a RUN --mount that needs a copy (rw, or a source .dockerignore trims) yet".into())
                }
            };
            let v = volume(&staged.to_string_lossy(), target, !rw)?;
            g.args.extend(["-v".into(), v.into()]);
        } else {
            let v = volume(&src.to_string_lossy(), target, true)?;
            g.args.extend(["-v".into(), v.clone().into()]);
            g.hint.extend(["-v".into(), v]);
        }
        Ok(())
    }

    /// A cache mount: its directory in the store (seeded from= an image),
    /// under its sharing's lock, or a fresh one when a private one is taken.
    fn give_cache(&mut self, n: usize, p: &Planned, g: &mut Given) -> Result<(), String> {
        let script = self.script();
        let Mount::Cache {
            target,
            id,
            source,
            sharing,
            ro,
            mode,
            uid,
            gid,
            ..
        } = &p.mount
        else {
            unreachable!("a cache mount")
        };
        let root = buildcache::mounts_dir(&self.opts.store);
        // A cache with a base is its own cache per base (and
        // source), as BuildKit keys it by id and base.
        let name = match &p.from {
            Some((_, digest)) => Digest::of(format!("{id}\0{digest}\0{source}").as_bytes()),
            None => Digest::of(id.as_bytes()),
        };
        let dir = root.join(name.hex());
        if script {
            if *sharing != Sharing::Shared {
                return Err(
                    "--print-script cannot write a cache mount with sharing=locked or private yet"
                        .into(),
                );
            }
            if p.from.is_some() {
                return Err("--print-script cannot write a cache mount with from= yet: its seed is only known once the build runs".into());
            }
        } else {
            if !dir.is_dir() {
                match &p.from {
                    Some((image, _)) => {
                        let src = if source.is_empty() {
                            "/"
                        } else {
                            source.as_str()
                        };
                        self.seeded_cache_dir(&root, &dir, image, src)?
                    }
                    None => make_cache_dir(&root, &dir, *mode, *uid, *gid)?,
                }
            }
            let lock = root.join(format!("{}.lock", name.hex()));
            match sharing {
                Sharing::Shared => {}
                Sharing::Locked => g.locks.push(wait_for_lock(&lock)?),
                Sharing::Private => {
                    match FileLock::try_acquire(&lock, LockKind::Exclusive)
                        .map_err(|e| format!("{}: {e}", lock.display()))?
                    {
                        Some(l) => g.locks.push(l),
                        None => {
                            // Another build holds it: this one
                            // gets a fresh cache of its own.
                            let fresh = match self.exec.running() {
                                Some(r) => r.tmp.join(format!("cache-{n}")),
                                None => unreachable!("checked above"),
                            };
                            let parent = fresh.parent().unwrap_or(&fresh).to_path_buf();
                            match &p.from {
                                Some((image, _)) => {
                                    let src = if source.is_empty() {
                                        "/"
                                    } else {
                                        source.as_str()
                                    };
                                    self.seeded_cache_dir(&parent, &fresh, image, src)?
                                }
                                None => make_cache_dir(&parent, &fresh, *mode, *uid, *gid)?,
                            }
                            g.done.push(Action::Remove(Word::Tmp(format!("cache-{n}"))));
                            let v = volume(&fresh.to_string_lossy(), target, *ro)?;
                            g.args.extend(["-v".into(), v.into()]);
                            return Ok(());
                        }
                    }
                }
            }
        }
        let v = volume(&dir.to_string_lossy(), target, *ro)?;
        g.args.extend(["-v".into(), v.clone().into()]);
        g.hint.extend(["-v".into(), v]);
        Ok(())
    }

    /// A secret: a private file bound at its target, or a variable passed
    /// on by name; never in a layer or on a command line.
    fn give_secret(&mut self, n: usize, p: &Planned, g: &mut Given) -> Result<(), String> {
        let script = self.script();
        let Mount::Secret {
            id,
            target,
            env,
            required,
            mode,
            uid,
            gid,
        } = &p.mount
        else {
            unreachable!("a secret mount")
        };
        if script {
            return Err("--print-script cannot write RUN --mount=type=secret yet".into());
        }
        let Some(value) = self.secret_value(id)? else {
            if *required {
                return Err(format!(
                    "secret {id:?} is required but not given (--secret id={id},src=FILE)"
                ));
            }
            return Ok(());
        };
        let Some(r) = self.exec.running() else {
            unreachable!("checked above")
        };
        let dir = r.tmp.join("secrets");
        make_private_dir(&dir)?;
        if !g
            .done
            .iter()
            .any(|a| matches!(a, Action::Remove(Word::Tmp(t)) if t == "secrets"))
        {
            g.done.push(Action::Remove(Word::Tmp("secrets".into())));
        }
        if let Some(t) = target {
            let file = dir.join(format!("{n}-{}", sanitize(id)));
            write_private(&file, &value, *mode, *uid, *gid)?;
            let v = volume(&file.to_string_lossy(), t, true)?;
            g.args.extend(["-v".into(), v.into()]);
        }
        if let Some(var) = env {
            if value.contains(&0) || var.is_empty() || var.contains('=') {
                return Err(format!(
                    "secret {id:?}: cannot be the variable {var:?} (a NUL byte, or a bad name)"
                ));
            }
            // In container-run's environment, passed on by
            // name: never on a command line.
            let os = std::ffi::OsString::from_vec(value.clone());
            g.env.push((var.clone(), os));
            g.args.extend(["--secret-env".into(), var.as_str().into()]);
        }
        Ok(())
    }

    /// A `--secret`'s bytes, or None when no --secret has the id.
    fn secret_value(&self, id: &str) -> Result<Option<Vec<u8>>, String> {
        let Some((_, src)) = self.opts.secrets.iter().find(|(i, _)| i == id) else {
            return Ok(None);
        };
        match src {
            SecretSource::File(p) => std::fs::read(p)
                .map(Some)
                .map_err(|e| format!("secret {id:?}: {}: {e}", p.display())),
            SecretSource::Env(v) => std::env::var_os(v)
                .map(|v| Some(v.into_encoded_bytes()))
                .ok_or_else(|| format!("secret {id:?}: the variable {v} is not set")),
        }
    }
}

/// A locked cache mount's lock: waited for, but not past a stop.
fn wait_for_lock(lock: &std::path::Path) -> Result<FileLock, String> {
    loop {
        if let Some(l) = FileLock::try_acquire(lock, LockKind::Exclusive)
            .map_err(|e| format!("{}: {e}", lock.display()))?
        {
            return Ok(l);
        }
        if crate::signals::stopping() {
            return Err("stopped while waiting for a locked cache mount".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn sanitize(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn io(p: &std::path::Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", p.display())
}

fn chown(p: &std::path::Path, uid: u32, gid: u32) -> Result<(), String> {
    std::os::unix::fs::chown(p, Some(uid), Some(gid)).map_err(io(p))
}

/// A cache mount's directory, made with its mode and owner the first
/// time (renamed into place, so two builds never see a half-made one).
fn make_cache_dir(
    root: &std::path::Path,
    dir: &std::path::Path,
    mode: u32,
    uid: u32,
    gid: u32,
) -> Result<(), String> {
    std::fs::create_dir_all(root).map_err(io(root))?;
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempdir_in(root)
        .map_err(io(root))?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))
        .map_err(io(tmp.path()))?;
    chown(tmp.path(), uid, gid)?;
    match std::fs::rename(tmp.path(), dir) {
        Ok(()) => {
            let _ = tmp.keep();
            Ok(())
        }
        // Another build made it first.
        Err(_) if dir.is_dir() => Ok(()),
        Err(e) => Err(format!("{}: {e}", dir.display())),
    }
}

pub(super) fn make_private_dir(dir: &std::path::Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))
}

fn write_private(
    file: &std::path::Path,
    bytes: &[u8],
    mode: u32,
    uid: u32,
    gid: u32,
) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .map_err(io(file))?;
    f.write_all(bytes).map_err(io(file))?;
    drop(f);
    chown(file, uid, gid)?;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode)).map_err(io(file))
}
