//! container-ctl against containers that container-run started, on the
//! real kernel: every test removes its containers, and checks that no
//! process, cgroup or mount of theirs is left.

use serde_json::Value;
use slipway_tests::{busybox_image, fails, json, ok, run_with_input, wait_for, Env};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A store with the busybox image `bb`; its containers are force-removed
/// when it goes, and (unless the test failed already) checked gone.
struct Ctl {
    env: Env,
}

impl Ctl {
    fn new() -> Ctl {
        let env = Env::new();
        busybox_image(&env, "bb", &[]);
        Ctl { env }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.env.cmd("container-ctl");
        c.args(args);
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        ok(self.cmd(args))
    }

    fn output(&self, args: &[&str]) -> Output {
        self.cmd(args)
            .stdin(Stdio::null())
            .output()
            .expect("spawn container-ctl")
    }

    fn fails(&self, args: &[&str]) -> String {
        fails(self.cmd(args), "container-ctl")
    }

    /// `container-run -d --network none --name NAME [FLAGS] bb COMMAND…`;
    /// returns the ID.
    fn start(&self, name: &str, flags: &[&str], command: &[&str]) -> String {
        let mut c = self.env.cmd("container-run");
        c.args(["-d", "--network", "none", "--name", name])
            .args(flags)
            .arg("bb")
            .args(command);
        let id = ok(c).trim().to_string();
        assert_eq!(id.len(), 64, "{id}");
        id
    }

    /// A container run in the foreground and kept (no --rm); its status.
    fn run_kept(&self, name: &str, script: &str) -> i32 {
        let mut c = self.env.cmd("container-run");
        c.args([
            "--network",
            "none",
            "--name",
            name,
            "bb",
            "sh",
            "-c",
            script,
        ]);
        c.stdin(Stdio::null())
            .status()
            .expect("spawn container-run")
            .code()
            .expect("an exit code")
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

    fn containers_dir(&self) -> PathBuf {
        self.env.store().join(".slipway/containers")
    }

    fn ids(&self) -> Vec<String> {
        std::fs::read_dir(self.containers_dir())
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().join("state.json").exists())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Ctl {
    fn drop(&mut self) {
        let ids = self.ids();
        for id in &ids {
            let _ = self.output(&["rm", "-f", id]);
        }
        if std::thread::panicking() {
            return;
        }
        for id in &ids {
            assert_gone(id, &self.env.store());
        }
    }
}

/// The cgroup directories a container would have, on v1 or v2.
fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let mut out = vec![root.join("slipway").join(id)];
    if let Ok(rd) = std::fs::read_dir(root) {
        for e in rd.flatten() {
            out.push(e.path().join("slipway").join(id));
        }
    }
    out
}

/// Nothing of container `id` is left: its directory, cgroups, mounts.
fn assert_gone(id: &str, store: &Path) {
    assert!(
        !store.join(".slipway/containers").join(id).exists(),
        "container {id} is still recorded"
    );
    for d in cgroup_dirs(id) {
        assert!(!d.exists(), "{} is left", d.display());
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&store.to_string_lossy().into_owned()),
        "a mount under the store is left: {mounts}"
    );
}

