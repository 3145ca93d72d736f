//! From the syntax tree to the build plan: stages and the graph between
//! them, instructions checked as BuildKit's instruction layer checks them
//! (arguments, flags, triggers), FROM lines resolved with the global ARGs,
//! and `--target` narrowing the plan to the stages it needs.
//!
//! Words that BuildKit expands against the stage's environment are kept as
//! written (with `expand: true`): that environment includes the base
//! image's, which only the build driver knows. It expands them with the
//! same code (`slipway_common::shell`).

use crate::ast::{Arg, Ast, Heredoc, Instruction, ParseError, Warning};
use serde::Serialize;
use slipway_common::shell::Lex;
use std::collections::{BTreeMap, HashMap};

pub const PLAN_VERSION: u32 = 1;

fn perr<T>(line: usize, msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        line,
        col: 1,
        msg: msg.into(),
    })
}

/// What the caller says about the build.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    /// `os/arch[/variant]` of the build host and of the target.
    pub build_platform: String,
    pub target_platform: String,
    pub dockerignore: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
pub struct Plan {
    pub version: u32,
    /// The `syntax` directive (`#`, `//` or a JSON object, as BuildKit
    /// detects it).
    pub syntax: Option<String>,
    /// The `check` directive, parsed.
    pub check: Option<CheckOptions>,
    pub escape: String,
    pub build_args: BTreeMap<String, String>,
    /// ARGs before the first FROM, with their values (usable in FROM only).
    pub global_args: Vec<ArgValue>,
    /// The stage that is built: `--target`, else the last one.
    pub target: usize,
    pub stages: Vec<Stage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerignore: Option<Vec<String>>,
    pub warnings: Vec<Warning>,
}

/// `# check=skip=A,B;error=true;experimental=C`
#[derive(Debug, Serialize, Clone, Default, PartialEq)]
pub struct CheckOptions {
    pub skip: Vec<String>,
    pub error: bool,
    pub experimental: Vec<String>,
}

/// Parses the value of the `check` directive.
pub fn parse_check(v: &str, line: usize) -> Result<CheckOptions, ParseError> {
    let mut c = CheckOptions::default();
    for part in v.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, val) = part.split_once('=').ok_or_else(|| ParseError {
            line,
            col: 1,
            msg: format!("invalid check option {part:?}"),
        })?;
        let list = || {
            val.split(',')
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty())
                .collect::<Vec<_>>()
        };
        match k.trim().to_ascii_lowercase().as_str() {
            "skip" => c.skip = list(),
            "experimental" => c.experimental = list(),
            "error" => {
                c.error = match val.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => {
                        return perr(
                            line,
                            format!("invalid check option error={val}: not a boolean"),
                        )
                    }
                }
            }
            _ => return perr(line, format!("invalid check option {k:?}")),
        }
    }
    Ok(c)
}

#[derive(Debug, Serialize, Clone)]
pub struct ArgValue {
    pub name: String,
    /// None: declared without a value and none given.
    pub value: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Stage {
    pub index: usize,
    pub name: Option<String>,
    pub line: usize,
    /// The base: `scratch`, an earlier stage, or an image reference
    /// (expanded with the global ARGs).
    pub base: Base,
    pub platform: Option<String>,
    /// Stages this one needs (its base and every --from / mount from).
    pub depends_on: Vec<usize>,
    /// Whether the target needs this stage.
    pub needed: bool,
    pub steps: Vec<Step>,
}

#[derive(Debug, Serialize, Clone, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Base {
    Scratch,
    Stage(usize),
    Image(String),
}

#[derive(Debug, Serialize, Clone, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Stage(usize),
    Image(String),
}

