//! Config edits: the flags and the `--edits` JSON document say the same
//! things, and both land here to change an image config the way the
//! matching Dockerfile instruction would.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use slipway_common::image::{ContainerConfig, EmptyObject, HealthConfig};
use std::collections::BTreeMap;

/// A command in exec form (a JSON array) or shell form (a string).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum CommandForm {
    Exec(Vec<String>),
    Shell(String),
}

impl CommandForm {
    /// As a flag: a JSON array of strings is exec form, anything else shell
    /// form, as BuildKit decides.
    pub fn parse_flag(s: &str) -> CommandForm {
        match serde_json::from_str::<Vec<String>>(s) {
            Ok(v) => CommandForm::Exec(v),
            Err(_) => CommandForm::Shell(s.to_string()),
        }
    }

    fn to_argv(&self, shell: &[String]) -> Vec<String> {
        match self {
            CommandForm::Exec(v) => v.clone(),
            CommandForm::Shell(s) => shell.iter().cloned().chain([s.clone()]).collect(),
        }
    }

    fn describe(&self) -> String {
        match self {
            CommandForm::Exec(v) => serde_json::to_string(v).expect("strings serialize"),
            CommandForm::Shell(s) => s.clone(),
        }
    }
}

/// A HEALTHCHECK: `NONE`, or options and a command.
#[derive(Clone, Debug, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", args…]` or `["CMD-SHELL", command]`.
    pub test: Vec<String>,
    #[serde(default)]
    pub interval: Option<String>,
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub start_period: Option<String>,
    #[serde(default)]
    pub start_interval: Option<String>,
    #[serde(default)]
    pub retries: Option<u32>,
}

/// The `--edits` document. Every field is optional; see image-assemble-edits(5).
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Edits {
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub cmd: Option<CommandForm>,
    #[serde(default)]
    pub entrypoint: Option<CommandForm>,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub expose: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub volumes: Vec<String>,
    #[serde(default)]
    pub stopsignal: Option<String>,
    #[serde(default)]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default)]
    pub shell: Option<Vec<String>>,
    #[serde(default)]
    pub onbuild: Vec<String>,
    /// Drop the base's ONBUILD triggers first (a build that ran them).
    #[serde(default)]
    pub clear_onbuild: bool,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub history: Vec<String>,
}

pub fn split_kv(s: &str, what: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{what} {s:?}: expected KEY=VALUE")),
    }
}

pub use slipway_common::time::parse_duration_ns;