fn pid_alive(pid: i64) -> bool {
    // A zombie has no namespaces left to show: count it as gone.
    Path::new(&format!("/proc/{pid}/ns/mnt")).exists()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The cells of a table line, split where docker pads (two spaces or more).
fn cells(line: &str) -> Vec<String> {
    line.split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn ps_lists_running_containers_and_with_all_the_exited_ones() {
    let c = Ctl::new();
    let web = c.start("web", &[], &["sleep", "30"]);
    assert_eq!(c.run_kept("done", "exit 3"), 3);

    let out = c.ok(&["ps"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        cells(lines[0]),
        [
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES"
        ]
    );
    assert_eq!(lines.len(), 2, "only the running one: {out}");
    let row = cells(lines[1]);
    assert_eq!(row[0], web[..12]);
    assert_eq!(row[1], "bb");
    assert_eq!(row[2], "\"sleep 30\"");
    assert!(row[4].starts_with("Up "), "{out}");
    assert_eq!(row[5], "web");

    let all = c.ok(&["ps", "-a"]);
    let done = all
        .lines()
        .find(|l| l.ends_with(" done"))
        .unwrap_or_else(|| panic!("{all}"));
    assert!(cells(done)[4].starts_with("Exited (3) "), "{all}");

    assert_eq!(c.ok(&["ps", "-q"]), format!("{}\n", &web[..12]));
    assert_eq!(c.ok(&["ps", "-q", "--no-trunc"]), format!("{web}\n"));

    let rows: Vec<Value> = c.ok(&["ps", "-a", "--json"]).lines().map(json).collect();
    assert_eq!(rows.len(), 2);
    let by_name = |n: &str| rows.iter().find(|r| r["Names"] == n).unwrap().clone();
    let (w, d) = (by_name("web"), by_name("done"));
    assert_eq!(w["ID"], web.as_str());
    assert_eq!(w["State"], "running");
    assert!(w["Pid"].as_i64().unwrap() > 0);
    assert_eq!(w["ExitCode"], Value::Null);
    assert_eq!(d["State"], "exited");
    assert_eq!(d["ExitCode"], 3);
    assert!(d["CreatedAt"].as_str().unwrap().ends_with(" +0000 UTC"));

    let mut f: Vec<String> = c
        .ok(&["ps", "-a", "--format", "{{.Names}} {{.State}} {{.Image}}"])
        .lines()
        .map(str::to_string)
        .collect();
    f.sort();
    assert_eq!(f, ["done exited bb", "web running bb"]);
    let t = c.ok(&["ps", "--format", "table {{.ID}}\\t{{.Names}}"]);
    assert_eq!(t, format!("CONTAINER ID   NAMES\n{}   web\n", &web[..12]));
    let j = json(c.ok(&["ps", "--format", "{{json .}}"]).trim());
    assert_eq!(j["Names"], "web");
    assert!(c
        .fails(&["ps", "--format", "{{.Nope}}"])
        .contains("unknown field .Nope"));
}

#[test]
fn stop_terminates_then_kills_after_the_timeout() {
    let c = Ctl::new();
    // A shell that traps TERM ends at once; a bare sleep, as PID 1 of its
    // namespace, ignores TERM and is killed when -t runs out.
    c.start(
        "polite",
        &[],
        &[
            "sh",
            "-c",
            "trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done",
        ],
    );
    c.start("stubborn", &[], &["sleep", "30"]);
    wait_for(10, || {
        c.ok(&["logs", "polite"]).contains("ready").then_some(())
    });

    // Exit code 0, not 137: SIGTERM ended it, no kill after the grace.
    assert_eq!(c.ok(&["stop", "polite"]), "polite\n");
    let doc = c.inspect("polite");
    assert_eq!(doc["State"]["Status"], "exited");
    assert_eq!(doc["State"]["ExitCode"], 0);

    let t = Instant::now();
    assert_eq!(c.ok(&["stop", "-t", "1", "stubborn"]), "stubborn\n");
    let took = t.elapsed();
    // At least the grace asked for, and well short of the default 10 s.
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(9),
        "{took:?}"
    );
    let doc = c.inspect("stubborn");
    assert_eq!(doc["State"]["Status"], "exited");
    assert_eq!(doc["State"]["ExitCode"], 137);

    // Stopping a stopped container is no error, as in docker.
    assert_eq!(c.ok(&["stop", "stubborn"]), "stubborn\n");
}

#[test]
fn stop_sends_the_images_stopsignal_and_run_or_stop_can_override_it() {
    let c = Ctl::new();
    busybox_image(&c.env, "usr1", &["--stopsignal", "SIGUSR1"]);
    // Each exits with its own status on USR1, another on TERM: which
    // signal came first shows in the exit code.
    let script = "trap 'exit 10' USR1; trap 'exit 15' TERM; trap 'exit 12' USR2; \
                  echo ready; while :; do sleep 0.1; done";
    let start = |name: &str, flags: &[&str]| {
        let mut r = c.env.cmd("container-run");
        r.args(["-d", "--network", "none", "--name", name])
            .args(flags)
            .args(["usr1", "sh", "-c", script]);
        ok(r);
        wait_for(10, || c.ok(&["logs", name]).contains("ready").then_some(()));
    };
    start("own", &[]);
    start("run-flag", &["--stop-signal", "USR2"]);
    start("stop-flag", &[]);
    assert_eq!(c.inspect("own")["Config"]["StopSignal"], "SIGUSR1");
    c.ok(&["stop", "own"]);
    assert_eq!(
        c.inspect("own")["State"]["ExitCode"],
        10,
        "the image's STOPSIGNAL"
    );
    c.ok(&["stop", "run-flag"]);
    assert_eq!(
        c.inspect("run-flag")["State"]["ExitCode"],
        12,
        "run --stop-signal"
    );
    c.ok(&["stop", "-s", "TERM", "stop-flag"]);
    assert_eq!(c.inspect("stop-flag")["State"]["ExitCode"], 15, "stop -s");
    // A signal that is none is refused when the container is made.
    let mut r = c.env.cmd("container-run");
    r.args([
        "--rm",
        "--network",
        "none",
        "--stop-signal",
        "BOGUS",
        "bb",
        "true",
    ]);
    let o = r.stdin(Stdio::null()).output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(125),
        "docker run's status for its own failure"
    );
    assert!(
        stderr(&o).contains("invalid signal: BOGUS"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn kill_sends_the_signal_it_is_given() {
    let c = Ctl::new();
    c.start(
        "k",
        &[],
        &[
            "sh",
            "-c",
            "trap 'echo got USR1; exit 5' USR1; echo ready; while :; do sleep 0.1; done",
        ],
    );
    c.start("k9", &[], &["sleep", "30"]);
    wait_for(10, || c.ok(&["logs", "k"]).contains("ready").then_some(()));
    assert_eq!(c.ok(&["kill", "-s", "SIGUSR1", "k"]), "k\n");
    let doc = c.wait_exited("k");
    assert_eq!(doc["State"]["ExitCode"], 5);
    assert!(c.ok(&["logs", "k"]).contains("got USR1"));
    assert!(c.fails(&["kill", "k"]).contains("is not running"));
    assert!(c
        .fails(&["kill", "-s", "BOGUS", "k9"])
        .contains("invalid signal"));
    // The default is KILL, and kill returns once the container is dead.
    assert_eq!(c.ok(&["kill", "k9"]), "k9\n");
    let doc = c.inspect("k9");
    assert_eq!(doc["State"]["Status"], "exited");
    assert_eq!(doc["State"]["ExitCode"], 137);
}

#[test]
fn rm_refuses_a_running_container_unless_forced_and_leaves_nothing() {
    let c = Ctl::new();
    let id = c.start("r", &[], &["sleep", "30"]);
    let pid = c.inspect("r")["State"]["Pid"].as_i64().unwrap();
    assert!(pid_alive(pid));
    assert!(
        cgroup_dirs(&id).iter().any(|d| d.exists()),
        "the container has a cgroup"
    );
    assert!(c.fails(&["rm", "r"]).contains("container is running"));
    assert!(pid_alive(pid));
    assert_eq!(c.ok(&["rm", "-f", "r"]), "r\n");
    assert!(!pid_alive(pid), "the container's process is left");
    assert_gone(&id, &c.env.store());
    assert_eq!(c.ok(&["ps", "-aq"]), "");

    // An exited one goes without -f, by a prefix of its ID.
    assert_eq!(c.run_kept("gone", "true"), 0);
    let id = c.inspect("gone")["Id"].as_str().unwrap().to_string();
    assert_eq!(c.ok(&["rm", &id[..8]]), format!("{}\n", &id[..8]));
    assert_gone(&id, &c.env.store());
}

#[test]
fn logs_split_the_streams_and_follow_ends_with_the_container() {
    let c = Ctl::new();
    c.start(
        "talk",
        &[],
        &["sh", "-c", "echo out; echo err >&2; sleep 1; echo late"],
    );
    // Returning at all is the point: -f ends with the container.
    let o = c.output(&["logs", "-f", "talk"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "out\nlate\n");
    assert_eq!(stderr(&o), "err\n");
    assert_eq!(c.inspect("talk")["State"]["Status"], "exited");

    assert_eq!(c.ok(&["logs", "--tail", "1", "talk"]), "late\n");
    for line in c.ok(&["logs", "-t", "talk"]).lines() {
        let (time, text) = line.split_once(' ').unwrap();
        assert!(
            slipway_common::time::parse_rfc3339(time).is_some(),
            "{line}"
        );
        assert!(text == "out" || text == "late", "{line}");
    }
    // A container run in the foreground has no log: its output went to
    // the terminal.
    assert_eq!(c.run_kept("fg", "true"), 0);
    assert!(c.fails(&["logs", "fg"]).contains("not run with -d"));
}

#[test]
fn inspect_shows_dockers_fields() {
    let c = Ctl::new();
    let id = c.start(
        "insp",
        &["-e", "A=1", "-w", "/tmp", "-u", "app", "-h", "box"],
        &["sleep", "30"],
    );
    let d = c.inspect("insp");
    assert_eq!(d["Id"], id.as_str());
    assert_eq!(d["Name"], "/insp");
    assert_eq!(d["Path"], "sleep");
    assert_eq!(d["Args"], serde_json::json!(["30"]));
    let s = &d["State"];
    assert_eq!(s["Status"], "running");
    assert_eq!(s["Running"], true);
    assert!(pid_alive(s["Pid"].as_i64().unwrap()));
    assert_eq!(s["ExitCode"], 0);
    assert_eq!(s["OOMKilled"], false);
    assert_eq!(s["FinishedAt"], "0001-01-01T00:00:00Z");
    let cfg = &d["Config"];
    assert_eq!(cfg["Image"], "bb");
    assert_eq!(cfg["Cmd"], serde_json::json!(["sleep", "30"]));
    assert!(cfg["Env"].as_array().unwrap().contains(&Value::from("A=1")));
    assert_eq!(cfg["WorkingDir"], "/tmp");
    assert_eq!(cfg["User"], "app");
    assert_eq!(cfg["Hostname"], "box");
    assert!(d["Image"].as_str().unwrap().starts_with("sha256:"));
    assert!(Path::new(d["LogPath"].as_str().unwrap()).is_file());
    assert!(Path::new(d["GraphDriver"]["Data"]["UpperDir"].as_str().unwrap()).is_dir());

    // The ones found are printed, the others are one error each.
    let o = c.output(&["inspect", "insp", "nosuch"]);
    let err = slipway_tests::assert_one_error(&o, "container-ctl");
    assert!(err.contains("no such container: nosuch"), "{err}");
    assert_eq!(json(&stdout(&o)).as_array().unwrap().len(), 1);
}

#[test]
fn exec_runs_a_process_as_the_containers_own() {
    let c = Ctl::new();
    let id = c.start("x", &[], &["sleep", "30"]);
    let doc = c.inspect("x");
    let pid = doc["State"]["Pid"].as_i64().unwrap();

    assert!(c
        .ok(&["exec", "x", "id"])
        .starts_with("uid=0(root) gid=0(root)"));
    assert_eq!(
        c.ok(&["exec", "x", "hostname"]).trim(),
        doc["Config"]["Hostname"]
    );
    // Its namespaces are those of the container's first process.
    let kinds = ["mnt", "pid", "uts", "ipc", "net", "cgroup", "user"];
    let inside = c.ok(&[
        "exec",
        "x",
        "sh",
        "-c",
        "for n in mnt pid uts ipc net cgroup user; do readlink /proc/self/ns/$n; done",
    ]);
    let host: Vec<String> = kinds
        .iter()
        .map(|k| {
            std::fs::read_link(format!("/proc/{pid}/ns/{k}"))
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(inside.lines().collect::<Vec<_>>(), host);
    let ours = std::fs::read_link("/proc/self/ns/pid").unwrap();
    assert_ne!(Path::new(&host[1]), ours, "the container has its own PIDs");
    // Docker's capabilities, no_new_privs and seccomp, as the container's.
    let status = c.ok(&["exec", "x", "cat", "/proc/self/status"]);
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}:")))
            .unwrap_or_else(|| panic!("{k} in {status}"))
            .trim()
            .to_string()
    };
    assert_eq!(field("CapEff"), "00000000a80425fb");
    assert_eq!(field("CapBnd"), "00000000a80425fb");
    assert_eq!(field("NoNewPrivs"), "1");
    assert_eq!(field("Seccomp"), "2");
    // In the container's cgroup (its namespace root on cgroup v2).
    let cg = c.ok(&["exec", "x", "cat", "/proc/self/cgroup"]);
    assert!(cg.contains(&id) || cg.trim() == "0::/", "{cg}");

    // -u, -w, -e; a non-root user keeps no capabilities.
    assert_eq!(
        c.ok(&[
            "exec",
            "-u",
            "app",
            "-w",
            "/tmp",
            "-e",
            "FOO=bar",
            "x",
            "sh",
            "-c",
            "echo $(id -u) $(pwd) $FOO $HOME; grep CapEff /proc/self/status",
        ]),
        "1000 /tmp bar /home/app\nCapEff:\t0000000000000000\n"
    );
    // Its exit status is ours; 127 and 126 for what cannot run.
    let o = c.output(&["exec", "x", "sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7));
    let o = c.output(&["exec", "x", "no-such-command"]);
    assert_eq!(o.status.code(), Some(127));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    assert!(stderr(&o).starts_with("container-ctl: error: "));
    let o = c.output(&["exec", "x", "/etc/passwd"]);
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
    // stdin only with -i.
    let o = run_with_input(c.cmd(&["exec", "-i", "x", "cat"]), b"typed\n");
    assert_eq!(stdout(&o), "typed\n");
    let o = run_with_input(c.cmd(&["exec", "x", "cat"]), b"typed\n");
    assert_eq!(stdout(&o), "");

    c.ok(&["stop", "-t", "0", "x"]);
    assert!(c
        .fails(&["exec", "x", "true"])
        .contains("container x is not running"));
}

#[test]
fn commit_makes_an_image_of_the_containers_changes() {
    let c = Ctl::new();
    assert_eq!(
        c.run_kept("made", "echo committed > /made; rm /etc/group"),
        0
    );
    let digest = c.ok(&[
        "commit",
        "-m",
        "made a file",
        "-c",
        "ENV X=1",
        "-c",
        r#"CMD ["cat", "/made"]"#,
        "made",
        "img:1",
    ]);
    assert!(digest.trim().starts_with("sha256:"), "{digest}");
    let run = |args: &[&str]| {
        let mut r = c.env.cmd("container-run");
        r.args(["--rm", "--network", "none"]).args(args);
        ok(r)
    };
    assert_eq!(run(&["img:1"]), "committed\n");
    assert_eq!(
        run(&["img:1", "sh", "-c", "echo $X; ls /etc/group || true"]),
        "1\n"
    );
    let mut i = c.env.cmd("image-store");
    i.args(["inspect", "img:1"]);
    let history = json(&ok(i))[0]["config"]["history"].clone();
    assert!(history
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["created_by"] == "made a file"));

    // A running container too (not paused, unlike docker).
    c.start("live", &[], &["sh", "-c", "echo live > /live; sleep 30"]);
    wait_for(10, || {
        c.output(&["exec", "live", "cat", "/live"])
            .status
            .success()
            .then_some(())
    });
    c.ok(&["commit", "live", "img:2"]);
    assert_eq!(run(&["img:2", "cat", "/live"]), "live\n");
    assert!(c
        .fails(&["commit", "-c", "RUN true", "made"])
        .contains("RUN is not a change"));
}

#[test]
fn unknown_containers_and_bad_usage_are_one_error_line() {
    let c = Ctl::new();
    for args in [
        &["stop", "nosuch"][..],
        &["kill", "nosuch"],
        &["rm", "-f", "nosuch"],
        &["logs", "nosuch"],
        &["inspect", "nosuch"],
        &["exec", "nosuch", "true"],
        &["commit", "nosuch"],
    ] {
        let e = c.fails(args);
        assert!(e.contains("no such container: nosuch"), "{args:?}: {e}");
    }
    let o = c.output(&["stop"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
}

#[test]
fn exec_gives_a_terminal_with_t_and_returns_at_once_with_d() {
    let c = Ctl::new();
    c.start("term", &[], &["sleep", "30"]);
    // -t: the command's stdio is a pty of the container's own devpts.
    let out = c.ok(&[
        "exec",
        "-t",
        "term",
        "sh",
        "-c",
        "tty; echo $TERM; test -t 1 && echo a-terminal",
    ]);
    let lines: Vec<&str> = out.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert!(lines[0].starts_with("/dev/pts/"), "{out:?}");
    assert_eq!(&lines[1..], ["xterm", "a-terminal"], "{out:?}");
    // -d: started, not waited for; it runs on inside the container.
    assert_eq!(
        c.ok(&[
            "exec",
            "-d",
            "term",
            "sh",
            "-c",
            "sleep 0.2; echo done > /tmp/bg"
        ]),
        ""
    );
    let seen = wait_for(10, || {
        let o = c.output(&["exec", "term", "cat", "/tmp/bg"]);
        o.status.success().then(|| stdout(&o))
    });
    assert_eq!(seen, "done\n");
}

#[test]
fn labels_show_in_inspect_and_cidfile_holds_the_id() {
    let t = Ctl::new();
    let cid = t.env.path("cid");
    let id = t.start(
        "lab",
        &[
            "--label",
            "tier=web",
            "-l",
            "empty",
            "--cidfile",
            cid.to_str().unwrap(),
        ],
        &["sleep", "60"],
    );
    assert_eq!(std::fs::read_to_string(&cid).unwrap(), id);
    let doc = json(&t.ok(&["inspect", "lab"]));
    let labels = &doc[0]["Config"]["Labels"];
    assert_eq!(labels["tier"], "web", "{doc}");
    assert_eq!(labels["empty"], "", "{doc}");
    // The cidfile exists: a second container may not take it.
    let mut c = t.env.cmd("container-run");
    c.args(["--rm", "--network", "none", "--cidfile"])
        .arg(&cid)
        .args(["bb", "true"]);
    let o = c.stdin(Stdio::null()).output().unwrap();
    // 125: container-run's own failure, as docker run's.
    assert_eq!(o.status.code(), Some(125));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("container-run: error: --cidfile"), "{err}");
    assert_eq!(std::fs::read_to_string(&cid).unwrap(), id, "left as it was");
    t.ok(&["rm", "-f", "lab"]);
}

#[test]
fn wait_prints_the_exit_code_once_the_container_ends() {
    let c = Ctl::new();
    c.start(
        "waited",
        &[],
        &["sh", "-c", "read x < /dev/null; sleep 0.2; exit 7"],
    );
    assert_eq!(c.ok(&["wait", "waited"]), "7\n");
    assert_eq!(c.inspect("waited")["State"]["ExitCode"], 7);
    // An ended one answers at once.
    assert_eq!(c.ok(&["wait", "waited"]), "7\n");
    assert!(c.fails(&["wait", "nosuch"]).contains("no such container"));
}

#[test]
fn pause_freezes_every_process_and_unpause_thaws_them() {
    let c = Ctl::new();
    c.start(
        "frozen",
        &[],
        &[
            "sh",
            "-c",
            "i=0; while :; do i=$((i+1)); echo $i > /n; sleep 0.02; done",
        ],
    );
    let copy = c.env.path("n");
    let count = || -> u64 {
        let _ = std::fs::remove_file(&copy);
        c.ok(&["cp", "frozen:/n", copy.to_str().unwrap()]);
        let text = std::fs::read_to_string(&copy).unwrap();
        text.trim().parse().unwrap_or(0)
    };
    wait_for(10, || (count() > 0).then_some(()));
    assert_eq!(c.ok(&["pause", "frozen"]), "frozen\n");
    assert_eq!(c.inspect("frozen")["State"]["Paused"], true);
    let ps = c.ok(&["ps", "--format", "{{.Status}}|{{.State}}"]);
    assert!(ps.contains("(Paused)|paused"), "{ps}");
    // Frozen: the count stays where it stopped, read twice across a
    // whole scheduling of the loop (it writes every 20 ms).
    let a = count();
    let cg_frozen = c.inspect("frozen")["State"]["Paused"] == true;
    assert!(cg_frozen && count() == a);
    assert!(c.fails(&["pause", "frozen"]).contains("already paused"));
    assert_eq!(c.ok(&["unpause", "frozen"]), "frozen\n");
    wait_for(10, || (count() > a).then_some(()));
    assert!(c.fails(&["unpause", "frozen"]).contains("not paused"));
    // A paused container still stops: the stop thaws it.
    c.ok(&["pause", "frozen"]);
    c.ok(&["stop", "-t", "1", "frozen"]);
    assert_eq!(c.inspect("frozen")["State"]["Status"], "exited");
}

#[test]
fn rename_changes_the_name_and_refuses_one_in_use() {
    let c = Ctl::new();
    let id = c.start("old", &[], &["sleep", "30"]);
    c.start("other", &[], &["sleep", "30"]);
    assert!(c.fails(&["rename", "old", "other"]).contains("in use"));
    c.ok(&["rename", "old", "new"]);
    assert_eq!(c.inspect("new")["Id"], id.as_str());
    assert!(c.fails(&["inspect", "old"]).contains("no such container"));
    // The runner records the end under the new name.
    c.ok(&["stop", "-t", "0", "new"]);
    assert_eq!(c.inspect("new")["State"]["Status"], "exited");
}

#[test]
fn top_shows_the_containers_processes_only() {
    let c = Ctl::new();
    c.start("busy", &[], &["sh", "-c", "sleep 1001 & sleep 1002"]);
    let top = wait_for(10, || {
        let t = c.ok(&["top", "busy"]);
        (t.contains("sleep 1001") && t.contains("sleep 1002")).then_some(t)
    });
    let lines: Vec<&str> = top.lines().collect();
    assert!(
        lines[0].contains("PID") && lines[0].contains("CMD"),
        "{top}"
    );
    // The two sleeps (sh execs the last): no host process.
    assert_eq!(lines.len(), 3, "{top}");
    let top = c.ok(&["top", "busy", "-o", "pid,comm"]);
    assert!(
        top.starts_with("    PID COMMAND") || top.contains("COMMAND"),
        "{top}"
    );
    assert_eq!(
        top.lines().filter(|l| l.ends_with("sleep")).count(),
        2,
        "{top}"
    );
    assert!(c
        .fails(&["top", "busy", "-o", "comm"])
        .contains("PID column"));
}

#[test]
fn stats_reads_the_cgroup_as_docker_stats_shows_it() {
    let c = Ctl::new();
    c.start("measured", &["-m", "64m"], &["sleep", "30"]);
    let out = c.ok(&["stats", "--no-stream"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("CONTAINER ID") && lines[0].contains("MEM USAGE / LIMIT"),
        "{out}"
    );
    let row = lines.iter().find(|l| l.contains("measured")).expect(&out);
    assert!(row.contains("/ 64MiB"), "{out}");
    let one = c.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}} {{.MemPerc}}",
        "measured",
    ]);
    let f: Vec<&str> = one.split_whitespace().collect();
    assert_eq!(&f[..2], ["measured", "1"], "{one}");
    assert!(f[2].ends_with('%'), "{one}");
}

#[test]
fn diff_lists_what_the_container_added_changed_and_deleted() {
    let c = Ctl::new();
    assert_eq!(
        c.run_kept(
            "changed",
            "echo x > /new; echo more >> /etc/passwd; rm /etc/group"
        ),
        0
    );
    let diff = c.ok(&["diff", "changed"]);
    let lines: Vec<&str> = diff.lines().collect();
    for want in ["C /etc", "C /etc/passwd", "D /etc/group", "A /new"] {
        assert!(lines.contains(&want), "{want} not in:\n{diff}");
    }
    let mut sorted = lines.clone();
    sorted.sort_by_key(|l| &l[2..]);
    assert_eq!(lines, sorted);
}

#[test]
fn cp_copies_both_ways_running_or_stopped_and_stays_inside_the_container() {
    let c = Ctl::new();
    let host = c.env.path("host");
    std::fs::create_dir_all(host.join("site/sub")).unwrap();
    std::fs::write(host.join("site/index.html"), "hello").unwrap();
    std::fs::write(host.join("site/sub/deep"), "deep").unwrap();

    // Into a running container, then read back with exec.
    c.start("live", &[], &["sh", "-c", "ln -s / /escape; sleep 30"]);
    c.ok(&["cp", host.join("site").to_str().unwrap(), "live:/srv"]);
    wait_for(10, || {
        c.output(&["exec", "live", "ls", "/escape"])
            .status
            .success()
            .then_some(())
    });
    let exec = |args: &[&str]| {
        let mut all = vec!["exec", "live"];
        all.extend(args);
        c.ok(&all)
    };
    assert_eq!(
        exec(&["cat", "/srv/index.html", "/srv/sub/deep"]),
        "hellodeep"
    );
    assert_eq!(exec(&["stat", "-c", "%u", "/srv/index.html"]), "0\n");
    // Through the container's own symlink: its / is the container's.
    let marker = format!("slipway-cp-{}", std::process::id());
    c.ok(&[
        "cp",
        host.join("site/index.html").to_str().unwrap(),
        &format!("live:/escape/tmp/{marker}"),
    ]);
    assert!(
        !Path::new("/tmp").join(&marker).exists(),
        "cp escaped the container"
    );
    assert_eq!(exec(&["cat", &format!("/tmp/{marker}")]), "hello");

    // Out of it, to a new name and into a directory.
    c.ok(&["cp", "live:/srv", host.join("back").to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(host.join("back/sub/deep")).unwrap(),
        "deep"
    );
    c.ok(&["cp", "live:/srv/index.html", host.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(host.join("index.html")).unwrap(),
        "hello"
    );

    // A tar stream in and out.
    let mut tar_in = c.cmd(&["cp", "-", "live:/tmp"]);
    tar_in.current_dir(&host);
    let tarball = Command::new("tar")
        .args(["-C", host.to_str().unwrap(), "-cf", "-", "site"])
        .output()
        .unwrap()
        .stdout;
    let o = run_with_input(tar_in, &tarball);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(exec(&["cat", "/tmp/site/sub/deep"]), "deep");
    let out = c.output(&["cp", "live:/tmp/site", "-"]);
    let listing = run_with_input(
        {
            let mut t = Command::new("tar");
            t.arg("-tf").arg("-");
            t
        },
        &out.stdout,
    );
    let names = String::from_utf8_lossy(&listing.stdout).to_string();
    assert!(names.contains("site/sub/deep"), "{names}");

    // A stopped container: its overlay is mounted for the copy.
    assert_eq!(c.run_kept("ended", "echo gone > /left"), 0);
    c.ok(&["cp", "ended:/left", host.join("left").to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(host.join("left")).unwrap(),
        "gone\n"
    );
    c.ok(&[
        "cp",
        host.join("site/index.html").to_str().unwrap(),
        "ended:/put",
    ]);
    assert!(c.ok(&["diff", "ended"]).lines().any(|l| l == "A /put"));
    assert!(c
        .fails(&["cp", "ended:/nosuch", host.to_str().unwrap()])
        .contains("/nosuch"));
}

#[test]
fn published_ports_get_random_host_ports_shown_by_port_ps_and_inspect() {
    let c = Ctl::new();
    let mut r = c.env.cmd("container-run");
    r.args([
        "-d",
        "--name",
        "web",
        "-p",
        "127.0.0.1::80",
        "-p",
        "9/udp",
        "bb",
        "sh",
        "-c",
        "mkdir /www; echo served > /www/index.html; httpd -f -p 80 -h /www",
    ]);
    ok(r);
    let ports = c.ok(&["port", "web"]);
    let tcp = ports
        .lines()
        .find_map(|l| l.strip_prefix("80/tcp -> 127.0.0.1:"))
        .expect(&ports);
    let port: u16 = tcp.parse().unwrap();
    assert!(
        ports.lines().any(|l| l.starts_with("9/udp -> 0.0.0.0:")),
        "{ports}"
    );
    assert_eq!(c.ok(&["port", "web", "80"]), format!("127.0.0.1:{port}\n"));
    assert!(c.fails(&["port", "web", "81"]).contains("no public port"));
    let ps = c.ok(&["ps", "--format", "{{.Ports}}"]);
    assert!(ps.contains(&format!("127.0.0.1:{port}->80/tcp")), "{ps}");
    let bound = &c.inspect("web")["NetworkSettings"]["Ports"]["80/tcp"][0];
    assert_eq!(bound["HostPort"], port.to_string());
    // And the port answers.
    let body = wait_for(10, || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        out.contains("served").then_some(out)
    });
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
}

#[test]
fn health_checks_run_on_schedule_and_show_in_ps_and_inspect() {
    let c = Ctl::new();
    c.start(
        "checked",
        &[
            "--health-cmd",
            "test -f /ok",
            "--health-interval",
            "100ms",
            "--health-retries",
            "2",
        ],
        &["sleep", "30"],
    );
    let status = || c.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    wait_for(20, || status().contains("(unhealthy)").then_some(()));
    c.ok(&["exec", "checked", "touch", "/ok"]);
    wait_for(20, || status().contains("(healthy)").then_some(()));
    let d = c.inspect("checked");
    let h = &d["State"]["Health"];
    assert_eq!(h["Status"], "healthy", "{h}");
    assert_eq!(h["FailingStreak"], 0);
    let log = h["Log"].as_array().unwrap();
    assert!(!log.is_empty() && log.len() <= 5, "{h}");
    assert_eq!(log.last().unwrap()["ExitCode"], 0);
    assert_eq!(
        d["Config"]["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "test -f /ok"])
    );
    assert_eq!(
        c.ok(&["ps", "-q", "--filter", "health=healthy"])
            .lines()
            .count(),
        1
    );
    c.ok(&["exec", "checked", "rm", "/ok"]);
    wait_for(20, || status().contains("(unhealthy)").then_some(()));
    assert!(
        c.inspect("checked")["State"]["Health"]["FailingStreak"]
            .as_u64()
            .unwrap()
            >= 2
    );
}

#[test]
fn the_images_healthcheck_runs_unless_turned_off() {
    let c = Ctl::new();
    let mut a = c.env.cmd("image-assemble");
    a.args([
        "--base",
        "bb",
        "-t",
        "checked",
        "--healthcheck",
        "--interval=100ms --retries=1 CMD exit 3",
    ]);
    ok(a);
    let start = |name: &str, flags: &[&str]| {
        let mut r = c.env.cmd("container-run");
        r.args(["-d", "--network", "none", "--name", name])
            .args(flags)
            .args(["checked", "sleep", "30"]);
        ok(r);
    };
    start("imaged", &[]);
    start("unchecked", &["--no-healthcheck"]);
    let h = wait_for(20, || {
        let h = c.inspect("imaged")["State"]["Health"].clone();
        (h["Status"] == "unhealthy").then_some(h)
    });
    assert_eq!(h["Log"][0]["ExitCode"], 3, "{h}");
    assert!(c.inspect("unchecked")["State"]["Health"].is_null());
    assert!(c.inspect("unchecked")["Config"]["Healthcheck"].is_null());
}

#[test]
fn logs_rotate_at_max_size_and_filter_by_time_and_none_keeps_no_log() {
    let c = Ctl::new();
    let id = c.start(
        "chatty",
        &["--log-opt", "max-size=400", "--log-opt", "max-file=3"],
        &["sh", "-c", "for i in $(seq 1 40); do echo line-$i; done"],
    );
    c.ok(&["wait", "chatty"]);
    let dir = c.containers_dir().join(&id);
    let logs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("container.log"))
        .collect();
    assert_eq!(logs.len(), 3, "max-file=3 keeps three files");
    for l in &logs {
        assert!(l.metadata().unwrap().len() <= 400 + 100, "{:?}", l.path());
    }
    // What is kept reads in order, the newest last.
    let out = c.ok(&["logs", "chatty"]);
    assert!(out.ends_with("line-40\n"), "{out}");
    let nums: Vec<u32> = out
        .lines()
        .map(|l| l.trim_start_matches("line-").parse().unwrap())
        .collect();
    assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "{out}");
    assert!(nums.len() < 40, "the oldest were rotated away: {out}");
    // Time filters.
    assert_eq!(
        c.ok(&["logs", "--since", "0", "--until", "1", "chatty"]),
        ""
    );
    assert_eq!(c.ok(&["logs", "--since", "1m", "chatty"]), out);
    assert_eq!(c.ok(&["logs", "--until", "1m", "chatty"]), "");

    c.start("quiet", &["--log-driver", "none"], &["echo", "gone"]);
    c.ok(&["wait", "quiet"]);
    assert!(c
        .fails(&["logs", "quiet"])
        .contains("does not support reading"));
    let mut bad = c.env.cmd("container-run");
    bad.args(["--log-driver", "syslog", "bb", "true"]);
    let o = bad.output().unwrap();
    // container-run's own failures are docker run's 125.
    assert_eq!(o.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--log-driver"));
}

#[test]
fn named_volumes_are_filled_from_the_image_then_listed_inspected_and_removed() {
    let c = Ctl::new();
    let run = |name: &str, script: &str| {
        let mut r = c.env.cmd("container-run");
        r.args([
            "--network",
            "none",
            "--name",
            name,
            "-v",
            "conf:/etc",
            "bb",
            "sh",
            "-c",
            script,
        ]);
        ok(r)
    };
    // First use: the empty volume gets the image's /etc, then its own.
    assert_eq!(
        run("first", "grep -c root /etc/passwd; echo mine > /etc/mine"),
        "1\n"
    );
    // Not copied again: what the first container wrote is there.
    assert_eq!(run("second", "cat /etc/mine"), "mine\n");
    let ls = c.ok(&["volume", "ls"]);
    assert!(
        ls.starts_with("DRIVER") && ls.contains("local") && ls.contains("conf"),
        "{ls}"
    );
    let doc = json(&c.ok(&["volume", "inspect", "conf"]))[0].clone();
    let mountpoint = doc["Mountpoint"].as_str().unwrap().to_string();
    assert!(Path::new(&mountpoint).join("passwd").is_file());
    assert_eq!(doc["Driver"], "local");
    // In use by a container, even a stopped one.
    assert!(c.fails(&["volume", "rm", "conf"]).contains("in use"));
    assert_eq!(
        c.ok(&["volume", "ls", "-q", "--filter", "dangling=false"]),
        "conf\n"
    );
    c.ok(&["rm", "first", "second"]);
    assert_eq!(c.ok(&["volume", "rm", "conf"]), "conf\n");
    assert!(!Path::new(&mountpoint).exists());

    c.ok(&["volume", "create", "--label", "tier=db", "kept"]);
    assert_eq!(
        c.ok(&["volume", "ls", "-q", "--filter", "label=tier=db"]),
        "kept\n"
    );
    // Without --all, prune takes only anonymous volumes: slipway has none.
    assert!(c
        .ok(&["volume", "prune", "-f"])
        .contains("Total reclaimed space: 0B"));
    let pruned = c.ok(&["volume", "prune", "-a", "-f"]);
    assert!(pruned.starts_with("Deleted Volumes:\nkept\n"), "{pruned}");
    assert_eq!(c.ok(&["volume", "ls", "-q"]), "");
    assert!(c
        .fails(&["volume", "inspect", "nosuch"])
        .contains("no such volume"));
}

#[test]
fn restart_policies_bring_a_container_back_until_told_to_stop() {
    let c = Ctl::new();
    c.start(
        "flaky",
        &["--restart", "on-failure:2"],
        &["sh", "-c", "echo run; exit 3"],
    );
    // Two restarts, then it stays down with its code.
    let d = wait_for(20, || {
        let d = c.inspect("flaky");
        (d["State"]["Status"] == "exited").then_some(d)
    });
    assert_eq!(d["RestartCount"], 2, "{d}");
    assert_eq!(d["State"]["ExitCode"], 3);
    assert_eq!(d["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(c.ok(&["logs", "flaky"]), "run\nrun\nrun\n");

    c.start(
        "always",
        &["--restart", "always"],
        &["sh", "-c", "echo up; sleep 0.2"],
    );
    wait_for(20, || {
        (c.inspect("always")["RestartCount"].as_u64() >= Some(2)).then_some(())
    });
    // Between two runs, it is Restarting, as docker ps shows it.
    wait_for(20, || {
        let all = c.ok(&["ps", "--format", "{{.Names}} {{.State}} {{.Status}}"]);
        all.lines()
            .any(|l| l.starts_with("always restarting Restarting (0)"))
            .then_some(())
    });
    // A stop is the user's: no restart after it.
    c.ok(&["stop", "-t", "1", "always"]);
    c.ok(&["wait", "always"]);
    let d = c.inspect("always");
    assert_eq!(d["State"]["Status"], "exited", "{d}");
    let mut bad = c.env.cmd("container-run");
    bad.args(["--rm", "--restart", "always", "bb", "true"]);
    let o = bad.output().unwrap();
    assert_eq!(o.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--restart"));
}

#[test]
fn containers_of_other_stores_are_listed_and_named() {
    let c = Ctl::new();
    let id = c.start("elsewhere-one", &[], &["sleep", "30"]);
    let other = Ctl::new();
    let ps = other.ok(&[
        "ps",
        "--all-stores",
        "--no-trunc",
        "--format",
        "{{.ID}} {{.Store}}",
    ]);
    let store = std::fs::canonicalize(c.env.store()).unwrap();
    assert!(
        ps.lines().any(|l| l == format!("{id} {}", store.display())),
        "{ps}"
    );
    let err = other.fails(&["inspect", "elsewhere-one"]);
    assert!(
        err.contains(&format!("--store {}", store.display())),
        "{err}"
    );
}

#[test]
fn create_records_a_container_that_start_runs_again_over_its_own_layer() {
    let c = Ctl::new();
    let mut run = c.env.cmd("container-run");
    run.args(["--create", "--network", "none", "--name", "made", "bb"])
        .args([
            "sh",
            "-c",
            "cat /seen 2>/dev/null; echo run >> /seen; exit 4",
        ]);
    let id = ok(run).trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    assert_eq!(c.inspect("made")["State"]["Status"], "created");
    assert!(c.ok(&["ps", "-a"]).contains("Created"));

    // Detached: the name is printed, the container runs and ends.
    assert_eq!(c.ok(&["start", "made"]), "made\n");
    assert_eq!(c.ok(&["wait", "made"]), "4\n");
    // Attached: its output and status are ours, and the file the first
    // run wrote is still in its writable layer.
    let out = c.output(&["start", "-a", "made"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "run\n");
    let doc = c.inspect("made");
    assert_eq!(doc["Id"], id.as_str());
    assert_eq!(doc["State"]["ExitCode"], 4);

    // The name stays taken; a running container is started as a no-op.
    let mut dup = c.env.cmd("container-run");
    dup.args(["--create", "--name", "made", "bb", "true"]);
    let out = dup.output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("already in use"), "{}", stderr(&out));
    c.start("up", &[], &["sleep", "60"]);
    assert_eq!(c.ok(&["start", "up"]), "up\n");
    assert!(c.fails(&["start", "nosuch"]).contains("no such container"));
}

#[test]
fn attach_joins_a_detached_containers_output_and_input_and_takes_its_status() {
    let c = Ctl::new();
    c.start(
        "talk",
        &["-i"],
        &[
            "sh",
            "-c",
            "while read l; do echo \"got $l\"; [ \"$l\" = quit ] && exit 3; done",
        ],
    );
    let out = run_with_input(c.cmd(&["attach", "talk"]), b"one\nquit\n");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got one\ngot quit\n");
    assert!(c
        .fails(&["attach", "talk"])
        .contains("cannot attach to a stopped container"));
}

#[test]
fn start_all_brings_back_the_containers_whose_policy_is_always() {
    let c = Ctl::new();
    c.start("keep", &["--restart", "always"], &["sleep", "60"]);
    c.start("once", &[], &["sleep", "60"]);
    c.ok(&["kill", "keep", "once"]);
    c.wait_exited("keep");
    c.wait_exited("once");
    // As after a reboot: nothing runs; the boot service's command starts
    // the one whose policy says so.
    assert_eq!(
        c.ok(&["start", "--all", "--filter", "restart-policy=always"]),
        "keep\n"
    );
    let running = c.ok(&["ps", "--format", "{{.Names}}"]);
    assert_eq!(running, "keep\n");
}

#[test]
fn a_foreground_container_is_health_checked_too() {
    let c = Ctl::new();
    let mut run = c.env.cmd("container-run");
    run.args(["--network", "none", "--name", "fg"])
        .args([
            "--health-cmd",
            "touch /checked",
            "--health-interval",
            "100ms",
        ])
        .args([
            "bb",
            "sh",
            "-c",
            "while [ ! -e /checked ]; do sleep 0.05; done",
        ])
        .stdin(Stdio::null());
    let mut child = run.spawn().unwrap();
    let status = || c.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    // The check made the file the container waits for, so it ends.
    assert!(child.wait().unwrap().success());
    let h = c.inspect("fg")["State"]["Health"].clone();
    assert_eq!(h["Log"][0]["ExitCode"], 0, "{h}");
    assert_eq!(status(), "");
}
