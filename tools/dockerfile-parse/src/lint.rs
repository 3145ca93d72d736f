//! BuildKit's build checks that need no image, as plan warnings with the
//! rule name and the line (see BuildKit's docs/rules).

use crate::ast::{Arg, Ast, Instruction, Warning};
use std::collections::{HashMap, HashSet};

fn w(line: usize, rule: &str, message: String) -> Warning {
    Warning {
        line,
        rule: rule.into(),
        message,
    }
}

/// The variable names a word refers to (`$X`, `${X…}`).
fn referenced(word: &str) -> Vec<String> {
    let c: Vec<char> = word.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        if c[i] == '\\' {
            i += 2;
            continue;
        }
        if c[i] == '$' {
            let mut j = i + 1;
            if c.get(j) == Some(&'{') {
                j += 1;
            }
            let start = j;
            while j < c.len() && (c[j].is_alphanumeric() || c[j] == '_') {
                j += 1;
            }
            if j > start {
                out.push(c[start..j].iter().collect());
            }
            i = j;
            continue;
        }
        i += 1;
    }
    out
}

/// `s == s.to_uppercase()`, without a new string for ASCII words: the
/// rules ask it of every keyword.
fn is_upper(s: &str) -> bool {
    if s.is_ascii() {
        !s.bytes().any(|b| b.is_ascii_lowercase())
    } else {
        s == s.to_uppercase()
    }
}

/// `s == s.to_lowercase()`, as `is_upper`.
fn is_lower(s: &str) -> bool {
    if s.is_ascii() {
        !s.bytes().any(|b| b.is_ascii_uppercase())
    } else {
        s == s.to_lowercase()
    }
}

fn secret_like(name: &str) -> bool {
    const WORDS: &[&str] = &[
        "apikey",
        "auth",
        "credential",
        "credentials",
        "key",
        "password",
        "pword",
        "passwd",
        "secret",
        "token",
    ];
    // The words are ASCII lower case: compared so, no lower-cased copy.
    name.split('_')
        .any(|p| WORDS.iter().any(|w| p.eq_ignore_ascii_case(w)))
}

fn values(i: &Instruction) -> Vec<&str> {
    i.args
        .iter()
        .filter_map(|a| match a {
            Arg::Value(v) => Some(v.as_str()),
            Arg::Instruction(_) => None,
        })
        .collect()
}

