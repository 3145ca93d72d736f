//! A network's rules, in nftables (`nft`) or iptables, whichever the host
//! has (`SLIPWAY_FIREWALL=nft|iptables` chooses): outbound NAT from its
//! subnet (none when internal), published ports as DNAT from the host's
//! addresses and its loopback, and forwarding kept to the bridge (other
//! networks cannot reach it; an internal one reaches nothing else). The
//! whole set is written anew from the live endpoints on every change, in
//! one transaction (`nft -f`, `iptables-restore`), and removed with the
//! last container.

use super::endpoints::Endpoint;
use super::link::run;
use super::{Network, NetworkError};
use std::process::Command;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Nft,
    Iptables,
}

/// Whether a program is in PATH (or in the sbin dirs a user's PATH may
/// lack).
fn on_path(p: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .any(|d| d.join(p).is_file())
}

pub fn backend() -> Result<Backend, NetworkError> {
    let choice = std::env::var("SLIPWAY_FIREWALL").ok();
    match choice.as_deref() {
        Some("nft") => return Ok(Backend::Nft),
        Some("iptables") => return Ok(Backend::Iptables),
        _ => {}
    }
    if on_path("nft") {
        Ok(Backend::Nft)
    } else if on_path("iptables") && on_path("iptables-restore") {
        Ok(Backend::Iptables)
    } else {
        Err(NetworkError::Invalid(
            "networks need nftables or iptables, and neither is installed (apt install nftables)"
                .into(),
        ))
    }
}

fn table(n: &Network) -> String {
    format!("slipway_{}", &n.id[..12])
}

fn chain(kind: &str, n: &Network) -> String {
    format!("SW{kind}-{}", &n.id[..12])
}

/// The DNAT of one published port, in nft's words.
fn nft_dnat(e: &Endpoint) -> Vec<String> {
    e.ports
        .iter()
        .map(|p| {
            let dst = match p.host_ip.as_str() {
                "" | "0.0.0.0" => "fib daddr type local".to_string(),
                ip => format!("ip daddr {ip}"),
            };
            format!(
                "{dst} {} dport {} dnat to {}:{}",
                p.proto, p.host_port, e.ip, p.container_port
            )
        })
        .collect()
}

pub fn nft_script(n: &Network, eps: &[Endpoint]) -> String {
    let t = table(n);
    let br = n.bridge();
    let dnat: Vec<String> = eps.iter().flat_map(nft_dnat).collect();
    // A container reaching a published port of the network through a
    // host address (hairpin) is masqueraded, so the answer goes back
    // through the host that rewrote the request.
    let mut post = vec![
        format!("ip saddr 127.0.0.0/8 oifname \"{br}\" masquerade"),
        format!(
            "ip saddr {0} ip daddr {0} oifname \"{br}\" ct status dnat masquerade",
            n.subnet
        ),
    ];
    if !n.internal {
        post.push(format!(
            "ip saddr {} oifname != \"{br}\" masquerade",
            n.subnet
        ));
    }
    let mut fwd = vec![
        format!("iifname \"{br}\" oifname \"{br}\" accept"),
        format!("iifname \"{br}\" oifname \"sw*\" drop"),
    ];
    if n.internal {
        fwd.push(format!("iifname \"{br}\" drop"));
        fwd.push(format!("oifname \"{br}\" drop"));
    } else {
        fwd.push(format!("iifname \"{br}\" accept"));
        fwd.push(format!(
            "oifname \"{br}\" ct state established,related accept"
        ));
        fwd.push(format!("oifname \"{br}\" ct status dnat accept"));
        fwd.push(format!("oifname \"{br}\" drop"));
    }
    let body =
        |rules: &[String]| -> String { rules.iter().map(|r| format!("    {r}\n")).collect() };
    format!(
        "table ip {t}\ndelete table ip {t}\ntable ip {t} {{\n  \
         chain sw_pre {{\n    type nat hook prerouting priority dstnat; policy accept;\n{pre}  }}\n  \
         chain sw_out {{\n    type nat hook output priority -100; policy accept;\n{pre}  }}\n  \
         chain sw_post {{\n    type nat hook postrouting priority srcnat; policy accept;\n{post}  }}\n  \
         chain sw_fwd {{\n    type filter hook forward priority filter; policy accept;\n{fwd}  }}\n}}\n",
        pre = body(&dnat),
        post = body(&post),
        fwd = body(&fwd),
    )
}