#[derive(Debug, Serialize)]
pub struct Step {
    pub cmd: String,
    pub line: usize,
    pub end_line: usize,
    pub original: String,
    /// Validated flags: a string, `true`/`false`, or a list when repeatable.
    pub flags: BTreeMap<String, serde_json::Value>,
    /// The arguments as written (see the module docs).
    pub args: Vec<String>,
    /// `exec` (a JSON array) or `shell`, for the forms that have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub form: Option<&'static str>,
    /// Whether the builder expands variables in the arguments.
    pub expand: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub heredocs: Vec<Heredoc>,
    /// ENV and LABEL: key/value pairs, as written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pairs: Vec<(String, String)>,
    /// ARG: the declarations, with `--build-arg` values applied.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub arg_values: Vec<ArgDecl>,
    /// COPY --from and RUN --mount from=, resolved.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<Source>,
    /// ONBUILD: the trigger's text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// COPY and ADD: the destination, the source paths, and the inline
    /// files that heredocs give.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dest: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inline: Vec<Inline>,
}

/// A COPY/ADD source written inline as a heredoc.
#[derive(Debug, Serialize, Clone, PartialEq)]
pub struct Inline {
    pub path: String,
    pub data: String,
    /// Whether the builder expands variables in `data`.
    pub expand: bool,
}

/// `<<-`: leading tabs go from every line.
pub fn chomp(s: &str) -> String {
    s.split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

#[derive(Debug, Serialize, Clone)]
pub struct ArgDecl {
    pub name: String,
    /// The default as written (`ARG N=default`).
    pub default: Option<String>,
    /// The value from `--build-arg`, which wins over the default.
    pub build_arg: Option<String>,
    /// For a global ARG redeclared without a default: its global value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum FlagKind {
    Bool,
    Str,
    Strings,
}

fn allowed_flags(cmd: &str) -> Option<&'static [(&'static str, FlagKind)]> {
    use FlagKind::*;
    Some(match cmd {
        "from" => &[("platform", Str)],
        "run" => &[
            ("mount", Strings),
            ("network", Str),
            ("security", Str),
            ("device", Strings),
        ],
        "copy" => &[
            ("from", Str),
            ("chown", Str),
            ("chmod", Str),
            ("link", Bool),
            ("parents", Bool),
            ("exclude", Strings),
        ],
        "add" => &[
            ("chown", Str),
            ("chmod", Str),
            ("link", Bool),
            ("keep-git-dir", Bool),
            ("checksum", Str),
            ("unpack", Bool),
            ("exclude", Strings),
        ],
        "healthcheck" => &[
            ("interval", Str),
            ("timeout", Str),
            ("start-period", Str),
            ("start-interval", Str),
            ("retries", Str),
        ],
        // ARG and STOPSIGNAL never check their flags.
        "arg" | "stopsignal" => return None,
        _ => &[],
    })
}

fn parse_flags(
    cmd: &str,
    flags: &[String],
    line: usize,
    check: bool,
) -> Result<BTreeMap<String, serde_json::Value>, ParseError> {
    let mut out = BTreeMap::new();
    let Some(allowed) = allowed_flags(cmd).filter(|_| check) else {
        for f in flags {
            let f = f.trim_start_matches('-');
            let (k, v) = f.split_once('=').unwrap_or((f, "true"));
            out.insert(k.to_string(), serde_json::Value::from(v));
        }
        return Ok(out);
    };
    for f in flags {
        let body = f.strip_prefix("--").unwrap_or(f);
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let Some((_, kind)) = allowed.iter().find(|(n, _)| *n == name) else {
            return perr(line, format!("unknown flag: --{name}"));
        };
        match kind {
            FlagKind::Bool => {
                let v = match value.map(str::to_ascii_lowercase).as_deref() {
                    None | Some("true") => true,
                    Some("false") => false,
                    Some("") => return perr(line, format!("missing a value on flag: --{name}")),
                    Some(_) => {
                        return perr(
                            line,
                            format!(
                                "expecting boolean value for flag --{name}, not: {}",
                                value.unwrap_or("")
                            ),
                        )
                    }
                };
                if out
                    .insert(name.to_string(), serde_json::Value::Bool(v))
                    .is_some()
                {
                    return perr(line, format!("duplicate flag specified: --{name}"));
                }
            }
            FlagKind::Str => {
                let Some(v) = value else {
                    return perr(line, format!("missing a value on flag: --{name}"));
                };
                if out
                    .insert(name.to_string(), serde_json::Value::from(v))
                    .is_some()
                {
                    return perr(line, format!("duplicate flag specified: --{name}"));
                }
            }
            FlagKind::Strings => {
                let Some(v) = value else {
                    return perr(line, format!("missing a value on flag: --{name}"));
                };
                let e = out
                    .entry(name.to_string())
                    .or_insert_with(|| serde_json::Value::Array(vec![]));
                e.as_array_mut()
                    .expect("list flag")
                    .push(serde_json::Value::from(v));
            }
        }
    }
    if cmd == "run" {
        if let Some(n) = out.get("network").and_then(|v| v.as_str()) {
            if !["default", "none", "host"].contains(&n) {
                return perr(
                    line,
                    format!("invalid network mode {}", crate::gostr::quote(n)),
                );
            }
        }
        if let Some(s) = out.get("security").and_then(|v| v.as_str()) {
            if !["sandbox", "insecure"].contains(&s) {
                return perr(
                    line,
                    format!("security {} is not valid", crate::gostr::quote(s)),
                );
            }
        }
    }
    Ok(out)
}

