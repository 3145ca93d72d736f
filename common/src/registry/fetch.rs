//! One file over HTTP(S), for ADD of a URL: streamed to disk and hashed as
//! it comes, with what the server says of its name and time. TLS verifies
//! against the system's roots (and /etc/{containers,docker}/certs.d/HOST).

use super::tls::{self, CertDir};
use crate::digest::Digest;
use sha2::{Digest as _, Sha256};
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

/// What a fetch brought.
pub struct Fetched {
    pub digest: Digest,
    pub size: u64,
    /// Last-Modified, in seconds since 1970.
    pub last_modified: Option<i64>,
    /// The file name the server gives (Content-Disposition), if any.
    pub filename: Option<String>,
}

fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    Some(authority.rsplit_once('@').map_or(authority, |(_, h)| h))
}

/// `filename="x"` or `filename=x` of a Content-Disposition header, reduced
/// to its last path component.
fn disposition_name(h: &str) -> Option<String> {
    let v = h
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("filename="))?;
    let v = v.trim_matches('"');
    let name = v.rsplit(['/', '\\']).next()?;
    (!name.is_empty() && name != "." && name != "..").then(|| name.to_string())
}

/// Downloads `url` into `dest` (created or truncated).
pub fn fetch(url: &str, dest: &Path) -> Result<Fetched, String> {
    let host = host_of(url).ok_or_else(|| format!("{url}: not a URL"))?;
    let certs = CertDir::for_host(host).map_err(|e| e.to_string())?;
    let agent = ureq::AgentBuilder::new()
        .tls_config(tls::client_config(&certs, true).map_err(|e| e.to_string())?)
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(300))
        .redirects(10)
        .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
        .build();
    let resp = agent.get(url).call().map_err(|e| match e {
        ureq::Error::Status(code, r) => format!("GET {url}: {code} {}", r.status_text()),
        ureq::Error::Transport(t) => format!("GET {url}: {t}"),
    })?;
    let last_modified = resp
        .header("Last-Modified")
        .and_then(crate::time::parse_http_date);
    let filename = resp
        .header("Content-Disposition")
        .and_then(disposition_name);
    let mut body = resp.into_reader();
    let mut out = std::fs::File::create(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut size = 0u64;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("GET {url}: {e}")),
        };
        h.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|e| format!("{}: {e}", dest.display()))?;
        size += n as u64;
    }
    out.flush()
        .map_err(|e| format!("{}: {e}", dest.display()))?;
    let hex: [u8; 32] = h.finalize().into();
    Ok(Fetched {
        digest: format!("sha256:{}", hex::encode(hex))
            .parse()
            .expect("a sha256 digest"),
        size,
        last_modified,
        filename,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_hosts_are_read_from_urls_and_headers() {
        assert_eq!(
            host_of("https://u:p@example.org:8443/a/b?x"),
            Some("example.org:8443")
        );
        assert_eq!(host_of("http://127.0.0.1:80"), Some("127.0.0.1:80"));
        assert_eq!(
            disposition_name("attachment; filename=\"app.tgz\""),
            Some("app.tgz".into())
        );
        assert_eq!(
            disposition_name("attachment; filename=../../etc/passwd"),
            Some("passwd".into())
        );
        assert_eq!(disposition_name("inline"), None);
    }
}
