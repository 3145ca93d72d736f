//! dockerfile-parse: a Dockerfile in, its parse out, read the way BuildKit
//! reads it.

pub mod ast;
pub mod gostr;

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

    /// Output format.
    #[arg(long, value_name = "FORMAT", default_value = "ast", value_parser = ["ast", "buildkit-ast"])]
    pub format: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{file}:{err}")]
    Parse { file: String, err: ast::ParseError },
    #[error("{0}: {1}")]
    Io(String, io::Error),
    #[error("{0}: not UTF-8 text")]
    NotUtf8(String),
}

#[derive(serde::Serialize)]
struct AstDoc<'a> {
    version: u32,
    directives: &'a ast::Directives,
    escape: String,
    warnings: &'a [ast::Warning],
    instructions: &'a [ast::Instruction],
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
    let parsed = ast::parse(&text).map_err(|err| Error::Parse {
        file: name.clone(),
        err,
    })?;
    let out = match args.format.as_str() {
        "buildkit-ast" => parsed.dump(),
        _ => {
            let doc = AstDoc {
                version: 1,
                directives: &parsed.directives,
                escape: parsed.escape.to_string(),
                warnings: &parsed.warnings,
                instructions: &parsed.instructions,
            };
            serde_json::to_string_pretty(&doc).expect("JSON") + "\n"
        }
    };
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|_| stdout.flush())
        .map_err(|e| Error::Io("<stdout>".into(), e))
}
