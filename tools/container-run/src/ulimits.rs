//! `--ulimit` and `--sysctl`, as docker run takes them, lowered to the
//! setrlimit calls and sysctl writes the container's process makes.

use crate::bundle::Rlimit;
use crate::Error;

/// Docker's names for the resources, as setrlimit numbers them.
const NAMES: &[(&str, libc::__rlimit_resource_t)] = &[
    ("as", libc::RLIMIT_AS),
    ("core", libc::RLIMIT_CORE),
    ("cpu", libc::RLIMIT_CPU),
    ("data", libc::RLIMIT_DATA),
    ("fsize", libc::RLIMIT_FSIZE),
    ("locks", libc::RLIMIT_LOCKS),
    ("memlock", libc::RLIMIT_MEMLOCK),
    ("msgqueue", libc::RLIMIT_MSGQUEUE),
    ("nice", libc::RLIMIT_NICE),
    ("nofile", libc::RLIMIT_NOFILE),
    ("nproc", libc::RLIMIT_NPROC),
    ("rss", libc::RLIMIT_RSS),
    ("rtprio", libc::RLIMIT_RTPRIO),
    ("rttime", libc::RLIMIT_RTTIME),
    ("sigpending", libc::RLIMIT_SIGPENDING),
    ("stack", libc::RLIMIT_STACK),
];

fn bad(flag: &str, value: &str, why: &str) -> Error {
    Error::Invalid(format!("{flag} {value:?}: {why}"))
}

/// `NAME=SOFT[:HARD]`; -1 is unlimited, and HARD defaults to SOFT.
pub fn parse_ulimit(s: &str) -> Result<Rlimit, Error> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| bad("--ulimit", s, "takes NAME=SOFT[:HARD]"))?;
    let resource = NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, r)| *r as i32)
        .ok_or_else(|| {
            bad(
                "--ulimit",
                s,
                "no such limit (nofile, nproc, core, memlock, stack, ...)",
            )
        })?;
    let number = |v: &str| -> Result<u64, Error> {
        match v {
            "-1" | "unlimited" => Ok(libc::RLIM_INFINITY),
            v => v
                .parse::<u64>()
                .map_err(|_| bad("--ulimit", s, "not a number")),
        }
    };
    let (soft, hard) = match value.split_once(':') {
        Some((a, b)) => (number(a)?, number(b)?),
        None => (number(value)?, number(value)?),
    };
    if soft > hard {
        return Err(bad("--ulimit", s, "the soft limit is above the hard one"));
    }
    Ok((resource, soft, hard))
}

/// `KEY=VALUE`, for a sysctl the container's own namespaces hold (its
/// network's only when it has one): the others would change the host.
pub fn parse_sysctl(s: &str, own_network: bool) -> Result<(String, String), Error> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| bad("--sysctl", s, "takes KEY=VALUE"))?;
    // Docker accepts the /proc/sys path form too.
    let key = k.trim_start_matches("/proc/sys/").replace('/', ".");
    if !crate::bundle::namespaced_sysctl(&key, own_network, 0) {
        return Err(bad(
            "--sysctl",
            s,
            "not a sysctl of the container's own namespaces (IPC, UTS, or its network's)",
        ));
    }
    Ok((key, v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulimits_take_docker_names_soft_hard_and_unlimited() {
        let n = libc::RLIMIT_NOFILE as i32;
        assert_eq!(parse_ulimit("nofile=1024:2048").unwrap(), (n, 1024, 2048));
        assert_eq!(parse_ulimit("nofile=512").unwrap(), (n, 512, 512));
        let c = libc::RLIMIT_CORE as i32;
        let inf = libc::RLIM_INFINITY;
        assert_eq!(parse_ulimit("core=-1").unwrap(), (c, inf, inf));
        for bad in ["nofile", "files=1", "nofile=x", "nofile=10:5"] {
            assert!(parse_ulimit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_the_containers_own_sysctls_are_taken() {
        assert_eq!(
            parse_sysctl("net.ipv4.ip_forward=1", true).unwrap(),
            ("net.ipv4.ip_forward".to_string(), "1".to_string())
        );
        assert_eq!(
            parse_sysctl("kernel.shmmax=1000", false).unwrap().0,
            "kernel.shmmax"
        );
        assert_eq!(
            parse_sysctl("/proc/sys/fs/mqueue/msg_max=20", false)
                .unwrap()
                .0,
            "fs.mqueue.msg_max"
        );
        assert!(parse_sysctl("net.ipv4.ip_forward=1", false).is_err());
        assert!(parse_sysctl("kernel.panic=1", true).is_err());
        assert!(parse_sysctl("vm.swappiness=1", true).is_err());
    }
}
