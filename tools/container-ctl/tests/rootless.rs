//! container-ctl on an ordinary user's rootless containers, as that user:
//! listed, their logs read, processes exec'd into them (their user
//! namespace joined first), signalled when they run as a subordinate uid,
//! stopped, committed with the owners they gave their files, and removed
//! with nothing left.

use serde_json::Value;
use slipway_tests::rootless::TestUser;
use slipway_tests::{busybox_image_layer, json, ok, wait_for};
use std::process::{Command, Stdio};

/// A user with the busybox image `bb` in its store; its containers are
/// force-removed when it goes.
struct User {
    u: TestUser,
    /// What connects the user's networks to the host, when a test says.
    connector: Option<&'static str>,
}

impl User {
    fn new() -> User {
        let u = TestUser::new(true);
        busybox_image_layer(&u.path("bb.tar"));
        let mut c = u.cmd("image-assemble");
        c.args(["-q", "-t", "bb", "bb.tar"]);
        ok(c);
        User { u, connector: None }
    }

    /// A command of the user's, with the connector the test chose.
    fn cmd(&self, tool: &str) -> Command {
        let mut c = self.u.cmd(tool);
        if let Some(n) = self.connector {
            c.env("SLIPWAY_ROOTLESS_NETWORK_CMD", n);
        }
        c
    }

    fn ctl(&self, args: &[&str]) -> Command {
        let mut c = self.cmd("container-ctl");
        c.args(args);
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        ok(self.ctl(args))
    }

    /// `container-run -d --network none --name NAME FLAGS… bb COMMAND…`.
    fn start(&self, name: &str, flags: &[&str], command: &[&str]) -> String {
        let mut c = self.u.cmd("container-run");
        c.args(["-d", "--network", "none", "--name", name])
            .args(flags)
            .arg("bb")
            .args(command);
        let id = ok(c).trim().to_string();
        assert_eq!(id.len(), 64, "{id}");
        id
    }

    fn inspect(&self, name: &str) -> Value {
        json(&self.ok(&["inspect", name]))[0].clone()
    }

    fn wait_exited(&self, name: &str) -> Value {
        wait_for(10, || {
            let doc = self.inspect(name);
            (doc["State"]["Status"] == "exited").then_some(doc)
        })
    }

    fn ids(&self) -> Vec<String> {
        std::fs::read_dir(self.u.store().join(".slipway/containers"))
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().join("state.json").exists())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// No container recorded, and (once the monitors of detached ones have
    /// exited) no process of the user's left.
    fn assert_all_gone(&self) {
        assert_eq!(self.ids(), Vec::<String>::new());
        wait_for(10, || self.u.processes().is_empty().then_some(()));
        self.u.assert_nothing_left();
    }
}

impl Drop for User {
    fn drop(&mut self) {
        for id in self.ids() {
            let _ = self.ctl(&["rm", "-f", &id]).stdin(Stdio::null()).output();
        }
    }
}

#[test]
fn a_rootless_container_is_listed_execd_signalled_committed_and_removed() {
    let u = User::new();
    u.start(
        "web",
        &["-u", "app"],
        &[
            "sh",
            "-c",
            "trap 'echo got USR1; exit 5' USR1; echo ready; echo oops >&2; while :; do sleep 0.1; done",
        ],
    );
    wait_for(10, || {
        u.ok(&["logs", "web"]).contains("ready").then_some(())
    });
    let ps = u.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with("web Up"), "{ps}");
    let logs = u.ctl(&["logs", "web"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&logs.stderr), "oops\n");

    // exec joins the container's user namespace, then the others.
    assert_eq!(
        u.ok(&["exec", "web", "id"]),
        "uid=1000(app) gid=1000(app) groups=10(wheel),29(audio)\n"
    );
    assert_eq!(
        u.ok(&[
            "exec",
            "web",
            "sh",
            "-c",
            "echo from-exec > /tmp/made; stat -c %u:%g /tmp/made; cat /proc/1/status | grep ^Uid"
        ]),
        "1000:1000\nUid:\t1000\t1000\t1000\t1000\n"
    );
    assert_eq!(u.ok(&["exec", "-u", "0", "web", "id", "-u"]), "0\n");
    let mut c = u.ctl(&["exec", "web", "sh", "-c", "exit 9"]);
    assert_eq!(c.status().unwrap().code(), Some(9));

    // The shell runs as a subordinate uid of the user: a signal reaches it
    // only from inside its namespace.
    assert_eq!(u.ok(&["kill", "-s", "USR1", "web"]), "web\n");
    let doc = u.wait_exited("web");
    assert_eq!(doc["State"]["ExitCode"], 5);
    assert!(u.ok(&["logs", "web"]).contains("got USR1"));

    // commit sees the files with the owners the container gave them.
    let digest = u.ok(&["commit", "web", "snap"]);
    assert!(digest.starts_with("sha256:"), "{digest}");
    let mut c = u.cmd("container-run");
    c.args([
        "--rm",
        "--network",
        "none",
        "snap",
        "stat",
        "-c",
        "%u:%g %n",
        "/tmp/made",
    ]);
    assert_eq!(ok(c), "1000:1000 /tmp/made\n");

    assert_eq!(u.ok(&["rm", "web"]), "web\n");
    u.assert_all_gone();
}

