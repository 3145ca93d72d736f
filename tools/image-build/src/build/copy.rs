//! COPY and ADD: sources from the context, a stage or an image, heredocs,
//! and for ADD local archives (unpacked) and URLs (downloaded), turned
//! into one layer by layer-diff. What the sources hold is part of the
//! step's cache key; their mtimes are not.

mod calls;
mod sources;

use super::cache::step_key;
use super::source_kind::{is_archive, is_remote};
use super::{strip_keyword, Driver, State};
use crate::context::{Context, Item};
use crate::digests::source_digest;
use crate::plan::{Copy, Source, Step};
use crate::tools::{Action, Call, Out, Word};
use crate::Error;
use calls::{key_spec, part_call};
use serde_json::{json, Value};
use slipway_common::digest::Digest;
use slipway_common::ignore::{clean_path, Matcher};
use slipway_common::shell::Lex;
use sources::resolve;

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

/// What a COPY or ADD says, its words expanded against the stage.
struct Spec {
    up: &'static str,
    add: bool,
    /// The image the sources are in (a stage's or one pinned by digest)
    /// and the digest that stands for them in the key.
    from: Option<(String, String)>,
    sources: Vec<String>,
    urls: Vec<String>,
    checksum: Option<String>,
    dest: String,
    dest_is_dir: bool,
    /// Where the destination is in the image.
    dest_abs: String,
    /// `--chown` as written, expanded; looked up on a cache miss only.
    chown: Option<String>,
    chmod: Option<String>,
    excludes: Vec<String>,
    /// Heredoc files: name and content.
    inline: Vec<(String, String)>,
}

impl Spec {
    /// Where a source called `name` lands.
    fn target_of(&self, name: &str) -> String {
        if self.dest_is_dir {
            clean_path(&format!("{}/{name}", self.dest_abs))
        } else {
            self.dest_abs.clone()
        }
    }
}

/// A --from that is a git repository to check out (a JSON array after).
pub(super) const GIT_PENDING: &str = "git-pending:";

