//! Registries for the tests: Debian's docker-registry in three set-ups
//! (anonymous; htpasswd Basic over TLS with a CA made here; token auth
//! with a small token server of our own) and a fault-injecting HTTP proxy
//! to put in front of one. Certificates, keys and token signatures come
//! from the openssl command, bcrypt hashes from htpasswd (apache2-utils):
//! scripts/test.sh installs both.

use crate::peer;
use std::collections::HashMap;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tempfile::TempDir;

/// Debian's docker-registry, serving on a free loopback port from a temp
/// directory for as long as this value lives.
pub struct TestRegistry {
    child: Child,
    /// HOST:PORT to reach it at: 127.0.0.1:PORT, or localhost:PORT over TLS.
    pub host: String,
    /// The PEM of the CA that signed the registry's certificate (TLS only).
    pub ca_file: Option<PathBuf>,
    /// A directory laid out as Docker's /etc/docker/certs.d/HOST/ (TLS only).
    pub cert_dir: Option<PathBuf>,
    token: Option<TokenServer>,
    dir: TempDir,
}

impl TestRegistry {
    /// An anonymous registry over plain HTTP on 127.0.0.1.
    pub fn start() -> TestRegistry {
        let dir = tempfile::tempdir().expect("temp dir");
        let (child, port) = serve(dir.path(), None, "");
        TestRegistry {
            child,
            host: format!("127.0.0.1:{port}"),
            ca_file: None,
            cert_dir: None,
            token: None,
            dir,
        }
    }

    /// A registry over TLS (CA made here) that wants htpasswd Basic auth of USER:PASS.
    pub fn start_tls_basic(user: &str, pass: &str) -> TestRegistry {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = Pki::new(&dir.path().join("pki"));
        let (cert, key) = pki.leaf("server", "server");
        let htpasswd = dir.path().join("htpasswd");
        let out = Command::new(peer("htpasswd"))
            // Distribution only reads bcrypt; cost 5 keeps each check fast.
            .args(["-B", "-C", "5", "-b", "-n", user, pass])
            .output()
            .expect("run htpasswd");
        assert!(
            out.status.success(),
            "htpasswd: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        fs::write(&htpasswd, &out.stdout).expect("write htpasswd");
        let auth = format!(
            "auth:\n  htpasswd:\n    realm: slipway-test\n    path: {}\n",
            yaml_path(&htpasswd)
        );
        let (child, port) = serve(dir.path(), Some((&cert, &key)), &auth);
        let host = format!("localhost:{port}");
        let cert_dir = dir.path().join("certs.d").join(&host);
        fs::create_dir_all(&cert_dir).expect("certs.d");
        fs::copy(&pki.ca_cert, cert_dir.join("ca.crt")).expect("copy ca.crt");
        TestRegistry {
            child,
            host,
            ca_file: Some(pki.ca_cert.clone()),
            cert_dir: Some(cert_dir),
            token: None,
            dir,
        }
    }

    /// A plain-HTTP registry wanting bearer tokens from our token server, which grants only USER:PASS.
    pub fn start_token(user: &str, pass: &str) -> TestRegistry {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = Pki::new(&dir.path().join("pki"));
        let (cert, key) = pki.leaf("token-signer", "signer");
        let token = TokenServer::start(user, pass, &cert, &key);
        let auth = format!(
            "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
            token.realm,
            TOKEN_SERVICE,
            TOKEN_ISSUER,
            yaml_path(&pki.ca_cert)
        );
        let (child, port) = serve(dir.path(), None, &auth);
        TestRegistry {
            child,
            host: format!("127.0.0.1:{port}"),
            ca_file: None,
            cert_dir: None,
            token: Some(token),
            dir,
        }
    }

    /// The registry's storage (its filesystem driver's root).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The base URL: http://127.0.0.1:PORT, or https://localhost:PORT over TLS.
    pub fn url(&self) -> String {
        let scheme = if self.ca_file.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.host)
    }

    /// The token server's URL, which the registry names as its realm (token set-up only).
    pub fn realm(&self) -> Option<&str> {
        self.token.as_ref().map(|t| t.realm.as_str())
    }

    /// The service name the registry expects in tokens (token set-up only).
    pub fn service(&self) -> Option<&str> {
        self.token.as_ref().map(|_| TOKEN_SERVICE)
    }

    /// How many requests the token server has answered, rejected ones included.
    pub fn token_requests(&self) -> usize {
        self.token
            .as_ref()
            .map_or(0, |t| t.state.requests.load(Ordering::SeqCst))
    }

    /// Every scope asked of the token server so far, in order.
    pub fn token_scopes(&self) -> Vec<String> {
        self.token
            .as_ref()
            .map_or_else(Vec::new, |t| t.state.scopes.lock().unwrap().clone())
    }

    /// What the registry has logged so far, for assertion messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Quotes a path for the YAML config.
fn yaml_path(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "''"))
}

/// Whether process `pid` holds the socket listening on 127.0.0.1:`port`
/// (its inode, from /proc/net/tcp, among the process's descriptors).
fn listens(pid: u32, port: u16) -> bool {
    let Ok(table) = fs::read_to_string("/proc/net/tcp") else {
        return false;
    };
    let local = format!("0100007F:{port:04X}");
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() > 9 && f[1] == local && f[3] == "0A")
        .map(|f| format!("socket:[{}]", f[9]))
        .collect();
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        fs::read_link(fd.path()).is_ok_and(|t| inodes.iter().any(|i| t.as_os_str() == i.as_str()))
    })
}

/// Writes a config and starts docker-registry on a free port; returns the
/// child and the port once it accepts connections.
fn serve(dir: &Path, tls: Option<(&Path, &Path)>, auth: &str) -> (Child, u16) {
    // The port is free when asked but not reserved: another test may take it
    // before the registry binds, so a registry that exits at once is retried.
    for _ in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: slipway-test-secret\n",
            yaml_path(&dir.join("data"))
        );
        if let Some((cert, key)) = tls {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                yaml_path(cert),
                yaml_path(key)
            ));
        }
        config.push_str(auth);
        let path = dir.join("config.yml");
        fs::write(&path, config).expect("write registry config");
        let log = fs::File::create(dir.join("registry.log")).expect("registry log");
        let mut child = Command::new(peer("docker-registry"))
            .arg("serve")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // The port answering is not enough: another test's server may
            // have taken it first, and then this registry exits.
            if listens(child.id(), port) {
                return (child, port);
            }
            if child.try_wait().expect("wait docker-registry").is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "docker-registry did not start on port {port}: {}",
                    fs::read_to_string(dir.join("registry.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!(
        "docker-registry would not start: {}",
        fs::read_to_string(dir.join("registry.log")).unwrap_or_default()
    );
}

