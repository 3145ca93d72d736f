//! The build plan as dockerfile-parse prints it (dockerfile-plan(5)): only
//! the fields the driver reads. It is read from the tool's JSON output,
//! never from its code, so the two stay apart as the design asks.

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
pub struct Plan {
    pub version: u32,
    pub escape: String,
    pub target: usize,
    pub stages: Vec<Stage>,
    #[serde(default)]
    pub warnings: Vec<Warning>,
    /// The `# check=` directive, parsed.
    #[serde(default)]
    pub check: Option<CheckOptions>,
}

/// What the driver reads of the check directive: whether warnings fail
/// the build.
#[derive(Debug, Deserialize)]
pub struct CheckOptions {
    #[serde(default)]
    pub error: bool,
}

#[derive(Debug, Deserialize)]
pub struct Warning {
    pub line: usize,
    pub rule: String,
    pub message: String,
}

#[derive(Debug, Deserialize)]
pub struct Stage {
    pub index: usize,
    pub name: Option<String>,
    pub line: usize,
    pub base: Base,
    pub platform: Option<String>,
    pub needed: bool,
    /// The stages it needs built first: its base, COPY --from, RUN
    /// --mount from=.
    #[serde(default)]
    pub depends_on: Vec<usize>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Base {
    Scratch,
    Stage(usize),
    Image(String),
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Stage(usize),
    Image(String),
}

#[derive(Debug, Deserialize)]
pub struct Step {
    pub cmd: String,
    pub line: usize,
    pub original: String,
    #[serde(default)]
    pub flags: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub args: Vec<String>,
    pub form: Option<String>,
    #[serde(default)]
    pub expand: bool,
    #[serde(default)]
    pub heredocs: Vec<Heredoc>,
    #[serde(default)]
    pub pairs: Vec<(String, String)>,
    #[serde(default)]
    pub arg_values: Vec<ArgDecl>,
    #[serde(default)]
    pub from: Vec<Source>,
    pub trigger: Option<String>,
    pub dest: Option<String>,
    #[serde(default)]
    pub sources: Vec<String>,
    /// COPY/ADD heredoc sources (refused in this version: only counted).
    #[serde(default)]
    pub inline: Vec<serde_json::Value>,
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
        self.form.as_deref() == Some("exec")
    }
}

#[derive(Debug, Deserialize, Clone)]
pub struct Heredoc {
    pub name: String,
    pub content: String,
    #[serde(default)]
    pub chomp: bool,
}

#[derive(Debug, Deserialize, Clone)]
pub struct ArgDecl {
    pub name: String,
    pub default: Option<String>,
    pub build_arg: Option<String>,
    pub global: Option<String>,
}