const BUILTIN: &[&str] = &[
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
    "TARGETSTAGE",
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Every rule over a whole file, the warnings in line order.
pub fn check(ast: &Ast) -> Vec<Warning> {
    let mut lint = Lint::default();
    for i in &ast.instructions {
        lint.feed(i);
    }
    let (rest, casing) = lint.finish();
    let mut out: Vec<Warning> = ast
        .instructions
        .iter()
        .filter_map(|i| casing.check(i))
        .collect();
    // Sorted stably: at one line the casing warning stays first.
    out.extend(rest);
    out.sort_by_key(|x| x.line);
    out
}

/// The rules, fed one instruction at a time, so that a file need not be
/// held whole to be checked. ConsistentInstructionCasing cannot be told
/// before the end (the majority decides): `finish` gives a `Casing` to
/// check the instructions with on a second pass.
#[derive(Default)]
pub struct Lint {
    out: Vec<Warning>,
    upper: usize,
    lower: usize,
    global_args: HashSet<String>,
    /// Boxed: a file can have tens of thousands of stages.
    stage_names: HashSet<Box<str>>,
    in_stage: bool,
    seen: HashMap<&'static str, Vec<usize>>,
    abs_workdir: bool,
}

/// ConsistentInstructionCasing, once the majority is known.
#[derive(Debug, Clone, Copy)]
pub struct Casing {
    majority_upper: bool,
}

impl Casing {
    pub fn check(&self, i: &Instruction) -> Option<Warning> {
        let cased = if self.majority_upper {
            is_upper(&i.keyword)
        } else {
            is_lower(&i.keyword)
        };
        (!cased).then(|| {
            w(
                i.start_line,
                "ConsistentInstructionCasing",
                format!(
                    "Command '{}' should match the case of the command majority ({})",
                    i.keyword,
                    if self.majority_upper {
                        "uppercase"
                    } else {
                        "lowercase"
                    }
                ),
            )
        })
    }
}

impl Lint {
    fn flush_multiple(&mut self) {
        for (cmd, lines) in self.seen.drain() {
            for l in &lines[..lines.len().saturating_sub(1)] {
                self.out.push(w(
                    *l,
                    "MultipleInstructionsDisallowed",
                    format!("Multiple {} instructions should not be used in the same stage because only the last one will be used", cmd.to_uppercase()),
                ));
            }
        }
    }

    /// The warnings of every rule but the casing one (not in line order:
    /// the caller sorts, stably), and the casing rule.
    pub fn finish(mut self) -> (Vec<Warning>, Casing) {
        self.flush_multiple();
        let casing = Casing {
            majority_upper: self.upper >= self.lower,
        };
        (self.out, casing)
    }

    pub fn feed(&mut self, i: &Instruction) {
        if is_upper(&i.keyword) {
            self.upper += 1;
        } else if is_lower(&i.keyword) {
            self.lower += 1;
        }
        let line = i.start_line;
        let out = &mut self.out;
        let args = values(i);
        match i.cmd.as_str() {
            "from" => {
                self.flush_multiple();
                let out = &mut self.out;
                self.in_stage = true;
                self.abs_workdir = false;
                if args.len() == 3 {
                    let kw_upper = is_upper(&i.keyword);
                    let as_upper = is_upper(args[1]);
                    if kw_upper != as_upper {
                        out.push(w(line, "FromAsCasing", "'as' and 'FROM' keywords' casing do not match".into()));
                    }
                    let name = args[2];
                    let lname = name.to_lowercase();
                    if name != lname {
                        out.push(w(line, "StageNameCasing", format!("Stage name '{name}' should be lowercase")));
                    }
                    if ["scratch", "context"].contains(&lname.as_str()) {
                        out.push(w(line, "ReservedStageName", format!("'{lname}' is reserved and should not be used as a stage name")));
                    }
                    if self.stage_names.contains(lname.as_str()) {
                        out.push(w(line, "DuplicateStageName", format!("Duplicate stage name \"{lname}\", stage names should be unique")));
                    } else {
                        self.stage_names.insert(lname.into_boxed_str());
                    }
                }
                let mut words: Vec<&str> = args.first().copied().into_iter().collect();
                let platform = i.flags.iter().find_map(|f| f.strip_prefix("--platform="));
                words.extend(platform);
                for word in words {
                    for name in referenced(word) {
                        if !self.global_args.contains(&name) && !BUILTIN.contains(&name.as_str()) {
                            out.push(w(line, "UndefinedArgInFrom", format!("FROM argument '{name}' is not declared")));
                        }
                    }
                }
                if platform.is_some_and(|p| p == "$TARGETPLATFORM" || p == "${TARGETPLATFORM}") {
                    out.push(w(
                        line,
                        "RedundantTargetPlatform",
                        "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior".into(),
                    ));
                }
            }
            "arg" => {
                for a in &args {
                    let name = a.split_once('=').map_or(*a, |(n, _)| n);
                    if !self.in_stage {
                        self.global_args.insert(name.to_string());
                    }
                    if secret_like(name) {
                        out.push(w(line, "SecretsUsedInArgOrEnv", format!("Do not use ARG or ENV instructions for sensitive data (ARG \"{name}\")")));
                    }
                }
            }
            "env" => {
                for c in args.chunks(3) {
                    if secret_like(c[0]) {
                        out.push(w(line, "SecretsUsedInArgOrEnv", format!("Do not use ARG or ENV instructions for sensitive data (ENV \"{}\")", c[0])));
                    }
                }
                if args.len() == 3 && args[2].is_empty() {
                    out.push(w(line, "LegacyKeyValueFormat", "\"ENV key=value\" should be used instead of legacy \"ENV key value\" format".into()));
                }
            }
            "label" if args.len() == 3 && args[2].is_empty() => {
                out.push(w(line, "LegacyKeyValueFormat", "\"LABEL key=value\" should be used instead of legacy \"LABEL key value\" format".into()));
            }
            "maintainer" => out.push(w(
                line,
                "MaintainerDeprecated",
                "The MAINTAINER instruction is deprecated, use a label instead to define an image author".into(),
            )),
            "cmd" | "entrypoint" => {
                if !i.json && !args.is_empty() {
                    out.push(w(
                        line,
                        "JSONArgsRecommended",
                        format!("JSON arguments recommended for {} to prevent unintended behavior related to OS signals", i.cmd.to_uppercase()),
                    ));
                }
                self.seen.entry(if i.cmd == "cmd" { "cmd" } else { "entrypoint" }).or_default().push(line);
            }
            "healthcheck" => self.seen.entry("healthcheck").or_default().push(line),
            "workdir" => {
                if let Some(p) = args.first() {
                    if p.starts_with('/') || p.starts_with('$') {
                        self.abs_workdir = true;
                    } else if !self.abs_workdir {
                        out.push(w(
                            line,
                            "WorkdirRelativePath",
                            format!("Relative workdir \"{p}\" can have unexpected results if the base image changes"),
                        ));
                    }
                }
            }
            "expose" => {
                for a in &args {
                    if let Some((_, proto)) = a.rsplit_once('/') {
                        if proto != proto.to_lowercase() {
                            out.push(w(line, "ExposeProtoCasing", format!("Defined protocol '{a}' in EXPOSE instruction should be lowercase")));
                        }
                    }
                    if a.contains(':') {
                        out.push(w(
                            line,
                            "ExposeInvalidFormat",
                            format!("EXPOSE instruction should not define an IP address or host-port mapping, found '{a}'"),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(src: &str) -> Vec<(usize, String)> {
        check(&crate::ast::parse(src).unwrap())
            .into_iter()
            .map(|w| (w.line, w.rule))
            .collect()
    }

    #[test]
    fn each_rule_fires_where_buildkit_does() {
        let r = rules("FROM a AS Build\nFROM a as x\nCMD run\nCMD [\"x\"]\nMAINTAINER me\nENV K v\nARG API_TOKEN\nWORKDIR app\nEXPOSE 80/TCP\nFROM $NOPE\nFROM a AS x\nrun lower\n");
        for (line, rule) in [
            (1, "StageNameCasing"),
            (2, "FromAsCasing"),
            (3, "JSONArgsRecommended"),
            (3, "MultipleInstructionsDisallowed"),
            (5, "MaintainerDeprecated"),
            (6, "LegacyKeyValueFormat"),
            (7, "SecretsUsedInArgOrEnv"),
            (8, "WorkdirRelativePath"),
            (9, "ExposeProtoCasing"),
            (10, "UndefinedArgInFrom"),
            (11, "DuplicateStageName"),
            (12, "ConsistentInstructionCasing"),
        ] {
            assert!(
                r.contains(&(line, rule.to_string())),
                "{rule} at {line}: {r:?}"
            );
        }
        assert!(rules("ARG V=1\nFROM a:$V\nCMD [\"a\"]\n").is_empty());
    }
}