/// A CA of the test's own, to sign the certificates the set-ups need.
struct Pki {
    dir: PathBuf,
    cnf: PathBuf,
    ca_cert: PathBuf,
    ca_key: PathBuf,
}

/// Our own openssl config, so the system's openssl.cnf cannot change the
/// extensions that Go's certificate checks look at.
const OPENSSL_CNF: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = slipway test
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
authorityKeyIdentifier = keyid
[signer]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
authorityKeyIdentifier = keyid
";

/// Runs an openssl command built by ARGS and insists it succeeded.
fn openssl(args: impl FnOnce(&mut Command) -> &mut Command) {
    let mut c = Command::new(peer("openssl"));
    args(&mut c);
    let out = c.stdin(Stdio::null()).output().expect("run openssl");
    assert!(
        out.status.success(),
        "{c:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// P-256 rather than RSA: a key takes a millisecond, not up to a second.
const NEW_KEY: [&str; 5] = [
    "-nodes",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
];

impl Pki {
    fn new(dir: &Path) -> Pki {
        fs::create_dir_all(dir).expect("pki dir");
        let cnf = dir.join("openssl.cnf");
        fs::write(&cnf, OPENSSL_CNF).expect("write openssl.cnf");
        let ca_cert = dir.join("ca.crt");
        let ca_key = dir.join("ca.key");
        openssl(|c| {
            c.args(["req", "-x509", "-new", "-days", "7", "-extensions", "ca"])
                .args(NEW_KEY)
                .args(["-subj", "/CN=slipway test CA", "-config"])
                .arg(&cnf)
                .arg("-keyout")
                .arg(&ca_key)
                .arg("-out")
                .arg(&ca_cert)
        });
        Pki {
            dir: dir.to_path_buf(),
            cnf,
            ca_cert,
            ca_key,
        }
    }

    /// A key and a certificate signed by the CA, with the extensions of
    /// SECTION in OPENSSL_CNF; returns (cert, key).
    fn leaf(&self, name: &str, section: &str) -> (PathBuf, PathBuf) {
        let key = self.dir.join(format!("{name}.key"));
        let csr = self.dir.join(format!("{name}.csr"));
        let cert = self.dir.join(format!("{name}.crt"));
        openssl(|c| {
            c.args(["req", "-new", "-subj", "/CN=localhost"])
                .args(NEW_KEY)
                .arg("-config")
                .arg(&self.cnf)
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&csr)
        });
        openssl(|c| {
            c.args(["x509", "-req", "-set_serial", "2", "-days", "7"])
                .args(["-extensions", section, "-extfile"])
                .arg(&self.cnf)
                .arg("-in")
                .arg(&csr)
                .arg("-CA")
                .arg(&self.ca_cert)
                .arg("-CAkey")
                .arg(&self.ca_key)
                .arg("-out")
                .arg(&cert)
        });
        (cert, key)
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

const TOKEN_SERVICE: &str = "slipway-test-registry";
const TOKEN_ISSUER: &str = "slipway-test-token-server";

/// The token server: what Docker Hub's auth.docker.io does, on loopback.
struct TokenServer {
    realm: String,
    state: Arc<TokenState>,
    _server: Server,
}

struct TokenState {
    /// The `Authorization` value that the right credentials give.
    basic: String,
    user: String,
    key: PathBuf,
    /// The signing certificate as base64 DER, for the JWT's x5c header.
    x5c: String,
    requests: AtomicUsize,
    scopes: Mutex<Vec<String>>,
    serial: AtomicU64,
}

impl TokenServer {
    fn start(user: &str, pass: &str, cert: &Path, key: &Path) -> TokenServer {
        let pem = fs::read_to_string(cert).expect("read signer cert");
        // A PEM body is the DER in standard base64, which is what x5c holds.
        let x5c: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let state = Arc::new(TokenState {
            basic: b64(format!("{user}:{pass}").as_bytes(), STD),
            user: user.to_string(),
            key: key.to_path_buf(),
            x5c,
            requests: AtomicUsize::new(0),
            scopes: Mutex::new(Vec::new()),
            serial: AtomicU64::new(0),
        });
        let st = state.clone();
        let server = Server::start(Arc::new(move |s: TcpStream, _: &Conns| {
            let _ = serve_token(&st, s);
        }));
        TokenServer {
            realm: format!("http://{}/token", server.addr),
            state,
            _server: server,
        }
    }
}

/// Answers one request and closes: clients open a connection per token,
/// so keep-alive would buy nothing here.
fn serve_token(st: &TokenState, s: TcpStream) -> io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut r = BufReader::new(s.try_clone()?);
    let Some(req) = read_head(&mut r)? else {
        return Ok(());
    };
    let mut w = s;
    let (path, query) = req.target().split_once('?').unwrap_or((req.target(), ""));
    if req.method() != "GET" || path != "/token" {
        return respond(&mut w, "404 Not Found", &[], b"{\"details\":\"not found\"}");
    }
    st.requests.fetch_add(1, Ordering::SeqCst);
    let mut scopes = Vec::new();
    let mut service = String::new();
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "scope" => scopes.extend(url_decode(v).split(' ').map(str::to_string)),
            "service" => service = url_decode(v),
            _ => {}
        }
    }
    scopes.retain(|s| !s.is_empty());
    st.scopes.lock().unwrap().extend(scopes.iter().cloned());
    let authed = match req.header("authorization") {
        None => false,
        Some(v) => match v.split_once(' ') {
            Some((scheme, cred))
                if scheme.eq_ignore_ascii_case("basic") && cred.trim() == st.basic =>
            {
                true
            }
            _ => {
                return respond(
                    &mut w,
                    "401 Unauthorized",
                    &["WWW-Authenticate: Basic realm=\"slipway-test\""],
                    b"{\"details\":\"incorrect username or password\"}",
                )
            }
        },
    };
    if service != TOKEN_SERVICE {
        return respond(
            &mut w,
            "400 Bad Request",
            &[],
            b"{\"details\":\"unknown service\"}",
        );
    }
    // Docker Hub gives anyone a token, anonymous ones with only what the
    // public may do; here the public may do nothing.
    let access: Vec<serde_json::Value> = if authed {
        scopes
            .iter()
            .filter_map(|s| {
                let (kind, rest) = s.split_once(':')?;
                let (name, actions) = rest.rsplit_once(':')?;
                Some(serde_json::json!({
                    "type": kind,
                    "name": name,
                    "actions": actions.split(',').filter(|a| !a.is_empty()).collect::<Vec<_>>(),
                }))
            })
            .collect()
    } else {
        Vec::new()
    };
    let now = now_secs();
    let jti = format!(
        "{}-{}-{}",
        std::process::id(),
        now,
        st.serial.fetch_add(1, Ordering::SeqCst)
    );
    let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [st.x5c]});
    let claims = serde_json::json!({
        "iss": TOKEN_ISSUER,
        "sub": if authed { st.user.as_str() } else { "" },
        "aud": TOKEN_SERVICE,
        "exp": now + 300,
        // A little back-dated so a registry whose clock reads a hair
        // behind ours does not see a token from the future.
        "nbf": now - 10,
        "iat": now,
        "jti": jti,
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes(), URL),
        b64(claims.to_string().as_bytes(), URL)
    );
    let sig = match es256_sign(&st.key, signing_input.as_bytes()) {
        Ok(sig) => sig,
        Err(e) => {
            let body = serde_json::json!({"details": format!("signing: {e}")}).to_string();
            return respond(&mut w, "500 Internal Server Error", &[], body.as_bytes());
        }
    };
    let jwt = format!("{signing_input}.{}", b64(&sig, URL));
    let body = serde_json::json!({
        "token": jwt,
        "access_token": jwt,
        "expires_in": 300,
        "issued_at": rfc3339(now),
    })
    .to_string();
    respond(&mut w, "200 OK", &[], body.as_bytes())
}

