//! `State`: the image config fields a stage's steps follow from one
//! instruction to the next, and the variables they expand against.

use std::collections::{BTreeSet, HashMap};

/// The image config fields the driver follows from step to step: what
/// expansion, RUN and the debug hint need.
#[derive(Clone, Debug, Default)]
pub(super) struct State {
    /// The image the stage has reached: a store reference, or "scratch".
    pub(super) image: String,
    /// Its manifest digest, once known (not in a printed script).
    pub(super) digest: Option<String>,
    pub(super) env: Vec<String>,
    pub(super) workdir: String,
    pub(super) user: String,
    pub(super) shell: Vec<String>,
    /// CMD set in this stage (ENTRYPOINT keeps it then, as BuildKit does).
    pub(super) cmd_set: Option<Vec<String>>,
    /// The ARGs declared in this stage, in order, with their values.
    pub(super) args: Vec<(String, Option<String>)>,
    /// The ONBUILD triggers in the image's config (run when a later FROM
    /// starts from it).
    pub(super) onbuild: Vec<String>,
    /// Config edits the next commit makes before its own (clearing the
    /// triggers the stage ran): part of that step's key.
    pub(super) pending: Vec<String>,
    /// What the filesystem so far depends on: the base's digest, then the
    /// layers-only key of each step that changed it (see `fs_key`). None
    /// in a printed script.
    pub(super) lineage: Option<String>,
    /// Whether the step that made `image` ran in this build (a miss):
    /// the next step's miss is then the parent's doing.
    pub(super) ran: bool,
    /// --explain: a step of the stage would run, so what follows cannot
    /// be looked up (its parent image does not exist yet).
    pub(super) dirty: bool,
}

pub(super) fn default_shell() -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into()]
}

impl State {
    fn env_has(&self, key: &str) -> bool {
        self.env
            .iter()
            .any(|kv| kv.split_once('=').map_or(kv.as_str(), |(k, _)| k) == key)
    }

    /// What `$VAR` sees: the ARGs in scope, overridden by the ENV.
    pub(super) fn lookup(&self) -> HashMap<String, String> {
        let mut m: HashMap<String, String> = self
            .args
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect();
        for kv in &self.env {
            if let Some((k, v)) = kv.split_once('=') {
                m.insert(k.into(), v.into());
            }
        }
        m
    }

    /// The ARGs a RUN sees as environment variables (not kept in the
    /// image); an ENV of the same name wins.
    pub(super) fn run_args(&self) -> Vec<String> {
        let mut seen = BTreeSet::new();
        let mut out: Vec<String> = Vec::new();
        for (k, v) in self.args.iter().rev() {
            if let Some(v) = v {
                if !self.env_has(k) && seen.insert(k.clone()) {
                    out.push(format!("{k}={v}"));
                }
            }
        }
        out.reverse();
        out
    }

    pub(super) fn set_env(&mut self, key: &str, value: &str) {
        let kv = format!("{key}={value}");
        match self
            .env
            .iter_mut()
            .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
        {
            Some(e) => *e = kv,
            None => self.env.push(kv),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_an_arg_of_the_same_name() {
        let st = State {
            args: vec![
                ("A".into(), Some("arg".into())),
                ("B".into(), Some("b".into())),
            ],
            env: vec!["A=env".into()],
            ..State::default()
        };
        assert_eq!(st.lookup()["A"], "env");
        assert_eq!(st.run_args(), ["B=b"]);
    }
}