fn values(args: &[Arg]) -> Vec<String> {
    args.iter()
        .filter_map(|a| match a {
            Arg::Value(v) => Some(v.clone()),
            Arg::Instruction(_) => None,
        })
        .collect()
}

fn upper(cmd: &str) -> String {
    cmd.to_ascii_uppercase()
}

fn valid_stage_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"-_.".contains(c))
}

/// `key=value` fields of a `--mount`, the `from` among them.
fn mount_from(spec: &str) -> Option<String> {
    spec.split(',').find_map(|f| {
        let (k, v) = f.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("from")).then(|| v.trim().trim_matches('"').to_string())
    })
}

const KNOWN: &[&str] = &[
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

struct Builder<'a> {
    opts: &'a Options,
    lex: Lex,
    global_env: HashMap<String, String>,
    /// The predefined args plus the global ARGs: what FROM lines see.
    from_env: HashMap<String, String>,
    global_args: Vec<ArgValue>,
    stages: Vec<Stage>,
    names: HashMap<String, usize>,
}

impl Builder<'_> {
    fn builtins(&self) -> HashMap<String, String> {
        let split = |p: &str| {
            let mut it = p.split('/');
            (
                it.next().unwrap_or("").to_string(),
                it.next().unwrap_or("").to_string(),
                it.next().unwrap_or("").to_string(),
            )
        };
        let (bos, barch, bvar) = split(&self.opts.build_platform);
        let (tos, tarch, tvar) = split(&self.opts.target_platform);
        let mut m = HashMap::new();
        m.insert("BUILDPLATFORM".into(), self.opts.build_platform.clone());
        m.insert("BUILDOS".into(), bos);
        m.insert("BUILDARCH".into(), barch);
        m.insert("BUILDVARIANT".into(), bvar);
        m.insert("TARGETPLATFORM".into(), self.opts.target_platform.clone());
        m.insert("TARGETOS".into(), tos);
        m.insert("TARGETARCH".into(), tarch);
        m.insert("TARGETVARIANT".into(), tvar);
        m
    }

    fn resolve_source(&self, v: &str, line: usize, current: usize) -> Result<Source, ParseError> {
        if let Some(i) = self.names.get(&v.to_ascii_lowercase()) {
            return Ok(Source::Stage(*i));
        }
        if let Ok(i) = v.parse::<usize>() {
            if i >= current {
                return perr(
                    line,
                    format!("invalid from flag value {v}: refers to current or future build stage"),
                );
            }
            return Ok(Source::Stage(i));
        }
        Ok(Source::Image(v.to_string()))
    }

    fn check_counts(
        &self,
        ins: &Instruction,
        args: &[String],
        has_args: bool,
    ) -> Result<(), ParseError> {
        let line = ins.start_line;
        let up = upper(&ins.cmd);
        match ins.cmd.as_str() {
            "maintainer" | "workdir" | "user" | "stopsignal" if args.len() != 1 => {
                perr(line, format!("{up} requires exactly one argument"))
            }
            "env" | "label" | "onbuild" | "healthcheck" | "expose" | "volume" | "arg" | "shell" if !has_args => {
                perr(line, format!("{up} requires at least one argument"))
            }
            "add" | "copy" if args.len() + ins.heredocs.len() < 2 => perr(
                line,
                format!("{up} requires at least two arguments, but only one was provided. Destination could not be determined"),
            ),
            _ => Ok(()),
        }
    }

    fn step(
        &mut self,
        mut ins: Instruction,
        current: usize,
        in_onbuild: bool,
    ) -> Result<Step, ParseError> {
        let line = ins.start_line;
        let cmd = ins.cmd.clone();
        let cmd = cmd.as_str();
        if !KNOWN.contains(&cmd) {
            return perr(line, format!("unknown instruction: {}", ins.keyword));
        }
        // The values move out of the instruction; ONBUILD's is nested.
        let mut args = Vec::with_capacity(ins.args.len());
        let mut nested: Option<Box<Instruction>> = None;
        let has_args = !ins.args.is_empty();
        for a in std::mem::take(&mut ins.args) {
            match a {
                Arg::Value(v) => args.push(v),
                Arg::Instruction(i) => nested = Some(i),
            }
        }
        let check_flags =
            !(cmd == "healthcheck" && args.first().is_some_and(|t| t.eq_ignore_ascii_case("none")));
        let flags = parse_flags(cmd, &ins.flags, line, check_flags)?;
        self.check_counts(&ins, &args, has_args)?;
        let mut step = Step {
            cmd: cmd.to_string(),
            line,
            end_line: ins.end_line,
            original: String::new(),
            flags,
            args: Vec::new(),
            form: None,
            expand: matches!(
                cmd,
                "env"
                    | "label"
                    | "arg"
                    | "add"
                    | "copy"
                    | "workdir"
                    | "user"
                    | "volume"
                    | "expose"
                    | "stopsignal"
            ),
            heredocs: vec![],
            pairs: vec![],
            arg_values: vec![],
            from: vec![],
            trigger: None,
            dest: None,
            sources: vec![],
            inline: vec![],
        };
        match cmd {
            "run" | "cmd" | "entrypoint" | "shell" => {
                step.form = Some(if ins.json { "exec" } else { "shell" });
                if cmd == "shell" && (!ins.json || args.is_empty()) {
                    return perr(line, "SHELL requires the arguments to be in JSON form");
                }
                if cmd == "run" {
                    for m in step
                        .flags
                        .get("mount")
                        .and_then(|v| v.as_array())
                        .into_iter()
                        .flatten()
                    {
                        if let Some(f) = m.as_str().and_then(mount_from) {
                            if f.contains('$') {
                                return perr(line, "'from' doesn't support variable expansion, define alias stage instead");
                            }
                            step.from.push(self.resolve_source(&f, line, current)?);
                        }
                    }
                }
            }
            "env" | "label" => {
                for c in args.chunks(3) {
                    if c[0].is_empty() {
                        return perr(line, format!("{} names can not be blank", upper(cmd)));
                    }
                    step.pairs
                        .push((c[0].clone(), c.get(1).cloned().unwrap_or_default()));
                }
            }
            "add" | "copy" => {
                let dest = args.last().cloned().unwrap_or_default();
                let is_heredoc = |w: &str| crate::ast::parse_heredoc(w).ok().flatten().is_some();
                if !ins.heredocs.is_empty() && is_heredoc(&dest) {
                    return perr(
                        line,
                        format!("{} cannot accept a heredoc as a destination", upper(cmd)),
                    );
                }
                step.dest = Some(dest);
                step.sources = args[..args.len().saturating_sub(1)]
                    .iter()
                    .filter(|w| ins.heredocs.is_empty() || !is_heredoc(w))
                    .cloned()
                    .collect();
                step.inline = ins
                    .heredocs
                    .iter()
                    .map(|h| Inline {
                        path: h.name.clone(),
                        // COPY and ADD strip the tabs of <<- bodies here.
                        data: if h.chomp {
                            chomp(&h.content)
                        } else {
                            h.content.clone()
                        },
                        expand: h.expand,
                    })
                    .collect();
                if let Some(f) = step
                    .flags
                    .get("from")
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
                {
                    if self
                        .lex
                        .process_word(&f, &HashMap::<String, String>::new())
                        .ok()
                        .as_deref()
                        != Some(f.as_str())
                    {
                        return perr(line, "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround");
                    }
                    step.from.push(self.resolve_source(&f, line, current)?);
                }
            }
            "healthcheck" => {
                step.form = Some(if ins.json { "exec" } else { "shell" });
                let typ = args
                    .first()
                    .map(|t| t.to_ascii_uppercase())
                    .unwrap_or_default();
                match typ.as_str() {
                    "NONE" if args.len() > 1 => {
                        return perr(line, "HEALTHCHECK NONE takes no arguments")
                    }
                    "NONE" => {}
                    "CMD" if args.len() < 2 => {
                        return perr(line, "Missing command after HEALTHCHECK CMD")
                    }
                    "CMD" => {}
                    _ => {
                        return perr(
                            line,
                            format!(
                                "Unknown type {} in HEALTHCHECK (try CMD)",
                                crate::gostr::quote(&args[0])
                            ),
                        )
                    }
                }
            }
            "onbuild" => {
                let Some(inner) = nested.as_ref() else {
                    return perr(line, "ONBUILD requires at least one argument");
                };
                match inner.cmd.as_str() {
                    "onbuild" => {
                        return perr(line, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
                    }
                    "from" | "maintainer" => {
                        return perr(
                            line,
                            format!("{} isn't allowed as an ONBUILD trigger", upper(&inner.cmd)),
                        )
                    }
                    _ => {}
                }
                // The trigger is checked now, run downstream.
                self.step((**inner).clone(), current, true)?;
                let text = ins.original.trim_start();
                let text = text[text.find(char::is_whitespace).unwrap_or(text.len())..].trim();
                step.trigger = Some(text.to_string());
            }
            "arg" => {
                for w in &args {
                    let (name, default) = match w.split_once('=') {
                        Some((n, d)) => (n.to_string(), Some(d.to_string())),
                        None => (w.clone(), None),
                    };
                    if name.is_empty() {
                        return perr(line, "ARG names can not be blank");
                    }
                    let global = if default.is_none() {
                        self.global_env
                            .get(&name)
                            .cloned()
                            .or_else(|| self.builtins().get(&name).cloned())
                    } else {
                        None
                    };
                    step.arg_values.push(ArgDecl {
                        build_arg: self.opts.build_args.get(&name).cloned(),
                        name,
                        default,
                        global,
                    });
                }
            }
            _ => {}
        }
        if in_onbuild {
            // A trigger's own checks are done; its text is what is kept.
            step.expand = false;
        }
        step.original = ins.original;
        step.heredocs = ins.heredocs;
        step.args = args;
        Ok(step)
    }

    fn global_arg(&mut self, ins: &Instruction) -> Result<(), ParseError> {
        for w in values(&ins.args) {
            let (name, default) = match w.split_once('=') {
                Some((n, d)) => (n.to_string(), Some(d.to_string())),
                None => (w, None),
            };
            let env = &self.from_env;
            let value = match (self.opts.build_args.get(&name), default) {
                (Some(v), _) => Some(v.clone()),
                (None, Some(d)) => {
                    Some(self.lex.process_word(&d, env).map_err(|e| ParseError {
                        line: ins.start_line,
                        col: 1,
                        msg: e.0,
                    })?)
                }
                (None, None) => env.get(&name).cloned(),
            };
            if let Some(v) = &value {
                self.global_env.insert(name.clone(), v.clone());
                self.from_env.insert(name.clone(), v.clone());
            }
            self.global_args.push(ArgValue { name, value });
        }
        Ok(())
    }

    fn from(&mut self, ins: &Instruction) -> Result<(), ParseError> {
        let line = ins.start_line;
        let flags = parse_flags("from", &ins.flags, line, true)?;
        let args = values(&ins.args);
        if args.len() != 1 && !(args.len() == 3 && args[1].eq_ignore_ascii_case("as")) {
            return perr(line, "FROM requires either one or three arguments");
        }
        let env = &self.from_env;
        let expand = |lex: &Lex, w: &str| {
            lex.process_word(w, env).map_err(|e| ParseError {
                line,
                col: 1,
                msg: e.0,
            })
        };
        let image = expand(&self.lex, &args[0])?;
        if image.is_empty() {
            return perr(line, format!("base name ({}) should not be blank", args[0]));
        }
        let platform = flags
            .get("platform")
            .and_then(|v| v.as_str())
            .map(|p| expand(&self.lex, p))
            .transpose()?;
        let name = match args.get(2) {
            Some(n) => {
                let n = n.to_ascii_lowercase();
                if !valid_stage_name(&n) {
                    return perr(line, format!("invalid name for build stage: {}, name can't start with a number or contain symbols", crate::gostr::quote(&args[2])));
                }
                Some(n)
            }
            None => None,
        };
        let index = self.stages.len();
        let base = if image.eq_ignore_ascii_case("scratch") {
            Base::Scratch
        } else if let Some(i) = self.names.get(&image.to_ascii_lowercase()) {
            Base::Stage(*i)
        } else {
            Base::Image(image)
        };
        let depends_on = match base {
            Base::Stage(i) => vec![i],
            _ => vec![],
        };
        if let Some(n) = &name {
            self.names.insert(n.clone(), index);
        }
        self.stages.push(Stage {
            index,
            name,
            line,
            base,
            platform,
            depends_on,
            needed: false,
            steps: vec![],
        });
        Ok(())
    }
}

