//! Why a step missed the cache. Each step that runs records what its key
//! was made of (the image it starts from, the step's inputs, and for the
//! context directories it copies, their files' digests) under the step's
//! place in the Dockerfile, the last few builds of it kept; the next build
//! that misses there compares with the closest (one on the same parent
//! image, else the latest) and names the first input that differs: the
//! base image, the parent step that re-ran, a build arg, the files, the
//! instruction's text.

use super::{lock, Driver};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A step whose key was made, as the stage loop saw it run.
pub struct KeyedStep {
    /// Its place in the Dockerfile: context, file, stage, step.
    pub ident: String,
    /// Its progress title.
    pub title: String,
    /// The image it started from (ID), and its key's inputs.
    pub parent: String,
    pub spec: Value,
    pub cached: bool,
    /// Whether the step before it ran in this build.
    pub parent_ran: bool,
    /// The first step after FROM.
    pub first: bool,
}

/// One step that ran instead of coming from the cache, and why.
#[derive(Clone, Debug, Serialize)]
pub struct Miss {
    pub step: String,
    pub reason: String,
}

/// What a step's key was made of, kept for the next build's comparison.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Record {
    pub parent: String,
    pub spec: Value,
    /// For each context directory copied (by its path in the context),
    /// each file's digest, by its path below it.
    #[serde(default)]
    pub files: BTreeMap<String, BTreeMap<String, String>>,
}

fn short(d: &str) -> &str {
    let hex = d.strip_prefix("sha256:").unwrap_or(d);
    &hex[..hex.len().min(12)]
}

