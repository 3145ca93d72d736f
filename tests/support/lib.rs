//! Helpers for the tests that run the built binaries: where they are, a
//! fresh store per test, a busybox root filesystem as a layer, the peers
//! (skopeo, umoci, oci-image-tool) as oracles, the man page check, and
//! registries to push to and pull from (see `registry`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub use tempfile::TempDir;

pub mod http;
pub mod registry;
pub mod rootless;
pub use registry::{FaultProxy, Faults, Route, TestRegistry};

/// The directory holding the built binaries (target/debug).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/debug/deps/test-xxxx -> target/debug
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

/// A built tool. The test command builds the workspace first.
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} is not built: run `cargo build --workspace` first",
        p.display()
    );
    p
}

/// A peer program the tests use as an oracle; scripts/test.sh installs them.
pub fn peer(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/sbin", "/bin", "/usr/local/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} is not installed: run scripts/test.sh, which installs the peers");
}

/// Finds PROGRAM in PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

/// A command for a tool with the store set.
pub struct Env {
    pub dir: TempDir,
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    pub fn store(&self) -> PathBuf {
        self.path("store")
    }
    /// A tool command with `SLIPWAY_STORE` pointing at this test's store.
    pub fn cmd(&self, tool: &str) -> Command {
        let mut c = Command::new(bin(tool));
        c.env("SLIPWAY_STORE", self.store())
            .env_remove("SOURCE_DATE_EPOCH")
            .current_dir(self.dir.path());
        c
    }
}

/// Writes files (and their parent directories) below `root`.
/// Polls `f` every 20 ms until it gives a value, for up to `secs`
/// seconds (then panics): tests wait on a condition, never a fixed sleep.
pub fn wait_for<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {secs} s waiting for a condition"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// An OCI runtime bundle of the store's `image` at `dir`, as umoci
/// unpacks it (a runtime-spec config.json beside rootfs/).
pub fn umoci_bundle(env: &Env, image: &str, dir: &Path) {
    let image = format!("{}:{image}", env.store().display());
    let o = Command::new(peer("umoci"))
        .args(["unpack", "--image", &image])
        .arg(dir)
        .output()
        .expect("spawn umoci");
    assert!(o.status.success(), "umoci unpack: {o:?}");
}

pub fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (p, data) in files {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().expect("a file has a parent")).expect("mkdir");
        std::fs::write(p, data).expect("write");
    }
}

/// Runs a command, feeding `stdin`, and returns its output.
pub fn run_with_input(mut c: Command, stdin: &[u8]) -> Output {
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait");
    writer.join().expect("writer");
    out
}

/// Runs a command and insists it succeeded; returns stdout as a string.
pub fn ok(mut c: Command) -> String {
    let out = c.stdin(Stdio::null()).output().expect("spawn");
    assert!(
        out.status.success(),
        "{:?} failed ({}): {}",
        c,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Runs a command that must fail with exit 1 and exactly one stderr line
/// starting with `TOOL: error:`; returns that line.
pub fn fails(mut c: Command, tool: &str) -> String {
    let out = c.stdin(Stdio::null()).output().expect("spawn");
    assert_one_error(&out, tool)
}

pub fn assert_one_error(out: &Output, tool: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "expected exit 1, stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.contains(": warning:")).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {err}");
    assert!(lines[0].starts_with(&format!("{tool}: error: ")), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    lines[0].to_string()
}

/// The host's static busybox, which the tests use as a root filesystem.
pub fn busybox() -> PathBuf {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("busybox is not installed: run scripts/test.sh, which installs busybox-static");
}

/// Writes a minimal busybox root filesystem as an uncompressed layer tar
/// and returns its path.
pub fn busybox_layer(dir: &Path) -> PathBuf {
    let mut b = tar::Builder::new(Vec::new());
    let dirh = |path: &str, b: &mut tar::Builder<Vec<u8>>| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append_data(&mut h, path, std::io::empty())
            .expect("dir entry");
    };
    for d in ["bin/", "etc/", "tmp/", "root/"] {
        dirh(d, &mut b);
    }
    let bb = fs::read(busybox()).expect("read busybox");
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(bb.len() as u64);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    b.append_data(&mut h, "bin/busybox", &bb[..])
        .expect("busybox entry");
    for applet in ["sh", "ls", "cat", "echo", "true"] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .expect("symlink entry");
    }
    let passwd = b"root:x:0:0:root:/root:/bin/sh\n";
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(passwd.len() as u64);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    b.append_data(&mut h, "etc/passwd", &passwd[..])
        .expect("passwd entry");
    let path = dir.join("busybox.tar");
    fs::write(&path, b.into_inner().expect("tar")).expect("write layer");
    path
}