fn respond(w: &mut TcpStream, status: &str, headers: &[&str], body: &[u8]) -> io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for h in headers {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    w.write_all(&bytes)?;
    w.shutdown(Shutdown::Both)
}

/// ES256 as JWS wants it: openssl signs in DER, JWS takes r and s as two
/// 32-byte big-endian numbers back to back.
fn es256_sign(key: &Path, data: &[u8]) -> io::Result<Vec<u8>> {
    let mut child = Command::new(peer("openssl"))
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child.stdin.take().expect("stdin").write_all(data)?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(io::Error::other(
            String::from_utf8_lossy(&out.stderr).to_string(),
        ));
    }
    der_sig_to_raw(&out.stdout, 32)
        .ok_or_else(|| io::Error::other("bad DER signature from openssl"))
}

fn der_sig_to_raw(der: &[u8], width: usize) -> Option<Vec<u8>> {
    fn len(b: &[u8], i: &mut usize) -> Option<usize> {
        let first = *b.get(*i)?;
        *i += 1;
        if first < 0x80 {
            return Some(first.into());
        }
        let mut n = 0usize;
        for _ in 0..(first & 0x7f) {
            n = n << 8 | usize::from(*b.get(*i)?);
            *i += 1;
        }
        Some(n)
    }
    let mut i = 0;
    if *der.get(i)? != 0x30 {
        return None;
    }
    i += 1;
    len(der, &mut i)?;
    let mut raw = Vec::with_capacity(2 * width);
    for _ in 0..2 {
        if *der.get(i)? != 0x02 {
            return None;
        }
        i += 1;
        let n = len(der, &mut i)?;
        let int = der.get(i..i + n)?;
        i += n;
        let int = &int[int.iter().take_while(|&&b| b == 0).count()..];
        if int.len() > width {
            return None;
        }
        raw.resize(raw.len() + width - int.len(), 0);
        raw.extend_from_slice(int);
    }
    Some(raw)
}

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 with the given alphabet; padded for the standard one only, as
/// Basic auth wants padding and JWS forbids it.
fn b64(data: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
        if alphabet == STD {
            for _ in chunk.len()..3 {
                out.push('=');
            }
        }
    }
    out
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Seconds since the epoch as RFC 3339 UTC.
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Which requests a status fault answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// HEAD or GET of /v2/NAME/blobs/DIGEST.
    BlobRead,
    /// Any request under /v2/NAME/blobs/uploads/.
    BlobUpload,
    /// HEAD or GET of /v2/NAME/manifests/REF.
    ManifestRead,
    /// PUT of /v2/NAME/manifests/REF.
    ManifestPut,
    /// Any request for /v2/NAME/manifests/REF.
    Manifest,
    /// Any request at all, /v2/ included.
    Any,
}

impl Route {
    fn matches(self, method: &str, target: &str) -> bool {
        let path = target.split('?').next().unwrap_or(target);
        let upload = path.contains("/blobs/uploads");
        let blob = !upload && path.contains("/blobs/");
        let manifest = path.contains("/manifests/");
        let read = method == "GET" || method == "HEAD";
        match self {
            Route::BlobRead => blob && read,
            Route::BlobUpload => upload,
            Route::ManifestRead => manifest && read,
            Route::ManifestPut => manifest && method == "PUT",
            Route::Manifest => manifest,
            Route::Any => true,
        }
    }
}

/// The faults a FaultProxy injects, each at most once in its life.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Cut the first blob download and upload over 64 KiB halfway (a chunked upload at 64 KiB).
    pub drop_mid_blob: bool,
    /// Answer the first request of this kind with 500.
    pub status_500: Option<Route>,
    /// Answer the first request of this kind with 429 and Retry-After: 1.
    pub status_429: Option<Route>,
}

