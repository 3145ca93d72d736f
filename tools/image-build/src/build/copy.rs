//! COPY and ADD: sources from the context, a stage or an image, heredocs,
//! and for ADD local archives (unpacked) and URLs (downloaded), turned
//! into one layer by layer-diff. What the sources hold is part of the
//! step's cache key; their mtimes are not.

use super::cache::step_key;
use super::{is_archive, is_remote, strip_keyword, Driver, Mode, State};
use crate::context::{Context, Item};
use crate::digests::source_digest;
use crate::plan::{Source, Step};
use crate::tools::{Action, Call, Out, Word};
use crate::Error;
use serde_json::{json, Value};
use slipway_common::ignore::{clean_path, Matcher};
use slipway_common::shell::Lex;

/// One source as the layer gets it.
struct Part {
    item: Item,
    /// Unpacked into the destination instead of copied as a file.
    archive: bool,
    /// Owner for this part when --chown is not given: context files are
    /// root's, an image's files and an archive's keep their own.
    default_owner: Option<&'static str>,
    /// The source as the call names it, where that is not `item.src`: a
    /// heredoc's file in the build's temp dir.
    word: Option<Word>,
}

/// A URL downloaded for ADD: where it is and what it is called.
struct Fetched {
    url: String,
    file: std::path::PathBuf,
    name: String,
    digest: String,
    last_modified: Option<i64>,
}