/// A busybox root filesystem with every applet linked, users root,
/// nobody and app (1000, in groups wheel and audio) and a 1777 /tmp, as
/// an image NAME in the test's store: what containers run in the tests.
pub fn busybox_image(env: &Env, name: &str, extra: &[&str]) {
    let layer = env.path(&format!("{}.tar", name.replace([':', '/'], "_")));
    busybox_image_layer(&layer);
    let mut c = env.cmd("image-assemble");
    c.arg("-t").arg(name).args(extra).arg(&layer);
    ok(c);
}

/// A test's Env with [`busybox_image`] as `bb`, and where its build
/// context goes (`ctx`, not made yet): how image-build tests start.
pub fn env_with_bb() -> (Env, PathBuf) {
    let env = Env::new();
    busybox_image(&env, "bb", &[]);
    let ctx = env.path("ctx");
    (env, ctx)
}

/// Where scripts/test.sh puts Debian's busybox-static of a foreign
/// architecture (`foreign_busybox` in scripts/lib.sh).
pub fn foreign_busybox(arch: &str) -> PathBuf {
    let p = PathBuf::from(format!(
        "/var/cache/slipway-tests/busybox-{arch}/bin/busybox"
    ));
    assert!(
        p.is_file(),
        "{} is missing: scripts/test.sh downloads Debian's busybox-static:{arch} there",
        p.display()
    );
    p
}

/// [`busybox_image`] for another architecture (arm64, …): its busybox
/// is Debian's for that architecture, its config says linux/ARCH.
pub fn foreign_busybox_image(env: &Env, name: &str, arch: &str) {
    let layer = env.path(&format!("{}.tar", name.replace([':', '/'], "_")));
    busybox_layer_of(&layer, &foreign_busybox(arch));
    let mut c = env.cmd("image-assemble");
    c.arg("-t")
        .arg(name)
        .arg("--platform")
        .arg(format!("linux/{arch}"))
        .arg(&layer);
    ok(c);
}

/// The layer of [`busybox_image`], written to `path`; every file is
/// root's.
pub fn busybox_image_layer(path: &Path) {
    busybox_layer_of(path, &busybox())
}

/// A busybox layer around the binary `bb_bin` (its applets: the host's
/// busybox's list, Debian's packages being of one version).
fn busybox_layer_of(path: &Path, bb_bin: &Path) {
    let mut b = tar::Builder::new(Vec::new());
    let entry = |b: &mut tar::Builder<Vec<u8>>,
                 path: &str,
                 kind: tar::EntryType,
                 mode: u32,
                 data: &[u8],
                 link: Option<&str>| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        match link {
            Some(l) => b.append_link(&mut h, path, l).expect("link entry"),
            None => {
                h.set_cksum();
                b.append_data(&mut h, path, data).expect("entry")
            }
        }
    };
    for (d, mode) in [
        ("bin/", 0o755),
        ("etc/", 0o755),
        ("root/", 0o700),
        ("tmp/", 0o1777),
        ("home/", 0o755),
    ] {
        entry(&mut b, d, tar::EntryType::Directory, mode, b"", None);
    }
    let bb = fs::read(bb_bin).expect("read busybox");
    entry(
        &mut b,
        "bin/busybox",
        tar::EntryType::Regular,
        0o755,
        &bb,
        None,
    );
    let list = Command::new(busybox())
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            entry(
                &mut b,
                &format!("bin/{applet}"),
                tar::EntryType::Symlink,
                0o777,
                b"",
                Some("busybox"),
            );
        }
    }
    let passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n";
    let group = "root:x:0:\nwheel:x:10:app\naudio:x:29:app\napp:x:1000:\nnogroup:x:65534:\n";
    entry(
        &mut b,
        "etc/passwd",
        tar::EntryType::Regular,
        0o644,
        passwd.as_bytes(),
        None,
    );
    entry(
        &mut b,
        "etc/group",
        tar::EntryType::Regular,
        0o644,
        group.as_bytes(),
        None,
    );
    fs::write(path, b.into_inner().expect("tar")).expect("write layer");
}

/// A layer tar holding the given files (path, contents), mode 0644.
pub fn files_layer(dir: &Path, name: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let mut b = tar::Builder::new(Vec::new());
    for (p, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append_data(&mut h, p, *data).expect("entry");
    }
    let path = dir.join(name);
    fs::write(&path, b.into_inner().expect("tar")).expect("write layer");
    path
}

