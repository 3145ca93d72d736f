//! From the syntax tree to the build plan: stages and the graph between
//! them, instructions checked as BuildKit's instruction layer checks them
//! (arguments, flags, triggers), FROM lines resolved with the global ARGs,
//! and `--target` narrowing the plan to the stages it needs.
//!
//! Words that BuildKit expands against the stage's environment are kept as
//! written (with `expand: true`): that environment includes the base
//! image's, which only the build driver knows. It expands them with the
//! same code (`slipway_common::shell`).

use crate::ast::{Arg, Ast, Instruction, ParseError, Parser, Warning};
use crate::lint::{Casing, Lint};
use crate::stream::{self, Failed, Lazy, WriteError};
use serde::Serialize;
pub use slipway_common::plan::{
    chomp, ArgDecl, ArgValue, Args, Base, CheckOptions, Command, Copy, CopyFlags, Form,
    Healthcheck, HealthcheckFlags, Inline, Instruction as Kind, Onbuild, Pairs, Plan, Run,
    RunFlags, Source, Stage, Step, PLAN_VERSION,
};
use slipway_common::shell::{Env, Lex, NoEnv, ShellError};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;

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

/// Flags as parse_flags checked them, by name.
type Flags = BTreeMap<String, serde_json::Value>;

/// Checked flags as the instruction's typed flags.
fn typed<T: serde::de::DeserializeOwned>(flags: Flags, line: usize) -> Result<T, ParseError> {
    serde_json::from_value(serde_json::Value::Object(flags.into_iter().collect())).or_else(|e| {
        perr(
            line,
            format!("internal error: checked flags do not fit: {e}"),
        )
    })
}

/// ENV and LABEL: key/value pairs, as written; a key cannot be blank.
fn pairs(cmd: &str, args: &[String], line: usize) -> Result<Pairs, ParseError> {
    let mut pairs = vec![];
    for c in args.chunks(3) {
        if c[0].is_empty() {
            return perr(line, format!("{} names can not be blank", upper(cmd)));
        }
        pairs.push((c[0].clone(), c.get(1).cloned().unwrap_or_default()));
    }
    Ok(Pairs { pairs })
}

/// HEALTHCHECK: NONE alone, or CMD and a command.
fn healthcheck(
    flags: Flags,
    form: Form,
    args: &[String],
    line: usize,
) -> Result<Healthcheck, ParseError> {
    let typ = args
        .first()
        .map(|t| t.to_ascii_uppercase())
        .unwrap_or_default();
    match typ.as_str() {
        "NONE" if args.len() > 1 => return perr(line, "HEALTHCHECK NONE takes no arguments"),
        "NONE" => {}
        "CMD" if args.len() < 2 => return perr(line, "Missing command after HEALTHCHECK CMD"),
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
    // NONE's flags are not checked (BuildKit ignores them): not kept.
    let flags = if typ == "NONE" {
        HealthcheckFlags::default()
    } else {
        typed(flags, line)?
    };
    Ok(Healthcheck { form, flags })
}

fn values(args: &[Arg]) -> Vec<String> {
    args.iter()
        .filter_map(|a| match a {
            Arg::Value(v) => Some(v.clone()),
            Arg::Instruction(_) => None,
        })
        .collect()
}

/// A keyword in upper case, for messages: made only when shown.
struct Upper<'a>(&'a str);

impl std::fmt::Display for Upper<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0
            .chars()
            .try_for_each(|c| std::fmt::Write::write_char(f, c.to_ascii_uppercase()))
    }
}

fn upper(cmd: &str) -> Upper<'_> {
    Upper(cmd)
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

