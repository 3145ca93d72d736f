//! container-ctl: the containers container-run started, handled with
//! docker's commands and meanings: ps, stop, kill, rm, logs, inspect,
//! exec, commit, start, attach, wait, pause, unpause, rename, port,
//! top, stats, diff and cp.

mod commit;
mod cp;
mod diff;
mod exec;
mod inspect;
mod lifecycle;
mod logs;
mod network;
mod ps;
mod start;
mod stats;
mod top;
mod volume;
mod wait;

use clap::{Parser, Subcommand};
use slipway_common::cli::StoreArgs;
use slipway_common::container::cgroups::CgroupError;
use slipway_common::container::exec::JoinError;
use slipway_common::container::state::{Containers, StateError};
use slipway_common::fsutil::IoError;
use slipway_common::store::StoreError;
use slipway_common::userns;
use std::io;

const EXAMPLES: &str = "\
Examples:
  container-run -d --network none --name web busybox httpd -f -p 8080
  container-ctl ps -a --format 'table {{.Names}}\\t{{.Status}}'
  container-ctl logs -f --tail 10 web
  container-ctl exec web ps
  container-ctl exec -u 1000 -w /tmp -e DEBUG=1 web sh -c 'id; pwd'
  container-ctl commit -m 'add config' -c 'CMD [\"httpd\",\"-f\"]' web web:snapshot
  container-ctl top web -o pid,comm
  container-ctl stats --no-stream
  container-ctl cp web:/etc/httpd.conf . && container-ctl cp - web:/www < site.tar
  container-ctl diff web
  container-ctl stop -t 2 web && container-ctl rm web";

