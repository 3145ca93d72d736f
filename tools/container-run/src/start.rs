//! docker create and docker start: a container recorded without its
//! process, and a created or exited one made again from the arguments
//! that made it, over its own writable layer.

use crate::config::Prepared;
use crate::{Args, Error};
use clap::Parser;
use slipway_common::container::state::{Containers, State, Status};

/// The arguments that made the container `query`, as this start runs
/// them, and its record, claimed for this start; None when it is
/// already running (docker start then does nothing, and succeeds).
pub fn reopen(args: &Args, query: &str) -> Result<Option<(Args, State)>, Error> {
    let containers = Containers::open(&args.store.path())?;
    let found = containers.find(query)?;
    if found.alive() {
        if args.attach {
            return Err(Error::Invalid(format!(
                "container {} is already running: see its output with container-ctl logs -f {0}",
                found.name
            )));
        }
        return Ok(None);
    }
    if found.run_args.is_empty() {
        return Err(Error::Unsupported(format!(
            "container {} has no record of the arguments that made it (a runtime bundle's, or made by an older container-run): run it anew",
            found.name
        )));
    }
    let claimed = containers.claim_start(&found.id)?;
    match rebuild(args, &claimed) {
        Ok(a) => Ok(Some((a, claimed))),
        Err(e) => {
            let _ = containers.save(&found);
            Err(e)
        }
    }
}

fn rebuild(args: &Args, s: &State) -> Result<Args, Error> {
    let argv = std::iter::once("container-run".to_string()).chain(s.run_args.iter().cloned());
    let mut a = Args::try_parse_from(argv).map_err(|e| {
        Error::Invalid(format!(
            "the arguments container {} was made with do not parse now: {}",
            s.name,
            slipway_common::cli::one_line(&e.to_string())
        ))
    })?;
    a.store = args.store.clone();
    a.given = s.run_args.clone();
    a.create = false;
    a.start = None;
    a.attach = false;
    a.cidfile = None;
    a.detach = !args.attach;
    // Attached, its input is ours only when both the container (-i at
    // create) and this start (-i) ask for it, as docker start -ai.
    if args.attach {
        a.interactive = a.interactive && args.interactive;
    }
    // The image it was made from, by ID: a tag moved since must not
    // change what runs under its writable layer.
    a.pull = crate::pull::Pull::Never;
    if let (Some(id), None) = (&s.image_id, &a.rootfs) {
        if let Some(first) = a.args.first_mut() {
            *first = id.clone();
        }
    }
    Ok(a)
}

/// `--create`: the container recorded, its process not started.
pub fn created(mut p: Prepared) -> Result<u8, Error> {
    p.state.status = Status::Created;
    p.state.pid = None;
    p.state.pid_start = None;
    p.containers.save(&p.state)?;
    println!("{}", p.state.id);
    Ok(0)
}