/// iptables-restore input (with --noflush): the network's own chains,
/// declared (which empties them) and filled.
pub fn iptables_script(n: &Network, eps: &[Endpoint]) -> String {
    let br = n.bridge();
    let (d, s, f) = (chain("D", n), chain("S", n), chain("F", n));
    let mut out = format!("*nat\n:{d} - [0:0]\n:{s} - [0:0]\n");
    for e in eps {
        for p in &e.ports {
            let dst = match p.host_ip.as_str() {
                "" | "0.0.0.0" => String::new(),
                ip => format!("-d {ip}/32 "),
            };
            out.push_str(&format!(
                "-A {d} {dst}-p {} -m {} --dport {} -j DNAT --to-destination {}:{}\n",
                p.proto, p.proto, p.host_port, e.ip, p.container_port
            ));
        }
    }
    out.push_str(&format!("-A {s} -s 127.0.0.0/8 -o {br} -j MASQUERADE\n"));
    out.push_str(&format!(
        "-A {s} -s {0} -d {0} -o {br} -m conntrack --ctstate DNAT -j MASQUERADE\n",
        n.subnet
    ));
    if !n.internal {
        out.push_str(&format!("-A {s} -s {} ! -o {br} -j MASQUERADE\n", n.subnet));
    }
    out.push_str(&format!("COMMIT\n*filter\n:{f} - [0:0]\n"));
    out.push_str(&format!("-A {f} -i {br} -o {br} -j ACCEPT\n"));
    out.push_str(&format!("-A {f} -i {br} -o sw+ -j DROP\n"));
    if n.internal {
        out.push_str(&format!("-A {f} -i {br} -j DROP\n-A {f} -o {br} -j DROP\n"));
    } else {
        out.push_str(&format!(
            "-A {f} -i {br} -j ACCEPT\n-A {f} -o {br} -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT\n-A {f} -o {br} -j DROP\n"
        ));
    }
    out.push_str("COMMIT\n");
    out
}

/// Where each iptables chain is jumped to from.
fn iptables_jumps(n: &Network) -> Vec<(&'static str, &'static str, Vec<String>)> {
    let local = |c: String| {
        vec![
            "-m".into(),
            "addrtype".into(),
            "--dst-type".into(),
            "LOCAL".into(),
            "-j".into(),
            c,
        ]
    };
    vec![
        ("nat", "PREROUTING", local(chain("D", n))),
        ("nat", "OUTPUT", local(chain("D", n))),
        ("nat", "POSTROUTING", vec!["-j".into(), chain("S", n)]),
        ("filter", "FORWARD", vec!["-j".into(), chain("F", n)]),
    ]
}

fn iptables(args: &[&str]) -> Command {
    let mut c = super::rootless::command("iptables");
    c.arg("-w").args(args);
    c
}

/// The network's rules for these endpoints, replacing what it had.
pub fn apply(n: &Network, eps: &[Endpoint]) -> Result<(), NetworkError> {
    match backend()? {
        Backend::Nft => run(
            "write the network's nftables rules",
            super::rootless::command("nft").args(["-f", "-"]),
            Some(&nft_script(n, eps)),
        ),
        Backend::Iptables => {
            run(
                "write the network's iptables rules",
                super::rootless::command("iptables-restore").args(["-w", "--noflush"]),
                Some(&iptables_script(n, eps)),
            )?;
            for (t, from, rule) in iptables_jumps(n) {
                let rule: Vec<&str> = rule.iter().map(String::as_str).collect();
                let check = [&["-t", t, "-C", from][..], &rule].concat();
                if run("check a jump", &mut iptables(&check), None).is_err() {
                    let insert = [&["-t", t, "-I", from][..], &rule].concat();
                    run(
                        "add the network's rules to the host's",
                        &mut iptables(&insert),
                        None,
                    )?;
                }
            }
            Ok(())
        }
    }
}