/// Manage the containers that container-run started.
///
/// A container is named by its name, its full ID or a unique prefix of its
/// ID. The state of each container lives in the store, beside its
/// writable layer and (with container-run -d) its log.
#[derive(Parser, Debug)]
#[command(name = "container-ctl", version, after_help = EXAMPLES)]
pub struct Args {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List containers, as `docker ps` does (running ones unless -a).
    #[command(alias = "ls", alias = "list")]
    Ps(ps::PsArgs),
    /// Stop containers: the stop signal (the image's STOPSIGNAL, or
    /// container-run --stop-signal; SIGTERM when neither says) to the
    /// first process, then after the timeout SIGKILL to every process of
    /// the container.
    Stop {
        /// Seconds to wait for the container to exit before killing it
        /// (negative: wait for ever). Default: container-run's
        /// --stop-timeout (10).
        #[arg(
            short = 't',
            long = "time",
            visible_alias = "timeout",
            value_name = "SECONDS",
            allow_negative_numbers = true
        )]
        time: Option<i64>,
        /// The signal to send first, instead of the container's own.
        #[arg(short = 's', long, value_name = "SIGNAL")]
        signal: Option<String>,
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Start created or exited containers again (container-run makes each
    /// from the arguments that made it, over its writable layer); prints
    /// each name, or with -a stays attached.
    Start(start::StartArgs),
    /// Join a running detached container: its output from now on, our
    /// input if it was run with -i, its exit status ours when it ends.
    Attach(start::AttachArgs),
    /// Send a signal to the first process of running containers.
    Kill {
        /// The signal: a name (KILL, SIGTERM, RTMIN+1) or a number.
        #[arg(short, long, value_name = "SIGNAL", default_value = "KILL")]
        signal: String,
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Remove containers: their state and writable layer (not a directory
    /// given to container-run --upper).
    #[command(alias = "remove")]
    Rm {
        /// Kill a running container first.
        #[arg(short, long)]
        force: bool,
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Print the output of a container started with container-run -d:
    /// its stdout to stdout, its stderr to stderr.
    Logs(logs::LogsArgs),
    /// Show containers as a JSON array of docker-like documents.
    Inspect {
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Run a command in a running container: in its namespaces and cgroup,
    /// as its user (or -u), with its environment, capabilities and
    /// seccomp filter. Exits with the command's status; 126 when it
    /// cannot be run, 127 when it is not found.
    Exec(exec::ExecArgs),
    /// Make an image of a container's changes: its writable layer on top
    /// of its image (by layer-diff --upper and image-assemble). Prints the
    /// new image's manifest digest.
    Commit(commit::CommitArgs),
    /// Wait until containers end, then print each one's exit code.
    Wait {
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Freeze every process of running containers (the cgroup freezer),
    /// as docker pause.
    Pause {
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Thaw paused containers.
    Unpause {
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Give a container another name.
    Rename {
        #[arg(value_name = "CONTAINER")]
        container: String,
        #[arg(value_name = "NEW_NAME")]
        name: String,
    },
    /// The ports a container publishes on the host: all, or where one
    /// port (PORT[/PROTO]) is published.
    Port {
        #[arg(value_name = "CONTAINER")]
        container: String,
        #[arg(value_name = "PORT[/PROTO]")]
        port: Option<String>,
    },
    /// A running container's processes: the host's ps (with the options
    /// given, default -ef), its lines for the container's processes.
    Top {
        #[arg(value_name = "CONTAINER")]
        container: String,
        /// Options for ps, as docker top passes them (-o pid,comm; aux).
        #[arg(
            value_name = "PS_OPTIONS",
            trailing_var_arg = true,
            allow_hyphen_values = true
        )]
        ps_args: Vec<String>,
    },
    /// What running containers use: CPU, memory, network and block I/O,
    /// PIDs; a new table every second unless --no-stream.
    Stats(stats::StatsArgs),
    /// What a container changed in its filesystem: A added, C changed,
    /// D deleted, against its image.
    Diff {
        #[arg(value_name = "CONTAINER")]
        container: String,
    },
    /// Copy files between a container and the host: CONTAINER:SRC DEST,
    /// SRC CONTAINER:DEST, and - for a tar stream on either side.
    Cp(cp::CpArgs),
    /// Remove every stopped container, as docker container prune.
    Prune {
        /// Do not ask (prune never asks).
        #[arg(short, long)]
        force: bool,
    },
    /// Named volumes: create, ls, inspect, rm, prune.
    #[command(subcommand)]
    Volume(volume::VolumeCommand),
    /// Bridge networks: create, ls, inspect, rm, prune, connect,
    /// disconnect.
    #[command(subcommand)]
    Network(network::NetworkCommand),
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Join(#[from] JoinError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error("container {0} is not running")]
    NotRunning(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{what}: {source}")]
    Os {
        what: String,
        #[source]
        source: io::Error,
    },
}

/// `--label K=V` (K alone: an empty value), as docker's volume and
/// network commands take them.
fn labels(given: &[String]) -> Result<std::collections::BTreeMap<String, String>, Error> {
    given
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            None if !l.is_empty() => Ok((l.clone(), String::new())),
            _ => Err(Error::Invalid(format!("--label {l:?}: takes KEY=VALUE"))),
        })
        .collect()
}

fn out_err(e: io::Error) -> Error {
    Error::Io(IoError {
        op: "write",
        path: "<stdout>".into(),
        source: e,
    })
}

/// Runs `one` on each container named; as docker does, a failure does not
/// stop the others: each but the last is reported here, the last returned.
fn each(names: &[String], mut one: impl FnMut(&str) -> Result<(), Error>) -> Result<(), Error> {
    let mut last = None;
    for n in names {
        if let Err(e) = one(n) {
            if let Some(prev) = last.replace(e) {
                eprintln!(
                    "container-ctl: error: {}",
                    slipway_common::cli::one_line(&prev.to_string())
                );
            }
        }
    }
    last.map_or(Ok(()), Err)
}

pub fn run(args: Args) -> Result<u8, Error> {
    let store = args.store.path();
    run_in(args).map_err(|e| match e {
        Error::State(StateError::NotFound(name)) => elsewhere(&store, &name)
            .map(|other| {
                Error::Invalid(format!(
                    "no such container: {name} (a container of that name is in the store {}: give --store {0})",
                    other.display()
                ))
            })
            .unwrap_or(Error::State(StateError::NotFound(name))),
        e => e,
    })
}

/// Another store noted on this host that has a container `name`.
fn elsewhere(current: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    let here = std::fs::canonicalize(current).ok();
    slipway_common::container::stores::known()
        .into_iter()
        .filter(|s| Some(s) != here.as_ref())
        .find(|s| Containers::open(s).is_ok_and(|c| c.find(name).is_ok()))
}

fn run_in(args: Args) -> Result<u8, Error> {
    let store = args.store.path();
    // exec re-executes itself before it touches anything.
    if let Command::Exec(a) = args.command {
        return exec::exec(&store, &a);
    }
    let containers = Containers::open(&store)?;
    match &args.command {
        Command::Start(a) => return start::start(&store, &containers, a),
        Command::Attach(a) => return start::attach(&containers, a),
        _ => {}
    }
    // A rootless container's writable layer holds files of the user's
    // subordinate IDs: layer-diff must see them with the IDs the
    // container gave them, from inside a namespace with the same mapping.
    // SAFETY: geteuid has no preconditions.
    if matches!(args.command, Command::Commit(_) | Command::Diff { .. })
        && unsafe { libc::geteuid() } != 0
    {
        userns::enter(&userns::Mapping::for_caller()).map_err(|e| Error::Invalid(e.to_string()))?;
    }
    match args.command {
        Command::Ps(a) => ps::ps(&containers, &a)?,
        Command::Stop {
            time,
            signal,
            containers: c,
        } => lifecycle::stop(&containers, &c, time, signal.as_deref())?,
        Command::Kill {
            signal,
            containers: c,
        } => lifecycle::kill(&containers, &c, &signal)?,
        Command::Rm {
            force,
            containers: c,
        } => lifecycle::rm(&containers, &c, force)?,
        Command::Logs(a) => logs::logs(&containers, &a)?,
        Command::Inspect { containers: c } => inspect::inspect(&containers, &c)?,
        Command::Commit(a) => commit::commit(&store, &containers, &a)?,
        Command::Wait { containers: c } => wait::wait(&containers, &c)?,
        Command::Pause { containers: c } => wait::pause(&containers, &c, true)?,
        Command::Unpause { containers: c } => wait::pause(&containers, &c, false)?,
        Command::Rename { container, name } => wait::rename(&containers, &container, &name)?,
        Command::Port { container, port } => wait::port(&containers, &container, port.as_deref())?,
        Command::Top { container, ps_args } => top::top(&containers, &container, &ps_args)?,
        Command::Stats(a) => stats::stats(&containers, &a)?,
        Command::Diff { container } => diff::diff(&containers, &container)?,
        Command::Cp(a) => cp::cp(&containers, &a)?,
        Command::Volume(v) => volume::volume(&store, &containers, &v)?,
        Command::Network(n) => network::network(&store, &containers, &n)?,
        Command::Prune { .. } => lifecycle::prune(&containers)?,
        Command::Exec(_) | Command::Start(_) | Command::Attach(_) => {
            unreachable!("handled above")
        }
    }
    Ok(0)
}