impl Faults {
    /// Every fault: both cuts, 500 on the first blob read, 429 on the first manifest request.
    pub fn all() -> Faults {
        Faults {
            drop_mid_blob: true,
            status_500: Some(Route::BlobRead),
            status_429: Some(Route::Manifest),
        }
    }
}

/// Blobs at most this big are never cut: a cut must land mid-stream.
const CUT_MIN: u64 = 64 * 1024;

/// An HTTP/1.1 proxy on 127.0.0.1 that injects faults between clients and a plain-HTTP registry.
// Host goes through untouched, so the upload Locations the registry hands
// out point back at the proxy and every upload request passes it too.
pub struct FaultProxy {
    /// HOST:PORT to reach the registry through the proxy at.
    pub host: String,
    state: Arc<ProxyState>,
    _server: Server,
}

struct ProxyState {
    upstream: String,
    faults: Faults,
    cut_download: AtomicBool,
    cut_upload: AtomicBool,
    sent_500: AtomicBool,
    sent_429: AtomicBool,
    injected: Mutex<Vec<String>>,
    requests: Mutex<Vec<String>>,
}

impl FaultProxy {
    /// Starts a proxy to UPSTREAM_HOST (HOST:PORT, plain HTTP).
    pub fn start(upstream_host: &str, faults: Faults) -> FaultProxy {
        let state = Arc::new(ProxyState {
            upstream: upstream_host.to_string(),
            faults,
            cut_download: AtomicBool::new(false),
            cut_upload: AtomicBool::new(false),
            sent_500: AtomicBool::new(false),
            sent_429: AtomicBool::new(false),
            injected: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
        });
        let st = state.clone();
        let server = Server::start(Arc::new(move |s: TcpStream, conns: &Conns| {
            let _ = proxy_connection(&st, s, conns);
        }));
        FaultProxy {
            host: server.addr.to_string(),
            state,
            _server: server,
        }
    }

    /// The faults injected so far, in order, each a line starting with
    /// "cut download ", "cut upload ", "500 " or "429 " and then METHOD TARGET.
    pub fn injected(&self) -> Vec<String> {
        self.state.injected.lock().unwrap().clone()
    }

    /// Every request seen so far as "METHOD TARGET STATUS", in order of answer.
    pub fn requests(&self) -> Vec<String> {
        self.state.requests.lock().unwrap().clone()
    }
}

fn once(flag: &AtomicBool) -> bool {
    flag.compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
}

/// Serves one client connection, request after request. Each request gets
/// a fresh upstream connection: a reused one the registry had closed while
/// idle would turn into a spurious fault of our own.
fn proxy_connection(st: &ProxyState, client: TcpStream, conns: &Conns) -> io::Result<()> {
    let mut client_r = BufReader::new(client.try_clone()?);
    let mut client_w = client;
    let log = |line: String| st.injected.lock().unwrap().push(line);
    loop {
        // Clients that try HTTPS first (skopeo, Docker) must hear at once
        // that this is plain HTTP, as the registry itself tells them.
        let first = client_r.fill_buf()?.first().copied();
        if first.is_some_and(|b| !b.is_ascii_alphanumeric() && b != b'\r' && b != b'\n') {
            client_w.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request",
            )?;
            let _ = client_w.shutdown(Shutdown::Both);
            return Ok(());
        }
        let Some(req) = read_head(&mut client_r)? else {
            return Ok(());
        };
        let method = req.method().to_string();
        let target = req.target().to_string();
        let what = format!("{method} {target}");
        let req_body = req.request_body()?;
        // Answering 100 ourselves and dropping Expect lets the body flow
        // straight through, without the proxy waiting on the registry's 100.
        if req
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        {
            client_w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let status_fault = if st
            .faults
            .status_500
            .is_some_and(|r| r.matches(&method, &target))
            && once(&st.sent_500)
        {
            Some(500)
        } else if st
            .faults
            .status_429
            .is_some_and(|r| r.matches(&method, &target))
            && once(&st.sent_429)
        {
            Some(429)
        } else {
            None
        };
        if let Some(code) = status_fault {
            forward_body(&mut client_r, &mut io::sink(), req_body, None, &mut || {
                false
            })?;
            let (reason, code_name, extra) = if code == 500 {
                ("Internal Server Error", "UNKNOWN", "")
            } else {
                ("Too Many Requests", "TOOMANYREQUESTS", "Retry-After: 1\r\n")
            };
            let body = format!(
                "{{\"errors\":[{{\"code\":\"{code_name}\",\"message\":\"injected by the test proxy\"}}]}}"
            );
            let head = format!(
                "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nDocker-Distribution-Api-Version: registry/2.0\r\n{extra}Content-Length: {}\r\n\r\n",
                body.len()
            );
            client_w.write_all(head.as_bytes())?;
            if method != "HEAD" {
                client_w.write_all(body.as_bytes())?;
            }
            log(format!("{code} {what}"));
            st.requests.lock().unwrap().push(format!("{what} {code}"));
            continue;
        }

        let upstream = TcpStream::connect(&st.upstream)?;
        let _tracked = conns.track(&upstream);
        let mut up_r = BufReader::new(upstream.try_clone()?);
        let mut up_w = upstream;
        up_w.write_all(&req.to_bytes(&["expect"]))?;
        let is_upload =
            Route::BlobUpload.matches(&method, &target) && (method == "PUT" || method == "PATCH");
        let cut_at = match req_body {
            _ if !(st.faults.drop_mid_blob && is_upload) => None,
            Body::Length(n) if n > CUT_MIN => Some(n / 2),
            Body::Chunked => Some(CUT_MIN),
            _ => None,
        };
        let sent = forward_body(&mut client_r, &mut up_w, req_body, cut_at, &mut || {
            once(&st.cut_upload)
        })?;
        if let Forwarded::Cut(n) = sent {
            log(format!("cut upload {what} after {n} bytes"));
            st.requests.lock().unwrap().push(format!("{what} cut"));
            let _ = up_w.shutdown(Shutdown::Both);
            let _ = client_w.shutdown(Shutdown::Both);
            return Ok(());
        }

        let resp = loop {
            let Some(resp) = read_head(&mut up_r)? else {
                return Err(io::ErrorKind::UnexpectedEof.into());
            };
            // Informational answers go through and the real one follows.
            if resp.status() / 100 == 1 && resp.status() != 101 {
                client_w.write_all(&resp.to_bytes(&[]))?;
                continue;
            }
            break resp;
        };
        let status = resp.status();
        let resp_body = resp.response_body(&method)?;
        client_w.write_all(&resp.to_bytes(&[]))?;
        let cut_at = match resp_body {
            Body::Length(n)
                if st.faults.drop_mid_blob
                    && method == "GET"
                    && status == 200
                    && Route::BlobRead.matches(&method, &target)
                    && n > CUT_MIN =>
            {
                Some(n / 2)
            }
            _ => None,
        };
        let sent = forward_body(&mut up_r, &mut client_w, resp_body, cut_at, &mut || {
            once(&st.cut_download)
        })?;
        if let Forwarded::Cut(n) = sent {
            log(format!("cut download {what} after {n} bytes"));
            st.requests
                .lock()
                .unwrap()
                .push(format!("{what} {status} cut"));
            let _ = client_w.shutdown(Shutdown::Both);
            return Ok(());
        }
        st.requests.lock().unwrap().push(format!("{what} {status}"));
        let closing = resp
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
            || req
                .header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"))
            || matches!(resp_body, Body::UntilClose);
        if closing {
            let _ = client_w.shutdown(Shutdown::Both);
            return Ok(());
        }
    }
}