/// Builds the plan from a parsed file.
/// Builds the plan, consuming the syntax tree (its strings move over).
pub fn plan(ast: Ast, opts: &Options) -> Result<Plan, ParseError> {
    let mut b = Builder {
        opts,
        lex: Lex::new(ast.escape),
        global_env: HashMap::new(),
        from_env: HashMap::new(),
        global_args: vec![],
        stages: vec![],
        names: HashMap::new(),
    };
    b.from_env = b.builtins();
    let last_line = ast.instructions.last().map_or(1, |i| i.end_line);
    let check = ast
        .directives
        .check
        .as_deref()
        .map(|c| parse_check(c, 1))
        .transpose()?;
    let mut warnings = ast.warnings.clone();
    warnings.extend(crate::lint::check(&ast));
    // Rules the check directive skips are not reported.
    if let Some(c) = &check {
        warnings.retain(|w| !c.skip.iter().any(|s| s == &w.rule || s == "all"));
    }
    warnings.sort_by_key(|w| w.line);
    let (syntax, escape) = (ast.directives.syntax, ast.escape);
    for ins in ast.instructions {
        match ins.cmd.as_str() {
            "from" => b.from(&ins)?,
            "arg" if b.stages.is_empty() => b.global_arg(&ins)?,
            _ if b.stages.is_empty() => {
                if !KNOWN.contains(&ins.cmd.as_str()) {
                    return perr(
                        ins.start_line,
                        format!("unknown instruction: {}", ins.keyword),
                    );
                }
                return perr(ins.start_line, "no build stage in current context");
            }
            _ => {
                let current = b.stages.len() - 1;
                let step = b.step(ins, current, false)?;
                let stage = &mut b.stages[current];
                for f in &step.from {
                    if let Source::Stage(i) = f {
                        if !stage.depends_on.contains(i) {
                            stage.depends_on.push(*i);
                        }
                    }
                }
                stage.steps.push(step);
            }
        }
    }
    if b.stages.is_empty() {
        return perr(last_line, "no build stage in current context");
    }
    let target = match &opts.target {
        Some(t) => *b
            .names
            .get(&t.to_ascii_lowercase())
            .ok_or_else(|| ParseError {
                line: 1,
                col: 1,
                msg: format!("target stage {t:?} could not be found"),
            })?,
        None => b.stages.len() - 1,
    };
    // Mark what the target needs, following the graph back.
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if !b.stages[i].needed {
            b.stages[i].needed = true;
            todo.extend(b.stages[i].depends_on.clone());
        }
    }
    Ok(Plan {
        version: PLAN_VERSION,
        syntax,
        check,
        escape: escape.to_string(),
        build_args: opts.build_args.clone(),
        global_args: b.global_args,
        target,
        stages: b.stages,
        dockerignore: opts.dockerignore.clone(),
        warnings,
    })
}
