//! The instructions that edit the image config: ARG, ENV, LABEL, WORKDIR,
//! USER, EXPOSE, VOLUME, STOPSIGNAL, CMD, ENTRYPOINT, SHELL, HEALTHCHECK,
//! ONBUILD and MAINTAINER, each one image-assemble call; WORKDIR also
//! makes its directory where the image lacks it.

use super::cache::lits;
use super::{strip_keyword, Driver, State};
use crate::plan::{Args, Instruction, Onbuild, Pairs, Step};
use crate::tools::{Action, Call, Out, Word};
use crate::Error;
use serde_json::json;
use slipway_common::digest::Digest;
use slipway_common::ignore::clean_path;
use std::collections::BTreeSet;

/// What a config instruction does to the image.
struct Edit {
    /// image-assemble's options.
    edits: Vec<String>,
    history: String,
    /// WORKDIR's directory, made where the image lacks it.
    mkdir: Option<String>,
}

impl Driver<'_> {
    /// One config instruction; true when its image came from the cache.
    pub(super) fn config_step(
        &mut self,
        st: &mut State,
        step: &Step,
        next: String,
    ) -> Result<bool, Error> {
        let Edit {
            edits,
            history,
            mkdir,
        } = self.edit(st, step)?;
        let mut words: Vec<Word> = edits.into_iter().map(Word::Lit).collect();
        if mkdir.is_some() {
            // The layer's history entry says it all; one that changes
            // nothing (the directory was there) is left out.
            words.extend(["--skip-empty".into(), "--no-edit-history".into()]);
        }
        words.push("--history".into());
        words.push(history.into());
        let key = self.key(st, json!({"cmd": step.keyword(), "edits": lits(&words)}));
        // A WORKDIR that makes its directory changes the filesystem: what
        // follows depends on it. (Its layer is cheap: never rebased.)
        let fs_key = mkdir
            .as_ref()
            .and_then(|d| self.fs_key(st, &json!({"cmd": "workdir", "dir": d, "user": st.user})));
        if self.cached(st, &key) {
            if mkdir.is_some() {
                self.advance(st, fs_key);
            }
            return Ok(true);
        }
        let fail = |d: &Driver, m: String| d.err(step.line, &step.original, m);
        let Some(dir) = mkdir else {
            self.commit(st, next, words, None, key)
                .map_err(|e| fail(self, e.to_string()))?;
            return Ok(false);
        };
        self.workdir_layer(st, &dir, next, words, key)
            .map_err(|m| fail(self, m))?;
        self.advance(st, fs_key);
        Ok(false)
    }

    /// The instruction's edits, its state changes made.
    fn edit(&self, st: &mut State, step: &Step) -> Result<Edit, Error> {
        let up = step.keyword().to_ascii_uppercase();
        let mut edits: Vec<String> = vec![];
        let history: String;
        let mut mkdir: Option<String> = None;
        match &step.ins {
            Instruction::Arg(a) => history = self.arg(st, step, a)?,
            Instruction::Env(p) => history = self.env_or_label(st, step, p, true, &mut edits)?,
            Instruction::Label(p) => history = self.env_or_label(st, step, p, false, &mut edits)?,
            Instruction::Workdir => {
                let w = self.expand(st, step, &step.args[0])?;
                let abs = if w.starts_with('/') {
                    clean_path(&w)
                } else {
                    clean_path(&format!("{}/{w}", st.workdir))
                };
                st.workdir = abs.clone();
                edits.extend(["-w".into(), abs.clone()]);
                history = format!("WORKDIR {abs}");
                if abs != "/" {
                    mkdir = Some(abs);
                }
            }
            Instruction::User => {
                let u = self.expand(st, step, &step.args[0])?;
                st.user = u.clone();
                edits.extend(["-u".into(), u.clone()]);
                history = format!("USER {u}");
            }
            Instruction::Expose => history = self.expose(st, step, &mut edits)?,
            Instruction::Volume => history = self.volume(st, step, &mut edits)?,
            Instruction::Stopsignal => {
                let s = self.expand(st, step, &step.args[0])?;
                edits.extend(["--stopsignal".into(), s.clone()]);
                history = format!("STOPSIGNAL {s}");
            }
            Instruction::Cmd(_) | Instruction::Entrypoint(_) => {
                let argv = if step.is_exec() {
                    step.args.clone()
                } else {
                    let mut v = st.shell.clone();
                    v.push(step.args.join(" "));
                    v
                };
                edits.extend([format!("--{}", step.keyword()), json(&argv)]);
                if let Instruction::Cmd(_) = step.ins {
                    st.cmd_set = Some(argv.clone());
                } else if let Some(c) = &st.cmd_set {
                    // A CMD of this stage survives ENTRYPOINT; only an
                    // inherited one is dropped.
                    edits.extend(["--cmd".into(), json(c)]);
                }
                history = format!("{up} {}", go_quote_list(&argv));
            }
            Instruction::Shell(_) => {
                st.shell = step.args.clone();
                edits.extend(["--shell".into(), json(&step.args)]);
                history = format!("SHELL [{}]", step.args.join(" "));
            }
            Instruction::Healthcheck(_) => {
                let text = strip_keyword(&step.original);
                edits.extend(["--healthcheck".into(), text.to_string()]);
                history = format!("HEALTHCHECK {text}");
            }
            Instruction::Onbuild(Onbuild { trigger }) => {
                let t = trigger.clone();
                st.onbuild.push(t.clone());
                edits.extend(["--onbuild".into(), t.clone()]);
                history = format!("ONBUILD {t}");
            }
            Instruction::Maintainer => {
                let m = step.args.join(" ");
                edits.extend(["--author".into(), m.clone()]);
                history = format!("MAINTAINER {m}");
            }
            Instruction::Run(_) | Instruction::Copy(_) | Instruction::Add(_) => {
                return Err(self.err(
                    step.line,
                    &step.original,
                    format!("{up} makes a layer, not a config edit"),
                ))
            }
        }
        Ok(Edit {
            edits,
            history,
            mkdir,
        })
    }

    /// ARG: the stage's ARGs, with their values; the history text.
    fn arg(&self, st: &mut State, step: &Step, args: &Args) -> Result<String, Error> {
        let mut texts = vec![];
        for d in &args.arg_values {
            let default = d
                .default
                .as_deref()
                .map(|v| self.expand(st, step, v))
                .transpose()?;
            let value = d.build_arg.clone().or(default).or(d.global.clone());
            texts.push(match &value {
                Some(v) => format!("{}={v}", d.name),
                None => d.name.clone(),
            });
            st.args.retain(|(k, _)| *k != d.name);
            st.args.push((d.name.clone(), value));
        }
        Ok(format!("ARG {}", texts.join(" ")))
    }

    /// ENV or LABEL: their edits; the history text.
    fn env_or_label(
        &self,
        st: &mut State,
        step: &Step,
        given: &Pairs,
        env: bool,
        edits: &mut Vec<String>,
    ) -> Result<String, Error> {
        let up = if env { "ENV" } else { "LABEL" };
        // All pairs expand against the state before the step.
        let mut pairs = vec![];
        for (k, v) in &given.pairs {
            pairs.push((self.expand(st, step, k)?, self.expand(st, step, v)?));
        }
        let flag = if env { "-e" } else { "-l" };
        let mut texts = vec![];
        for (k, v) in pairs {
            if env {
                st.set_env(&k, &v);
            }
            edits.push(flag.into());
            edits.push(format!("{k}={v}"));
            texts.push(format!("{k}={v}"));
        }
        Ok(format!("{up} {}", texts.join(" ")))
    }

    /// EXPOSE: its edits; the history text.
    fn expose(&self, st: &State, step: &Step, edits: &mut Vec<String>) -> Result<String, Error> {
        let mut ports = BTreeSet::new();
        for a in &step.args {
            for p in self.expand_words(st, step, a)? {
                edits.extend(["--expose".into(), p.clone()]);
                ports.extend(port_keys(&p));
            }
        }
        let keys: Vec<String> = ports.into_iter().map(|p| format!("{p}:{{}}")).collect();
        Ok(format!("EXPOSE map[{}]", keys.join(" ")))
    }

    /// VOLUME: its edits; the history text.
    fn volume(&self, st: &State, step: &Step, edits: &mut Vec<String>) -> Result<String, Error> {
        let mut vols = vec![];
        for a in &step.args {
            let v = self.expand(st, step, a)?;
            if v.is_empty() {
                return Err(self.err(
                    step.line,
                    &step.original,
                    "VOLUME specified can not be an empty string",
                ));
            }
            edits.extend(["--volume".into(), v.clone()]);
            vols.push(v);
        }
        Ok(format!("VOLUME [{}]", vols.join(" ")))
    }

    /// WORKDIR's directory as a layer, committed with the step's edits
    /// as `next`.
    fn workdir_layer(
        &mut self,
        st: &mut State,
        dir: &str,
        next: String,
        words: Vec<Word>,
        key: Option<Digest>,
    ) -> Result<(), String> {
        // As BuildKit: the directory and its missing parents, 0755, owned
        // by the current USER.
        let (root, mut actions, done) = self.root_under(st)?;
        let staging = Word::Tmp("workdir-dir".into());
        let layer = Word::Tmp("layer.tar".into());
        actions.push(Action::Mkdir(staging.clone()));
        let mut c = Call::new("layer-diff")
            .arg("--dir")
            .arg(staging.clone())
            .arg("--to")
            .arg(dir)
            .arg("--parents-in")
            .arg(root)
            .arg("--skip-existing")
            .args(["--chmod", "755"]);
        if !st.user.is_empty() {
            c = c.arg("--chown").arg(st.user.as_str());
        }
        actions.push(Action::Call(c.stdout(Out::File(layer.clone()))));
        let result = self
            .act(&actions)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                self.commit(st, next, words, Some(layer.clone()), key)
                    .map_err(|e| e.to_string())
            });
        let _ = self.act(&done);
        let _ = self.act(&[Action::Remove(layer), Action::Remove(staging)]);
        result
    }
}

pub(super) fn go_quote_list(v: &[String]) -> String {
    // Go's %q of a []string: ["a" "b"].
    let items: Vec<String> = v
        .iter()
        .map(|s| serde_json::to_string(s).unwrap_or_default())
        .collect();
    format!("[{}]", items.join(" "))
}

fn json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// EXPOSE's ports as config keys (`80/tcp`), ranges one per port.
pub(super) fn port_keys(p: &str) -> Vec<String> {
    let (ports, proto) = match p.split_once('/') {
        Some((a, b)) => (a, b.to_ascii_lowercase()),
        None => (p, "tcp".to_string()),
    };
    let range = ports
        .split_once('-')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)));
    match range {
        Some((a, b)) if a <= b && b - a < 65536 => {
            (a..=b).map(|n| format!("{n}/{proto}")).collect()
        }
        _ => vec![format!("{ports}/{proto}")],
    }
}
