//! dockerfile-parse: a Dockerfile in, its parse out, read the way BuildKit
//! reads it.

pub mod ast;
pub mod gostr;
pub mod lint;
pub mod plan;
pub mod stream;

use clap::Parser;
use std::io::{self, Read, Write};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  dockerfile-parse Dockerfile
  dockerfile-parse --format buildkit-ast - < Dockerfile
  diff <(dockerfile-parse --format buildkit-ast Dockerfile) expected.ast";

/// Parse a Dockerfile.
///
/// --format ast prints the instructions as JSON: keyword, flags, arguments,
/// exec or shell form, source lines, heredocs and the comments before each,
/// plus the parser directives and warnings. --format buildkit-ast prints the
/// parse as BuildKit's parser dumps it, to compare the two parsers.
#[derive(Parser, Debug)]
#[command(name = "dockerfile-parse", version, after_help = EXAMPLES)]
pub struct Args {
    /// The Dockerfile ('-' for stdin).
    #[arg(value_name = "DOCKERFILE", default_value = "Dockerfile")]
    pub file: PathBuf,

    /// Output format: plan (the build plan, see dockerfile-plan(5)), ast
    /// (the syntax tree as JSON) or buildkit-ast (BuildKit's dump).
    #[arg(long, value_name = "FORMAT", default_value = "plan", value_parser = ["plan", "ast", "buildkit-ast"])]
    pub format: String,

    /// A build argument (repeatable): overrides ARG defaults.
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,

    /// Build this stage (by name); the plan marks the stages it needs.
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,

    /// The target platform (default: the host's), for TARGETPLATFORM and
    /// the other predefined ARGs.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,

    /// A .dockerignore file whose rules go into the plan.
    #[arg(long, value_name = "PATH")]
    pub dockerignore: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{file}:{err}")]
    Parse { file: String, err: ast::ParseError },
    #[error("{0}: {1}")]
    Io(String, io::Error),
    #[error("{0}: not UTF-8 text")]
    NotUtf8(String),
    #[error("--build-arg {0:?}: expected KEY=VALUE")]
    BuildArg(String),
    #[error("{0}: {1}")]
    Ignore(String, slipway_common::ignore::PatternError),
}

pub fn run(args: Args) -> Result<(), Error> {
    let name = args.file.display().to_string();
    let mut bytes = Vec::new();
    if name == "-" {
        io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| Error::Io(name.clone(), e))?;
    } else {
        bytes = std::fs::read(&args.file).map_err(|e| Error::Io(name.clone(), e))?;
    }
    let text = String::from_utf8(bytes).map_err(|_| Error::NotUtf8(name.clone()))?;
    let failed = |e: stream::WriteError| match e {
        stream::WriteError::Parse(err) => Error::Parse {
            file: name.clone(),
            err,
        },
        stream::WriteError::Io(e) => Error::Io("<stdout>".into(), e),
    };
    // Every format is written while the file is parsed (a second time,
    // after a first pass has found any error): holding the syntax tree or
    // the output whole took twenty to forty times the file's size.
    let mut out = io::BufWriter::with_capacity(64 << 10, io::stdout().lock());
    match args.format.as_str() {
        "buildkit-ast" => ast::write_dump(&text, &mut out).map_err(failed)?,
        "plan" => {
            let mut opts = plan::Options {
                target: args.target.clone(),
                build_platform: slipway_common::platform::Platform::host().to_string(),
                ..Default::default()
            };
            opts.target_platform = args
                .platform
                .clone()
                .unwrap_or_else(|| opts.build_platform.clone());
            for kv in &args.build_args {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| Error::BuildArg(kv.clone()))?;
                opts.build_args.insert(k.to_string(), v.to_string());
            }
            if let Some(p) = &args.dockerignore {
                let shown = p.display().to_string();
                let text = std::fs::read_to_string(p).map_err(|e| Error::Io(shown.clone(), e))?;
                let m = slipway_common::ignore::Matcher::parse(&text)
                    .map_err(|e| Error::Ignore(shown.clone(), e))?;
                opts.dockerignore = Some(m.patterns().iter().map(|s| s.to_string()).collect());
            }
            let mut p = plan::streamed(&text, &opts).map_err(|err| Error::Parse {
                file: name.clone(),
                err,
            })?;
            p.syntax = ast::detect_directive(&text, "syntax", true).map(|f| f.value);
            p.write(&mut out).map_err(failed)?;
        }
        _ => ast::write_json(&text, &mut out).map_err(failed)?,
    }
    out.flush().map_err(|e| Error::Io("<stdout>".into(), e))
}
