//! Where a registry's credentials come from, in the order skopeo and
//! Docker look: `--creds`, `$REGISTRY_AUTH_FILE`, the containers auth files,
//! then Docker's `config.json` (`credHelpers`, `auths`, `credsStore`), a
//! helper being `docker-credential-NAME get`.

use super::RegistryError;
use base64::Engine;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A user name and a secret. Never printed: `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ***)", self.username)
    }
}

impl Credentials {
    /// Docker's helpers answer with this user name for an identity token
    /// (an OAuth2 refresh token) instead of a password.
    pub fn is_identity_token(&self) -> bool {
        self.username == "<token>"
    }

    /// `USER:PASS` as `--creds` takes it.
    pub fn parse(s: &str) -> Result<Credentials, RegistryError> {
        match s.split_once(':') {
            Some((u, p)) if !u.is_empty() => Ok(Credentials {
                username: u.into(),
                secret: p.into(),
            }),
            _ => Err(RegistryError::Auth(
                "--creds takes USER:PASSWORD (an empty user name is not allowed)".into(),
            )),
        }
    }

    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.secret);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// The keys a registry host goes by in auth files: Docker Hub has several.
fn host_keys(host: &str) -> Vec<String> {
    match host {
        "docker.io" | "registry-1.docker.io" | "index.docker.io" => vec![
            "https://index.docker.io/v1/".into(),
            "docker.io".into(),
            "index.docker.io".into(),
            "registry-1.docker.io".into(),
        ],
        h => vec![h.to_string()],
    }
}

/// An auth-file key without its scheme and path (`https://h:5000/v1/` → `h:5000`).
fn normalize_key(k: &str) -> &str {
    let k = k
        .strip_prefix("https://")
        .or_else(|| k.strip_prefix("http://"))
        .unwrap_or(k);
    k.split('/').next().unwrap_or(k)
}

/// The auth files to read, most specific first.
fn auth_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(f) = std::env::var_os("REGISTRY_AUTH_FILE") {
        out.push(PathBuf::from(f));
        return out;
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR") {
        out.push(PathBuf::from(d).join("containers/auth.json"));
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    if let Some(h) = &home {
        out.push(h.join(".config/containers/auth.json"));
    }
    match std::env::var_os("DOCKER_CONFIG") {
        Some(d) => out.push(PathBuf::from(d).join("config.json")),
        None => {
            if let Some(h) = &home {
                out.push(h.join(".docker/config.json"));
            }
        }
    }
    out
}

/// The credentials for `host`, if any source has them.
pub fn lookup(host: &str) -> Result<Option<Credentials>, RegistryError> {
    for file in auth_files() {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(RegistryError::Auth(format!("{}: {e}", file.display())));
            }
        };
        let doc: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| RegistryError::Auth(format!("{}: not JSON: {e}", file.display())))?;
        if let Some(c) = from_config(&doc, host, &file)? {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

fn from_config(
    doc: &serde_json::Value,
    host: &str,
    file: &std::path::Path,
) -> Result<Option<Credentials>, RegistryError> {
    let keys = host_keys(host);
    if let Some(helpers) = doc["credHelpers"].as_object() {
        for (k, helper) in helpers {
            if keys.iter().any(|h| h == normalize_key(k)) {
                if let Some(name) = helper.as_str() {
                    return run_helper(name, &keys[0]);
                }
            }
        }
    }
    if let Some(auths) = doc["auths"].as_object() {
        for (k, entry) in auths {
            if !keys.iter().any(|h| h == normalize_key(k)) {
                continue;
            }
            if let Some(token) = entry["identitytoken"].as_str().filter(|t| !t.is_empty()) {
                return Ok(Some(Credentials {
                    username: "<token>".into(),
                    secret: token.into(),
                }));
            }
            let Some(b64) = entry["auth"].as_str().filter(|a| !a.is_empty()) else {
                continue;
            };
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    RegistryError::Auth(format!(
                        "{}: the auth entry for {k} is not base64 of USER:PASSWORD",
                        file.display()
                    ))
                })?;
            return Credentials::parse(&raw).map(Some).map_err(|_| {
                RegistryError::Auth(format!(
                    "{}: the auth entry for {k} is not USER:PASSWORD",
                    file.display()
                ))
            });
        }
    }
    if let Some(store) = doc["credsStore"].as_str().filter(|s| !s.is_empty()) {
        return run_helper(store, &keys[0]);
    }
    Ok(None)
}

/// `docker-credential-NAME get`, the server on stdin, JSON on stdout.
fn run_helper(name: &str, server: &str) -> Result<Option<Credentials>, RegistryError> {
    let program = format!("docker-credential-{name}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| RegistryError::Auth(format!("{program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits before reading is judged by its status.
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| RegistryError::Auth(format!("{program}: {e}")))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stdout).trim().to_string()
            + String::from_utf8_lossy(&out.stderr).trim();
        // The helpers' protocol says "not found" this way, not as a code.
        if msg.contains("credentials not found") {
            return Ok(None);
        }
        return Err(RegistryError::Auth(format!(
            "{program} get failed ({}): {}",
            out.status,
            msg.lines().next().unwrap_or("")
        )));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| RegistryError::Auth(format!("{program} get: not JSON: {e}")))?;
    match (v["Username"].as_str(), v["Secret"].as_str()) {
        (Some(u), Some(s)) if !s.is_empty() => Ok(Some(Credentials {
            username: u.into(),
            secret: s.into(),
        })),
        _ => Ok(None),
    }
}