impl Healthcheck {
    /// Parses the HEALTHCHECK instruction's arguments:
    /// `[--interval=D] [--timeout=D] [--start-period=D] [--start-interval=D]
    /// [--retries=N] CMD command` or `NONE`.
    pub fn parse_flag(s: &str) -> Result<Healthcheck, String> {
        let mut h = Healthcheck::default();
        let mut rest = s.trim_start();
        while let Some(opt) = rest.strip_prefix("--") {
            let end = opt.find(char::is_whitespace).unwrap_or(opt.len());
            let (name, value) = opt[..end]
                .split_once('=')
                .ok_or_else(|| format!("healthcheck option --{} needs =VALUE", &opt[..end]))?;
            match name {
                "interval" => h.interval = Some(value.to_string()),
                "timeout" => h.timeout = Some(value.to_string()),
                "start-period" => h.start_period = Some(value.to_string()),
                "start-interval" => h.start_interval = Some(value.to_string()),
                "retries" => {
                    h.retries = Some(
                        value
                            .parse()
                            .map_err(|_| format!("healthcheck --retries={value}: not a number"))?,
                    )
                }
                _ => return Err(format!("unknown healthcheck option --{name}")),
            }
            rest = opt[end..].trim_start();
        }
        let (word, cmd) = match rest.find(char::is_whitespace) {
            Some(i) => (&rest[..i], rest[i..].trim_start()),
            None => (rest, ""),
        };
        match word.to_ascii_uppercase().as_str() {
            "NONE" if cmd.is_empty() => h.test = vec!["NONE".into()],
            "CMD" if !cmd.is_empty() => {
                h.test = match CommandForm::parse_flag(cmd) {
                    CommandForm::Exec(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
                    CommandForm::Shell(s) => vec!["CMD-SHELL".into(), s],
                }
            }
            _ => {
                return Err(format!(
                    "healthcheck {s:?}: expected NONE or [OPTIONS] CMD command"
                ))
            }
        }
        Ok(h)
    }

    fn to_config(&self) -> Result<HealthConfig, String> {
        if !matches!(
            self.test.first().map(String::as_str),
            Some("NONE" | "CMD" | "CMD-SHELL")
        ) {
            return Err(format!(
                "healthcheck test {:?}: must start with NONE, CMD or CMD-SHELL",
                self.test
            ));
        }
        let ns = |key: &str, v: &Option<String>| -> Result<Option<u64>, String> {
            let Some(d) = v else { return Ok(None) };
            let ns = parse_duration_ns(d)?;
            if ns != 0 && ns < 1_000_000 {
                return Err(format!("healthcheck {key} {d:?} is below the 1ms minimum"));
            }
            Ok(Some(ns).filter(|n| *n != 0))
        };
        Ok(HealthConfig {
            test: self.test.clone(),
            interval: ns("Interval", &self.interval)?,
            timeout: ns("Timeout", &self.timeout)?,
            start_period: ns("StartPeriod", &self.start_period)?,
            start_interval: ns("StartInterval", &self.start_interval)?,
            retries: self.retries.filter(|r| *r != 0).map(u64::from),
        })
    }
}

fn normalize_port(p: &str) -> Result<Vec<String>, String> {
    let (ports, proto) = match p.split_once('/') {
        Some((a, b)) => (a, b.to_ascii_lowercase()),
        None => (p, "tcp".to_string()),
    };
    if !["tcp", "udp", "sctp"].contains(&proto.as_str()) {
        return Err(format!("expose {p:?}: protocol must be tcp, udp or sctp"));
    }
    let num = |s: &str| -> Result<u32, String> {
        s.parse::<u32>()
            .ok()
            .filter(|n| (1..=65535).contains(n))
            .ok_or_else(|| format!("expose {p:?}: {s:?} is not a port number"))
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (num(ports)?, num(ports)?),
    };
    if hi < lo {
        return Err(format!("expose {p:?}: the range ends before it starts"));
    }
    Ok((lo..=hi).map(|n| format!("{n}/{proto}")).collect())
}

fn check_signal(s: &str) -> Result<(), String> {
    let name = s.strip_prefix("SIG").unwrap_or(s);
    let ok = match name.parse::<u32>() {
        Ok(n) => (1..=64).contains(&n),
        Err(_) => {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'+' || c == b'-')
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "stop signal {s:?}: expected a name such as SIGTERM or a number"
        ))
    }
}

