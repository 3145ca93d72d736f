//! The container's /etc/hosts and /etc/resolv.conf, as Docker writes
//! them: its own name, `--add-host` entries, and the host's resolver
//! settings unless `--dns`, `--dns-search` or `--dns-option` replace them.

use crate::config::Network;
use crate::Error;
use std::net::IpAddr;
use std::net::Ipv4Addr;

/// slirp4netns's addresses: the gateway (the host) and its DNS forwarder.
const SLIRP_GATEWAY: &str = "10.0.2.2";
const SLIRP_DNS: &str = "10.0.2.3";

/// What the user asked of the container's name files.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Names {
    /// `--add-host`: (host, address), in order.
    pub hosts: Vec<(String, String)>,
    pub dns: Vec<IpAddr>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

impl Names {
    pub fn parse(
        add_host: &[String],
        dns: &[String],
        search: &[String],
        options: &[String],
    ) -> Result<Names, Error> {
        let bad = |m: String| Error::Invalid(m);
        let mut hosts = Vec::new();
        for a in add_host {
            // HOST:IP, as Docker has always taken it, or HOST=IP (an IPv6
            // address has colons of its own).
            let (host, ip) = a
                .split_once('=')
                .or_else(|| a.split_once(':'))
                .ok_or_else(|| bad(format!("--add-host {a:?}: takes HOST:IP")))?;
            if host.is_empty() || host.contains(char::is_whitespace) {
                return Err(bad(format!("--add-host {a:?}: not a host name")));
            }
            let ip = match ip {
                // The host, as the container reaches it.
                "host-gateway" => SLIRP_GATEWAY.to_string(),
                ip => ip
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .map_err(|_| bad(format!("--add-host {a:?}: {ip:?} is not an IP address")))?
                    .to_string(),
            };
            hosts.push((host.to_string(), ip));
        }
        let dns = dns
            .iter()
            .map(|d| {
                d.parse::<IpAddr>()
                    .map_err(|_| bad(format!("--dns {d:?}: not an IP address")))
            })
            .collect::<Result<_, _>>()?;
        for s in search {
            if s.is_empty() || s.contains(char::is_whitespace) {
                return Err(bad(format!("--dns-search {s:?}: not a domain")));
            }
        }
        Ok(Names {
            hosts,
            dns,
            search: search.to_vec(),
            options: options.to_vec(),
        })
    }

    /// /etc/hosts: localhost, the container's own name, then `--add-host`.
    pub fn hosts_file(&self, hostname: &str, network: Network, own: Option<Ipv4Addr>) -> String {
        let mut hosts = String::from(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
             fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
        );
        for (host, ip) in &self.hosts {
            hosts.push_str(&format!("{ip}\t{host}\n"));
        }
        match network {
            Network::Private => hosts.push_str(&format!("10.0.2.100\t{hostname}\n")),
            Network::None => hosts.push_str(&format!("127.0.1.1\t{hostname}\n")),
            Network::Bridge => {
                if let Some(ip) = own {
                    hosts.push_str(&format!("{ip}\t{hostname}\n"));
                }
            }
            Network::Host | Network::Container => {}
        }
        hosts
    }

    /// /etc/resolv.conf from the host's: on the private network the
    /// nameserver is slirp4netns's forwarder; `--dns`, `--dns-search` and
    /// `--dns-option` replace the nameserver, search and options lines.
    pub fn resolv_conf(&self, host: &str, network: Network, dns: Option<Ipv4Addr>) -> String {
        let starts = |l: &str, w: &str| l.split_whitespace().next() == Some(w);
        let replace_ns =
            !self.dns.is_empty() || network == Network::Private || network == Network::Bridge;
        // A line goes when a flag replaces what it says.
        let replaced = |l: &str| {
            (replace_ns && starts(l, "nameserver"))
                || (!self.search.is_empty() && (starts(l, "search") || starts(l, "domain")))
                || (!self.options.is_empty() && starts(l, "options"))
        };
        let mut out: String = host
            .lines()
            .filter(|l| !replaced(l))
            .map(|l| format!("{l}\n"))
            .collect();
        if !self.search.is_empty() {
            out.push_str(&format!("search {}\n", self.search.join(" ")));
        }
        if !self.options.is_empty() {
            out.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        if !self.dns.is_empty() {
            for d in &self.dns {
                out.push_str(&format!("nameserver {d}\n"));
            }
        } else if network == Network::Private {
            out.push_str(&format!("nameserver {SLIRP_DNS}\n"));
        } else if let (Network::Bridge, Some(ns)) = (network, dns) {
            // The network's responder, on its gateway.
            out.push_str(&format!("nameserver {ns}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn add_host_takes_colon_or_equals_and_host_gateway() {
        let n = Names::parse(
            &s(&["db:10.1.2.3", "v6=fd00::1", "gw:host-gateway", "b6:[::1]"]),
            &[],
            &[],
            &[],
        )
        .unwrap();
        let hosts = n.hosts_file("c1", Network::None, None);
        assert!(hosts.contains("10.1.2.3\tdb\n"), "{hosts}");
        assert!(hosts.contains("fd00::1\tv6\n"), "{hosts}");
        assert!(hosts.contains("10.0.2.2\tgw\n"), "{hosts}");
        assert!(hosts.contains("::1\tb6\n"), "{hosts}");
        assert!(hosts.ends_with("127.0.1.1\tc1\n"), "{hosts}");
    }

    #[test]
    fn bad_names_and_addresses_are_refused() {
        assert!(Names::parse(&s(&["nocolon"]), &[], &[], &[]).is_err());
        assert!(Names::parse(&s(&["db:999.1.1.1"]), &[], &[], &[]).is_err());
        assert!(Names::parse(&s(&[":1.2.3.4"]), &[], &[], &[]).is_err());
        assert!(Names::parse(&[], &s(&["dns.example"]), &[], &[]).is_err());
        assert!(Names::parse(&[], &[], &s(&["a b"]), &[]).is_err());
    }

    #[test]
    fn dns_flags_replace_the_hosts_resolver_lines() {
        let host = "# generated\nsearch corp.example\nnameserver 192.168.1.1\noptions edns0\n";
        let n = Names::parse(
            &[],
            &s(&["9.9.9.9", "1.1.1.1"]),
            &s(&["a.example", "b.example"]),
            &s(&["ndots:2"]),
        )
        .unwrap();
        assert_eq!(
            n.resolv_conf(host, Network::Private, None),
            "# generated\nsearch a.example b.example\noptions ndots:2\nnameserver 9.9.9.9\nnameserver 1.1.1.1\n"
        );
        // Without them: the host's, with slirp4netns's forwarder on the
        // private network, as it is on the host otherwise.
        let none = Names::default();
        assert_eq!(
            none.resolv_conf(host, Network::Private, None),
            "# generated\nsearch corp.example\noptions edns0\nnameserver 10.0.2.3\n"
        );
        assert_eq!(none.resolv_conf(host, Network::Host, None), host);
    }
}
