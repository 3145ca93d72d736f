//! container-run as an ordinary user that each test makes: the user is
//! root of a user namespace of its own with its subordinate IDs after it,
//! the root is overlayfs mounted in that namespace over layers unpacked
//! into the user's own store, and what cannot work rootless is refused in
//! one line.

use slipway_tests::rootless::TestUser;
use slipway_tests::{busybox_image_layer, ok};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::{Output, Stdio};

/// A user (with a subordinate range or not) with the busybox image `bb`
/// in its store, assembled by the user.
fn user(range: bool) -> TestUser {
    let u = TestUser::new(range);
    busybox_image_layer(&u.path("bb.tar"));
    let mut c = u.cmd("image-assemble");
    c.args(["-q", "-t", "bb", "bb.tar"]);
    ok(c);
    u
}

/// `owned`: bb with /home/app (mode 0700) and /home/app/f owned by
/// 1000:1000, as an image's non-root files are.
fn owned_image(u: &TestUser) {
    let mut b = tar::Builder::new(Vec::new());
    for (path, dir, mode, data) in [
        ("home/app/", true, 0o700, &b""[..]),
        ("home/app/f", false, 0o644, &b"app's\n"[..]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(if dir {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        h.set_mode(mode);
        h.set_uid(1000);
        h.set_gid(1000);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append_data(&mut h, path, data).unwrap();
    }
    u.write("owned.tar", &b.into_inner().unwrap());
    let mut c = u.cmd("image-assemble");
    c.args(["-q", "--base", "bb", "-t", "owned", "owned.tar"]);
    ok(c);
}

/// container-run --rm --network none FLAGS… as the user, stdin closed.
fn run(u: &TestUser, args: &[&str]) -> Output {
    let mut c = u.cmd("container-run");
    c.args(["--rm", "--network", "none"]).args(args);
    c.stdin(Stdio::null()).output().expect("spawn")
}

fn sh(u: &TestUser, flags: &[&str], image: &str, script: &str) -> Output {
    let mut args = flags.to_vec();
    args.extend([image, "sh", "-c", script]);
    run(u, &args)
}

fn sh_ok(u: &TestUser, flags: &[&str], image: &str, script: &str) -> String {
    let o = sh(u, flags, image, script);
    assert!(
        o.status.success(),
        "{script}: {} {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The one error line of a failed run, checked to be container-run's.
fn one_error(o: &Output, code: i32) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(code), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("container-run: error: "), "{err}");
    err
}

/// A uid_map or gid_map as (inside, outside, count) lines.
fn map(text: &str) -> Vec<[u64; 3]> {
    text.lines()
        .map(|l| {
            let f: Vec<u64> = l.split_whitespace().map(|x| x.parse().unwrap()).collect();
            [f[0], f[1], f[2]]
        })
        .collect()
}

/// The file `rel` in the one unpacked layer that has it.
fn in_layers(store: &Path, rel: &str) -> std::fs::Metadata {
    let dir = store.join(".slipway/layers-userns");
    std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .find_map(|e| std::fs::symlink_metadata(e.path().join(rel)).ok())
        .unwrap_or_else(|| panic!("no layer in {} has {rel}", dir.display()))
}

#[test]
fn the_user_is_root_of_a_namespace_mapping_its_ranges() {
    let u = user(true);
    let (start, count) = u.range.unwrap();
    let o = sh(
        &u,
        &[],
        "bb",
        "id; cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; echo err >&2; exit 7",
    );
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "err\n");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let (id, maps) = out.split_once('\n').unwrap();
    assert_eq!(id, "uid=0(root) gid=0(root)");
    let (uids, gids) = maps.split_once("--\n").unwrap();
    let want = |own: u32| {
        vec![
            [0, u64::from(own), 1],
            [1, u64::from(start), u64::from(count)],
        ]
    };
    assert_eq!(map(uids), want(u.uid));
    assert_eq!(map(gids), want(u.gid));
    // The command's own failures keep docker's codes.
    assert_eq!(run(&u, &["bb", "no-such-command"]).status.code(), Some(127));
    assert_eq!(run(&u, &["bb", "/etc/passwd"]).status.code(), Some(126));
    u.assert_nothing_left();
}

#[test]
fn image_files_keep_their_owners_through_the_subordinate_range() {
    let u = user(true);
    owned_image(&u);
    let out = sh_ok(
        &u,
        &["-u", "app"],
        "owned",
        "stat -c '%u:%g %a' /home/app /home/app/f; id; echo new > /home/app/new; stat -c %u:%g /home/app/new",
    );
    assert_eq!(
        out,
        "1000:1000 700\n1000:1000 644\nuid=1000(app) gid=1000(app) groups=10(wheel),29(audio)\n1000:1000\n"
    );
    // On the host, the unpacked file belongs to the subordinate uid that
    // 1000 is inside: the range's 1000th.
    let (start, _) = u.range.unwrap();
    let f = in_layers(&u.store(), "home/app/f");
    assert_eq!((f.uid(), f.gid()), (start + 999, start + 999));
    u.assert_nothing_left();
}

#[test]
fn writes_go_to_the_upper_dir_and_leave_the_layers_alone() {
    let u = user(true);
    let o = sh(
        &u,
        &["--upper", "changes"],
        "bb",
        "echo hi > /greeting; rm /etc/passwd; mkdir /made",
    );
    assert!(o.status.success(), "{o:?}");
    let upper = u.path("changes");
    assert_eq!(
        std::fs::read_to_string(upper.join("greeting")).unwrap(),
        "hi\n"
    );
    // Root inside is the user outside.
    assert_eq!(upper.join("greeting").metadata().unwrap().uid(), u.uid);
    assert!(upper.join("made").is_dir());
    // A deletion is overlay's whiteout, as layer-diff --upper reads it.
    let wh = std::fs::symlink_metadata(upper.join("etc/passwd")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    assert!(in_layers(&u.store(), "etc/passwd").is_file());
    // The next container starts from the image again.
    let out = sh_ok(&u, &[], "bb", "cat /greeting 2>&1; head -1 /etc/passwd");
    assert_eq!(
        out,
        "cat: can't open '/greeting': No such file or directory\nroot:x:0:0:root:/root:/bin/sh\n"
    );
    u.assert_nothing_left();
}

#[test]
fn read_only_root_with_the_users_volumes_and_a_tmpfs() {
    let u = user(true);
    let o = sh(&u, &["--read-only"], "bb", "touch /x");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Read-only file system"));
    let vol = u.path("vol");
    std::fs::create_dir(&vol).unwrap();
    std::os::unix::fs::chown(&vol, Some(u.uid), Some(u.gid)).unwrap();
    u.write("vol/seed", b"seeded\n");
    let rw = format!("{}:/data", vol.display());
    let ro = format!("{}:/ro:ro", vol.display());
    let out = sh_ok(
        &u,
        &["--read-only", "--tmpfs", "/t", "-v", &rw, "-v", &ro],
        "bb",
        "touch /t/ok && echo written > /data/w && cat /ro/seed && stat -c %u /data/seed; touch /ro/no 2>/dev/null || echo ro-refused",
    );
    assert_eq!(out, "seeded\n0\nro-refused\n");
    assert_eq!(std::fs::read_to_string(vol.join("w")).unwrap(), "written\n");
    assert_eq!(vol.join("w").metadata().unwrap().uid(), u.uid);
    assert!(!vol.join("no").exists());
    u.assert_nothing_left();
}

#[test]
fn a_new_named_volume_is_filled_from_the_image_rootless_too() {
    let u = user(true);
    let out = sh_ok(&u, &["-v", "etcvol:/etc"], "bb", "cat /etc/group | head -1");
    assert_eq!(out, "root:x:0:\n");
    let kept = u.store().join(".slipway/volumes/etcvol/passwd");
    assert!(kept.is_file(), "{} was not filled", kept.display());
    assert_eq!(
        kept.metadata().unwrap().uid(),
        u.uid,
        "root's file, owned as the user's"
    );
    u.assert_nothing_left();
}

#[test]
fn network_none_has_only_loopback() {
    let u = user(true);
    let out = sh_ok(&u, &[], "bb", "ip -o link | cut -d: -f2");
    assert_eq!(out, " lo\n");
    u.assert_nothing_left();
}

/// The address this host sends from: connecting a UDP socket sends
/// nothing, it only picks the route.
fn host_address() -> std::net::IpAddr {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    s.connect("192.0.2.1:9")
        .or_else(|_| s.connect("10.255.255.1:9"))
        .expect("a route off this host: the private network test needs one");
    s.local_addr().unwrap().ip()
}

#[test]
fn network_private_reaches_out_through_slirp4netns() {
    let tun = std::fs::metadata("/dev/net/tun").expect("/dev/net/tun");
    assert_eq!(
        tun.mode() & 0o666,
        0o666,
        "/dev/net/tun must be mode 0666 for rootless slirp4netns: run scripts/test.sh, which sets it as udev does"
    );
    let u = user(true);
    let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let addr = std::net::SocketAddr::new(host_address(), listener.local_addr().unwrap().port());
    // The container waits for our answer: its arrival proves the way back.
    let server = std::thread::spawn(move || {
        let (s, _) = listener.accept().ok()?;
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line).ok()?;
        (&s).write_all(format!("pong {line}").as_bytes()).ok()?;
        Some(line)
    });
    let mut c = u.cmd("container-run");
    c.args([
        "--rm",
        "bb",
        "sh",
        "-c",
        &format!(
            "ip -4 addr show tap0 | grep -o 'inet [0-9.]*'; echo ping | nc {} {}",
            addr.ip(),
            addr.port()
        ),
    ]);
    let o = c.stdin(Stdio::null()).output().unwrap();
    // Should the container not have connected, this ends the accept.
    let _ = std::net::TcpStream::connect(addr);
    let got = server.join().unwrap();
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "inet 10.0.2.100\npong ping\n"
    );
    assert_eq!(got.as_deref(), Some("ping\n"));
    u.assert_nothing_left();
}

#[test]
fn cgroup_limits_are_refused_in_one_line() {
    let u = user(true);
    for (flag, value) in [("--memory", "64m"), ("--pids-limit", "10"), ("--cpus", "1")] {
        let err = one_error(&run(&u, &[flag, value, "bb", "true"]), 125);
        assert!(
            err.starts_with(&format!("container-run: error: {flag} ")) && err.contains("rootless"),
            "{err}"
        );
        // This host's controllers are cgroup v1 (a hybrid hierarchy).
        if Path::new("/sys/fs/cgroup/memory/tasks").exists() {
            assert!(err.contains("cgroup v1"), "{err}");
        }
    }
    assert!(std::fs::read_dir(u.store().join(".slipway/containers"))
        .map(|d| d
            .flatten()
            .all(|e| e.file_name().to_string_lossy().starts_with('.')))
        .unwrap_or(true));
    u.assert_nothing_left();
}

#[test]
fn without_a_range_only_the_caller_maps() {
    let u = user(false);
    // Root's files run, as root, the user's own uid and gid.
    let out = sh_ok(&u, &[], "bb", "id -u; cat /proc/self/uid_map");
    assert_eq!(map(out.split_once('\n').unwrap().1), [[0, u.uid.into(), 1]]);
    // A file of uid 1000 in the image cannot be unpacked: nothing maps it.
    owned_image(&u);
    let err = one_error(&run(&u, &["owned", "true"]), 125);
    assert!(
        err.contains("\"home/app\" is owned by 1000:1000") && err.contains("/etc/subuid"),
        "{err}"
    );
    // Nor can the container switch to a uid that is not there.
    let err = one_error(&run(&u, &["-u", "4242", "bb", "true"]), 125);
    assert!(
        err.contains("user 4242 is not mapped") && err.contains("/etc/subuid"),
        "{err}"
    );
    let err = one_error(&run(&u, &["-u", "app", "bb", "true"]), 125);
    assert!(err.contains("need a range in /etc/subgid"), "{err}");
    u.assert_nothing_left();
}