impl Driver<'_> {
    pub(super) fn copy(
        &mut self,
        st: &mut State,
        step: &Step,
        next: String,
    ) -> Result<bool, Error> {
        let up = step.cmd.to_ascii_uppercase();
        let add = step.cmd == "add";
        let fail = |d: &Driver, m: String| d.err(step.line, &step.original, m);
        // The source image, and its manifest digest for the cache key.
        let (from, from_digest) = match step.from.first() {
            None => (None, None),
            Some(_) if self.script() => {
                return Err(fail(
                    self,
                    format!("--print-script cannot write {up} --from yet: its sources are only known once the stage is built"),
                ))
            }
            Some(Source::Stage(i)) => {
                let done = super::lock(&self.shared.results).get(i).cloned();
                let done = done.ok_or_else(|| fail(self, format!("stage {i} was not built")))?;
                let digest = done.digest.clone().unwrap_or_else(|| done.image.clone());
                (Some(done.image.clone()), Some(digest))
            }
            Some(Source::Image(r)) => {
                let found = self
                    .image(r)
                    .map_err(|e| fail(self, format!("--from={r}: {e}")))?;
                (
                    Some(format!("{}@{}", r.split('@').next().unwrap_or(r), found.digest)),
                    Some(found.digest),
                )
            }
        };
        let parents = step.flags.get("parents").and_then(|v| v.as_bool()) == Some(true);
        // ADD unpacks local archives unless --unpack=false, and remote
        // ones only with --unpack=true.
        let unpack = step.flags.get("unpack").and_then(|v| v.as_bool());
        let checksum = step
            .flag("checksum")
            .map(|c| self.expand(st, step, c))
            .transpose()?;
        let mut sources = vec![];
        let mut urls = vec![];
        for s in &step.sources {
            let s = self.expand(st, step, s)?;
            if add && is_remote(&s) {
                if !(s.starts_with("http://") || s.starts_with("https://")) || s.ends_with(".git") {
                    return Err(fail(
                        self,
                        format!("ADD of a git repository ({s}) is not supported: give the files in the context"),
                    ));
                }
                urls.push(s);
            } else {
                sources.push(s);
            }
        }
        if checksum.is_some() && (urls.len() != 1 || !sources.is_empty()) {
            return Err(fail(
                self,
                "ADD --checksum needs exactly one URL source".into(),
            ));
        }
        let dest = self.expand(st, step, step.dest.as_deref().unwrap_or_default())?;
        let count = sources.len() + urls.len() + step.inline.len();
        let dest_is_dir = dest.ends_with('/') || dest == "." || dest.ends_with("/.");
        if count > 1 && !dest_is_dir {
            return Err(fail(self, format!(
                "When using {up} with more than one source file, the destination must be a directory and end with a /"
            )));
        }
        let dest_abs = if dest.starts_with('/') {
            clean_path(&dest)
        } else {
            clean_path(&format!(
                "{}/{dest}",
                if st.workdir.is_empty() {
                    "/"
                } else {
                    &st.workdir
                }
            ))
        };
        let target_of = |name: &str| {
            if dest_is_dir {
                clean_path(&format!("{dest_abs}/{name}"))
            } else {
                dest_abs.clone()
            }
        };
        let chown_spec = step
            .flag("chown")
            .map(|c| self.expand(st, step, c))
            .transpose()?;
        let chmod = match step.flag("chmod") {
            Some(m) => {
                let m = self.expand(st, step, m)?;
                if m.is_empty() || m.len() > 4 || !m.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                    return Err(fail(
                        self,
                        format!("--chmod={m}: only an octal mode is supported"),
                    ));
                }
                Some(m)
            }
            None => None,
        };
        let mut excludes = vec![];
        for e in step.flag_list("exclude") {
            excludes.push(self.expand(st, step, &e)?);
        }
        // Heredoc sources, expanded (quotes kept) unless their name was
        // quoted.
        let mut inline = vec![];
        for h in &step.inline {
            let (name, data) = (h.path.as_str(), h.data.as_str());
            let data = if h.expand {
                let mut lex = Lex::new('\\');
                lex.raw_quotes = true;
                lex.process_word(data, &st.lookup())
                    .map_err(|e| fail(self, e.0))?
            } else {
                data.to_string()
            };
            if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                return Err(fail(self, format!("{name:?} cannot name a heredoc file")));
            }
            inline.push((name.to_string(), data));
        }
        // URLs are fetched now: what they hold is part of the key. A
        // --checksum stands for the bytes, so a cached step fetches nothing.
        let mut fetched: Vec<Fetched> = vec![];
        if !urls.is_empty() && self.script() {
            return Err(fail(
                self,
                "--print-script cannot write ADD of a URL yet".into(),
            ));
        }
        if checksum.is_none() {
            for (n, url) in urls.iter().enumerate() {
                fetched.push(self.fetch(url, n).map_err(|m| fail(self, m))?);
            }
        }
        // Context sources are found now: their contents are part of the
        // key. An image's are found only on a miss, once it is mounted:
        // its digest stands for them.
        let ctx_items = match (&from, sources.is_empty()) {
            (None, false) => Some(
                resolve(self.ctx, &up, &sources, &dest, &st.workdir, parents)
                    .map_err(|m| fail(self, m))?,
            ),
            _ => None,
        };
        let history = format!("{up} {} # buildkit", strip_keyword(&step.original));
        let mut contents = vec![];
        if let (Some(items), Some(stat)) = (&ctx_items, &self.shared.stat) {
            let mut stat = super::lock(stat);
            let mut hashed = Ok(());
            for item in items {
                let ex = match Matcher::new(&[item.excludes.clone(), excludes.clone()].concat()) {
                    Ok(m) => m,
                    Err(e) => {
                        hashed = Err(format!("--exclude={}: {}", e.0, e.1));
                        break;
                    }
                };
                // What the ignore rules leave out is not in the digest,
                // so the list of it (which names ignored files that
                // exist) is not in the key: a new ignored file is no
                // change.
                match source_digest(&mut stat, &item.src, &ex) {
                    Ok(d) => contents.push(json!({"rel": item.rel, "target": item.target, "dir": item.is_dir, "digest": d})),
                    Err(e) => {
                        hashed = Err(format!("{}: {e}", item.rel));
                        break;
                    }
                }
            }
            drop(stat);
            hashed.map_err(|m| fail(self, m))?;
        }
        let remote: Vec<Value> = match &checksum {
            Some(c) => vec![json!({"url": urls[0], "checksum": c})],
            None => fetched
                .iter()
                .map(|f| json!({"url": f.url, "name": f.name, "digest": f.digest, "mtime": f.last_modified}))
                .collect(),
        };
        let link = step.flags.get("link").and_then(Value::as_bool) == Some(true);
        let mut step_json = json!({"cmd": up, "from": from_digest, "sources": sources, "dest": dest,
            "workdir": st.workdir, "chown": chown_spec, "chmod": chmod, "excludes": excludes,
            "contents": contents, "inline": inline, "remote": remote, "unpack": unpack,
            "history": history, "link": link});
        let key = self.key(st, step_json.clone());
        let fs_key = self.fs_key(st, &step_json);
        if self
            .reuse(st, &key, &fs_key, &next)
            .map_err(|e| fail(self, e.to_string()))?
        {
            return Ok(true);
        }
        if let Some(sum) = &checksum {
            let f = self.fetch(&urls[0], 0).map_err(|m| fail(self, m))?;
            if &f.digest != sum {
                return Err(fail(
                    self,
                    format!(
                        "{}: the checksum is {}, not the {sum} that --checksum expects",
                        urls[0], f.digest
                    ),
                ));
            }
            fetched.push(f);
        }
        let chown = match &chown_spec {
            Some(c) => Some(
                self.owner(&st.image, c)
                    .map_err(|m| fail(self, format!("--chown={c}: {m}")))?,
            ),
            None => None,
        };
        // COPY --link: the layer is made as if onto nothing, so it does
        // not depend on the image below and is cached apart from it (its
        // key has no parent; names in --chown count as the numbers they
        // were here). A layer cached that way goes on the new image as
        // it is, as BuildKit rebases it.
        let link_key = if link && !self.script() {
            step_json["chown"] = json!(chown);
            Some(step_key(
                "link",
                self.opts.epoch.as_deref(),
                &self.platform,
                &step_json,
            ))
        } else {
            None
        };
        if let Some(layer_image) = link_key.as_ref().and_then(|k| self.find_cached(k)) {
            let rebase = vec!["--layers-of".into(), layer_image.to_string().into()];
            self.commit(st, next, rebase, None, key)
                .map_err(|e| fail(self, e.to_string()))?;
            self.advance(st, fs_key);
            return Ok(true);
        }
        // Every source as a part: where it is, where it lands, how.
        let mut parts: Vec<Part> = vec![];
        if !sources.is_empty() {
            let items = match (ctx_items, &from) {
                (Some(items), _) => items,
                (None, Some(image)) => {
                    let root = self
                        .unpack(image)
                        .map_err(|m| fail(self, format!("--from={image}: {m}")))?;
                    let ctx = Context {
                        from: Some(
                            step.flags
                                .get("from")
                                .and_then(Value::as_str)
                                .unwrap_or(image)
                                .to_string(),
                        ),
                        root,
                        ignore: Default::default(),
                    };
                    resolve(&ctx, &up, &sources, &dest, &st.workdir, parents)
                        .map_err(|m| fail(self, m))?
                }
                (None, None) => unreachable!("context sources are resolved above"),
            };
            for item in items {
                let archive = add && unpack != Some(false) && !item.is_dir && is_archive(&item.src);
                let mut item = item;
                if archive {
                    item.target = dest_abs.clone();
                }
                let default_owner = if from.is_some() || archive {
                    None
                } else {
                    Some("0:0")
                };
                parts.push(Part {
                    item,
                    archive,
                    default_owner,
                    word: None,
                });
            }
        }
        for (name, data) in &inline {
            let w = Word::Tmp(format!("inline/{name}"));
            self.act(&[Action::Write(w, data.clone(), 0o644)])
                .map_err(|e| fail(self, e.to_string()))?;
            let src = match &self.mode {
                Mode::Run(r) => r.tmp.join("inline").join(name),
                Mode::Script(_) => std::path::PathBuf::new(),
            };
            parts.push(Part {
                word: Some(Word::Tmp(format!("inline/{name}"))),
                item: Item {
                    src,
                    rel: name.clone(),
                    is_dir: false,
                    target: target_of(name),
                    excludes: vec![],
                },
                archive: false,
                default_owner: Some("0:0"),
            });
        }
        for f in &fetched {
            let archive = unpack == Some(true) && is_archive(&f.file);
            parts.push(Part {
                item: Item {
                    src: f.file.clone(),
                    rel: f.name.clone(),
                    is_dir: false,
                    target: if archive {
                        dest_abs.clone()
                    } else {
                        target_of(&f.name)
                    },
                    excludes: vec![],
                },
                archive,
                default_owner: if archive { None } else { Some("0:0") },
                word: None,
            });
        }
        let layer = Word::Tmp("layer.tar".into());
        let staging = Word::Tmp("staging".into());
        let single = parts.len() == 1;
        let mut actions = vec![];
        let mut done = vec![
            Action::Remove(layer.clone()),
            Action::Remove(Word::Tmp("inline".into())),
        ];
        // The image the layer goes on, mounted: the destination's parents
        // (and a directory destination) it has keep their mode and owner.
        // A --link layer goes on nothing: an empty root.
        let parents_in = if link {
            let dir = Word::Tmp("empty-root".into());
            actions.push(Action::Mkdir(dir.clone()));
            dir
        } else {
            let (dir, setup, undo) = self.root_under(st).map_err(|m| fail(self, m))?;
            actions.extend(setup);
            for (i, a) in undo.into_iter().enumerate() {
                done.insert(i, a);
            }
            dir
        };
        if !single {
            // Several sources make one layer: each goes into one staging
            // tree where it lands below the destination, and the tree
            // becomes the layer.
            actions.push(Action::Mkdir(staging.clone()));
            done.push(Action::Remove(staging.clone()));
        }
        for (n, p) in parts.iter().enumerate() {
            let mut src = p
                .word
                .clone()
                .unwrap_or_else(|| Word::from(p.item.src.as_path()));
            if p.archive {
                let dir = Word::Tmp(format!("unpacked-{n}"));
                actions.push(Action::Mkdir(dir.clone()));
                actions.push(Action::Call(
                    Call::new("layer-diff")
                        .arg("--apply")
                        .arg(dir.clone())
                        .arg("--archive")
                        .stdin(src),
                ));
                done.push(Action::Remove(dir.clone()));
                src = dir;
            }
            let to = if single {
                p.item.target.clone()
            } else {
                let rel = p
                    .item
                    .target
                    .strip_prefix(dest_abs.trim_end_matches('/'))
                    .filter(|r| r.is_empty() || r.starts_with('/'))
                    .unwrap_or("");
                if rel.is_empty() {
                    "/".to_string()
                } else {
                    rel.to_string()
                }
            };
            let mut c = Call::new("layer-diff")
                .arg("--dir")
                .arg(src)
                .arg("--to")
                .arg(to.as_str());
            if single {
                c = c.arg("--parents-in").arg(parents_in.clone());
            }
            // What ADD unpacks from a tar keeps the tar's owners: BuildKit's
            // unpack takes --chown only for the directories it makes.
            if let (Some(o), false) = (chown.as_deref().or(p.default_owner), p.archive) {
                c = c.args(["--chown", o]);
            }
            if let (Some(m), false) = (&chmod, p.archive) {
                c = c.args(["--chmod", m.as_str()]);
            }
            for e in p.item.excludes.iter().chain(&excludes) {
                c = c.arg("--exclude").arg(e.as_str());
            }
            actions.push(Action::Call(if single {
                c.stdout(Out::File(layer.clone()))
            } else {
                c.pipe(Call::new("layer-diff").arg("--apply").arg(staging.clone()))
            }));
        }
        if !single {
            let mut c = Call::new("layer-diff")
                .arg("--dir")
                .arg(staging.clone())
                .arg("--to")
                .arg(dest_abs.as_str())
                .arg("--parents-in")
                .arg(parents_in.clone());
            // (Each part has its owner already; over the whole tree the
            // chown would reach into an unpacked archive too.)
            if let (Some(o), false) = (&chown, parts.iter().any(|p| p.archive)) {
                c = c.args(["--chown", o.as_str()]);
            }
            actions.push(Action::Call(c.stdout(Out::File(layer.clone()))));
        }
        let result = self.act(&actions).map_err(|e| fail(self, e.to_string()));
        let result = result.and_then(|()| {
            if !link {
                return self
                    .commit(
                        st,
                        next,
                        vec!["--history".into(), history.into()],
                        Some(layer.clone()),
                        key,
                    )
                    .map_err(|e| fail(self, e.to_string()));
            }
            // The layer as an image of its own on scratch, then rebased.
            let mut alone = State {
                image: "scratch".into(),
                ..State::default()
            };
            let tag = format!("{next}-link");
            self.commit(
                &mut alone,
                tag,
                vec!["--history".into(), history.into()],
                Some(layer.clone()),
                link_key,
            )
            .map_err(|e| fail(self, e.to_string()))?;
            let layer_image = alone.digest.unwrap_or(alone.image);
            let rebase = vec!["--layers-of".into(), layer_image.into()];
            self.commit(st, next, rebase, None, key)
                .map_err(|e| fail(self, e.to_string()))
        });
        for f in &fetched {
            let _ = std::fs::remove_file(&f.file);
        }
        let _ = self.act(&done);
        result?;
        self.advance(st, fs_key);
        Ok(false)
    }

    /// Downloads a URL for ADD into the build's temp dir: mode 0600 and
    /// the server's Last-Modified, as BuildKit gives it.
    fn fetch(&mut self, url: &str, n: usize) -> Result<Fetched, String> {
        let Mode::Run(r) = &self.mode else {
            return Err("--print-script cannot write ADD of a URL yet".into());
        };
        let dir = r.tmp.join(format!("url-{n}"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let part = dir.join(".download");
        let got = slipway_common::registry::fetch::fetch(url, &part)?;
        let from_url = url
            .split(['?', '#'])
            .next()
            .unwrap_or(url)
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty() && !n.contains(':') && *n != "." && *n != "..")
            .unwrap_or("__unnamed__");
        let name = got.filename.clone().unwrap_or_else(|| from_url.to_string());
        let file = dir.join(&name);
        std::fs::rename(&part, &file).map_err(|e| format!("{}: {e}", file.display()))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("{}: {e}", file.display()))?;
        let mtime = std::time::UNIX_EPOCH
            + std::time::Duration::from_secs(got.last_modified.unwrap_or(0).max(0) as u64);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .and_then(|f| f.set_modified(mtime))
            .map_err(|e| format!("{}: {e}", file.display()))?;
        Ok(Fetched {
            url: url.to_string(),
            file,
            name,
            digest: got.digest.to_string(),
            last_modified: got.last_modified,
        })
    }

    /// `--chown`'s USER[:GROUP] as numbers: names from the /etc/passwd
    /// and /etc/group of the image the step starts from; a user alone is
    /// its own group, as Docker documents.
    fn owner(&mut self, image: &str, spec: &str) -> Result<String, String> {
        use slipway_common::owner;
        if let Some((u, g)) = owner::numeric_checked(spec)? {
            return Ok(format!("{u}:{g}"));
        }
        if self.script() {
            return Err("--print-script takes numeric ids only: names are looked up in the image, which exists only once the build runs".into());
        }
        let root = self.unpack(image)?;
        let (u, g) = owner::in_root(&root, spec)?;
        Ok(format!("{u}:{g}"))
    }
}

