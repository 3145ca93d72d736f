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

/// One instruction of a stage, checked.
#[derive(Debug, Serialize, Deserialize, Clone)]
pub struct Step {
    /// The keyword in lower case.
    pub cmd: String,
    pub line: usize,
    #[serde(default)]
    pub end_line: usize,
    pub original: String,
    /// Validated flags: a string, `true`/`false`, or a list when repeatable.
    #[serde(default)]
    pub flags: BTreeMap<String, serde_json::Value>,
    /// The arguments as written.
    #[serde(default)]
    pub args: Vec<String>,
    /// For the instructions that have the two forms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<Form>,
    /// Whether the builder expands variables in the arguments.
    #[serde(default)]
    pub expand: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub heredocs: Vec<Heredoc>,
    /// ENV and LABEL: key/value pairs, as written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pairs: Vec<(String, String)>,
    /// ARG: the declarations, with `--build-arg` values applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arg_values: Vec<ArgDecl>,
    /// COPY --from and RUN --mount from=, resolved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<Source>,
    /// ONBUILD: the trigger's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// COPY and ADD: the destination, the source paths, and the inline
    /// files that heredocs give.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dest: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inline: Vec<Inline>,
}

impl Step {
    /// A string flag (`--chown=…`), if given.
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags.get(name).and_then(|v| v.as_str())
    }

    /// A list flag (`--exclude`, `--mount`), empty if not given.
    pub fn flag_list(&self, name: &str) -> Vec<String> {
        match self.flags.get(name) {
            Some(serde_json::Value::Array(v)) => v
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            _ => vec![],
        }
    }

    pub fn is_exec(&self) -> bool {
        self.form == Some(Form::Exec)
    }
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

#[derive(Debug, Serialize, Deserialize, Clone)]
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
        let json = r#"{"cmd":"run","line":3,"end_line":4,"original":"RUN x","flags":{"mount":["type=cache,target=/c"]},"args":["x"],"form":"shell","expand":true}"#;
        let step: Step = serde_json::from_str(json).unwrap();
        assert_eq!(step.form, Some(Form::Shell));
        assert_eq!(step.flag_list("mount"), ["type=cache,target=/c"]);
        assert_eq!(serde_json::to_string(&step).unwrap(), json);
        assert_eq!(chomp("\t\ta\n\tb\n"), "a\nb\n");
    }
}
