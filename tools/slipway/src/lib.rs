//! slipway: the front command. `slipway VERB …` runs the tool that does
//! the job as a process of its own (`slipway build` is image-build), so
//! the stages stay separate programs, each swappable, and what a verb
//! does is what its tool's man page says.

mod login;
mod verbs;

use clap::{Parser, Subcommand};
use std::ffi::OsString;

pub use verbs::{plan, Invocation};

const EXAMPLES: &str = "\
Examples:
  slipway build -t app .
  slipway run -d --name web -p 8080:80 app
  slipway ps
  slipway logs web
  slipway push 127.0.0.1:5000/app:1
  slipway images";

/// The slipway tools behind Docker's verbs: `slipway build` runs
/// image-build, `slipway run` container-run, `slipway ps` container-ctl
/// ps, `slipway images` image-store ls, and so on, with their own flags
/// (which follow Docker's). Each verb's help is its tool's: `slipway run
/// --help`.
#[derive(Parser, Debug)]
#[command(name = "slipway", version, after_help = EXAMPLES)]
pub struct Args {
    #[command(subcommand)]
    pub verb: Verb,
}

/// What follows the verb, passed to its tool as it is.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Rest {
    /// The arguments, as the tool takes them.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<OsString>,
}

#[derive(Subcommand, Debug, Clone)]
pub enum Verb {
    /// Build an image from a Dockerfile (image-build).
    #[command(disable_help_flag = true)]
    Build(Rest),
    /// Run a command in a new container, pulling its image when the store
    /// lacks it (container-run).
    #[command(disable_help_flag = true)]
    Run(Rest),
    /// Make a container without starting it, pulling its image when the
    /// store lacks it (container-run --create).
    #[command(disable_help_flag = true)]
    Create(Rest),
    /// Start created or exited containers; -a to stay attached
    /// (container-ctl start).
    #[command(disable_help_flag = true)]
    Start(Rest),
    /// Join a running detached container's output and input
    /// (container-ctl attach).
    #[command(disable_help_flag = true)]
    Attach(Rest),
    /// List containers (container-ctl ps).
    #[command(disable_help_flag = true)]
    Ps(Rest),
    /// Stop containers (container-ctl stop).
    #[command(disable_help_flag = true)]
    Stop(Rest),
    /// Send a signal to containers (container-ctl kill).
    #[command(disable_help_flag = true)]
    Kill(Rest),
    /// Remove containers (container-ctl rm).
    #[command(disable_help_flag = true)]
    Rm(Rest),
    /// Show a container's output (container-ctl logs).
    #[command(disable_help_flag = true)]
    Logs(Rest),
    /// Run a command in a running container (container-ctl exec).
    #[command(disable_help_flag = true)]
    Exec(Rest),
    /// Make an image of a container's changes (container-ctl commit).
    #[command(disable_help_flag = true)]
    Commit(Rest),
    /// Wait for containers to end and print their exit codes
    /// (container-ctl wait).
    #[command(disable_help_flag = true)]
    Wait(Rest),
    /// Freeze a container's processes (container-ctl pause).
    #[command(disable_help_flag = true)]
    Pause(Rest),
    /// Thaw a paused container (container-ctl unpause).
    #[command(disable_help_flag = true)]
    Unpause(Rest),
    /// Rename a container (container-ctl rename).
    #[command(disable_help_flag = true)]
    Rename(Rest),
    /// A container's published ports (container-ctl port).
    #[command(disable_help_flag = true)]
    Port(Rest),
    /// A container's processes (container-ctl top).
    #[command(disable_help_flag = true)]
    Top(Rest),
    /// What containers use: CPU, memory, I/O, PIDs (container-ctl stats).
    #[command(disable_help_flag = true)]
    Stats(Rest),
    /// What a container changed in its filesystem (container-ctl diff).
    #[command(disable_help_flag = true)]
    Diff(Rest),
    /// Copy files between a container and the host (container-ctl cp).
    #[command(disable_help_flag = true)]
    Cp(Rest),
    /// df (image-store du) and prune: stopped containers, then what no
    /// tag reaches (image-store gc); with --volumes the unused volumes
    /// too.
    #[command(disable_help_flag = true)]
    System(Rest),
    /// Named volumes: create, ls, inspect, rm, prune (container-ctl
    /// volume).
    #[command(disable_help_flag = true)]
    Volume(Rest),
    /// Bridge networks: create, ls, inspect, rm, prune, connect,
    /// disconnect (container-ctl network).
    #[command(disable_help_flag = true)]
    Network(Rest),
    /// Containers: ls, run, rm, and every container-ctl command, as
    /// `docker container` has them.
    #[command(disable_help_flag = true)]
    Container(Rest),
    /// Show containers' or images' details as JSON: a container of that
    /// name or ID (container-ctl inspect), else an image (image-store
    /// inspect).
    #[command(disable_help_flag = true)]
    Inspect(Rest),
    /// List images (image-store ls).
    #[command(disable_help_flag = true)]
    Images(Rest),
    /// Images: ls, rm, inspect, tag, save, load, history, prune, pull, push
    /// (image-store, image-pull, image-push).
    #[command(disable_help_flag = true)]
    Image(Rest),
    /// Multi-platform images, as `docker manifest` and `podman manifest`:
    /// create LIST IMAGE… and inspect LIST (image-store manifest), push
    /// LIST [DEST] (image-push, every image then the index), rm LIST.
    #[command(disable_help_flag = true)]
    Manifest(Rest),
    /// Pull an image from a registry into the store (image-pull).
    #[command(disable_help_flag = true)]
    Pull(Rest),
    /// Push an image to the registry its name says (image-push NAME
    /// docker://NAME).
    #[command(disable_help_flag = true)]
    Push(Rest),
    /// Give an image another name (image-store tag).
    #[command(disable_help_flag = true)]
    Tag(Rest),
    /// Remove image names (image-store rm).
    #[command(disable_help_flag = true)]
    Rmi(Rest),
    /// Write an image to a docker-archive: `-o FILE IMAGE`, or to stdout
    /// (image-store save IMAGE docker-archive:FILE).
    #[command(disable_help_flag = true)]
    Save(Rest),
    /// Load the images of a docker-archive or oci-archive: `-i FILE`, or
    /// stdin (image-store load).
    #[command(disable_help_flag = true)]
    Load(Rest),
    /// An image's history, newest step first (image-store history).
    #[command(disable_help_flag = true)]
    History(Rest),
    /// Check a registry's credentials and keep them in the auth file the
    /// tools read (default: ~/.docker/config.json).
    Login(login::LoginArgs),
    /// Take a registry's credentials out of the auth files.
    Logout(login::LogoutArgs),
    /// The version of slipway and of each tool it finds.
    Version,
    /// Where the store is and which tools run each verb.
    Info,
    /// Print the completion script for a shell (bash, zsh, fish, elvish,
    /// powershell): slipway's verbs; each verb's own flags are its tool's.
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("{tool} is neither beside slipway nor in PATH")]
    Missing { tool: String },
    #[error("run {tool}: {source}")]
    Spawn {
        tool: String,
        #[source]
        source: std::io::Error,
    },
}

/// Runs the verb; the status is that of the tool that failed, where one
/// of several did (`system prune`).
pub fn run(args: Args) -> Result<u8, Error> {
    match &args.verb {
        Verb::Version => return verbs::version().map(|()| 0),
        Verb::Info => return verbs::info().map(|()| 0),
        Verb::Completion { shell } => {
            let mut cmd = <Args as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "slipway", &mut std::io::stdout());
            return Ok(0);
        }
        Verb::System(r) => return verbs::system(r),
        Verb::Login(a) => return login::login(a),
        Verb::Logout(a) => return login::logout(a),
        _ => {}
    }
    let steps = plan(&args.verb)?;
    verbs::execute(&steps).map(|()| 0)
}