/// Lexically cleans an absolute path, as Go's path.Clean does.
fn clean_path(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

impl Edits {
    /// Checks values that can be checked before anything is written.
    pub fn validate(&self) -> Result<(), String> {
        for e in &self.env {
            split_kv(e, "env")?;
        }
        for p in &self.expose {
            normalize_port(p)?;
        }
        if let Some(s) = &self.stopsignal {
            check_signal(s)?;
        }
        if let Some(h) = &self.healthcheck {
            h.to_config()?;
        }
        if self.labels.keys().any(|k| k.is_empty()) {
            return Err("label with an empty key".into());
        }
        if self.volumes.iter().any(|v| v.is_empty()) {
            return Err("empty volume path".into());
        }
        if self.shell.as_ref().is_some_and(|s| s.is_empty()) {
            return Err("shell must name at least one argument".into());
        }
        if self.workdir.as_deref() == Some("") {
            return Err("empty workdir".into());
        }
        Ok(())
    }

    /// Later edits (flags over the document) add to or replace earlier ones.
    pub fn merge(&mut self, other: Edits) {
        self.env.extend(other.env);
        if other.cmd.is_some() {
            self.cmd = other.cmd;
        }
        if other.entrypoint.is_some() {
            self.entrypoint = other.entrypoint;
        }
        if other.workdir.is_some() {
            self.workdir = other.workdir;
        }
        if other.user.is_some() {
            self.user = other.user;
        }
        self.expose.extend(other.expose);
        self.labels.extend(other.labels);
        self.volumes.extend(other.volumes);
        if other.stopsignal.is_some() {
            self.stopsignal = other.stopsignal;
        }
        if other.healthcheck.is_some() {
            self.healthcheck = other.healthcheck;
        }
        if other.shell.is_some() {
            self.shell = other.shell;
        }
        self.onbuild.extend(other.onbuild);
        self.clear_onbuild |= other.clear_onbuild;
        if other.author.is_some() {
            self.author = other.author;
        }
        self.annotations.extend(other.annotations);
        self.history.extend(other.history);
    }

    /// Applies the edits to a config, returning a `created_by` line for each
    /// edit that changed metadata (for the empty_layer history entries).
    pub fn apply(&self, config: &mut Map<String, Value>) -> Result<Vec<String>, String> {
        let mut said = Vec::new();
        if let Some(a) = &self.author {
            config.insert("author".into(), json!(a));
            said.push(format!("MAINTAINER {a}"));
        }
        let mut c: ContainerConfig = match config.get("config") {
            None | Some(Value::Null) => ContainerConfig::default(),
            Some(v) => slipway_common::image::decode(v.to_string().as_bytes())
                .map_err(|e| format!("the base config's config: {e}"))?,
        };
        self.apply_run(&mut c, &mut said)?;
        self.apply_rest(&mut c, &mut said)?;
        let c = serde_json::to_value(c).map_err(|e| format!("the config: {e}"))?;
        config.insert("config".into(), c);
        Ok(said)
    }

    /// What a container runs: SHELL, ENV, ENTRYPOINT, CMD, WORKDIR, USER.
    fn apply_run(&self, c: &mut ContainerConfig, said: &mut Vec<String>) -> Result<(), String> {
        if let Some(s) = &self.shell {
            c.shell = Some(s.clone());
            said.push(format!(
                "SHELL {}",
                serde_json::to_string(s).expect("strings")
            ));
        }
        let shell = c
            .shell
            .clone()
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
        for e in &self.env {
            let (k, v) = split_kv(e, "env")?;
            let env = c.env.get_or_insert_with(Vec::new);
            let prefix = format!("{k}=");
            match env.iter_mut().find(|x| x.starts_with(&prefix)) {
                Some(slot) => *slot = format!("{k}={v}"),
                None => env.push(format!("{k}={v}")),
            }
            said.push(format!("ENV {k}={v}"));
        }
        let argv_or_none = |f: &CommandForm| Some(f.to_argv(&shell)).filter(|a| !a.is_empty());
        if let Some(ep) = &self.entrypoint {
            c.entrypoint = argv_or_none(ep);
            // As in a Dockerfile: a new ENTRYPOINT drops the inherited CMD.
            if self.cmd.is_none() {
                c.cmd = None;
            }
            said.push(format!("ENTRYPOINT {}", ep.describe()));
        }
        if let Some(cmd) = &self.cmd {
            c.cmd = argv_or_none(cmd);
            said.push(format!("CMD {}", cmd.describe()));
        }
        if let Some(w) = &self.workdir {
            let base = c
                .working_dir
                .as_deref()
                .filter(|s| !s.is_empty())
                .unwrap_or("/");
            let joined = if w.starts_with('/') {
                w.clone()
            } else {
                format!("{base}/{w}")
            };
            c.working_dir = Some(clean_path(&joined));
            said.push(format!("WORKDIR {w}"));
        }
        if let Some(u) = &self.user {
            c.user = Some(u.clone());
            said.push(format!("USER {u}"));
        }
        Ok(())
    }

    /// What describes the image: EXPOSE, LABEL, VOLUME, STOPSIGNAL,
    /// HEALTHCHECK, ONBUILD.
    fn apply_rest(&self, c: &mut ContainerConfig, said: &mut Vec<String>) -> Result<(), String> {
        for p in &self.expose {
            let ports = c.exposed_ports.get_or_insert_with(Default::default);
            for n in normalize_port(p)? {
                ports.insert(n, EmptyObject {});
            }
            said.push(format!("EXPOSE {p}"));
        }
        if !self.labels.is_empty() {
            let labels = c.labels.get_or_insert_with(Default::default);
            for (k, v) in &self.labels {
                labels.insert(k.clone(), v.clone());
                said.push(format!("LABEL {k}={v}"));
            }
        }
        for v in &self.volumes {
            let vols = c.volumes.get_or_insert_with(Default::default);
            vols.insert(v.clone(), EmptyObject {});
            said.push(format!("VOLUME [{v:?}]"));
        }
        if let Some(s) = &self.stopsignal {
            c.stop_signal = Some(s.clone());
            said.push(format!("STOPSIGNAL {s}"));
        }
        if let Some(h) = &self.healthcheck {
            c.healthcheck = Some(h.to_config()?);
            said.push(format!("HEALTHCHECK {}", h.test.join(" ")));
        }
        if self.clear_onbuild && c.on_build.is_some() {
            c.on_build = None;
            said.push("ONBUILD triggers run".into());
        }
        for o in &self.onbuild {
            c.on_build.get_or_insert_with(Vec::new).push(o.clone());
            said.push(format!("ONBUILD {o}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(e: &Edits, base: Value) -> Value {
        let mut m = base.as_object().unwrap().clone();
        e.apply(&mut m).unwrap();
        Value::Object(m)
    }

    #[test]
    fn env_replaces_an_existing_key_and_appends_a_new_one() {
        let e = Edits {
            env: vec!["A=2".into(), "B=x=y".into()],
            ..Default::default()
        };
        let out = apply(&e, json!({"config": {"Env": ["A=1", "PATH=/bin"]}}));
        assert_eq!(out["config"]["Env"], json!(["A=2", "PATH=/bin", "B=x=y"]));
    }

    #[test]
    fn shell_form_uses_the_configured_shell_and_entrypoint_clears_inherited_cmd() {
        let e = Edits {
            entrypoint: Some(CommandForm::parse_flag("run.sh --fast")),
            ..Default::default()
        };
        let out = apply(
            &e,
            json!({"config": {"Cmd": ["sh"], "Shell": ["/bin/bash", "-c"]}}),
        );
        assert_eq!(
            out["config"]["Entrypoint"],
            json!(["/bin/bash", "-c", "run.sh --fast"])
        );
        assert!(out["config"].get("Cmd").is_none());
        let e = Edits {
            cmd: Some(CommandForm::parse_flag(r#"["echo","hi"]"#)),
            ..Default::default()
        };
        assert_eq!(apply(&e, json!({}))["config"]["Cmd"], json!(["echo", "hi"]));
    }

    #[test]
    fn workdir_is_relative_to_the_previous_one_and_cleaned() {
        let e = Edits {
            workdir: Some("b/../c".into()),
            ..Default::default()
        };
        assert_eq!(
            apply(&e, json!({"config": {"WorkingDir": "/a"}}))["config"]["WorkingDir"],
            "/a/c"
        );
    }

    #[test]
    fn expose_normalizes_protocols_and_expands_ranges() {
        let e = Edits {
            expose: vec!["80".into(), "53/UDP".into(), "8000-8001".into()],
            ..Default::default()
        };
        let out = apply(&e, json!({}));
        let keys: Vec<&String> = out["config"]["ExposedPorts"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(keys, ["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]);
        assert!(Edits {
            expose: vec!["70000".into()],
            ..Default::default()
        }
        .validate()
        .is_err());
        assert!(Edits {
            expose: vec!["80/icmp".into()],
            ..Default::default()
        }
        .validate()
        .is_err());
    }

    #[test]
    fn healthcheck_flag_parses_like_the_instruction() {
        let h = Healthcheck::parse_flag("--interval=30s --retries=3 CMD curl -f http://localhost/")
            .unwrap();
        assert_eq!(
            serde_json::to_value(h.to_config().unwrap()).unwrap(),
            json!({"Test": ["CMD-SHELL", "curl -f http://localhost/"], "Interval": 30_000_000_000u64, "Retries": 3})
        );
        let h = Healthcheck::parse_flag(r#"CMD ["/bin/check", "-q"]"#).unwrap();
        assert_eq!(h.test, ["CMD", "/bin/check", "-q"]);
        assert_eq!(Healthcheck::parse_flag("none").unwrap().test, ["NONE"]);
        assert!(Healthcheck::parse_flag("--bogus=1 CMD x").is_err());
        assert!(Healthcheck::parse_flag("CMD").is_err());
        assert_eq!(parse_duration_ns("1m30s").unwrap(), 90_000_000_000);
        assert!(parse_duration_ns("10 parsecs").is_err());
    }

    #[test]
    fn bad_values_are_refused_before_anything_is_written() {
        assert!(Edits {
            env: vec!["NOVALUE".into()],
            ..Default::default()
        }
        .validate()
        .is_err());
        assert!(Edits {
            stopsignal: Some("SIG TERM".into()),
            ..Default::default()
        }
        .validate()
        .is_err());
        assert!(Edits {
            stopsignal: Some("SIGRTMIN+3".into()),
            ..Default::default()
        }
        .validate()
        .is_ok());
        let doc: Result<Edits, _> = serde_json::from_str(r#"{"evn": ["A=1"]}"#);
        assert!(doc.is_err(), "unknown fields are an error");
    }
}