/// The files of the context directories a COPY's spec reads.
fn dirs_of(spec: &Value) -> Vec<String> {
    spec["contents"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|i| i["dir"].as_bool() == Some(true))
                .filter_map(|i| i["rel"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The `-e K=V` of a RUN's options, by K.
fn env_opts(spec: &Value) -> BTreeMap<String, String> {
    let opts: Vec<&str> = spec["opts"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    opts.windows(2)
        .filter(|w| w[0] == "-e")
        .filter_map(|w| w[1].split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// How many earlier builds of a step are kept to compare with.
const KEEP: usize = 8;

/// The first input of `now` that differs from the closest of `history`
/// (newest first), in words. `first`: the step right after FROM, whose
/// parent is the base image.
pub fn reason(
    history: &[Record],
    parent: &str,
    spec: &Value,
    parent_ran: bool,
    first: bool,
    files_now: &dyn Fn(&str) -> BTreeMap<String, String>,
) -> String {
    let Some(latest) = history.first() else {
        return "no earlier build of this step".into();
    };
    let Some(prev) = history.iter().find(|r| r.parent == parent) else {
        return match (parent_ran, first) {
            (true, _) => "parent step re-ran".into(),
            (false, true) => format!(
                "base image changed ({} → {})",
                short(&latest.parent),
                short(parent)
            ),
            (false, false) => format!(
                "parent image changed ({} → {})",
                short(&latest.parent),
                short(parent)
            ),
        };
    };
    // ARG's own step: the value it records ("ARG NAME=VALUE") moved.
    if spec["cmd"] == "arg" && prev.spec != *spec {
        let name = |s: &Value| -> Option<String> {
            let text = s["edits"]
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .find(|e| e.starts_with("ARG "))?;
            let first = text[4..].split_whitespace().next()?;
            Some(first.split('=').next().unwrap_or(first).to_string())
        };
        if let (Some(a), Some(b)) = (name(&prev.spec), name(spec)) {
            if a == b {
                return format!("build arg {a} changed");
            }
        }
    }
    let (old_env, new_env) = (env_opts(&prev.spec), env_opts(spec));
    for (k, v) in &new_env {
        if old_env.get(k) != Some(v) {
            return format!("build arg {k} changed");
        }
    }
    if let Some(k) = old_env.keys().find(|k| !new_env.contains_key(*k)) {
        return format!("build arg {k} changed");
    }
    if prev.spec["contents"] != spec["contents"] {
        let mut changed: Vec<String> = Vec::new();
        for dir in dirs_of(spec) {
            let now = files_now(&dir);
            let old = prev.files.get(&dir).cloned().unwrap_or_default();
            let join = |f: &str| match dir.as_str() {
                "." | "" => f.to_string(),
                d => format!("{}/{f}", d.trim_end_matches('/')),
            };
            for (f, d) in &now {
                if old.get(f) != Some(d) {
                    changed.push(join(f));
                }
            }
            for f in old.keys().filter(|f| !now.contains_key(*f)) {
                changed.push(join(f));
            }
        }
        // Single files copied: named by the item whose digest moved.
        let items = |s: &Value| -> BTreeMap<String, Value> {
            s["contents"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter(|i| i["dir"].as_bool() != Some(true))
                        .filter_map(|i| Some((i["rel"].as_str()?.to_string(), i["digest"].clone())))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (old_items, new_items) = (items(&prev.spec), items(spec));
        for (rel, d) in &new_items {
            if old_items.get(rel) != Some(d) {
                changed.push(rel.clone());
            }
        }
        changed.sort();
        changed.dedup();
        if !changed.is_empty() {
            let n = changed.len();
            let shown: Vec<&str> = changed.iter().take(3).map(String::as_str).collect();
            let more = if n > 3 { ", …" } else { "" };
            let noun = if n == 1 { "file" } else { "files" };
            return format!("{n} {noun} changed: {}{more}", shown.join(", "));
        }
        return "the files it copies changed".into();
    }
    for (field, what) in [
        ("remote", "the downloaded content changed"),
        ("mounts", "a RUN --mount's source changed"),
        ("pending", "the base image's ONBUILD triggers changed"),
        ("env", "the image's ENV changed"),
        ("network", "the RUN's network mode changed"),
    ] {
        if prev.spec[field] != spec[field] {
            return what.into();
        }
    }
    if prev.spec != *spec {
        return "instruction text changed".into();
    }
    "its cached image is gone (removed by image-store gc, or never kept)".into()
}

impl Driver<'_> {
    fn explain_path(&self, ident: &str) -> PathBuf {
        let hex = slipway_common::digest::Digest::of(ident.as_bytes());
        self.opts
            .store
            .join(".slipway/build-explain")
            .join(&hex.hex()[..32])
    }

    /// The files (and their digests) of a context directory, for the
    /// record: from the stat cache, so unchanged files are not read.
    fn files_of(&self, rel: &str) -> BTreeMap<String, String> {
        let Some(stat) = &self.shared.stat else {
            return BTreeMap::new();
        };
        let root = self.ctx.root.join(rel);
        let mut stat = lock(stat);
        crate::digests::listing(&mut stat, &root, &self.ctx.ignore, rel).unwrap_or_default()
    }

    /// After a keyed step: on a miss, why (said in the progress and kept
    /// for --metadata-file), and what it was made of recorded for next
    /// time.
    pub(super) fn after_keyed_step(&mut self, s: &KeyedStep) {
        let KeyedStep {
            ident,
            title,
            parent,
            spec,
            cached,
            parent_ran,
            first,
        } = s;
        let (parent_ran, first) = (*parent_ran, *first);
        if *cached || self.script() {
            return;
        }
        let path = self.explain_path(ident);
        let mut history: Vec<Record> = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        // Each directory it copies is listed once: for the reason and for
        // the record.
        let files: BTreeMap<String, BTreeMap<String, String>> = dirs_of(spec)
            .into_iter()
            .map(|d| {
                let f = self.files_of(&d);
                (d, f)
            })
            .collect();
        let why = match self.opts.use_cache {
            false => "--no-cache".to_string(),
            true => reason(&history, parent, spec, parent_ran, first, &|d| {
                files.get(d).cloned().unwrap_or_default()
            }),
        };
        self.say(self.num, format!("cache miss: {why}"));
        lock(&self.shared.misses).push(Miss {
            step: title.clone(),
            reason: why,
        });
        let rec = Record {
            parent: parent.clone(),
            spec: spec.clone(),
            files,
        };
        history.retain(|r| !(r.parent == rec.parent && r.spec == rec.spec));
        history.insert(0, rec);
        history.truncate(KEEP);
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let bytes = serde_json::to_vec(&history).expect("a record serializes");
        let _ = slipway_common::fsutil::write_atomic_unsynced(&path, &bytes);
    }

    /// --explain: one line of the tree (to stdout).
    pub(super) fn explained(&self, title: &str, what: &str) {
        println!("{title}: {what}");
    }

    /// --explain: a step looked up in the cache, not run: cached, or why
    /// it would run (the steps after one that would run would too).
    pub(super) fn explain_step(
        &mut self,
        stage: &crate::plan::Stage,
        i: usize,
        step: &crate::plan::Step,
        title: &str,
        st: &mut super::state::State,
    ) -> Result<(), crate::Error> {
        if st.dirty {
            self.explained(title, "would run: parent step would re-run");
            return Ok(());
        }
        if let crate::plan::Instruction::Copy(c) | crate::plan::Instruction::Add(c) = &step.ins {
            if let Some(crate::plan::Source::Stage(k)) = &c.from {
                if lock(&self.shared.results).get(k).is_some_and(|s| s.dirty) {
                    st.dirty = true;
                    self.explained(
                        title,
                        &format!("would run: stage {k} it copies from would re-run"),
                    );
                    return Ok(());
                }
            }
        }
        self.num = self.next_number();
        self.begin(self.num, title.to_string());
        self.last_key.replace(None);
        let next = self.next_tag(stage.index, &(i + 1).to_string());
        let parent_ran = st.ran;
        match self.step(st, step, next) {
            Ok(true) => self.explained(title, "cached"),
            Ok(false) => self.explained(title, "nothing to run"),
            Err(_) if self.exec.refused() => {
                let why = match self.last_key.take() {
                    Some((parent, spec)) => {
                        let ident = format!(
                            "{}|{}|{}|{i}",
                            self.ctx.root.display(),
                            self.opts.file_name,
                            stage.index
                        );
                        let history: Vec<Record> = std::fs::read(self.explain_path(&ident))
                            .ok()
                            .and_then(|b| serde_json::from_slice(&b).ok())
                            .unwrap_or_default();
                        match self.opts.use_cache {
                            false => "--no-cache".to_string(),
                            true => reason(&history, &parent, &spec, parent_ran, i == 0, &|d| {
                                self.files_of(d)
                            }),
                        }
                    }
                    None => "its inputs are not in the cache".to_string(),
                };
                self.explained(title, &format!("would run: {why}"));
                st.dirty = true;
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Every miss of this build, in the order they happened.
    pub fn misses(&self) -> Vec<Miss> {
        lock(&self.shared.misses).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(parent: &str, spec: Value) -> Record {
        Record {
            parent: parent.into(),
            spec,
            files: BTreeMap::new(),
        }
    }

    fn none(_: &str) -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    #[test]
    fn each_reason_is_named() {
        let run = json!({"cmd": "run", "argv": ["make"], "opts": ["-e", "VERSION=1", "-w", "/"]});
        assert_eq!(
            reason(&[], "p", &run, false, true, &none),
            "no earlier build of this step"
        );
        let prev = vec![rec("sha256:aaaaaaaaaaaaaaaa", run.clone())];
        assert_eq!(
            reason(&prev, "sha256:bbbbbbbbbbbbbbbb", &run, false, true, &none),
            "base image changed (aaaaaaaaaaaa → bbbbbbbbbbbb)"
        );
        assert_eq!(
            reason(&prev, "sha256:bbbbbbbbbbbbbbbb", &run, true, false, &none),
            "parent step re-ran"
        );
        assert_eq!(
            reason(&prev, "sha256:bbbbbbbbbbbbbbbb", &run, false, false, &none),
            "parent image changed (aaaaaaaaaaaa → bbbbbbbbbbbb)"
        );

        let v2 = json!({"cmd": "run", "argv": ["make"], "opts": ["-e", "VERSION=2", "-w", "/"]});
        assert_eq!(
            reason(&prev, "sha256:aaaaaaaaaaaaaaaa", &v2, false, false, &none),
            "build arg VERSION changed"
        );
        let text =
            json!({"cmd": "run", "argv": ["make", "all"], "opts": ["-e", "VERSION=1", "-w", "/"]});
        assert_eq!(
            reason(&prev, "sha256:aaaaaaaaaaaaaaaa", &text, false, false, &none),
            "instruction text changed"
        );
        // The closest record: the one on the same parent, not the latest.
        let both = vec![rec("sha256:cccc", run.clone()), prev[0].clone()];
        assert_eq!(
            reason(&both, "sha256:aaaaaaaaaaaaaaaa", &text, false, false, &none),
            "instruction text changed"
        );
        assert!(
            reason(&prev, "sha256:aaaaaaaaaaaaaaaa", &run, false, false, &none).contains("gone")
        );
        let arg =
            |v: &str| json!({"cmd": "arg", "edits": ["--history", format!("ARG VERSION={v}")]});
        let prev = vec![rec("p", arg("1"))];
        assert_eq!(
            reason(&prev, "p", &arg("2"), false, false, &none),
            "build arg VERSION changed"
        );
    }

    #[test]
    fn changed_files_are_named_first_three() {
        let spec = |d: &str| json!({"cmd": "COPY", "contents": [{"rel": "src", "dir": true, "digest": d}]});
        let mut prev = rec("p", spec("sha256:1"));
        prev.files.insert(
            "src".into(),
            [("a.py", "1"), ("b.py", "1"), ("c.py", "1"), ("d.py", "1")]
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        );
        let now = |_: &str| -> BTreeMap<String, String> {
            [("a.py", "2"), ("b.py", "1"), ("c.py", "2"), ("e.py", "1")]
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(
            reason(&[prev], "p", &spec("sha256:2"), false, false, &now),
            "4 files changed: src/a.py, src/c.py, src/d.py, …"
        );
    }
}
