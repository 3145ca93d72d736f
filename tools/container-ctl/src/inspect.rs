//! inspect: containers as a JSON array, in the shape of `docker inspect`
//! where the same facts exist.

use crate::lifecycle::settle;
use crate::ps::{paused, status_word};
use crate::{each, out_err, Error};
use serde_json::{json, Value};
use slipway_common::container::state::{Containers, State, Status};
use std::io::Write;

/// Go's zero time, which docker prints for "never".
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

pub fn document(containers: &Containers, s: &State) -> Value {
    let status = s.current_status();
    let running = status == Status::Running;
    let dir = containers.dir(&s.id);
    let upper = containers.upper_dir(s);
    let mut data = json!({ "UpperDir": upper });
    if s.upper.is_none() {
        data["WorkDir"] = json!(dir.join("work"));
        data["MergedDir"] = json!(dir.join("rootfs"));
    }
    // docker's form: {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}.
    let mut ports = serde_json::Map::new();
    for p in &s.ports {
        let key = format!("{}/{}", p.container_port, p.proto);
        let binding = json!({ "HostIp": p.host_ip, "HostPort": p.host_port.to_string() });
        match ports.get_mut(&key) {
            Some(Value::Array(list)) => list.push(binding),
            _ => {
                ports.insert(key, json!([binding]));
            }
        }
    }
    // Its user-defined networks, as docker's NetworkSettings.Networks.
    let mut networks = serde_json::Map::new();
    for (n, e) in crate::network::of_container(containers.store(), &s.id) {
        networks.insert(
            n.name.clone(),
            json!({
                "NetworkID": n.id,
                "EndpointID": format!("{}-{}", &n.id[..12], &s.id[..12]),
                "IPAddress": e.ip.to_string(),
                "IPPrefixLen": n.subnet().prefix,
                "Gateway": n.gateway.to_string(),
                "MacAddress": e.mac,
                "Aliases": e.aliases,
            }),
        );
    }
    let first = networks.values().next().cloned().unwrap_or(json!({}));
    let (path, args) = s
        .command
        .split_first()
        .map_or((None, &[][..]), |(p, a)| (Some(p), a));
    json!({
        "Id": s.id,
        "Created": s.created,
        "Path": path,
        "Args": args,
        "State": {
            "Status": if s.restarting && status == Status::Exited { "restarting" } else { status_word(status) },
            "Running": running,
            "Paused": paused(s),
            "Restarting": s.restarting && status == Status::Exited,
            "OOMKilled": s.oom_killed,
            "Dead": false,
            "Pid": if running { s.pid.unwrap_or(0) } else { 0 },
            "ExitCode": if status == Status::Exited { s.exit_code.unwrap_or(255) } else { 0 },
            "StartedAt": if status == Status::Created { ZERO_TIME } else { s.created.as_str() },
            "FinishedAt": s.finished.as_deref().unwrap_or(ZERO_TIME),
            "Health": containers.health(&s.id),
        },
        "Image": s.image_id.as_deref().unwrap_or_default(),
        "LogPath": if s.detached { json!(containers.log_path(&s.id)) } else { json!("") },
        "Name": format!("/{}", s.name),
        "RestartCount": s.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "HostConfig": {
            "AutoRemove": s.auto_remove,
            "Privileged": s.process.privileged,
            "PortBindings": ports,
            "RestartPolicy": s.restart,
            "LogConfig": s.log,
        },
        "NetworkSettings": {
            "Ports": ports,
            "IPAddress": first["IPAddress"].as_str().unwrap_or_default(),
            "Gateway": first["Gateway"].as_str().unwrap_or_default(),
            "MacAddress": first["MacAddress"].as_str().unwrap_or_default(),
            "Networks": networks,
        },
        "GraphDriver": { "Name": "overlay", "Data": data },
        "Config": {
            "Hostname": s.hostname,
            "User": s.process.user,
            "Env": s.process.env,
            // The entrypoint and the command are recorded as one.
            "Cmd": s.command,
            "Image": s.image,
            "WorkingDir": s.process.cwd,
            "StopSignal": s.stop_signal.as_deref().unwrap_or("SIGTERM"),
            "StopTimeout": s.stop_timeout,
            "Labels": s.labels,
            "Healthcheck": s.healthcheck,
        },
    })
}

pub fn inspect(containers: &Containers, names: &[String]) -> Result<(), Error> {
    let mut docs = Vec::new();
    // As docker: the ones found are printed, the others are errors.
    let found = each(names, |name| {
        let s = settle(containers, containers.find(name)?);
        docs.push(document(containers, &s));
        Ok(())
    });
    let text = serde_json::to_string_pretty(&Value::Array(docs)).expect("JSON");
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(out, "{text}").map_err(out_err)?;
    out.flush().map_err(out_err)?;
    found
}
