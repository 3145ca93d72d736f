//! The build plan (dockerfile-plan(5)): what dockerfile-parse writes and
//! image-build reads, defined once. Serde only: the parsing lives in
//! dockerfile-parse, the building in image-build.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The plan's `version`: a reader refuses any other.
pub const PLAN_VERSION: u32 = 1;

/// The plan. `S` and `W` are the stages and the warnings: vectors, or
/// (when the plan is streamed out) arrays made while they are written.
#[derive(Debug, Serialize, Deserialize)]
pub struct Plan<S = Vec<Stage>, W = Vec<Warning>> {
    pub version: u32,
    /// The `syntax` directive (`#`, `//` or a JSON object, as BuildKit
    /// detects it).
    #[serde(default)]
    pub syntax: Option<String>,
    /// The `check` directive, parsed.
    #[serde(default)]
    pub check: Option<CheckOptions>,
    pub escape: String,
    #[serde(default)]
    pub build_args: BTreeMap<String, String>,
    /// ARGs before the first FROM, with their values (usable in FROM only).
    #[serde(default)]
    pub global_args: Vec<ArgValue>,
    /// The stage that is built: `--target`, else the last one.
    pub target: usize,
    pub stages: S,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerignore: Option<Vec<String>>,
    pub warnings: W,
}

/// `# check=skip=A,B;error=true;experimental=C`
#[derive(Debug, Serialize, Deserialize, Clone, Default, PartialEq)]
pub struct CheckOptions {
    #[serde(default)]
    pub skip: Vec<String>,
    /// Warnings fail the build.
    #[serde(default)]
    pub error: bool,
    #[serde(default)]
    pub experimental: Vec<String>,
}

/// A build check's finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    pub line: usize,
    /// BuildKit's build-check rule name.
    pub rule: String,
    pub message: String,
}

#[derive(Debug, Serialize, Deserialize, Clone)]
pub struct ArgValue {
    pub name: String,
    /// None: declared without a value and none given.
    pub value: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Stage<T = Vec<Step>> {
    pub index: usize,
    pub name: Option<String>,
    pub line: usize,
    /// The base: `scratch`, an earlier stage, or an image reference
    /// (expanded with the global ARGs).
    pub base: Base,
    pub platform: Option<String>,
    /// Stages this one needs (its base and every --from / mount from).
    #[serde(default)]
    pub depends_on: Vec<usize>,
    /// Whether the target needs this stage.
    pub needed: bool,
    pub steps: T,
}

impl<T> Stage<T> {
    /// The same stage with other steps (the streamed writer's).
    pub fn with_steps<U>(self, steps: U) -> Stage<U> {
        Stage {
            index: self.index,
            name: self.name,
            line: self.line,
            base: self.base,
            platform: self.platform,
            depends_on: self.depends_on,
            needed: self.needed,
            steps,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Base {
    Scratch,
    Stage(usize),
    Image(String),
}

/// Where COPY --from and RUN --mount from= read: a stage or an image.
#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Stage(usize),
    Image(String),
}

/// Exec form (a JSON array) or shell form.
#[derive(Debug, Serialize, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Form {
    Exec,
    Shell,
}

/// One instruction of a stage, checked: where it is, its text, and what
/// it is ([`Instruction`], whose `cmd` tag and fields are flattened in).
#[derive(Debug, Serialize, Deserialize, Clone)]
pub struct Step {
    #[serde(flatten)]
    pub ins: Instruction,
    pub line: usize,
    #[serde(default)]
    pub end_line: usize,
    pub original: String,
    /// The arguments as written.
    #[serde(default)]
    pub args: Vec<String>,
    /// Whether the builder expands variables in the arguments.
    #[serde(default)]
    pub expand: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub heredocs: Vec<Heredoc>,
}

impl Step {
    /// The keyword in lower case.
    pub fn keyword(&self) -> &'static str {
        self.ins.keyword()
    }

    /// Exec form, for the instructions that have the two forms.
    pub fn is_exec(&self) -> bool {
        self.ins.form() == Some(Form::Exec)
    }

