//! Real engines with container-runtime as their OCI runtime: podman runs,
//! execs into, stops and removes a container; buildah builds a Dockerfile
//! whose RUN steps it runs; containerd (through its runc shim) runs, execs
//! into and kills tasks. Each keeps its storage in the test's directory.

use slipway_tests::{busybox_image_layer, peer, Env};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// An engine's command line over the test's storage and our runtime.
struct Engine {
    env: Env,
    runtime: PathBuf,
}

impl Engine {
    fn new() -> Engine {
        let env = Env::new();
        let runtime = slipway_tests::bin("container-runtime");
        let e = Engine { env, runtime };
        // The busybox layer as an image of the engines' shared storage.
        let layer = e.env.path("bb.tar");
        busybox_image_layer(&layer);
        let o = e.podman(&["import", layer.to_str().unwrap(), "localhost/bb"]);
        assert!(o.status.success(), "podman import: {o:?}");
        e
    }

    fn storage(&self, c: &mut Command) {
        c.arg("--root")
            .arg(self.env.path("storage"))
            .arg("--runroot")
            .arg(self.env.path("run"))
            .args(["--storage-driver", "vfs"]);
    }

    fn podman(&self, args: &[&str]) -> Output {
        let mut c = Command::new(peer("podman"));
        self.storage(&mut c);
        c.args(["--cgroup-manager", "cgroupfs", "--events-backend", "none"])
            .arg("--runtime")
            .arg(&self.runtime)
            .args(args)
            .stdin(Stdio::null());
        c.output().expect("spawn podman")
    }

    fn podman_ok(&self, args: &[&str]) -> String {
        let o = self.podman(args);
        assert!(o.status.success(), "podman {args:?}: {o:?}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

/// This machine does not give CAP_SYS_RESOURCE, so no runtime may raise a
/// hard limit above ours: podman's defaults for these two are lowered.
const ULIMITS: &[&str] = &[
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=4096:4096",
];

#[test]
fn podman_runs_execs_stops_and_removes_containers_with_container_runtime() {
    let e = Engine::new();
    let run = [&["run", "--rm", "--network", "none"], ULIMITS].concat();
    let out = e.podman_ok(&[&run[..], &["localhost/bb", "sh", "-c", "echo hi; id -u"]].concat());
    assert_eq!(out, "hi\n0\n");

    let detached = [&["run", "-d", "--name", "d1", "--network", "none"], ULIMITS].concat();
    e.podman_ok(&[&detached[..], &["localhost/bb", "sleep", "300"]].concat());
    assert!(e
        .podman_ok(&["ps", "--format", "{{.Names}}"])
        .contains("d1"));
    let out = e.podman_ok(&["exec", "d1", "sh", "-c", "echo in $(cat /proc/1/comm)"]);
    assert_eq!(out, "in sleep\n");
    let o = e.podman(&["exec", "d1", "sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    let out = e.podman_ok(&["exec", "-u", "1000:1000", "d1", "id", "-u"]);
    assert_eq!(out, "1000\n");
    e.podman_ok(&["stop", "-t", "1", "d1"]);
    e.podman_ok(&["rm", "d1"]);
    assert_eq!(e.podman_ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn buildah_builds_run_steps_with_container_runtime() {
    let e = Engine::new();
    let ctx = e.env.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM localhost/bb\nRUN mkdir /made && echo built > /made/file\nRUN cat /made/file > /made/copy\n",
    )
    .unwrap();
    let mut c = Command::new(peer("buildah"));
    e.storage(&mut c);
    c.args(["bud", "--runtime"])
        .arg(&e.runtime)
        .args(["--network", "none", "-t", "localhost/built"])
        .arg(&ctx)
        .stdin(Stdio::null());
    let o = c.output().unwrap();
    assert!(o.status.success(), "buildah bud: {o:?}");
    // What the RUN steps made is in the image.
    let run = [&["run", "--rm", "--network", "none"], ULIMITS].concat();
    let out = e.podman_ok(&[&run[..], &["localhost/built", "cat", "/made/copy"]].concat());
    assert_eq!(out, "built\n");
}

/// A containerd of the test's own (its socket, root and state in the
/// test's directory), stopped when dropped.
struct Containerd {
    child: std::process::Child,
    socket: PathBuf,
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Containerd {
    fn start(env: &Env) -> Containerd {
        let dir = env.path("containerd");
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("containerd.sock");
        let config = dir.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = {:?}\nstate = {:?}\n[grpc]\n  address = {:?}\n",
                dir.join("root"),
                dir.join("state"),
                socket
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
        let child = Command::new(peer("containerd"))
            .arg("--config")
            .arg(&config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let c = Containerd { child, socket };
        slipway_tests::wait_for(30, || c.ctr(&["version"]).status.success().then_some(()));
        c
    }

    fn ctr(&self, args: &[&str]) -> Output {
        Command::new(peer("ctr"))
            .arg("--address")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("spawn ctr")
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.ctr(args);
        assert!(o.status.success(), "ctr {args:?}: {o:?}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

#[test]
fn containerd_runs_execs_and_kills_tasks_with_container_runtime() {
    let e = Engine::new();
    let archive = e.env.path("bb.oci.tar");
    let o = e.podman(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        archive.to_str().unwrap(),
        "localhost/bb",
    ]);
    assert!(o.status.success(), "podman save: {o:?}");
    let d = Containerd::start(&e.env);
    // Named by the archive's own ref.name annotation.
    d.ok(&["image", "import", archive.to_str().unwrap()]);
    let rt = e.runtime.to_str().unwrap();
    let out = d.ok(&[
        "run",
        "--rm",
        "--runc-binary",
        rt,
        "localhost/bb:latest",
        "t1",
        "sh",
        "-c",
        "echo hi; id -u",
    ]);
    assert_eq!(out, "hi\n0\n");

    d.ok(&[
        "run",
        "-d",
        "--runc-binary",
        rt,
        "localhost/bb:latest",
        "t2",
        "sleep",
        "300",
    ]);
    let out = d.ok(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        "t2",
        "cat",
        "/proc/1/comm",
    ]);
    assert_eq!(out, "sleep\n");
    d.ok(&["task", "kill", "-s", "KILL", "t2"]);
    slipway_tests::wait_for(10, || {
        d.ok(&["task", "ls"]).contains("STOPPED").then_some(())
    });
    d.ok(&["task", "delete", "t2"]);
    d.ok(&["container", "delete", "t2"]);
    assert!(!d.ok(&["container", "ls", "-q"]).contains("t2"));
}