/// `lex.process_word`, which gives back a word without a `$`, a quote or
/// the escape character as it is: such a word is most words, and the lexer
/// costs a tenth of the plan of a large file.
fn process_word(lex: &Lex, word: &str, env: &dyn Env) -> Result<String, ShellError> {
    if word.contains(['$', '\'', '"', lex.escape]) {
        lex.process_word(word, env)
    } else {
        Ok(word.to_string())
    }
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
    /// How many stages have begun.
    stages: usize,
    names: HashMap<String, usize>,
    /// The end line of the last instruction fed.
    last_line: usize,
}

/// What one instruction made of the plan.
// Most instructions are steps, and each is taken at once: boxing the step
// would only add an allocation per instruction.
#[allow(clippy::large_enum_variant)]
enum Fed {
    GlobalArg,
    /// A stage, without its steps.
    Stage(Stage<()>),
    /// A step of the latest stage.
    Step(Step),
}

impl<'a> Builder<'a> {
    fn new(opts: &'a Options, escape: char) -> Builder<'a> {
        let mut b = Builder {
            opts,
            lex: Lex::new(escape),
            global_env: HashMap::new(),
            from_env: HashMap::new(),
            global_args: vec![],
            stages: 0,
            names: HashMap::new(),
            last_line: 1,
        };
        b.from_env = b.builtins();
        b
    }

    fn feed(&mut self, ins: Instruction) -> Result<Fed, ParseError> {
        self.last_line = ins.end_line;
        match ins.cmd.as_str() {
            "from" => Ok(Fed::Stage(self.from(&ins)?)),
            "arg" if self.stages == 0 => {
                self.global_arg(&ins)?;
                Ok(Fed::GlobalArg)
            }
            _ if self.stages == 0 => {
                if !KNOWN.contains(&ins.cmd.as_str()) {
                    return perr(
                        ins.start_line,
                        format!("unknown instruction: {}", ins.keyword),
                    );
                }
                perr(ins.start_line, "no build stage in current context")
            }
            _ => Ok(Fed::Step(self.step(ins, self.stages - 1, false)?)),
        }
    }

    /// The target stage, once every instruction is in.
    fn target(&self) -> Result<usize, ParseError> {
        if self.stages == 0 {
            return perr(self.last_line, "no build stage in current context");
        }
        match &self.opts.target {
            Some(t) => self
                .names
                .get(&t.to_ascii_lowercase())
                .copied()
                .ok_or_else(|| ParseError {
                    line: 1,
                    col: 1,
                    msg: format!("target stage {t:?} could not be found"),
                }),
            None => Ok(self.stages - 1),
        }
    }

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
            // A stage cannot read itself: it would wait for its own end.
            if *i >= current {
                return perr(line, format!("circular dependency detected on stage: {v}"));
            }
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
        cmd: &str,
        ins: &Instruction,
        args: &[String],
        has_args: bool,
    ) -> Result<(), ParseError> {
        let line = ins.start_line;
        let up = upper(cmd);
        match cmd {
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
        let cmd_owned = std::mem::take(&mut ins.cmd);
        let cmd = cmd_owned.as_str();
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
        self.check_counts(cmd, &ins, &args, has_args)?;
        let form = if ins.json { Form::Exec } else { Form::Shell };
        let what = match cmd {
            "run" => Kind::Run(self.run(flags, form, line, current)?),
            "cmd" => Kind::Cmd(Command { form }),
            "entrypoint" => Kind::Entrypoint(Command { form }),
            "shell" if !ins.json || args.is_empty() => {
                return perr(line, "SHELL requires the arguments to be in JSON form")
            }
            "shell" => Kind::Shell(Command { form }),
            "env" => Kind::Env(pairs(cmd, &args, line)?),
            "label" => Kind::Label(pairs(cmd, &args, line)?),
            "copy" => Kind::Copy(self.copy(cmd, flags, &ins, &args, current)?),
            "add" => Kind::Add(self.copy(cmd, flags, &ins, &args, current)?),
            "healthcheck" => Kind::Healthcheck(healthcheck(flags, form, &args, line)?),
            "onbuild" => Kind::Onbuild(self.onbuild(nested.as_deref(), &ins, current)?),
            "arg" => Kind::Arg(self.arg(&args, line)?),
            "workdir" => Kind::Workdir,
            "user" => Kind::User,
            "volume" => Kind::Volume,
            "expose" => Kind::Expose,
            "stopsignal" => Kind::Stopsignal,
            "maintainer" => Kind::Maintainer,
            other => return perr(line, format!("{} cannot be a step", upper(other))),
        };
        // A trigger's own checks are done; its text is what is kept.
        let expand = !in_onbuild
            && matches!(
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
            );
        Ok(Step {
            ins: what,
            line,
            end_line: ins.end_line,
            original: ins.original,
            args,
            expand,
            heredocs: ins.heredocs,
        })
    }

    /// RUN: its flags, and the stages and images its mounts read.
    fn run(
        &self,
        flags: Flags,
        form: Form,
        line: usize,
        current: usize,
    ) -> Result<Run, ParseError> {
        let flags: RunFlags = typed(flags, line)?;
        let mut from = vec![];
        for f in flags.mount.iter().filter_map(|m| mount_from(m)) {
            if f.contains('$') {
                return perr(
                    line,
                    "'from' doesn't support variable expansion, define alias stage instead",
                );
            }
            from.push(self.resolve_source(&f, line, current)?);
        }
        Ok(Run { form, flags, from })
    }

    /// COPY and ADD: the destination, the sources, the heredoc files and
    /// the stage or image --from names.
    fn copy(
        &self,
        cmd: &str,
        flags: Flags,
        ins: &Instruction,
        args: &[String],
        current: usize,
    ) -> Result<Copy, ParseError> {
        let line = ins.start_line;
        let flags: CopyFlags = typed(flags, line)?;
        let dest = args.last().cloned().unwrap_or_default();
        let is_heredoc = |w: &str| crate::ast::parse_heredoc(w).ok().flatten().is_some();
        if !ins.heredocs.is_empty() && is_heredoc(&dest) {
            return perr(
                line,
                format!("{} cannot accept a heredoc as a destination", upper(cmd)),
            );
        }
        let sources = args[..args.len().saturating_sub(1)]
            .iter()
            .filter(|w| ins.heredocs.is_empty() || !is_heredoc(w))
            .cloned()
            .collect();
        let inline = ins
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
        let from = match &flags.from {
            Some(f) => {
                if process_word(&self.lex, f, &NoEnv).ok().as_deref() != Some(f.as_str()) {
                    return perr(line, "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround");
                }
                Some(self.resolve_source(f, line, current)?)
            }
            None => None,
        };
        Ok(Copy {
            flags,
            dest,
            sources,
            inline,
            from,
        })
    }

    /// ONBUILD: the trigger is checked now, run downstream.
    fn onbuild(
        &mut self,
        inner: Option<&Instruction>,
        ins: &Instruction,
        current: usize,
    ) -> Result<Onbuild, ParseError> {
        let line = ins.start_line;
        let Some(inner) = inner else {
            return perr(line, "ONBUILD requires at least one argument");
        };
        match inner.cmd.as_str() {
            "onbuild" => return perr(line, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
            "from" | "maintainer" => {
                return perr(
                    line,
                    format!("{} isn't allowed as an ONBUILD trigger", upper(&inner.cmd)),
                )
            }
            _ => {}
        }
        self.step(inner.clone(), current, true)?;
        let text = ins.original.trim_start();
        let text = text[text.find(char::is_whitespace).unwrap_or(text.len())..].trim();
        Ok(Onbuild {
            trigger: text.to_string(),
        })
    }

    /// ARG in a stage: each declaration with its `--build-arg` value, and
    /// the global value one without a default takes.
    fn arg(&self, args: &[String], line: usize) -> Result<Args, ParseError> {
        let mut arg_values = vec![];
        for w in args {
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
            arg_values.push(ArgDecl {
                build_arg: self.opts.build_args.get(&name).cloned(),
                name,
                default,
                global,
            });
        }
        Ok(Args { arg_values })
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
                    Some(process_word(&self.lex, &d, env).map_err(|e| ParseError {
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

    fn from(&mut self, ins: &Instruction) -> Result<Stage<()>, ParseError> {
        let line = ins.start_line;
        let flags = parse_flags("from", &ins.flags, line, true)?;
        let args = values(&ins.args);
        if args.len() != 1 && !(args.len() == 3 && args[1].eq_ignore_ascii_case("as")) {
            return perr(line, "FROM requires either one or three arguments");
        }
        let env = &self.from_env;
        let expand = |lex: &Lex, w: &str| {
            process_word(lex, w, env).map_err(|e| ParseError {
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
        let index = self.stages;
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
        self.stages += 1;
        Ok(Stage {
            index,
            name,
            line,
            base,
            platform,
            depends_on,
            needed: false,
            steps: (),
        })
    }
}

/// The `check` directive, parsed.
fn check_directive(
    directives: &crate::ast::Directives,
) -> Result<Option<CheckOptions>, ParseError> {
    directives
        .check
        .as_deref()
        .map(|c| parse_check(c, 1))
        .transpose()
}

/// The stages a step reads from join its stage's dependencies.
fn add_dependencies(depends_on: &mut Vec<usize>, step: &Step) {
    for f in step.reads_from() {
        if let Source::Stage(i) = f {
            if !depends_on.contains(i) {
                depends_on.push(*i);
            }
        }
    }
}

/// Which stages the target needs, following the graph back.
fn needed(target: usize, depends_on: &[&[usize]]) -> Vec<bool> {
    let mut needed = vec![false; depends_on.len()];
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if let Some(n) = needed.get_mut(i).filter(|n| !**n) {
            *n = true;
            todo.extend_from_slice(depends_on[i]);
        }
    }
    needed
}

/// The warnings as the plan lists them: the parser's, then the rules',
/// less those the check directive skips, sorted stably by line.
fn final_warnings(mut warnings: Vec<Warning>, check: &Option<CheckOptions>) -> Vec<Warning> {
    if let Some(c) = check {
        warnings.retain(|w| !c.skip.iter().any(|s| s == &w.rule || s == "all"));
    }
    warnings.sort_by_key(|w| w.line);
    warnings
}

/// Builds the plan, consuming the syntax tree (its strings move over).
pub fn plan(ast: Ast, opts: &Options) -> Result<Plan, ParseError> {
    let check = check_directive(&ast.directives)?;
    let mut warnings = ast.warnings.clone();
    warnings.extend(crate::lint::check(&ast));
    let mut b = Builder::new(opts, ast.escape);
    let mut stages: Vec<Stage> = Vec::new();
    for ins in ast.instructions {
        match b.feed(ins)? {
            Fed::GlobalArg => {}
            Fed::Stage(s) => stages.push(s.with_steps(Vec::new())),
            Fed::Step(step) => {
                if let Some(stage) = stages.last_mut() {
                    add_dependencies(&mut stage.depends_on, &step);
                    stage.steps.push(step);
                }
            }
        }
    }
    let target = b.target()?;
    let graph: Vec<&[usize]> = stages.iter().map(|s| s.depends_on.as_slice()).collect();
    let needed = needed(target, &graph);
    for (s, n) in stages.iter_mut().zip(needed) {
        s.needed = n;
    }
    Ok(Plan {
        version: PLAN_VERSION,
        syntax: ast.directives.syntax,
        check: check.clone(),
        escape: ast.escape.to_string(),
        build_args: opts.build_args.clone(),
        global_args: b.global_args,
        target,
        stages,
        dockerignore: opts.dockerignore.clone(),
        warnings: final_warnings(warnings, &check),
    })
}

/// The plan of a Dockerfile, ready to be written out while the file is
/// parsed a second time: the plan of a large file is many times its size,
/// and only this summary of the first pass is held meanwhile.
///
/// The first pass finds every error, so nothing is written for a file that
/// fails; it also finds what the plan says before the steps (the target and
/// the stages it needs, each stage's dependencies) and the warnings.
pub struct Streamed<'a> {
    text: &'a str,
    opts: &'a Options,
    /// The `syntax` directive; the caller may put another reading in.
    pub syntax: Option<String>,
    check: Option<CheckOptions>,
    escape: char,
    global_args: Vec<ArgValue>,
    target: usize,
    /// Each stage's dependencies and whether the target needs it.
    depends_on: Vec<Vec<usize>>,
    needed: Vec<bool>,
    /// The parser's warnings, and the rules' but the casing rule's (which
    /// the second pass adds).
    parser_warnings: Vec<Warning>,
    rule_warnings: Vec<Warning>,
    casing: Casing,
}

/// Reads `text` once for its plan: see `Streamed`. The errors are those
/// `plan(parse(text)?, opts)` gives: a parse error first, wherever it is.
pub fn streamed<'a>(text: &'a str, opts: &'a Options) -> Result<Streamed<'a>, ParseError> {
    let mut parser = Parser::new(text);
    let mut run: Option<(Builder, Lint)> = None;
    let mut check = None;
    let mut depends_on: Vec<Vec<usize>> = Vec::new();
    // The first plan error waits: a parse error further on comes first,
    // as when the whole file is parsed before it is planned.
    let mut failed: Option<ParseError> = None;
    while let Some(ins) = parser.next() {
        let ins = ins?;
        if failed.is_some() {
            continue;
        }
        let (b, lint) = match &mut run {
            Some(r) => r,
            None => {
                // The directives are final once the first instruction is out.
                match check_directive(parser.directives()) {
                    Ok(c) => check = c,
                    Err(e) => {
                        failed = Some(e);
                        continue;
                    }
                }
                run.insert((Builder::new(opts, parser.escape()), Lint::default()))
            }
        };
        lint.feed(&ins);
        match b.feed(ins) {
            Ok(Fed::GlobalArg) => {}
            Ok(Fed::Stage(s)) => depends_on.push(s.depends_on),
            Ok(Fed::Step(step)) => {
                if let Some(d) = depends_on.last_mut() {
                    add_dependencies(d, &step);
                }
            }
            Err(e) => failed = Some(e),
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    let (directives, escape, parser_warnings) = parser.finish();
    let Some((b, lint)) = run else {
        // The parser yields an error for a file without instructions.
        return perr(1, "file with no instructions");
    };
    let target = b.target()?;
    let graph: Vec<&[usize]> = depends_on.iter().map(Vec::as_slice).collect();
    let needed = needed(target, &graph);
    let (rule_warnings, casing) = lint.finish();
    Ok(Streamed {
        text,
        opts,
        syntax: directives.syntax,
        check,
        escape,
        global_args: b.global_args,
        target,
        depends_on,
        needed,
        parser_warnings,
        rule_warnings,
        casing,
    })
}

/// The second pass: instructions parsed and made into stages and steps
/// while the plan is written.
struct Pass2<'a> {
    parser: Parser<'a>,
    builder: Builder<'a>,
    casing: Casing,
    casing_warnings: Vec<Warning>,
    /// The first pass's stage graph, taken stage by stage.
    depends_on: std::vec::IntoIter<Vec<usize>>,
    needed: std::vec::IntoIter<bool>,
    /// The next stage, read while the steps of the one before were taken.
    next_stage: Option<Stage<()>>,
}

impl Pass2<'_> {
    fn feed(&mut self) -> Option<Result<Fed, ParseError>> {
        let ins = match self.parser.next()? {
            Ok(i) => i,
            Err(e) => return Some(Err(e)),
        };
        self.casing_warnings.extend(self.casing.check(&ins));
        Some(self.builder.feed(ins))
    }
}

struct Stages<'s, 'a> {
    pass: &'s RefCell<Pass2<'a>>,
    failed: &'s Failed,
}

impl<'s, 'a> Iterator for Stages<'s, 'a> {
    type Item = Result<Stage<Lazy<'s, Steps<'s, 'a>>>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut pass = self.pass.borrow_mut();
        let mut stage = match pass.next_stage.take() {
            Some(s) => s,
            None => loop {
                match pass.feed()? {
                    Ok(Fed::GlobalArg) => {}
                    Ok(Fed::Stage(s)) => break s,
                    // The steps of a stage are taken with it.
                    Ok(Fed::Step(step)) => {
                        return Some(perr(step.line, "internal error: a step outside a stage"))
                    }
                    Err(e) => return Some(Err(e)),
                }
            },
        };
        if let (Some(d), Some(n)) = (pass.depends_on.next(), pass.needed.next()) {
            stage.depends_on = d;
            stage.needed = n;
        }
        let steps = Steps { pass: self.pass };
        Some(Ok(stage.with_steps(Lazy::new(steps, self.failed))))
    }
}

/// The steps of the current stage, up to the next FROM.
struct Steps<'s, 'a> {
    pass: &'s RefCell<Pass2<'a>>,
}

impl Iterator for Steps<'_, '_> {
    type Item = Result<Step, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut pass = self.pass.borrow_mut();
        if pass.next_stage.is_some() {
            return None;
        }
        match pass.feed()? {
            Ok(Fed::Step(step)) => Some(Ok(step)),
            Ok(Fed::Stage(s)) => {
                pass.next_stage = Some(s);
                None
            }
            Ok(Fed::GlobalArg) => Some(perr(
                pass.builder.last_line,
                "internal error: a global ARG inside a stage",
            )),
            Err(e) => Some(Err(e)),
        }
    }
}

/// The warnings, known once the stages are written.
struct Warnings<'s, 'a> {
    pass: &'s RefCell<Pass2<'a>>,
    parser: RefCell<Vec<Warning>>,
    rules: RefCell<Vec<Warning>>,
    check: &'s Option<CheckOptions>,
}

impl Serialize for Warnings<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The parser's, the casing rule's, the other rules': sorted stably,
        // that is the order `plan` gives the warnings of one line.
        let mut all = std::mem::take(&mut *self.parser.borrow_mut());
        all.append(&mut self.pass.borrow_mut().casing_warnings);
        all.append(&mut self.rules.borrow_mut());
        final_warnings(all, self.check).serialize(s)
    }
}

impl Streamed<'_> {
    /// Writes the plan as pretty JSON, parsing the file again meanwhile:
    /// the same bytes as `plan` and `serde_json::to_writer_pretty`, and a
    /// newline.
    pub fn write<W: Write>(self, w: W) -> Result<(), WriteError> {
        let pass = RefCell::new(Pass2 {
            parser: Parser::new(self.text),
            builder: Builder::new(self.opts, self.escape),
            casing: self.casing,
            casing_warnings: Vec::new(),
            depends_on: self.depends_on.into_iter(),
            needed: self.needed.into_iter(),
            next_stage: None,
        });
        let failed = Failed::default();
        let plan = Plan {
            version: PLAN_VERSION,
            syntax: self.syntax,
            check: self.check.clone(),
            escape: self.escape.to_string(),
            build_args: self.opts.build_args.clone(),
            global_args: self.global_args,
            target: self.target,
            stages: Lazy::new(
                Stages {
                    pass: &pass,
                    failed: &failed,
                },
                &failed,
            ),
            dockerignore: self.opts.dockerignore.clone(),
            warnings: Warnings {
                pass: &pass,
                parser: RefCell::new(self.parser_warnings),
                rules: RefCell::new(self.rule_warnings),
                check: &self.check,
            },
        };
        stream::write_pretty(w, &plan, &failed)
    }
}