    /// The stages and images the step reads: COPY --from and RUN
    /// --mount from=, resolved.
    pub fn reads_from(&self) -> &[Source] {
        match &self.ins {
            Instruction::Run(r) => &r.from,
            Instruction::Copy(c) | Instruction::Add(c) => c.from.as_slice(),
            _ => &[],
        }
    }

    /// The same, to rewrite (an ONBUILD trigger's stage names).
    pub fn reads_from_mut(&mut self) -> &mut [Source] {
        match &mut self.ins {
            Instruction::Run(r) => &mut r.from,
            Instruction::Copy(c) | Instruction::Add(c) => c.from.as_mut_slice(),
            _ => &mut [],
        }
    }
}

/// What an instruction is, with what only it has. The arguments every
/// instruction has are the step's.
#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub enum Instruction {
    Run(Run),
    Copy(Copy),
    /// COPY's fields; ADD's own flags are only allowed on ADD.
    Add(Copy),
    Env(Pairs),
    Label(Pairs),
    Arg(Args),
    Cmd(Command),
    Entrypoint(Command),
    Shell(Command),
    Healthcheck(Healthcheck),
    Onbuild(Onbuild),
    /// The step's one argument.
    Workdir,
    /// The step's one argument.
    User,
    /// The step's arguments.
    Volume,
    /// The step's arguments.
    Expose,
    /// The step's one argument.
    Stopsignal,
    /// The step's arguments.
    Maintainer,
}

impl Instruction {
    /// The keyword in lower case.
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::Run(_) => "run",
            Instruction::Copy(_) => "copy",
            Instruction::Add(_) => "add",
            Instruction::Env(_) => "env",
            Instruction::Label(_) => "label",
            Instruction::Arg(_) => "arg",
            Instruction::Cmd(_) => "cmd",
            Instruction::Entrypoint(_) => "entrypoint",
            Instruction::Shell(_) => "shell",
            Instruction::Healthcheck(_) => "healthcheck",
            Instruction::Onbuild(_) => "onbuild",
            Instruction::Workdir => "workdir",
            Instruction::User => "user",
            Instruction::Volume => "volume",
            Instruction::Expose => "expose",
            Instruction::Stopsignal => "stopsignal",
            Instruction::Maintainer => "maintainer",
        }
    }

    /// Exec or shell form, for the instructions that have the two.
    pub fn form(&self) -> Option<Form> {
        match self {
            Instruction::Run(Run { form, .. })
            | Instruction::Cmd(Command { form })
            | Instruction::Entrypoint(Command { form })
            | Instruction::Shell(Command { form })
            | Instruction::Healthcheck(Healthcheck { form, .. }) => Some(*form),
            _ => None,
        }
    }
}

fn is_false(b: &bool) -> bool {
    !b
}

/// RUN: its form, flags, and the stages and images its mounts read.
#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
pub struct Run {
    pub form: Form,
    #[serde(default)]
    pub flags: RunFlags,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<Source>,
}

#[derive(Debug, Serialize, Deserialize, Clone, Default, PartialEq)]
pub struct RunFlags {
    /// `--mount` specs as written; image-build reads them (they expand
    /// against the stage's variables).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mount: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<Security>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device: Vec<String>,
}

/// `RUN --network`.
#[derive(Debug, Serialize, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    Default,
    None,
    Host,
}

/// `RUN --security`.
#[derive(Debug, Serialize, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    Sandbox,
    Insecure,
}

/// COPY and ADD: the destination, the source paths, and the inline files
/// that heredocs give.
#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
pub struct Copy {
    #[serde(default)]
    pub flags: CopyFlags,
    pub dest: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inline: Vec<Inline>,
    /// `--from`, resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Source>,
}

/// COPY's and ADD's flags (dockerfile-parse allows each only where the
/// Dockerfile reference does).
#[derive(Debug, Serialize, Deserialize, Clone, Default, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct CopyFlags {
    /// As written (the stage's name or the image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chown: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chmod: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub link: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub parents: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub keep_git_dir: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    /// Unset: local archives are unpacked, remote ones are not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unpack: Option<bool>,
}