/// Parses JSON output.
pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// `skopeo inspect [--config|--raw] REF` as JSON.
pub fn skopeo_inspect(args: &[&str]) -> serde_json::Value {
    let mut c = Command::new(peer("skopeo"));
    c.arg("inspect").args(args);
    json(&ok(c))
}

/// The manifest skopeo reads at `image` (`--raw`; `extra` before it, as
/// `--tls-verify=false`).
pub fn skopeo_manifest(extra: &[&str], image: &str) -> oci_spec::image::ImageManifest {
    let mut args = vec!["--raw"];
    args.extend_from_slice(extra);
    args.push(image);
    serde_json::from_value(skopeo_inspect(&args)).unwrap()
}

/// The media types of the layers of the manifest skopeo reads at `image`.
pub fn skopeo_layer_types(extra: &[&str], image: &str) -> Vec<String> {
    let m = skopeo_manifest(extra, image);
    m.layers()
        .iter()
        .map(|l| l.media_type().to_string())
        .collect()
}

/// Checks the man pages in man/ and the shell completions in
/// completions/ against the clap definition; with SLIPWAY_BLESS=1
/// rewrites them instead.
pub fn check_man_pages(cmd: clap::Command) {
    check_completions(cmd.clone());
    let man_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("man");
    let mut pages = vec![(cmd.get_name().to_string(), cmd.clone())];
    for sub in cmd.get_subcommands() {
        let name = format!("{}-{}", cmd.get_name(), sub.get_name());
        pages.push((name.clone(), sub.clone().name(name.leak() as &str)));
    }
    let bless = std::env::var_os("SLIPWAY_BLESS").is_some();
    for (name, c) in pages {
        let mut buf = Vec::new();
        clap_mangen::Man::new(c)
            .render(&mut buf)
            .expect("render man page");
        let path = man_dir.join(format!("{name}.1"));
        if bless {
            fs::write(&path, &buf).expect("write man page");
        } else {
            let have = fs::read(&path).unwrap_or_default();
            assert!(
                have == buf,
                "{} is stale: run scripts/gen-man.sh to regenerate the man pages",
                path.display()
            );
        }
    }
}

/// The bash, zsh and fish completions of a tool, as setup.sh installs
/// them: completions/bash/TOOL, completions/zsh/_TOOL,
/// completions/fish/TOOL.fish.
fn check_completions(mut cmd: clap::Command) {
    use clap_complete::Shell;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("completions");
    let name = cmd.get_name().to_string();
    let bless = std::env::var_os("SLIPWAY_BLESS").is_some();
    for (shell, file) in [
        (Shell::Bash, format!("bash/{name}")),
        (Shell::Zsh, format!("zsh/_{name}")),
        (Shell::Fish, format!("fish/{name}.fish")),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd, name.clone(), &mut buf);
        let path = dir.join(&file);
        if bless {
            fs::create_dir_all(path.parent().expect("a parent")).expect("make completions dir");
            fs::write(&path, &buf).expect("write completion");
        } else {
            let have = fs::read(&path).unwrap_or_default();
            assert!(
                have == buf,
                "{} is stale: run scripts/gen-man.sh to regenerate it",
                path.display()
            );
        }
    }
}

/// The validation step after a pipeline stage: in the OCI layout `root`,
/// the image named `name` has blobs whose sizes and digests match their
/// descriptors, and layers whose uncompressed digests are the config's
/// diff IDs. Returns the manifest digest.
pub fn validate_image(root: &Path, name: &str) -> String {
    use sha2::Digest as _;
    let sha = |bytes: &[u8]| format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)));
    let blob = |digest: &str| -> Vec<u8> {
        let hexpart = digest.strip_prefix("sha256:").expect("sha256 digest");
        let b = fs::read(root.join("blobs/sha256").join(hexpart))
            .unwrap_or_else(|e| panic!("blob {digest}: {e}"));
        assert_eq!(sha(&b), digest, "blob content matches its name");
        b
    };
    let index = json(&fs::read_to_string(root.join("index.json")).expect("index.json"));
    let entry = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name)
        .unwrap_or_else(|| panic!("{name} is not in {}", root.display()))
        .clone();
    let mdigest = entry["digest"].as_str().expect("digest").to_string();
    let mbytes = blob(&mdigest);
    assert_eq!(mbytes.len() as u64, entry["size"].as_u64().expect("size"));
    let manifest: serde_json::Value = serde_json::from_slice(&mbytes).expect("manifest JSON");
    let cdigest = manifest["config"]["digest"]
        .as_str()
        .expect("config digest");
    let cbytes = blob(cdigest);
    assert_eq!(
        cbytes.len() as u64,
        manifest["config"]["size"].as_u64().expect("size")
    );
    let config: serde_json::Value = serde_json::from_slice(&cbytes).expect("config JSON");
    let layers = manifest["layers"].as_array().expect("layers");
    let diff_ids = config["rootfs"]["diff_ids"].as_array().expect("diff_ids");
    assert_eq!(layers.len(), diff_ids.len(), "one diff ID per layer");
    for (l, want) in layers.iter().zip(diff_ids) {
        let b = blob(l["digest"].as_str().expect("layer digest"));
        assert_eq!(b.len() as u64, l["size"].as_u64().expect("size"));
        let (_, mut r) = slipway_common::compress::decompress(&b[..]).expect("decompress");
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut r, &mut plain).expect("layer decompresses");
        assert_eq!(
            sha(&plain),
            want.as_str().expect("diff id"),
            "diff ID is the uncompressed digest"
        );
    }
    mdigest
}