/// The network's rules gone (with either backend: the host may have
/// changed since they were made).
pub fn remove(n: &Network) {
    if on_path("nft") {
        let t = table(n);
        let _ = run(
            "remove the network's nftables rules",
            super::rootless::command("nft").args(["-f", "-"]),
            Some(&format!("table ip {t}\ndelete table ip {t}\n")),
        );
    }
    if on_path("iptables") {
        for (t, from, rule) in iptables_jumps(n) {
            let rule: Vec<&str> = rule.iter().map(String::as_str).collect();
            let del = [&["-t", t, "-D", from][..], &rule].concat();
            while run("remove a jump", &mut iptables(&del), None).is_ok() {}
        }
        for (t, c) in [
            ("nat", chain("D", n)),
            ("nat", chain("S", n)),
            ("filter", chain("F", n)),
        ] {
            let _ = run("flush a chain", &mut iptables(&["-t", t, "-F", &c]), None);
            let _ = run("remove a chain", &mut iptables(&["-t", t, "-X", &c]), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::state::PortMapping;

    fn net(internal: bool) -> Network {
        Network {
            name: "app".into(),
            id: "abcdef0123456789".repeat(4),
            created: String::new(),
            driver: "bridge".into(),
            subnet: "10.89.3.0/24".into(),
            gateway: "10.89.3.1".parse().unwrap(),
            internal,
            labels: Default::default(),
        }
    }

    fn web() -> Endpoint {
        Endpoint {
            container_id: "1".repeat(64),
            name: "web".into(),
            aliases: vec![],
            ip: "10.89.3.2".parse().unwrap(),
            mac: String::new(),
            iface: "eth0".into(),
            veth: "v111".into(),
            ports: vec![PortMapping {
                host_ip: "0.0.0.0".into(),
                host_port: 8080,
                container_port: 80,
                proto: "tcp".into(),
            }],
            pid: 1,
            pid_start: None,
        }
    }

    #[test]
    fn nft_rules_nat_out_publish_and_fence_the_bridge() {
        let s = nft_script(&net(false), &[web()]);
        assert!(
            s.contains("fib daddr type local tcp dport 8080 dnat to 10.89.3.2:80"),
            "{s}"
        );
        assert!(
            s.contains("ip saddr 10.89.3.0/24 oifname != \"swabcdef012345\" masquerade"),
            "{s}"
        );
        assert!(
            s.contains("iifname \"swabcdef012345\" oifname \"sw*\" drop"),
            "{s}"
        );
        // Hairpin: without br_netfilter the answer would skip the host.
        assert!(
            s.contains("ip saddr 10.89.3.0/24 ip daddr 10.89.3.0/24 oifname \"swabcdef012345\" ct status dnat masquerade"),
            "{s}"
        );
        let internal = nft_script(&net(true), &[]);
        assert!(!internal.contains("oifname != "), "{internal}");
        assert!(
            internal.contains("iifname \"swabcdef012345\" drop"),
            "{internal}"
        );
    }

    #[test]
    fn iptables_rules_say_the_same() {
        let s = iptables_script(&net(false), &[web()]);
        assert!(s.contains("-A SWD-abcdef012345 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.89.3.2:80"), "{s}");
        assert!(
            s.contains("-A SWS-abcdef012345 -s 10.89.3.0/24 ! -o swabcdef012345 -j MASQUERADE"),
            "{s}"
        );
        assert!(
            s.contains("-A SWS-abcdef012345 -s 10.89.3.0/24 -d 10.89.3.0/24 -o swabcdef012345 -m conntrack --ctstate DNAT -j MASQUERADE"),
            "{s}"
        );
        assert!(s.ends_with("COMMIT\n"));
        assert!(!iptables_script(&net(true), &[]).contains("! -o"));
    }
}