/// ENV and LABEL: key/value pairs, as written.
#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
pub struct Pairs {
    pub pairs: Vec<(String, String)>,
}

/// ARG: the declarations, with `--build-arg` values applied.
#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
pub struct Args {
    pub arg_values: Vec<ArgDecl>,
}

/// CMD, ENTRYPOINT and SHELL.
#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
pub struct Command {
    pub form: Form,
}

#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
pub struct Healthcheck {
    pub form: Form,
    /// Durations and the count as written; image-assemble reads them.
    #[serde(default)]
    pub flags: HealthcheckFlags,
}

#[derive(Debug, Serialize, Deserialize, Clone, Default, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct HealthcheckFlags {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<String>,
}

/// ONBUILD: the trigger's text.
#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
pub struct Onbuild {
    pub trigger: String,
}

/// A heredoc of a RUN (its script) or COPY/ADD (a file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heredoc {
    pub name: String,
    pub content: String,
    /// Whether the builder expands variables in it (its name unquoted).
    #[serde(default)]
    pub expand: bool,
    /// `<<-`: leading tabs go from every line.
    #[serde(default)]
    pub chomp: bool,
    /// The file descriptor it is given on (`3<<EOF`), 0 by default.
    #[serde(default)]
    pub fd: u32,
}

/// A COPY/ADD source written inline as a heredoc.
#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
pub struct Inline {
    pub path: String,
    pub data: String,
    /// Whether the builder expands variables in `data`.
    #[serde(default)]
    pub expand: bool,
}

#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
pub struct ArgDecl {
    pub name: String,
    /// The default as written (`ARG N=default`).
    pub default: Option<String>,
    /// The value from `--build-arg`, which wins over the default.
    pub build_arg: Option<String>,
    /// For a global ARG redeclared without a default: its global value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global: Option<String>,
}

/// `<<-`: leading tabs go from every line.
pub fn chomp(s: &str) -> String {
    s.split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_reads_back_as_it_was_written() {
        let json = r#"{"cmd":"run","form":"shell","flags":{"mount":["type=cache,target=/c"],"network":"none"},"line":3,"end_line":4,"original":"RUN x","args":["x"],"expand":true}"#;
        let step: Step = serde_json::from_str(json).unwrap();
        let Instruction::Run(run) = &step.ins else {
            panic!("{step:?}")
        };
        assert_eq!(run.form, Form::Shell);
        assert_eq!(run.flags.mount, ["type=cache,target=/c"]);
        assert_eq!(run.flags.network, Some(Network::None));
        assert_eq!(step.keyword(), "run");
        assert_eq!(serde_json::to_string(&step).unwrap(), json);
        assert_eq!(chomp("\t\ta\n\tb\n"), "a\nb\n");
    }

    #[test]
    fn instructions_without_fields_of_their_own_are_their_tag_alone() {
        let json = r#"{"cmd":"workdir","line":1,"end_line":1,"original":"WORKDIR /a","args":["/a"],"expand":true}"#;
        let step: Step = serde_json::from_str(json).unwrap();
        assert_eq!(step.ins, Instruction::Workdir);
        assert_eq!(serde_json::to_string(&step).unwrap(), json);
    }

    #[test]
    fn copy_flags_are_kebab_case_and_an_unknown_instruction_is_refused() {
        let json = r#"{"cmd":"add","flags":{"keep-git-dir":true,"unpack":false},"dest":"/d","line":1,"original":"ADD a /d"}"#;
        let step: Step = serde_json::from_str(json).unwrap();
        let Instruction::Add(c) = &step.ins else {
            panic!("{step:?}")
        };
        assert!(c.flags.keep_git_dir);
        assert_eq!(c.flags.unpack, Some(false));
        let bad = r#"{"cmd":"frobnicate","line":1,"original":"X"}"#;
        assert!(serde_json::from_str::<Step>(bad).is_err());
    }
}
