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
    name.to_ascii_lowercase()
        .split('_')
        .any(|p| WORDS.contains(&p))
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

pub fn check(ast: &Ast) -> Vec<Warning> {
    let mut out = Vec::new();
    // ConsistentInstructionCasing: the minority casing is flagged.
    let (mut upper, mut lower) = (0, 0);
    for i in &ast.instructions {
        if i.keyword == i.keyword.to_uppercase() {
            upper += 1;
        } else if i.keyword == i.keyword.to_lowercase() {
            lower += 1;
        }
    }
    let majority_upper = upper >= lower;
    let mut global_args: HashSet<String> = HashSet::new();
    let mut stage_names: HashMap<String, usize> = HashMap::new();
    let mut in_stage = false;
    let mut seen: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut abs_workdir = false;
    let flush_multiple = |seen: &mut HashMap<&str, Vec<usize>>, out: &mut Vec<Warning>| {
        for (cmd, lines) in seen.drain() {
            for l in &lines[..lines.len().saturating_sub(1)] {
                out.push(w(
                    *l,
                    "MultipleInstructionsDisallowed",
                    format!("Multiple {} instructions should not be used in the same stage because only the last one will be used", cmd.to_uppercase()),
                ));
            }
        }
    };
    for i in &ast.instructions {
        let line = i.start_line;
        let cased = if majority_upper {
            i.keyword.to_uppercase()
        } else {
            i.keyword.to_lowercase()
        };
        if i.keyword != cased {
            out.push(w(
                line,
                "ConsistentInstructionCasing",
                format!(
                    "Command '{}' should match the case of the command majority ({})",
                    i.keyword,
                    if majority_upper {
                        "uppercase"
                    } else {
                        "lowercase"
                    }
                ),
            ));
        }
        let args = values(i);
        match i.cmd.as_str() {
            "from" => {
                flush_multiple(&mut seen, &mut out);
                in_stage = true;
                abs_workdir = false;
                if args.len() == 3 {
                    let kw_upper = i.keyword == i.keyword.to_uppercase();
                    let as_upper = args[1] == args[1].to_uppercase();
                    if kw_upper != as_upper {
                        out.push(w(line, "FromAsCasing", "'as' and 'FROM' keywords' casing do not match".into()));
                    }
                    let name = args[2];
                    if name != name.to_lowercase() {
                        out.push(w(line, "StageNameCasing", format!("Stage name '{name}' should be lowercase")));
                    }
                    let lname = name.to_lowercase();
                    if ["scratch", "context"].contains(&lname.as_str()) {
                        out.push(w(line, "ReservedStageName", format!("'{lname}' is reserved and should not be used as a stage name")));
                    }
                    if let Some(first) = stage_names.insert(lname.clone(), line) {
                        let _ = first;
                        out.push(w(line, "DuplicateStageName", format!("Duplicate stage name \"{lname}\", stage names should be unique")));
                    }
                }
                let mut words: Vec<&str> = args.first().copied().into_iter().collect();
                let platform = i.flags.iter().find_map(|f| f.strip_prefix("--platform="));
                words.extend(platform);
                for word in words {
                    for name in referenced(word) {
                        if !global_args.contains(&name) && !BUILTIN.contains(&name.as_str()) {
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
                    if !in_stage {
                        global_args.insert(name.to_string());
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
                seen.entry(if i.cmd == "cmd" { "cmd" } else { "entrypoint" }).or_default().push(line);
            }
            "healthcheck" => seen.entry("healthcheck").or_default().push(line),
            "workdir" => {
                if let Some(p) = args.first() {
                    if p.starts_with('/') || p.starts_with('$') {
                        abs_workdir = true;
                    } else if !abs_workdir {
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
    flush_multiple(&mut seen, &mut out);
    out.sort_by_key(|x| x.line);
    out
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