impl Driver<'_> {
    /// COPY or ADD (`c` is either's fields); true when its image came
    /// from the cache.
    pub(super) fn copy(
        &mut self,
        st: &mut State,
        step: &Step,
        c: &Copy,
        add: bool,
        next: String,
    ) -> Result<bool, Error> {
        let fail = |d: &Driver, m: String| d.err(step.line, &step.original, m);
        let spec = self.copy_spec(st, step, c, add)?;
        // URLs are fetched now: what they hold is part of the key. A
        // --checksum stands for the bytes, so a cached step fetches nothing.
        let mut fetched: Vec<Fetched> = vec![];
        if !spec.urls.is_empty() && self.script() {
            return Err(fail(
                self,
                "--print-script cannot write ADD of a URL yet".into(),
            ));
        }
        if spec.checksum.is_none() {
            for (n, url) in spec.urls.iter().enumerate() {
                fetched.push(self.fetch(url, n).map_err(|m| fail(self, m))?);
            }
        }
        // Context sources are found now: their contents are part of the
        // key. An image's are found only on a miss, once it is mounted:
        // its digest stands for them.
        let ctx_items = match (&spec.from, spec.sources.is_empty()) {
            (None, false) => Some(
                resolve(
                    self.ctx,
                    spec.up,
                    &spec.sources,
                    &spec.dest,
                    &st.workdir,
                    c.flags.parents,
                )
                .map_err(|m| fail(self, m))?,
            ),
            _ => None,
        };
        let contents = match &ctx_items {
            Some(items) => self
                .contents(items, &spec.excludes)
                .map_err(|m| fail(self, m))?,
            None => vec![],
        };
        let history = format!("{} {} # buildkit", spec.up, strip_keyword(&step.original));
        let mut key_spec = key_spec(st, &spec, c, &contents, &fetched, &history);
        let key = self.key(st, key_spec.clone());
        let fs_key = self.fs_key(st, &key_spec);
        if self
            .reuse(st, &key, &fs_key, &next)
            .map_err(|e| fail(self, e.to_string()))?
        {
            return Ok(true);
        }
        if let Some(sum) = &spec.checksum {
            let f = self.fetch(&spec.urls[0], 0).map_err(|m| fail(self, m))?;
            if &f.digest != sum {
                return Err(fail(
                    self,
                    format!(
                        "{}: the checksum is {}, not the {sum} that --checksum expects",
                        spec.urls[0], f.digest
                    ),
                ));
            }
            fetched.push(f);
        }
        let chown = match &spec.chown {
            Some(o) => Some(
                self.owner(&st.image, o)
                    .map_err(|m| fail(self, format!("--chown={o}: {m}")))?,
            ),
            None => None,
        };
        // COPY --link: the layer is made as if onto nothing, so it does
        // not depend on the image below and is cached apart from it (its
        // key has no parent; names in --chown count as the numbers they
        // were here). A layer cached that way goes on the new image as
        // it is, as BuildKit rebases it.
        let link = c.flags.link;
        let link_key = if link && !self.script() {
            key_spec["chown"] = json!(chown);
            Some(step_key(
                "link",
                self.opts.epoch.as_deref(),
                &self.platform,
                &key_spec,
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
        let made = self
            .copy_parts(st, &spec, c, ctx_items, &fetched)
            .and_then(|parts| self.copy_layer(st, &spec, &parts, link, chown.as_deref()));
        let result = made.and_then(|done| {
            let committed = if link {
                self.commit_linked(st, next, history, link_key, key)
            } else {
                // Its files are written once, into the unpacked layer the
                // next RUN stacks, as the layer is stored.
                let edits = vec!["--unpack".into(), "--history".into(), history.into()];
                let layer = Some(Word::Tmp("layer.tar".into()));
                self.commit(st, next, edits, layer, key)
                    .map_err(|e| e.to_string())
            };
            let _ = self.act(&done);
            committed
        });
        for f in &fetched {
            let _ = std::fs::remove_file(&f.file);
        }
        let _ = self.act(&[
            Action::Remove(Word::Tmp("layer.tar".into())),
            Action::Remove(Word::Tmp("inline".into())),
        ]);
        result.map_err(|m| fail(self, m))?;
        self.advance(st, fs_key);
        Ok(false)
    }

    /// ADD of a git repository: its commit found (ls-remote) and checked
    /// against --checksum; the repository stands as a --from whose key is
    /// the commit, checked out only when the step runs.
    fn git_source(
        &self,
        g: &crate::remote::GitSource,
        keep_git_dir: bool,
        checksum: Option<&str>,
    ) -> Result<(String, String, String), String> {
        if self.script() {
            return Err("--print-script cannot write ADD of a git repository yet".into());
        }
        let commit = crate::remote::resolve(g)?;
        if let Some(sum) = checksum {
            if !commit.starts_with(sum) || sum.len() < 7 {
                return Err(format!(
                    "{}: the commit is {commit}, not --checksum={sum}",
                    g.url
                ));
            }
        }
        let pending = serde_json::json!([g.url, g.reference, commit, keep_git_dir]);
        let key = format!(
            "git:{}@{commit}{}",
            g.url,
            if keep_git_dir { "+git" } else { "" }
        );
        let subdir = match &g.subdir {
            Some(d) => format!("/{}/", d.trim_matches('/')),
            None => "/".into(),
        };
        Ok((format!("{GIT_PENDING}{pending}"), key, subdir))
    }

    /// The step's words expanded and checked, its --from image found.
    fn copy_spec(&mut self, st: &State, step: &Step, c: &Copy, add: bool) -> Result<Spec, Error> {
        let up = if add { "ADD" } else { "COPY" };
        let fail = |d: &Driver, m: String| d.err(step.line, &step.original, m);
        let from = match &c.from {
            None => None,
            Some(_) if self.script() => {
                return Err(fail(
                    self,
                    format!("--print-script cannot write {up} --from yet: its sources are only known once the stage is built"),
                ))
            }
            Some(Source::Stage(i)) => {
                let done = super::lock(&self.shared.results).get(i).cloned();
                let done = done.ok_or_else(|| fail(self, format!("stage {i} was not built")))?;
                // By image ID: the stage's image keys alike whether it was built
                // here or came compressed from a --cache-from registry.
                let digest = match &done.digest {
                    Some(d) => self.image_id(d).unwrap_or_else(|| d.clone()),
                    None => done.image.clone(),
                };
                Some((done.image.clone(), digest))
            }
            Some(Source::Image(r)) => {
                let found = self
                    .image_for_platform(r)
                    .map_err(|e| fail(self, format!("--from={r}: {e}")))?;
                let pinned = found.pin(r);
                Some((pinned, found.digest))
            }
        };
        let expand = |w: &str| self.expand(st, step, w);
        let checksum = c.flags.checksum.as_deref().map(expand).transpose()?;
        let mut sources = vec![];
        let mut urls = vec![];
        let mut from = from;
        for s in &c.sources {
            let s = expand(s)?;
            if add && is_remote(&s) {
                if let Some(crate::remote::Remote::Git(g)) = crate::remote::classify(&s) {
                    if c.sources.len() != 1 || from.is_some() {
                        return Err(fail(
                            self,
                            format!("ADD of a git repository ({s}) takes it as its only source"),
                        ));
                    }
                    let (image, key, subdir) = self
                        .git_source(&g, c.flags.keep_git_dir, checksum.as_deref())
                        .map_err(|m| fail(self, m))?;
                    from = Some((image, key));
                    sources.push(subdir);
                    continue;
                }
                if !(s.starts_with("http://") || s.starts_with("https://")) {
                    return Err(fail(
                        self,
                        format!("ADD of {s}: only http(s) URLs and git repositories are fetched"),
                    ));
                }
                urls.push(s);
            } else {
                sources.push(s);
            }
        }
        let git = from
            .as_ref()
            .is_some_and(|(i, _)| i.starts_with(GIT_PENDING));
        if checksum.is_some() && !git && (urls.len() != 1 || !sources.is_empty()) {
            return Err(fail(
                self,
                "ADD --checksum needs exactly one URL source".into(),
            ));
        }
        // A git source's checksum is its commit, checked already.
        let checksum = if git { None } else { checksum };
        let dest = expand(&c.dest)?;
        let count = sources.len() + urls.len() + c.inline.len();
        let dest_is_dir = dest.ends_with('/') || dest == "." || dest.ends_with("/.");
        if count > 1 && !dest_is_dir {
            return Err(fail(self, format!(
                "When using {up} with more than one source file, the destination must be a directory and end with a /"
            )));
        }
        let dest_abs = if dest.starts_with('/') {
            clean_path(&dest)
        } else {
            let wd = if st.workdir.is_empty() {
                "/"
            } else {
                &st.workdir
            };
            clean_path(&format!("{wd}/{dest}"))
        };
        let chown = c.flags.chown.as_deref().map(expand).transpose()?;
        let chmod = match c.flags.chmod.as_deref().map(expand).transpose()? {
            Some(m)
                if m.is_empty()
                    || m.len() > 4
                    || !m.bytes().all(|b| (b'0'..=b'7').contains(&b)) =>
            {
                return Err(fail(
                    self,
                    format!("--chmod={m}: only an octal mode is supported"),
                ))
            }
            m => m,
        };
        let mut excludes = vec![];
        for e in &c.flags.exclude {
            excludes.push(expand(e)?);
        }
        let inline = self.heredoc_files(st, step, c)?;
        Ok(Spec {
            up,
            add,
            from,
            sources,
            urls,
            checksum,
            dest,
            dest_is_dir,
            dest_abs,
            chown,
            chmod,
            excludes,
            inline,
        })
    }

    /// Heredoc sources, expanded (quotes kept) unless their name was
    /// quoted.
    fn heredoc_files(
        &self,
        st: &State,
        step: &Step,
        c: &Copy,
    ) -> Result<Vec<(String, String)>, Error> {
        let mut inline = vec![];
        for h in &c.inline {
            let (name, data) = (h.path.as_str(), h.data.as_str());
            let data = if h.expand {
                let mut lex = Lex::new('\\');
                lex.raw_quotes = true;
                lex.process_word(data, &st.lookup())
                    .map_err(|e| self.err(step.line, &step.original, e.0))?
            } else {
                data.to_string()
            };
            if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                return Err(self.err(
                    step.line,
                    &step.original,
                    format!("{name:?} cannot name a heredoc file"),
                ));
            }
            inline.push((name.to_string(), data));
        }
        Ok(inline)
    }

    /// The digests of the context sources, for the key. What the ignore
    /// rules leave out is not in a digest, so the list of it (which names
    /// ignored files that exist) is not in the key: a new ignored file is
    /// no change.
    fn contents(&self, items: &[Item], excludes: &[String]) -> Result<Vec<Value>, String> {
        let Some(stat) = &self.shared.stat else {
            return Ok(vec![]);
        };
        let mut stat = super::lock(stat);
        let mut contents = vec![];
        for item in items {
            let ex = Matcher::new(&[item.excludes.clone(), excludes.to_vec()].concat())
                .map_err(|e| format!("--exclude={}: {}", e.0, e.1))?;
            let d = source_digest(&mut stat, &item.src, &ex)
                .map_err(|e| format!("{}: {e}", item.rel))?;
            contents.push(
                json!({"rel": item.rel, "target": item.target, "dir": item.is_dir, "digest": d}),
            );
        }
        Ok(contents)
    }

    /// Every source as a part: where it is, where it lands, how. The
    /// heredoc files are written to the build's temp dir.
    fn copy_parts(
        &mut self,
        st: &State,
        spec: &Spec,
        c: &Copy,
        ctx_items: Option<Vec<Item>>,
        fetched: &[Fetched],
    ) -> Result<Vec<Part>, String> {
        let unpack = c.flags.unpack;
        let mut parts: Vec<Part> = vec![];
        if !spec.sources.is_empty() {
            let items = match (ctx_items, &spec.from) {
                (Some(items), _) => items,
                (None, Some((image, _))) => {
                    let root = self
                        .unpack(image)
                        .map_err(|m| format!("--from={image}: {m}"))?;
                    let ctx = Context {
                        from: Some(c.flags.from.clone().unwrap_or_else(|| image.clone())),
                        root,
                        ignore: Default::default(),
                    };
                    resolve(
                        &ctx,
                        spec.up,
                        &spec.sources,
                        &spec.dest,
                        &st.workdir,
                        c.flags.parents,
                    )?
                }
                (None, None) => unreachable!("context sources are resolved before"),
            };
            for mut item in items {
                let archive =
                    spec.add && unpack != Some(false) && !item.is_dir && is_archive(&item.src);
                if archive {
                    item.target = spec.dest_abs.clone();
                }
                let default_owner = if spec.from.is_some() || archive {
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
        for (name, data) in &spec.inline {
            let w = Word::Tmp(format!("inline/{name}"));
            self.act(&[Action::Write(w.clone(), data.clone(), 0o644)])
                .map_err(|e| e.to_string())?;
            let src = match self.exec.running() {
                Some(r) => r.tmp.join("inline").join(name),
                None => std::path::PathBuf::new(),
            };
            parts.push(Part {
                word: Some(w),
                item: Item {
                    src,
                    rel: name.clone(),
                    is_dir: false,
                    target: spec.target_of(name),
                    excludes: vec![],
                },
                archive: false,
                default_owner: Some("0:0"),
            });
        }
        for f in fetched {
            let archive = unpack == Some(true) && is_archive(&f.file);
            parts.push(Part {
                item: Item {
                    src: f.file.clone(),
                    rel: f.name.clone(),
                    is_dir: false,
                    target: if archive {
                        spec.dest_abs.clone()
                    } else {
                        spec.target_of(&f.name)
                    },
                    excludes: vec![],
                },
                archive,
                default_owner: if archive { None } else { Some("0:0") },
                word: None,
            });
        }
        Ok(parts)
    }

    /// The parts as one layer in the temp dir's `layer.tar`, made by
    /// layer-diff; gives the actions that undo what it set up.
    fn copy_layer(
        &mut self,
        st: &State,
        spec: &Spec,
        parts: &[Part],
        link: bool,
        chown: Option<&str>,
    ) -> Result<Vec<Action>, String> {
        let layer = Word::Tmp("layer.tar".into());
        let staging = Word::Tmp("staging".into());
        let single = parts.len() == 1;
        let mut actions = vec![];
        let mut done = vec![];
        // The image the layer goes on, mounted: the destination's parents
        // (and a directory destination) it has keep their mode and owner.
        // A --link layer goes on nothing: an empty root.
        let parents_in = if link {
            let dir = Word::Tmp("empty-root".into());
            actions.push(Action::Mkdir(dir.clone()));
            dir
        } else {
            let (dir, setup, undo) = self.root_under(st)?;
            actions.extend(setup);
            done.extend(undo);
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
            let c = part_call(spec, p, src, single, &parents_in, chown);
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
                .arg(spec.dest_abs.as_str())
                .arg("--parents-in")
                .arg(parents_in.clone());
            // (Each part has its owner already; over the whole tree the
            // chown would reach into an unpacked archive too.)
            if let (Some(o), false) = (chown, parts.iter().any(|p| p.archive)) {
                c = c.args(["--chown", o]);
            }
            actions.push(Action::Call(c.stdout(Out::File(layer.clone()))));
        }
        match self.act(&actions) {
            Ok(()) => Ok(done),
            Err(e) => {
                let _ = self.act(&done);
                Err(e.to_string())
            }
        }
    }

    /// A --link layer: an image of its own on scratch (cached by the link
    /// key), then rebased onto the stage's image.
    fn commit_linked(
        &mut self,
        st: &mut State,
        next: String,
        history: String,
        link_key: Option<Digest>,
        key: Option<Digest>,
    ) -> Result<(), String> {
        let mut alone = State {
            image: "scratch".into(),
            ..State::default()
        };
        let tag = format!("{next}-link");
        let layer = Word::Tmp("layer.tar".into());
        let edits = vec!["--unpack".into(), "--history".into(), history.into()];
        self.commit(&mut alone, tag, edits, Some(layer), link_key)
            .map_err(|e| e.to_string())?;
        let layer_image = alone.digest.unwrap_or(alone.image);
        let rebase = vec!["--layers-of".into(), layer_image.into()];
        self.commit(st, next, rebase, None, key)
            .map_err(|e| e.to_string())
    }
}
