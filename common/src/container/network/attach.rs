//! A container on a network: its address reserved before it starts (for
//! its /etc/hosts), its link made once its namespace exists, and all of
//! it undone when it ends; with the last container, the network's bridge,
//! rules and DNS responder go too.

use super::endpoints::{self, Endpoint, Request};
use super::{dns, firewall, link, rootless, Network, NetworkError};
use crate::container::state::process_start;

/// The address the container will have, held by this process until
/// [`connect`] hands it to the container.
pub fn reserve(n: &Network, r: &Request) -> Result<Endpoint, NetworkError> {
    let _lock = endpoints::lock(n)?;
    let mut live = endpoints::live_locked(n)?;
    endpoints::allocate(n, &mut live, r)
}

/// The container whose first process is `pid` joined to the network: the
/// endpoint (reserved, or made now) held by that process, the bridge, its
/// veth, the rules and the DNS responder. `default_route`: its first
/// network's gateway is its way out.
pub fn connect(
    n: &Network,
    r: &Request,
    pid: i32,
    default_route: bool,
) -> Result<Endpoint, NetworkError> {
    let _lock = endpoints::lock(n)?;
    let mut live = endpoints::live_locked(n)?;
    let mut e = endpoints::allocate(n, &mut live, r)?;
    e.pid = pid;
    e.pid_start = process_start(pid);
    for x in live.iter_mut().filter(|x| x.container_id == e.container_id) {
        *x = e.clone();
    }
    endpoints::save(n, &live)?;
    let made = link::ensure_bridge(n)
        .and_then(|()| link::add_veth(n, &e, pid, default_route))
        .and_then(|()| firewall::apply(n, &live))
        .and_then(|()| dns::ensure(n))
        .and_then(|()| match rootless::active() {
            true => rootless::forward(&e, true),
            false => Ok(()),
        });
    if let Err(err) = made {
        live.retain(|x| x.container_id != e.container_id);
        let _ = endpoints::save(n, &live);
        link::delete_veth(&e);
        if live.is_empty() {
            tear_down(n);
        }
        return Err(err);
    }
    Ok(e)
}

/// The container off the network: its endpoint, veth and rules gone; the
/// network's with the last one.
pub fn disconnect(n: &Network, container_id: &str) {
    let Ok(_lock) = endpoints::lock(n) else {
        return;
    };
    let all = endpoints::load(n);
    let (gone, rest): (Vec<Endpoint>, Vec<Endpoint>) = all
        .into_iter()
        .partition(|e| e.container_id == container_id);
    for e in &gone {
        link::delete_veth(e);
        if rootless::active() {
            let _ = rootless::forward(e, false);
        }
    }
    let live: Vec<Endpoint> = rest.into_iter().filter(Endpoint::alive).collect();
    let _ = endpoints::save(n, &live);
    if live.is_empty() {
        tear_down(n);
    } else {
        let _ = firewall::apply(n, &live);
    }
}

/// What a network has while in use, gone: its responder, rules, bridge
/// and endpoints (the caller holds its lock, or it has none in use).
pub fn tear_down(n: &Network) {
    dns::stop(n);
    firewall::remove(n);
    link::delete_bridge(n);
    let _ = std::fs::remove_file(n.run_dir().join("endpoints.json"));
    if rootless::active() {
        rootless::stop_if_idle();
    }
}

/// Every network of the store swept of containers that are gone (after
/// `rm -f` of a container whose monitor was killed, say).
pub fn sweep_store(store: &std::path::Path) {
    if let Ok(nets) = super::Networks::open(store).list() {
        for n in nets {
            let _ = endpoints::sweep(&n);
        }
    }
}