/// A request's or response's head: its first line and its headers.
struct Head {
    start: String,
    headers: Vec<(String, String)>,
}

/// How a message's body is framed.
#[derive(Clone, Copy, Debug)]
enum Body {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

enum Forwarded {
    Complete,
    Cut(u64),
}

impl Head {
    fn method(&self) -> &str {
        self.start.split(' ').next().unwrap_or("")
    }
    fn target(&self) -> &str {
        self.start.split(' ').nth(1).unwrap_or("")
    }
    fn status(&self) -> u16 {
        self.start
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn framing(&self) -> io::Result<Option<Body>> {
        if self
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
        {
            return Ok(Some(Body::Chunked));
        }
        match self.header("content-length") {
            Some(v) => v
                .trim()
                .parse()
                .map(|n| Some(Body::Length(n)))
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad Content-Length")),
            None => Ok(None),
        }
    }
    fn request_body(&self) -> io::Result<Body> {
        Ok(self.framing()?.unwrap_or(Body::None))
    }
    fn response_body(&self, method: &str) -> io::Result<Body> {
        let s = self.status();
        if method == "HEAD" || s / 100 == 1 || s == 204 || s == 304 {
            return Ok(Body::None);
        }
        Ok(self.framing()?.unwrap_or(Body::UntilClose))
    }
    fn to_bytes(&self, leave_out: &[&str]) -> Vec<u8> {
        let mut s = format!("{}\r\n", self.start);
        for (k, v) in &self.headers {
            if !leave_out.iter().any(|l| k.eq_ignore_ascii_case(l)) {
                s.push_str(&format!("{k}: {v}\r\n"));
            }
        }
        s.push_str("\r\n");
        s.into_bytes()
    }
}

/// Reads a head; None when the peer closed before sending one.
fn read_head(r: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut lines: Vec<String> = Vec::new();
    let mut total = 0;
    loop {
        let mut line = Vec::new();
        let n = r.read_until(b'\n', &mut line)?;
        if n == 0 {
            return if lines.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        total += n;
        if total > 64 * 1024 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too long"));
        }
        let line = String::from_utf8_lossy(&line)
            .trim_end_matches(['\r', '\n'])
            .to_string();
        if line.is_empty() {
            if lines.is_empty() {
                continue;
            }
            break;
        }
        lines.push(line);
    }
    let start = lines.remove(0);
    let headers = lines
        .into_iter()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    Ok(Some(Head { start, headers }))
}

/// Copies a body as framed, byte for byte. Once CUT_AT body bytes have
/// gone and more are coming, asks FIRE whether to stop there.
fn forward_body(
    src: &mut impl BufRead,
    dst: &mut impl Write,
    body: Body,
    mut cut_at: Option<u64>,
    fire: &mut dyn FnMut() -> bool,
) -> io::Result<Forwarded> {
    let mut sent = 0u64;
    match body {
        Body::None => {}
        Body::Length(n) => {
            if copy_data(src, dst, n, &mut sent, &mut cut_at, fire)? {
                return Ok(Forwarded::Cut(sent));
            }
        }
        Body::UntilClose => {
            io::copy(src, dst)?;
        }
        Body::Chunked => loop {
            let mut line = Vec::new();
            if src.read_until(b'\n', &mut line)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let text = String::from_utf8_lossy(&line);
            let size = text.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size, 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if size > 0 {
                if let Some(at) = cut_at {
                    if sent >= at {
                        if fire() {
                            return Ok(Forwarded::Cut(sent));
                        }
                        cut_at = None;
                    }
                }
            }
            dst.write_all(&line)?;
            if size == 0 {
                // Trailers, then the empty line that ends the body.
                loop {
                    let mut t = Vec::new();
                    if src.read_until(b'\n', &mut t)? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    dst.write_all(&t)?;
                    if t == b"\r\n" || t == b"\n" {
                        break;
                    }
                }
                break;
            }
            if copy_data(src, dst, size, &mut sent, &mut cut_at, fire)? {
                return Ok(Forwarded::Cut(sent));
            }
            let mut crlf = Vec::new();
            src.read_until(b'\n', &mut crlf)?;
            dst.write_all(&crlf)?;
        },
    }
    dst.flush()?;
    Ok(Forwarded::Complete)
}

/// Copies N bytes; true when it stopped at the cut.
fn copy_data(
    src: &mut impl Read,
    dst: &mut impl Write,
    mut n: u64,
    sent: &mut u64,
    cut_at: &mut Option<u64>,
    fire: &mut dyn FnMut() -> bool,
) -> io::Result<bool> {
    let mut buf = [0u8; 16 * 1024];
    while n > 0 {
        let mut want = n.min(buf.len() as u64);
        if let Some(at) = *cut_at {
            if *sent >= at {
                if fire() {
                    return Ok(true);
                }
                *cut_at = None;
            } else {
                want = want.min(at - *sent);
            }
        }
        let got = src.read(&mut buf[..want as usize])?;
        if got == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        dst.write_all(&buf[..got])?;
        n -= got as u64;
        *sent += got as u64;
    }
    Ok(false)
}

/// The open sockets of a Server, so stopping it can unblock every thread
/// that waits on one.
#[derive(Clone, Default)]
struct Conns(Arc<Mutex<ConnTable>>);

#[derive(Default)]
struct ConnTable {
    next: u64,
    closed: bool,
    open: HashMap<u64, TcpStream>,
}

/// Forgets its socket when dropped.
struct Tracked {
    conns: Conns,
    id: u64,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.conns.0.lock().unwrap().open.remove(&self.id);
    }
}

impl Conns {
    fn track(&self, s: &TcpStream) -> Tracked {
        let mut t = self.0.lock().unwrap();
        let id = t.next;
        t.next += 1;
        if t.closed {
            let _ = s.shutdown(Shutdown::Both);
        } else if let Ok(c) = s.try_clone() {
            t.open.insert(id, c);
        }
        Tracked {
            conns: self.clone(),
            id,
        }
    }
    fn shutdown_all(&self) {
        let mut t = self.0.lock().unwrap();
        t.closed = true;
        for s in t.open.values() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

type Handler = Arc<dyn Fn(TcpStream, &Conns) + Send + Sync>;

/// A loopback listener with a thread per connection; dropping it closes
/// every connection and joins every thread.
struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    fn start(handler: Handler) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let accept = std::thread::spawn(move || {
            let conns = Conns::default();
            let mut workers: Vec<JoinHandle<()>> = Vec::new();
            for s in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(s) = s else { continue };
                workers.retain(|w| !w.is_finished());
                let conns = conns.clone();
                let handler = handler.clone();
                workers.push(std::thread::spawn(move || {
                    let _tracked = conns.track(&s);
                    handler(s, &conns);
                }));
            }
            conns.shutdown_all();
            for w in workers {
                let _ = w.join();
            }
        });
        Server {
            addr,
            stop,
            accept: Some(accept),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // The accept thread only sees the flag once a connection comes.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    //! The harness checked with curl and skopeo as the clients.

    use super::*;
    use sha2::Digest as _;

    /// Each set-up takes about 0.1 s; the slack is for a CI machine busy
    /// with every other test at once.
    const STARTS_WITHIN: Duration = Duration::from_secs(5);

    fn sha256(b: &[u8]) -> String {
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
    }

    /// Runs curl; returns the status, the response headers and the body.
    fn curl(args: &[&str]) -> (u16, String, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let (h, b) = (dir.path().join("h"), dir.path().join("b"));
        let out = Command::new(peer("curl"))
            .args(["-sS", "--max-time", "20", "-w", "%{http_code}", "-D"])
            .arg(&h)
            .arg("-o")
            .arg(&b)
            .args(args)
            .output()
            .expect("run curl");
        // A transfer cut short reports the status it had, but it failed.
        let code = if !out.status.success() {
            0
        } else {
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .unwrap_or(0)
        };
        (
            code,
            fs::read_to_string(&h).unwrap_or_default(),
            fs::read(&b).unwrap_or_default(),
        )
    }

    /// curl with the body as text.
    fn curl_text(args: &[&str]) -> (u16, String, String) {
        let (code, h, b) = curl(args);
        (code, h, String::from_utf8_lossy(&b).into_owned())
    }

    /// An OCI layout holding one image tagged "x" with a layer of SIZE
    /// incompressible bytes; returns its skopeo reference.
    fn layout(dir: &Path, size: usize) -> String {
        let blobs = dir.join("blobs/sha256");
        fs::create_dir_all(&blobs).unwrap();
        let put = |b: &[u8]| {
            let d = sha256(b);
            fs::write(blobs.join(&d[7..]), b).unwrap();
            d
        };
        // xorshift: random enough that gzip cannot shrink the layer under the cut size.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let data: Vec<u8> = (0..size)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        tar.append_data(&mut h, "noise", &data[..]).unwrap();
        let layer = tar.into_inner().unwrap();
        let layer_d = put(&layer);
        let config = serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [layer_d]},
        })
        .to_string();
        let config_d = put(config.as_bytes());
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config_d, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": layer_d, "size": layer.len()}],
        })
        .to_string();
        let manifest_d = put(manifest.as_bytes());
        fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "digest": manifest_d, "size": manifest.len(),
                           "annotations": {"org.opencontainers.image.ref.name": "x"}}],
        });
        fs::write(dir.join("index.json"), index.to_string()).unwrap();
        format!("oci:{}:x", dir.display())
    }

    /// Every blob of an OCI layout hashes to its name; returns how many.
    fn verify_layout(dir: &Path) -> usize {
        let mut n = 0;
        for e in fs::read_dir(dir.join("blobs/sha256")).unwrap() {
            let e = e.unwrap();
            let b = fs::read(e.path()).unwrap();
            assert_eq!(sha256(&b)[7..], *e.file_name().to_string_lossy());
            n += 1;
        }
        n
    }

    /// skopeo with no credentials but those given and no trust policy.
    fn skopeo(home: &Path, args: &[&str]) -> std::process::Output {
        Command::new(peer("skopeo"))
            .env("REGISTRY_AUTH_FILE", home.join("auth.json"))
            .env("HOME", home)
            .arg("--insecure-policy")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run skopeo")
    }

    fn assert_ok(o: &std::process::Output, what: &str) {
        assert!(
            o.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    #[test]
    fn encodings_match_known_values() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_868_799), "2000-02-29T23:59:59Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(b64(b"foob", STD), "Zm9vYg==");
        assert_eq!(b64(b"\xfb\xff", URL), "-_8");
        assert_eq!(
            url_decode("repository%3At%2Fx%3Apull%2Cpush+a"),
            "repository:t/x:pull,push a"
        );
        // r with a sign byte, s short: both come out 32 bytes wide.
        let mut der = vec![0x30, 0x25, 0x02, 0x21, 0x00];
        der.extend([0x80; 32]);
        der.extend([0x02, 0x02, 0x01, 0x02]);
        let raw = der_sig_to_raw(&der, 32).unwrap();
        assert_eq!(raw.len(), 64);
        assert_eq!(&raw[..32], &[0x80; 32]);
        assert_eq!(&raw[62..], &[1, 2]);
        assert!(raw[32..62].iter().all(|&b| b == 0));
    }

    #[test]
    fn anonymous_registry_answers_plain_http() {
        let t = Instant::now();
        let reg = TestRegistry::start();
        assert!(t.elapsed() < STARTS_WITHIN, "{:?}", t.elapsed());
        let (code, headers, _) = curl(&[&format!("{}/v2/", reg.url())]);
        assert_eq!(code, 200, "{headers}");
        assert!(reg.host.starts_with("127.0.0.1:"));
    }

    #[test]
    fn tls_basic_registry_wants_the_password_and_its_ca() {
        let t = Instant::now();
        let reg = TestRegistry::start_tls_basic("alice", "s3cret");
        assert!(t.elapsed() < STARTS_WITHIN, "{:?}", t.elapsed());
        assert!(reg.host.starts_with("localhost:"));
        let ca = reg.ca_file.clone().unwrap();
        let ca = ca.to_str().unwrap();
        let v2 = format!("{}/v2/", reg.url());
        let (code, h, _) = curl(&["--cacert", ca, "-u", "alice:s3cret", &v2]);
        assert_eq!(code, 200, "{h}");
        let (code, h, _) = curl(&["--cacert", ca, &v2]);
        assert_eq!(code, 401, "{h}");
        assert!(
            h.to_ascii_lowercase().contains("www-authenticate: basic"),
            "{h}"
        );
        let (code, h, _) = curl(&["--cacert", ca, "-u", "alice:wrong", &v2]);
        assert_eq!(code, 401, "{h}");
        // Without the CA the certificate is not trusted.
        let (code, _, _) = curl(&[&v2]);
        assert_eq!(code, 0);

        // The cert_dir is what skopeo's --cert-dir (Docker's certs.d) wants.
        let cert_dir = reg.cert_dir.clone().unwrap();
        assert!(cert_dir.join("ca.crt").is_file());
        assert!(cert_dir.ends_with(&reg.host));
        let work = tempfile::tempdir().unwrap();
        let src = layout(&work.path().join("img"), 1000);
        let dest = format!("docker://{}/t/x:1", reg.host);
        let cd = cert_dir.to_str().unwrap();
        let o = skopeo(
            work.path(),
            &[
                "copy",
                "--dest-cert-dir",
                cd,
                "--dest-creds",
                "alice:s3cret",
                &src,
                &dest,
            ],
        );
        assert_ok(&o, "skopeo copy over TLS with Basic auth");
        let o = skopeo(
            work.path(),
            &[
                "copy",
                "--dest-cert-dir",
                cd,
                "--dest-creds",
                "alice:nope",
                &src,
                &dest,
            ],
        );
        assert!(!o.status.success(), "a wrong password is refused");
    }

    #[test]
    fn token_registry_takes_tokens_from_our_server() {
        let t = Instant::now();
        let reg = TestRegistry::start_token("bob", "hunter2");
        assert!(t.elapsed() < STARTS_WITHIN, "{:?}", t.elapsed());
        let realm = reg.realm().unwrap().to_string();
        let service = reg.service().unwrap().to_string();
        let v2 = format!("{}/v2/", reg.url());
        let (code, h, _) = curl_text(&[&v2]);
        assert_eq!(code, 401, "{h}");
        assert!(
            h.contains(&format!("Bearer realm=\"{realm}\",service=\"{service}\"")),
            "{h}"
        );
        let token_url = |scope: &str| {
            format!(
                "{realm}?service={service}&scope={}",
                scope.replace(':', "%3A")
            )
        };
        let token_of = |body: &str| {
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(v["token"], v["access_token"]);
            assert_eq!(v["expires_in"], 300);
            assert!(v["issued_at"].as_str().unwrap().ends_with('Z'));
            v["token"].as_str().unwrap().to_string()
        };
        let (code, _, body) =
            curl_text(&["-u", "bob:hunter2", &token_url("repository:t/x:pull,push")]);
        assert_eq!(code, 200, "{body}");
        let token = token_of(&body);
        let bearer = format!("Authorization: Bearer {token}");
        let (code, h, body) = curl_text(&["-H", &bearer, &v2]);
        assert_eq!(code, 200, "{h}{body}\n{}", reg.log());
        let (code, h, body) =
            curl_text(&["-H", &bearer, &format!("{}/v2/t/x/tags/list", reg.url())]);
        assert_eq!(
            code, 404,
            "granted, and the repository is not there yet: {h}{body}"
        );
        // Anonymous: a token, but one that grants nothing.
        let (code, _, body) = curl_text(&[&token_url("repository:t/x:pull")]);
        assert_eq!(code, 200, "{body}");
        let anon = format!("Authorization: Bearer {}", token_of(&body));
        let (code, _, body) = curl_text(&["-H", &anon, &format!("{}/v2/t/x/tags/list", reg.url())]);
        assert_eq!(code, 401, "{body}");
        let (code, _, _) = curl_text(&["-u", "bob:wrong", &token_url("repository:t/x:pull")]);
        assert_eq!(code, 401);
        assert_eq!(reg.token_requests(), 3);

        let work = tempfile::tempdir().unwrap();
        let src = layout(&work.path().join("img"), 1000);
        let dest = format!("docker://{}/t/x:1", reg.host);
        let o = skopeo(
            work.path(),
            &[
                "copy",
                "--dest-tls-verify=false",
                "--dest-creds",
                "bob:hunter2",
                &src,
                &dest,
            ],
        );
        assert_ok(&o, "skopeo copy with a token");
        assert!(reg.token_requests() > 3);
        assert!(
            reg.token_scopes()
                .iter()
                .any(|s| s == "repository:t/x:pull,push"),
            "{:?}",
            reg.token_scopes()
        );
        let o = skopeo(
            work.path(),
            &[
                "copy",
                "--dest-tls-verify=false",
                "--dest-creds",
                "bob:nope",
                &src,
                &dest,
            ],
        );
        assert!(!o.status.success(), "a wrong password gets no token");
        let o = skopeo(
            work.path(),
            &[
                "copy",
                "--dest-tls-verify=false",
                &src,
                &format!("docker://{}/t/y:1", reg.host),
            ],
        );
        assert!(!o.status.success(), "anonymous may not push");
    }

    /// The Location of an upload the registry (through HOST) has just opened.
    fn start_upload(host: &str, repo: &str) -> String {
        let (code, h, _) = curl(&[
            "-X",
            "POST",
            &format!("http://{host}/v2/{repo}/blobs/uploads/"),
        ]);
        assert_eq!(code, 202, "{h}");
        let loc = h
            .lines()
            .find_map(|l| l.strip_prefix("Location: "))
            .expect("Location")
            .trim()
            .to_string();
        assert!(loc.starts_with(&format!("http://{host}/")), "{loc}");
        loc
    }

    #[test]
    fn proxy_injects_each_fault_once_and_the_retry_goes_through() {
        let reg = TestRegistry::start();
        let proxy = FaultProxy::start(&reg.host, Faults::all());
        let work = tempfile::tempdir().unwrap();
        let blob = work.path().join("blob");
        let data: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        fs::write(&blob, &data).unwrap();
        let digest = sha256(&data);
        let upload = format!("@{}", blob.display());
        let octets = "Content-Type: application/octet-stream";

        // Upload: the first big body is cut halfway, the next one goes in.
        let loc = start_upload(&proxy.host, "t/c");
        let (code, _, _) = curl(&["-X", "PATCH", "-H", octets, "--data-binary", &upload, &loc]);
        assert_eq!(code, 0, "the connection was cut");
        let loc = start_upload(&proxy.host, "t/c");
        let (code, h, _) = curl(&[
            "-X",
            "PUT",
            "-H",
            octets,
            "-H",
            "Expect: 100-continue",
            "--data-binary",
            &upload,
            &format!("{loc}&digest={digest}"),
        ]);
        assert_eq!(code, 201, "{h}");

        // Blob reads: a 500 first, then the HEAD goes through.
        let url = format!("http://{}/v2/t/c/blobs/{digest}", proxy.host);
        assert_eq!(curl(&["-I", &url]).0, 500);
        assert_eq!(curl(&["-I", &url]).0, 200);
        // Download: the first is cut halfway, the next one is whole.
        let (code, _, body) = curl(&[&url]);
        assert_eq!(code, 0, "the connection was cut");
        assert_eq!(body.len(), data.len() / 2);
        let (code, _, body) = curl(&[&url]);
        assert_eq!(code, 200);
        assert_eq!(sha256(&body), digest);

        // Manifests: a 429 with Retry-After, then the registry's own answer.
        let url = format!("http://{}/v2/t/c/manifests/nope", proxy.host);
        let (code, h, _) = curl(&[&url]);
        assert_eq!(code, 429);
        assert!(h.contains("Retry-After: 1"), "{h}");
        assert_eq!(curl(&[&url]).0, 404);

        let injected = proxy.injected();
        let kinds: Vec<&str> = injected
            .iter()
            .map(|l| l.split(" /").next().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "cut upload PATCH",
                "500 HEAD",
                "cut download GET",
                "429 GET"
            ],
            "{injected:#?}"
        );
    }

    #[test]
    fn skopeo_gets_through_the_proxy() {
        let work = tempfile::tempdir().unwrap();
        let src = layout(&work.path().join("img"), 300_000);
        // Each part has its own registry and skopeo home, so no blob is
        // already there or remembered from the part before.
        let copy = |home: &str, from: &str, to: &str| {
            let home = work.path().join(home);
            fs::create_dir_all(&home).unwrap();
            skopeo(
                &home,
                &[
                    "copy",
                    "--retry-times",
                    "3",
                    "--src-tls-verify=false",
                    "--dest-tls-verify=false",
                    from,
                    to,
                ],
            )
        };

        // 429s skopeo waits out, on a push and on a pull, over kept-alive
        // connections.
        let reg = TestRegistry::start();
        let proxy = FaultProxy::start(
            &reg.host,
            Faults {
                status_429: Some(Route::Manifest),
                ..Faults::default()
            },
        );
        let dest = format!("docker://{}/t/x:1", proxy.host);
        assert_ok(&copy("a", &src, &dest), "push through a 429");
        let out = work.path().join("out");
        let out_ref = format!("oci:{}:x", out.display());
        assert_ok(&copy("a", &dest, &out_ref), "pull through the proxy");
        assert_eq!(verify_layout(&out), 3);
        let injected = proxy.injected();
        assert_eq!(injected.len(), 1, "{injected:?}");
        assert!(
            injected[0].starts_with("429 PUT /v2/t/x/manifests/1"),
            "{injected:?}"
        );

        // Cuts skopeo 1.9 does not retry, but a second run finishes; a
        // chunked upload is cut after 64 KiB.
        let reg = TestRegistry::start();
        let proxy = FaultProxy::start(
            &reg.host,
            Faults {
                drop_mid_blob: true,
                ..Faults::default()
            },
        );
        let dest = format!("docker://{}/t/y:1", proxy.host);
        if !copy("b", &src, &dest).status.success() {
            assert_ok(&copy("b", &src, &dest), "push after the cut");
        }
        let out = work.path().join("out2");
        let out_ref = format!("oci:{}:x", out.display());
        if !copy("b", &dest, &out_ref).status.success() {
            assert_ok(&copy("b", &dest, &out_ref), "pull after the cut");
        }
        assert_eq!(verify_layout(&out), 3);
        let injected = proxy.injected();
        assert_eq!(injected.len(), 2, "{injected:?}");
        assert!(
            injected[0].starts_with("cut upload PATCH /v2/t/y/blobs/uploads/"),
            "{injected:?}"
        );
        assert!(
            injected[0].ends_with(&format!("after {CUT_MIN} bytes")),
            "{injected:?}"
        );
        assert!(
            injected[1].starts_with("cut download GET /v2/t/y/blobs/sha256:"),
            "{injected:?}"
        );
    }
}