/// The sources' items and where they land. With --parents each keeps its
/// path below the context (or the image's root) under the destination:
/// below the `./` in it when it has one, as BuildKit's pivot.
fn resolve(
    ctx: &Context,
    up: &str,
    sources: &[String],
    dest: &str,
    workdir: &str,
    parents: bool,
) -> Result<Vec<Item>, String> {
    if !parents {
        return Ok(ctx.resolve(up, sources, dest, workdir)?.1);
    }
    let dir_dest = if dest.ends_with('/') {
        dest.to_string()
    } else {
        format!("{dest}/")
    };
    let mut out = vec![];
    for s in sources {
        if s.contains("**") {
            return Err(format!(
                "{s:?}: {up} --parents with ** is not supported yet"
            ));
        }
        // `a/./b/c`: b/c is the path kept.
        let (dropped, full) = match s.split_once("/./") {
            Some((pre, rest)) => (clean_path(&format!("/{pre}")), format!("{pre}/{rest}")),
            None => ("/".to_string(), s.clone()),
        };
        let (dest_abs, items) = ctx.resolve(up, &[full], &dir_dest, workdir)?;
        for mut item in items {
            let rel = clean_path(&format!("/{}", item.rel));
            let kept = rel
                .strip_prefix(dropped.trim_end_matches('/'))
                .unwrap_or(&rel)
                .trim_start_matches('/');
            item.target = clean_path(&format!("{dest_abs}/{kept}"));
            out.push(item);
        }
    }
    Ok(out)
}
