//! start and attach: a created or exited container started again (by
//! container-run, which made it), and a terminal joined to a running
//! one's output and input.

use crate::logs::{logs, LogsArgs};
use crate::Error;
use slipway_common::container::state::Containers;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

#[derive(clap::Args, Debug)]
pub struct StartArgs {
    /// Stay attached to its output, its exit status ours (one container).
    #[arg(short, long)]
    pub attach: bool,
    /// With -a: give it our input too (if it was made with -i).
    #[arg(short, long)]
    pub interactive: bool,
    /// Every stopped container (that --filter selects): after a reboot,
    /// `start --all --filter restart-policy=always` brings back what
    /// docker's daemon would (slipway-restart.service runs it at boot).
    #[arg(long, conflicts_with_all = ["attach", "containers"])]
    pub all: bool,
    /// With --all: as ps --filter (restart-policy=always, label=K=V, ...).
    #[arg(long, value_name = "KEY=VALUE", requires = "all")]
    pub filter: Vec<String>,
    #[arg(required_unless_present = "all", value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct AttachArgs {
    /// Do not give it our input.
    #[arg(long)]
    pub no_stdin: bool,
    /// Pass the signals we get (INT, TERM, HUP, QUIT, USR1, USR2) on to
    /// the container's first process.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub sig_proxy: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

fn container_run() -> Result<std::path::PathBuf, Error> {
    slipway_common::cli::find_tool("container-run").ok_or_else(|| {
        Error::Invalid("container-run is neither beside container-ctl nor in PATH".into())
    })
}

fn run_args(store: &Path, query: &str) -> Vec<OsString> {
    vec![
        "--store".into(),
        store.into(),
        "--start".into(),
        query.into(),
    ]
}

/// `start`: container-run makes each container again from the arguments
/// it was made with; with -a the one container runs in our place.
pub fn start(store: &Path, containers: &Containers, a: &StartArgs) -> Result<u8, Error> {
    let tool = container_run()?;
    if a.attach {
        let [one] = a.containers.as_slice() else {
            return Err(Error::Invalid(
                "start -a takes one container: attach to several one at a time".into(),
            ));
        };
        // Found here first, for our error and its store hint.
        let s = containers.find(one)?;
        let mut cmd = Command::new(&tool);
        cmd.args(run_args(store, &s.id)).arg("--attach");
        if a.interactive {
            cmd.arg("-i");
        }
        let e = cmd.exec();
        return Err(Error::Os {
            what: format!("run {}", tool.display()),
            source: e,
        });
    }
    let names = match a.all {
        true => crate::ps::filtered(containers, &a.filter)?
            .into_iter()
            .filter(|s| !s.alive())
            .map(|s| s.name)
            .collect(),
        false => a.containers.clone(),
    };
    crate::each(&names, |name| {
        let s = containers.find(name)?;
        let out = Command::new(&tool)
            .args(run_args(store, &s.id))
            .stdin(Stdio::null())
            .output()
            .map_err(|source| Error::Os {
                what: format!("run {}", tool.display()),
                source,
            })?;
        let err = String::from_utf8_lossy(&out.stderr);
        let mut failure = None;
        for line in err.lines() {
            match line.strip_prefix("container-run: error: ") {
                Some(msg) => failure = Some(msg.to_string()),
                None => eprintln!("{line}"),
            }
        }
        if !out.status.success() {
            return Err(Error::Invalid(failure.unwrap_or_else(|| {
                format!("container-run could not start {name} ({})", out.status)
            })));
        }
        println!("{name}");
        Ok(())
    })?;
    Ok(0)
}

/// `attach`: the container's output from now on (from its log, to our
/// stdout and stderr), our input into its FIFO when it has one, and its
/// exit status ours once it ends.
pub fn attach(containers: &Containers, a: &AttachArgs) -> Result<u8, Error> {
    let s = containers.find(&a.container)?;
    if !s.alive() {
        return Err(Error::Invalid(format!(
            "you cannot attach to a stopped container, start it first (container-ctl start -a {})",
            a.container
        )));
    }
    if !s.detached {
        return Err(Error::Invalid(format!(
            "container {} runs in the foreground of the terminal that started it: only a detached one can be attached",
            a.container
        )));
    }
    // Where the log ends now: what the container writes from here on is
    // printed, even what answers input sent before the log is followed.
    let from = std::fs::metadata(containers.log_path(&s.id))
        .map(|m| m.len())
        .unwrap_or(0);
    let fifo = containers.dir(&s.id).join("stdin");
    if !a.no_stdin && fifo.exists() {
        // Opening a FIFO for writing waits for a reader: the container's
        // monitor holds one while it lives.
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&fifo) {
                let mut buf = [0u8; 8192];
                let mut stdin = std::io::stdin().lock();
                while let Ok(n @ 1..) = stdin.read(&mut buf) {
                    if f.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        });
    }
    if a.sig_proxy {
        proxy_signals(s.pid);
    }
    logs(
        containers,
        &LogsArgs {
            follow: true,
            tail: "all".into(),
            timestamps: false,
            since: None,
            until: None,
            container: s.id.clone(),
            from: Some(from),
        },
    )?;
    let end = containers.load(&s.id)?;
    Ok(end.exit_code.map_or(0, |c| c as u8))
}

/// A thread that passes the signals a user sends attach on to `pid`.
fn proxy_signals(pid: Option<i32>) {
    let Some(pid) = pid else { return };
    const SIGS: [libc::c_int; 6] = [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
    ];
    let set = slipway_common::container::process::block_signals(&SIGS);
    std::thread::spawn(move || loop {
        let mut sig = 0;
        // SAFETY: sigwait on a valid set, blocked in every thread (the
        // mask was set before this thread was made).
        if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
            // SAFETY: kill with integer arguments.
            unsafe { libc::kill(pid, sig) };
        }
    });
}
