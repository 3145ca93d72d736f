//! User-defined networks on the real kernel, as root: bridges, veths,
//! nftables or iptables (each test runs with every one the host has) and
//! the DNS responder. After each case nothing may be left: no bridge,
//! veth, rule, endpoint record or responder.

use serde_json::Value;
use slipway_tests::{busybox_image, json, ok, wait_for, Env};
use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};

/// The firewalls this host has, by the name SLIPWAY_FIREWALL takes.
fn backends() -> Vec<&'static str> {
    let on_path = |p: &str| {
        ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
            .iter()
            .any(|d| std::path::Path::new(d).join(p).exists())
    };
    let mut out = Vec::new();
    if on_path("nft") {
        out.push("nft");
    }
    if on_path("iptables") && on_path("iptables-restore") {
        out.push("iptables");
    }
    assert!(
        !out.is_empty(),
        "neither nft nor iptables: scripts/test.sh installs them"
    );
    out
}

struct Net {
    env: Env,
    firewall: &'static str,
}

/// A failed test leaves no container or network running: what it made
/// is removed, by force, when it goes.
impl Drop for Net {
    fn drop(&mut self) {
        // Never a panic here: this runs while a failed test unwinds.
        let ids = self
            .cmd("container-ctl", &["ps", "-a", "-q", "--no-trunc"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for id in ids.lines() {
            let _ = self.cmd("container-ctl", &["rm", "-f", id]).output();
        }
        let _ = self
            .cmd("container-ctl", &["network", "prune", "-f"])
            .output();
    }
}

impl Net {
    fn new(firewall: &'static str) -> Net {
        let env = Env::new();
        busybox_image(&env, "bb", &[]);
        Net { env, firewall }
    }

    fn cmd(&self, tool: &str, args: &[&str]) -> Command {
        let mut c = self.env.cmd(tool);
        c.env("SLIPWAY_FIREWALL", self.firewall)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    fn ctl(&self, args: &[&str]) -> String {
        ok(self.cmd("container-ctl", args))
    }

    fn out(&self, tool: &str, args: &[&str]) -> Output {
        self.cmd(tool, args).output().expect("spawn")
    }

    /// `container-run --rm --network NET bb sh -c SCRIPT`: its stdout.
    fn client(&self, net: &str, script: &str) -> String {
        let o = self.out(
            "container-run",
            &["--rm", "--network", net, "bb", "sh", "-c", script],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// A detached busybox httpd serving PAGE, on NET; its ID.
    fn server(&self, name: &str, net: &str, page: &str, extra: &[&str]) -> String {
        let script = format!("echo {page} > /index.html; exec httpd -f -p 80 -h /");
        let mut args = vec!["-d", "--name", name, "--network", net];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["bb", "sh", "-c", &script]);
        ok(self.cmd("container-run", &args)).trim().to_string()
    }

    fn inspect_net(&self, name: &str) -> Value {
        json(&self.ctl(&["network", "inspect", name]))[0].clone()
    }

    fn create(&self, args: &[&str]) -> String {
        let mut a = vec!["network", "create"];
        a.extend_from_slice(args);
        self.ctl(&a).trim().to_string()
    }
}

/// What a network leaves on the host while in use, none of which may
/// stay once its containers are gone.
fn assert_nothing_left(net_id: &str, container_ids: &[&str]) {
    let links = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect::<Vec<_>>();
    let bridge = format!("sw{}", &net_id[..12]);
    assert!(!links.contains(&bridge), "bridge {bridge} left: {links:?}");
    for id in container_ids {
        let veth = format!("v{}", &id[..9]);
        assert!(
            !links.iter().any(|l| l.starts_with(&veth)),
            "a veth of {id} left: {links:?}"
        );
    }
    let tag = &net_id[..12];
    if let Ok(o) = Command::new("nft").args(["list", "tables"]).output() {
        let t = String::from_utf8_lossy(&o.stdout);
        assert!(!t.contains(tag), "nftables table left: {t}");
    }
    for table in ["nat", "filter"] {
        if let Ok(o) = Command::new("iptables")
            .args(["-w", "-t", table, "-S"])
            .output()
        {
            let t = String::from_utf8_lossy(&o.stdout);
            assert!(!t.contains(tag), "iptables rules left in {table}: {t}");
        }
    }
    let run = std::path::Path::new("/run/slipway/networks").join(net_id);
    assert!(!run.join("endpoints.json").exists(), "endpoints left");
    assert!(
        !run.join("dns.pid").exists(),
        "the DNS responder's record left"
    );
}

fn http_get(port: u16) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body
}

/// An A query for `name` asked of `server`:53 over TCP; the address in
/// the answer.
fn tcp_lookup(server: &str, name: &str) -> Option<std::net::Ipv4Addr> {
    use std::io::{Read, Write};
    let mut q = vec![0x42, 0x42, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for l in name.split('.') {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let mut s = std::net::TcpStream::connect((server, 53)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    let mut msg = (q.len() as u16).to_be_bytes().to_vec();
    msg.extend_from_slice(&q);
    s.write_all(&msg).ok()?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut r = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut r).ok()?;
    (r.len() >= 4 && r[..2] == [0x42, 0x42] && u16::from_be_bytes([r[6], r[7]]) == 1).then(|| {
        let a = &r[r.len() - 4..];
        std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3])
    })
}

#[test]
fn containers_on_a_network_reach_each_other_by_name_and_alias_and_leave_nothing() {
    for fw in backends() {
        let n = Net::new(fw);
        let net = n.create(&["app"]);
        let web = n.server("web", "app", "page-one", &["--network-alias", "www"]);
        // Names resolve through the network's responder; other names are
        // forwarded to the host's.
        let got = n.client("app", "wget -qO- http://web/; wget -qO- http://www/");
        assert_eq!(got, "page-one\npage-one\n", "{fw}");
        let ns = n.client("app", "cat /etc/resolv.conf");
        let gw = n.inspect_net("app")["IPAM"]["Config"][0]["Gateway"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(ns.contains(&format!("nameserver {gw}")), "{ns}");
        // Over TCP too, where resolvers ask again for long answers.
        let ip = json(&n.ctl(&["inspect", "web"]))[0]["NetworkSettings"]["Networks"]["app"]
            ["IPAddress"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(tcp_lookup(&gw, "www"), Some(ip.parse().unwrap()), "{fw}");
        // inspect lists the container with its address.
        let doc = n.inspect_net("app");
        let ep = &doc["Containers"][&web];
        assert_eq!(ep["Name"], "web", "{doc}");
        assert!(ep["IPv4Address"].as_str().unwrap().ends_with("/24"));
        let c = json(&n.ctl(&["inspect", "web"]))[0].clone();
        let on = &c["NetworkSettings"]["Networks"]["app"];
        assert_eq!(on["Gateway"], gw.as_str(), "{c}");
        assert_eq!(on["Aliases"][0], "www");
        assert_eq!(
            format!("{}/24", on["IPAddress"].as_str().unwrap()),
            ep["IPv4Address"].as_str().unwrap()
        );
        n.ctl(&["rm", "-f", "web"]);
        // Gone from DNS with the container.
        let after = n.client(
            "app",
            "nslookup web >/dev/null 2>&1 && echo found || echo gone",
        );
        assert_eq!(after, "gone\n");
        assert_eq!(n.ctl(&["network", "rm", "app"]), "app\n");
        assert_nothing_left(&net, &[&web]);
    }
}

#[test]
fn other_networks_are_fenced_off_and_an_internal_one_has_no_way_out() {
    for fw in backends() {
        let n = Net::new(fw);
        let a = n.create(&["front"]);
        let b = n.create(&["back"]);
        let i = n.create(&["--internal", "sealed"]);
        let web = n.server("web", "front", "x", &[]);
        let ip = n.inspect_net("front")["Containers"][&web]["IPv4Address"]
            .as_str()
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let probe = format!("nc -w 2 {ip} 80 </dev/null && echo reached || echo fenced");
        assert_eq!(n.client("back", &probe), "fenced\n", "{fw}");
        assert_eq!(n.client("front", &probe), "reached\n", "{fw}");
        // The internal network has no default route: the host's gateway
        // is out of reach.
        let out = n.client(
            "sealed",
            "ip route; ping -c1 -W1 1.1.1.1 >/dev/null 2>&1 && echo out || echo none",
        );
        assert!(!out.contains("default"), "{out}");
        assert!(out.ends_with("none\n"), "{out}");
        n.ctl(&["rm", "-f", "web"]);
        assert_eq!(n.ctl(&["network", "prune", "-f"]).lines().count(), 4);
        for id in [&a, &b, &i] {
            assert_nothing_left(id, &[&web]);
        }
    }
}

#[test]
fn a_published_port_reaches_a_container_on_a_network_from_the_host() {
    for fw in backends() {
        let n = Net::new(fw);
        let net = n.create(&["pub"]);
        let web = n.server("site", "pub", "from-the-host", &["-p", "80"]);
        let port = n.ctl(&["port", "site", "80/tcp"]);
        let port: u16 = port.trim().rsplit(':').next().unwrap().parse().unwrap();
        let body = wait_for(10, || {
            let b = http_get(port);
            b.contains("from-the-host").then_some(b)
        });
        assert!(body.starts_with("HTTP/1.1 200"), "{fw}: {body}");
        // From another container on the network through a host address
        // (hairpin): the answer comes back through the host, as it went.
        let gw = n.inspect_net("pub")["IPAM"]["Config"][0]["Gateway"]
            .as_str()
            .unwrap()
            .to_string();
        let got = n.client("pub", &format!("wget -qO- http://{gw}:{port}/"));
        assert_eq!(got, "from-the-host\n", "{fw}");
        n.ctl(&["rm", "-f", "site"]);
        n.ctl(&["network", "rm", "pub"]);
        assert_nothing_left(&net, &[&web]);
    }
}

#[test]
fn concurrent_starts_get_distinct_addresses() {
    let n = Net::new(backends()[0]);
    let net = n.create(&["busy"]);
    let children: Vec<_> = (0..5)
        .map(|i| {
            let name = format!("c{i}");
            n.cmd(
                "container-run",
                &[
                    "-d",
                    "--name",
                    &name,
                    "--network",
                    "busy",
                    "bb",
                    "sleep",
                    "60",
                ],
            )
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let mut ids = Vec::new();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success());
        ids.push(String::from_utf8_lossy(&o.stdout).trim().to_string());
    }
    let doc = n.inspect_net("busy");
    let mut ips: Vec<String> = doc["Containers"]
        .as_object()
        .unwrap()
        .values()
        .map(|e| e["IPv4Address"].as_str().unwrap().to_string())
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 5, "{doc}");
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut rm = vec!["rm", "-f"];
    rm.extend_from_slice(&refs);
    n.ctl(&rm);
    n.ctl(&["network", "rm", "busy"]);
    assert_nothing_left(&net, &refs);
}

#[test]
fn a_killed_monitor_leaves_nothing_once_the_container_is_removed() {
    let n = Net::new(backends()[0]);
    let net = n.create(&["crash"]);
    let id = n.server("victim", "crash", "x", &[]);
    let doc = json(&n.ctl(&["inspect", "victim"]))[0].clone();
    let pid = doc["State"]["Pid"].as_i64().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let monitor: i32 = status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: kill with integer arguments, of the container's monitor.
    unsafe { libc::kill(monitor, libc::SIGKILL) };
    n.ctl(&["rm", "-f", "victim"]);
    n.ctl(&["network", "rm", "crash"]);
    assert_nothing_left(&net, &[&id]);
}

#[test]
fn connect_shares_a_namespace_and_connect_disconnect_change_what_resolves() {
    let n = Net::new(backends()[0]);
    let a = n.create(&["one"]);
    let b = n.create(&["two"]);
    let web = n.server("web", "one", "shared", &[]);
    // --network container:web: its loopback is ours.
    let o = n.out(
        "container-run",
        &[
            "--rm",
            "--network",
            "container:web",
            "bb",
            "wget",
            "-qO-",
            "http://127.0.0.1/",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "shared\n");
    let probe = "nslookup web >/dev/null 2>&1 && wget -qO- http://web/ || echo unknown";
    assert_eq!(n.client("two", probe), "unknown\n");
    n.ctl(&["network", "connect", "--alias", "w2", "two", "web"]);
    assert_eq!(n.client("two", probe), "shared\n");
    assert_eq!(n.client("two", "wget -qO- http://w2/"), "shared\n");
    n.ctl(&["network", "disconnect", "two", "web"]);
    assert_eq!(n.client("two", probe), "unknown\n");
    // A network in use is not removed.
    let o = n.out("container-ctl", &["network", "rm", "one"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("active endpoints"));
    n.ctl(&["rm", "-f", "web"]);
    n.ctl(&["network", "rm", "one", "two"]);
    assert_nothing_left(&a, &[&web]);
    assert_nothing_left(&b, &[&web]);
}