/// Everything a layer must reproduce about a tree, one line per path
/// (the root itself left out): type, mode, owner, size, mtime with
/// nanoseconds, content digest, symlink target, device numbers, xattrs,
/// and the link count of non-directories. Two trees are the same to a
/// layer exactly when their manifests are equal.
pub fn tree_manifest(root: &Path) -> std::collections::BTreeMap<Vec<u8>, String> {
    use sha2::Digest as _;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).expect("read_dir") {
            let e = e.expect("entry");
            let p = e.path();
            let m = fs::symlink_metadata(&p).expect("lstat");
            let ft = m.file_type();
            let rel = p
                .strip_prefix(root)
                .expect("below root")
                .as_os_str()
                .as_bytes()
                .to_vec();
            let kind = if ft.is_dir() {
                stack.push(p.clone());
                "dir".to_string()
            } else if ft.is_symlink() {
                format!(
                    "symlink->{}",
                    String::from_utf8_lossy(
                        fs::read_link(&p).expect("readlink").as_os_str().as_bytes()
                    )
                )
            } else if ft.is_file() {
                let mut h = sha2::Sha256::new();
                std::io::copy(&mut fs::File::open(&p).expect("open"), &mut h).expect("read");
                format!("file:{}", hex::encode(h.finalize()))
            } else if ft.is_char_device() || ft.is_block_device() {
                format!(
                    "dev:{}:{}",
                    if ft.is_char_device() { 'c' } else { 'b' },
                    m.rdev()
                )
            } else if ft.is_fifo() {
                "fifo".into()
            } else {
                "socket".into()
            };
            let xattrs = slipway_common::fsmeta::xattrs(&p).expect("xattrs");
            let xattrs: Vec<String> = xattrs
                .iter()
                .map(|(k, v)| format!("{}={}", String::from_utf8_lossy(k), hex::encode(v)))
                .collect();
            let nlink = if ft.is_dir() { 0 } else { m.nlink() };
            // A symlink's own mtime is kept by layers but not by every peer.
            out.insert(
                rel,
                format!(
                    "{kind} mode={:o} uid={} gid={} size={} mtime={}.{:09} nlink={nlink} xattrs=[{}]",
                    m.mode() & 0o7777,
                    m.uid(),
                    m.gid(),
                    if ft.is_dir() { 0 } else { m.len() },
                    m.mtime(),
                    m.mtime_nsec(),
                    xattrs.join(",")
                ),
            );
        }
    }
    out
}

/// Which lines differ between two manifests, for assertion messages.
pub fn manifest_diff(
    a: &std::collections::BTreeMap<Vec<u8>, String>,
    b: &std::collections::BTreeMap<Vec<u8>, String>,
) -> String {
    let mut s = String::new();
    for (k, v) in a {
        match b.get(k) {
            Some(w) if w == v => {}
            Some(w) => s.push_str(&format!(
                "{}:\n  - {v}\n  + {w}\n",
                String::from_utf8_lossy(k)
            )),
            None => s.push_str(&format!(
                "{}: only in the first\n",
                String::from_utf8_lossy(k)
            )),
        }
    }
    for k in b.keys().filter(|k| !a.contains_key(*k)) {
        s.push_str(&format!(
            "{}: only in the second\n",
            String::from_utf8_lossy(k)
        ));
    }
    s
}

/// `len` bytes that gzip cannot shrink, the same on every run (xorshift).
pub fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