#[test]
fn stop_and_rm_force_end_rootless_containers() {
    let u = User::new();
    // A PID 1 without a TERM handler ignores SIGTERM: stop kills it.
    u.start("stubborn", &["-u", "app"], &["sleep", "300"]);
    u.start("forced", &[], &["sleep", "300"]);
    assert_eq!(u.ok(&["stop", "-t", "1", "stubborn"]), "stubborn\n");
    assert_eq!(u.inspect("stubborn")["State"]["ExitCode"], 137);
    // The writable layer holds files of the subordinate IDs and overlay's
    // mode-0 work dir: rm removes them from inside a user namespace.
    assert_eq!(u.ok(&["rm", "stubborn"]), "stubborn\n");
    let running = u.ctl(&["rm", "forced"]).output().unwrap();
    assert_eq!(running.status.code(), Some(1));
    assert_eq!(u.ok(&["rm", "-f", "forced"]), "forced\n");
    u.assert_all_gone();
}

#[test]
fn an_ordinary_users_network_through_slirp4netns_resolves_names_publishes_and_leaves_nothing() {
    users_network("slirp4netns");
}

#[test]
fn an_ordinary_users_network_through_pasta_resolves_names_publishes_and_leaves_nothing() {
    users_network("pasta");
}

/// Names, an alias and published ports on a user's
/// network connected to the host by `connector`; nothing of the user's
/// runs once the container and the network are gone.
fn users_network(connector: &'static str) {
    let mut u = User::new();
    u.connector = Some(connector);
    let net = u.ok(&["network", "create", "mine"]).trim().to_string();
    let mut c = u.cmd("container-run");
    c.args([
        "-d",
        "--name",
        "web",
        "--network",
        "mine",
        "--network-alias",
        "www",
        "-p",
        "80",
        "-p",
        "127.0.0.1::53/udp",
    ])
    .args([
        "bb",
        "sh",
        "-c",
        "echo users-page > /index.html; exec httpd -f -p 80 -h /",
    ]);
    ok(c);
    let mut c = u.cmd("container-run");
    c.args([
        "--rm",
        "--network",
        "mine",
        "bb",
        "wget",
        "-qO-",
        "http://www/",
    ]);
    assert_eq!(ok(c), "users-page\n");
    // Published from the host: through slirp4netns then the network's
    // DNAT, or through our proxy with pasta.
    let port = u.ok(&["port", "web", "80/tcp"]);
    let port: u16 = port.trim().rsplit(':').next().unwrap().parse().unwrap();
    let body = wait_for(10, || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
        let mut b = String::new();
        let _ = s.read_to_string(&mut b);
        b.contains("users-page").then_some(b)
    });
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    // A UDP port on a chosen address, its host port chosen free (no
    // busybox applet serves UDP: the relay itself is tested on its own).
    let udp = u.ok(&["port", "web", "53/udp"]);
    assert!(
        udp.starts_with("127.0.0.1:") && !udp.trim().ends_with(":0"),
        "{udp}"
    );
    u.ok(&["rm", "-f", "web"]);
    assert_eq!(u.ok(&["network", "rm", "mine"]), "mine\n");
    // The user's network namespace, its slirp4netns and the responder
    // are gone with the last container.
    wait_for(10, || {
        let left: Vec<_> =
            u.u.processes()
                .into_iter()
                .filter(|(pid, _)| {
                    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                        !s.rsplit_once(')')
                            .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
                    })
                })
                .collect();
        left.is_empty().then_some(())
    });
    assert!(!net.is_empty());
}