/// Where `login` writes: `$REGISTRY_AUTH_FILE`, else Docker's
/// `config.json` (`$DOCKER_CONFIG`, else `~/.docker`), as docker login.
pub fn login_file() -> Option<PathBuf> {
    if let Some(f) = std::env::var_os("REGISTRY_AUTH_FILE") {
        return Some(PathBuf::from(f));
    }
    match std::env::var_os("DOCKER_CONFIG") {
        Some(d) => Some(PathBuf::from(d).join("config.json")),
        None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json")),
    }
}

fn read_doc(file: &std::path::Path) -> Result<serde_json::Value, RegistryError> {
    match std::fs::read_to_string(file) {
        Ok(t) => serde_json::from_str(&t)
            .map_err(|e| RegistryError::Auth(format!("{}: not JSON: {e}", file.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(serde_json::json!({})),
        Err(e) => Err(RegistryError::Auth(format!("{}: {e}", file.display()))),
    }
}

fn write_doc(file: &std::path::Path, doc: &serde_json::Value) -> Result<(), RegistryError> {
    let fail = |e: &dyn std::fmt::Display| RegistryError::Auth(format!("{}: {e}", file.display()));
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
    }
    let mut bytes = serde_json::to_vec_pretty(doc).expect("JSON serializes");
    bytes.push(b'\n');
    // The temp file is made 0600, and replaces the old one whole: a
    // crash leaves the old credentials or the new, never half a file.
    crate::fsutil::write_atomic(file, &bytes).map_err(|e| fail(&e))
}

/// Records `creds` for `host` in `file`'s `auths`, keeping everything
/// else in it (other hosts, helpers, Docker's other settings).
pub fn store(file: &std::path::Path, host: &str, creds: &Credentials) -> Result<(), RegistryError> {
    let mut doc = read_doc(file)?;
    let keys = host_keys(host);
    if !doc.is_object() {
        return Err(RegistryError::Auth(format!(
            "{}: not a JSON object",
            file.display()
        )));
    }
    if !doc["auths"].is_object() {
        doc["auths"] = serde_json::json!({});
    }
    let auths = doc["auths"].as_object_mut().expect("made an object");
    auths.retain(|k, _| !keys.iter().any(|h| h == normalize_key(k)));
    let raw = format!("{}:{}", creds.username, creds.secret);
    auths.insert(
        keys[0].clone(),
        serde_json::json!({"auth": base64::engine::general_purpose::STANDARD.encode(raw)}),
    );
    write_doc(file, &doc)
}

/// Every registry the auth files hold credentials for.
pub fn hosts() -> Result<Vec<String>, RegistryError> {
    let mut files = auth_files();
    files.extend(login_file());
    let mut out = Vec::new();
    for file in files.iter().filter(|f| f.exists()) {
        if let Some(auths) = read_doc(file)?.get("auths").and_then(|a| a.as_object()) {
            out.extend(auths.keys().map(|k| normalize_key(k).to_string()));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Removes `host`'s entries from the `auths` of every auth file that has
/// one; the files changed.
pub fn erase(host: &str) -> Result<Vec<PathBuf>, RegistryError> {
    let keys = host_keys(host);
    let mut changed = Vec::new();
    let mut files = auth_files();
    files.extend(login_file());
    files.dedup();
    for file in files {
        if !file.exists() {
            continue;
        }
        let mut doc = read_doc(&file)?;
        let Some(auths) = doc.get_mut("auths").and_then(|a| a.as_object_mut()) else {
            continue;
        };
        let before = auths.len();
        auths.retain(|k, _| !keys.iter().any(|h| h == normalize_key(k)));
        if auths.len() != before {
            write_doc(&file, &doc)?;
            changed.push(file);
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn creds(u: &str, p: &str) -> Option<Credentials> {
        Some(Credentials {
            username: u.into(),
            secret: p.into(),
        })
    }

    #[test]
    fn auths_entries_match_with_or_without_scheme() {
        let f = std::path::Path::new("config.json");
        let b64 = base64::engine::general_purpose::STANDARD.encode("al:pw");
        let doc = json!({"auths": {"https://reg.example:5000/v2/": {"auth": b64}}});
        assert_eq!(
            from_config(&doc, "reg.example:5000", f).unwrap(),
            creds("al", "pw")
        );
        assert_eq!(from_config(&doc, "reg.example", f).unwrap(), None);
        let doc = json!({"auths": {"https://index.docker.io/v1/": {"auth": b64}}});
        assert_eq!(
            from_config(&doc, "docker.io", f).unwrap(),
            creds("al", "pw")
        );
    }

    #[test]
    fn a_bad_auth_entry_is_an_error_that_names_no_secret() {
        let f = std::path::Path::new("config.json");
        let doc = json!({"auths": {"h": {"auth": "%%%"}}});
        let e = from_config(&doc, "h", f).unwrap_err().to_string();
        assert!(e.contains("config.json") && !e.contains("%%%"), "{e}");
    }

    #[test]
    fn store_then_lookup_then_erase_keeps_other_hosts() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("sub/config.json");
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(
            &f,
            r#"{"auths":{"other:5000":{"auth":"eDp5"}},"credsStore":""}"#,
        )
        .unwrap();
        store(&f, "docker.io", &Credentials::parse("al:pw").unwrap()).unwrap();
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        assert_eq!(
            from_config(&doc, "docker.io", &f).unwrap(),
            creds("al", "pw")
        );
        assert_eq!(
            from_config(&doc, "other:5000", &f).unwrap(),
            creds("x", "y")
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let c = Credentials::parse("u:hunter2").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(Credentials::parse(":x").is_err());
        assert!(Credentials::parse("nocolon").is_err());
    }

    #[test]
    fn identity_tokens_are_kept_as_such() {
        let f = std::path::Path::new("config.json");
        let doc = json!({"auths": {"h": {"auth": "", "identitytoken": "tok"}}});
        let c = from_config(&doc, "h", f).unwrap().unwrap();
        assert!(c.is_identity_token());
    }
}
