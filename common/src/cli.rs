//! The edge of every tool: parse the command line, run, and turn an error
//! into one `TOOL: error: …` line and an exit code (0 ok, 1 failed, 2 bad
//! usage), with no panic or backtrace reaching the user.

use std::fmt::Display;
use std::path::PathBuf;
use std::process::ExitCode;

/// Set by a runtime that re-executes itself from a sealed in-memory copy
/// (which has no directory) to the file it was copied from.
pub const SEALED_FROM: &str = "SLIPWAY_SEALED_FROM";

/// Another slipway tool: beside our own executable (as installed, or
/// built in target/), else in PATH, so the tools found together are the
/// ones built together.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let own = match std::env::var_os(SEALED_FROM) {
        Some(from) => Some(PathBuf::from(from)),
        None => std::env::current_exe().ok(),
    };
    let beside = own
        .and_then(|e| e.parent().map(|d| d.join(name)))
        .filter(|p| p.is_file());
    beside.or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    })
}

/// Where the store lives: `--store`, else `$SLIPWAY_STORE`, else the
/// default (`/var/lib/slipway` for root, `$XDG_DATA_HOME/slipway`).
#[derive(clap::Args, Debug, Clone)]
pub struct StoreArgs {
    /// The local store (an OCI image layout). Default: $SLIPWAY_STORE, else
    /// /var/lib/slipway as root, else $XDG_DATA_HOME/slipway.
    #[arg(long, value_name = "DIR", env = "SLIPWAY_STORE", global = true)]
    pub store: Option<PathBuf>,
}

impl StoreArgs {
    pub fn path(&self) -> PathBuf {
        self.store.clone().unwrap_or_else(default_store_path)
    }
}

/// Where the store is when neither `--store` nor `$SLIPWAY_STORE` says.
/// Root of a user namespace is rootless: its files are the user's.
pub fn default_store_path() -> PathBuf {
    if !crate::userns::rootless() {
        return PathBuf::from("/var/lib/slipway");
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    data.join("slipway")
}

/// Runs a tool: `run` gets the parsed arguments and returns an error that
/// prints as one line.
pub fn main<A, E>(tool: &str, run: impl FnOnce(A) -> Result<(), E>) -> ExitCode
where
    A: clap::Parser,
    E: Display,
{
    main_status(
        tool,
        Codes {
            usage: 2,
            failure: 1,
        },
        |a| run(a).map(|()| 0),
    )
}

/// The exit codes of a tool's own failures.
#[derive(Clone, Copy, Debug)]
pub struct Codes {
    pub usage: u8,
    pub failure: u8,
}

/// Like [`main`] for a tool whose success has a status of its own (the
/// container's, for container-run) and whose failures use `codes`.
pub fn main_status<A, E>(tool: &str, codes: Codes, run: impl FnOnce(A) -> Result<u8, E>) -> ExitCode
where
    A: clap::Parser,
    E: Display,
{
    // Die quietly on a closed pipe, as `head` expects of a Unix tool.
    // SAFETY: setting a signal disposition before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::panic::set_hook(Box::new({
        let tool = tool.to_string();
        move |info| {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            eprintln!("{tool}: error: internal error (a bug, please report it): {msg}");
        }
    }));
    let matches = match A::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => return usage_error(tool, e, codes.usage),
    };
    let args = match A::from_arg_matches(&matches) {
        Ok(a) => a,
        Err(e) => return usage_error(tool, e, codes.usage),
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(args))) {
        Ok(Ok(status)) => ExitCode::from(status),
        Ok(Err(e)) => {
            eprintln!("{tool}: error: {}", one_line(&e.to_string()));
            ExitCode::from(codes.failure)
        }
        Err(_) => ExitCode::from(codes.failure),
    }
}

/// An error is one line, whatever bytes a bad input put into it.
pub fn one_line(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    for c in msg.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push(' '),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn usage_error(tool: &str, e: clap::Error, code: u8) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                return ExitCode::from(code);
            }
            ExitCode::SUCCESS
        }
        _ => {
            // clap puts details (the missing arguments) on the lines after
            // the first: keep them, on one line, up to the usage block.
            let rendered = e.render().to_string();
            let msg: Vec<&str> = rendered
                .lines()
                .take_while(|l| !l.trim().is_empty() && !l.starts_with("Usage:"))
                .map(str::trim)
                .collect();
            let msg = msg.join(" ");
            let msg = msg.strip_prefix("error: ").unwrap_or(&msg);
            eprintln!("{tool}: error: {} (see '{tool} --help')", one_line(msg));
            ExitCode::from(code)
        }
    }
}
