//! One registry host over HTTP(S): the ping that learns how it wants to be
//! spoken to, requests with authentication and bounded retries, and the
//! blob and manifest calls of the distribution API built on them.

use super::auth::{self, Auth, Challenge};
use super::creds::Credentials;
use super::tls::{self, CertDir};
use super::{is_loopback, RegistryError, MANIFEST_ACCEPT};
use crate::digest::Digest;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How to reach one registry: what the command line said about it.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Named with `--insecure-registry`: unverified TLS, or plain HTTP
    /// when the host does not speak TLS. Loopback hosts always are.
    pub insecure: bool,
    /// `--tls-verify`: `Some(true)` verifies even loopback hosts and never
    /// falls back to HTTP; `Some(false)` treats the host as insecure.
    pub tls_verify: Option<bool>,
    /// `--cert-dir`; without it, `/etc/{containers,docker}/certs.d/HOST`.
    pub cert_dir: Option<PathBuf>,
    /// `--creds`; without them, the auth files are searched.
    pub creds: Option<Credentials>,
    /// Retries of one request after a dropped connection, a 429 or a 5xx.
    pub retries: u32,
}

/// Whether a client reads only, or writes too (the token scope it asks for).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Pull,
    Push,
}

impl Access {
    fn actions(self) -> &'static str {
        match self {
            Access::Pull => "pull",
            Access::Push => "pull,push",
        }
    }
}

/// The longest a request keeps retrying, whatever the count allows.
const RETRY_BUDGET: Duration = Duration::from_secs(120);
/// The longest one `Retry-After` is honoured.
pub(super) const RETRY_AFTER_MAX: Duration = Duration::from_secs(60);

/// One registry host.
pub struct Registry {
    agent: ureq::Agent,
    base: String,
    host: String,
    auth: Auth,
    access: Access,
    retries: u32,
}

/// A request that did not succeed, and whether trying again may help.
struct Failure {
    error: RegistryError,
    retry: bool,
    retry_after: Option<Duration>,
    challenge: Option<String>,
}

/// The body of a request that can be sent again on a retry.
#[derive(Clone, Copy)]
enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
}

/// What `start_upload` got: the blob is there (mounted), or a session.
pub enum Upload {
    Mounted,
    Session(String),
}

impl Registry {
    /// Connects to the host of a reference (`docker.io` is Docker Hub's
    /// registry-1): TLS settings, credentials, and a ping of `/v2/` that
    /// learns the authentication scheme and, for insecure hosts, whether
    /// they speak TLS at all.
    pub fn connect(
        domain: &str,
        opts: &Options,
        access: Access,
    ) -> Result<Registry, RegistryError> {
        let host = match domain {
            "docker.io" | "index.docker.io" => "registry-1.docker.io",
            d => d,
        }
        .to_string();
        let insecure = match opts.tls_verify {
            Some(v) => !v,
            None => opts.insecure || is_loopback(&host),
        };
        let certs = match &opts.cert_dir {
            Some(d) => CertDir::read(d)?,
            None => CertDir::for_host(&host)?,
        };
        let creds = match &opts.creds {
            Some(c) => Some(c.clone()),
            None => super::creds::lookup(domain)?,
        };
        let agent = ureq::AgentBuilder::new()
            .tls_config(tls::client_config(&certs, !insecure)?)
            .timeout_connect(Duration::from_secs(30))
            .timeout_read(Duration::from_secs(300))
            .timeout_write(Duration::from_secs(300))
            .redirects(5)
            .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
            .build();
        let mut reg = Registry {
            agent,
            base: format!("https://{host}"),
            auth: Auth::new(&host, creds),
            host,
            access,
            retries: opts.retries,
        };
        if insecure {
            // An insecure host that does not speak TLS is spoken to in
            // plain HTTP, as Docker does for its insecure registries; one
            // try tells, and the retries are left to the form that stays.
            let tls = reg.ping_once();
            if let Err(e) = tls {
                if !matches!(e.error, RegistryError::Transport { .. }) {
                    return Err(e.error);
                }
                reg.base = format!("http://{}", reg.host);
                reg.ping()?;
            }
        } else {
            reg.ping()?;
        }
        Ok(reg)
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// `GET /v2/`: 200 means no authentication, 401 names the scheme.
    fn ping_once(&self) -> Result<(), Failure> {
        let url = format!("{}/v2/", self.base);
        match self.agent.get(&url).call() {
            Err(ureq::Error::Status(401, resp)) => {
                match resp.header("WWW-Authenticate").and_then(Challenge::parse) {
                    Some(c) => {
                        self.auth.set_challenge(c);
                        Ok(())
                    }
                    None => Err(failure("GET", &url, ureq::Error::Status(401, resp))),
                }
            }
            Err(e) => Err(failure("GET", &url, e)),
            Ok(_) => Ok(()),
        }
    }

    fn ping(&self) -> Result<(), RegistryError> {
        let url = format!("{}/v2/", self.base);
        match self.with_retries(|| self.ping_once()) {
            Err(RegistryError::Status { status: 404, .. }) => Err(RegistryError::Protocol(
                format!("{}: no registry API at {url} (404)", self.host),
            )),
            r => r,
        }
    }

    /// `GET /v2/` with the credentials, as docker login checks them: a
    /// registry asking for a password is sent it, one with a token
    /// service is asked for a token (no repository named).
    pub fn check_login(&self) -> Result<(), RegistryError> {
        let url = format!("{}/v2/", self.base);
        match self.request("GET", &url, &[], &[], Body::Empty) {
            Ok(_) => Ok(()),
            Err(RegistryError::Status { status: 401, .. }) => Err(RegistryError::Auth(format!(
                "{}: login refused (401 Unauthorized): check the user name and password",
                self.host
            ))),
            Err(e) => Err(e),
        }
    }

    fn url(&self, repo: &str, tail: &str) -> String {
        format!("{}/v2/{repo}/{tail}", self.base)
    }

    fn scopes(&self, repo: &str) -> Vec<String> {
        vec![auth::scope(repo, self.access.actions())]
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retries
    /// (count and time) run out; waits as `Retry-After` says or backs off
    /// exponentially from half a second.
    fn with_retries<T>(
        &self,
        mut attempt: impl FnMut() -> Result<T, Failure>,
    ) -> Result<T, RegistryError> {
        let start = Instant::now();
        let mut tries = 0;
        loop {
            match attempt() {
                Ok(v) => return Ok(v),
                Err(f) if f.retry && tries < self.retries => {
                    let wait = f
                        .retry_after
                        .map(|d| d.min(RETRY_AFTER_MAX))
                        .unwrap_or_else(|| backoff(tries));
                    if start.elapsed() + wait > RETRY_BUDGET {
                        return Err(f.error);
                    }
                    tries += 1;
                    std::thread::sleep(wait);
                }
                Err(f) => return Err(f.error),
            }
        }
    }

    /// One request with authentication: a 401 renews the token (or learns
    /// the challenge) and tries once more before it counts as a failure.
    fn once(
        &self,
        method: &'static str,
        url: &str,
        scopes: &[String],
        headers: &[(&str, &str)],
        body: Body,
    ) -> Result<ureq::Response, Failure> {
        let mut renewed = false;
        loop {
            let mut req = self.agent.request(method, url);
            for (k, v) in headers {
                req = req.set(k, v);
            }
            if self.same_origin(url) {
                if let Some(h) = self.auth_header(scopes)? {
                    req = req.set("Authorization", &h);
                }
            }
            let sent = normalized(&req, url);
            let r = match body {
                Body::Empty => req.call(),
                Body::Bytes(b) => req.send_bytes(b),
            };
            match r {
                Ok(resp) => return not_redirected(method, &sent, resp),
                Err(e) => {
                    let f = failure(method, url, e);
                    if !renewed && self.renew(&f, scopes) {
                        renewed = true;
                        continue;
                    }
                    return Err(f);
                }
            }
        }
    }

    /// Whether `url` is on the host this client authenticates to: an upload
    /// Location elsewhere (another host, or plain HTTP) gets no credentials.
    fn same_origin(&self, url: &str) -> bool {
        url.strip_prefix(self.base.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// After a 401: takes the challenge it carries and forgets the token
    /// refused; true when trying again may now succeed.
    fn renew(&self, f: &Failure, scopes: &[String]) -> bool {
        let Some(c) = f.challenge.as_deref().and_then(Challenge::parse) else {
            return false;
        };
        let first = self.auth.challenge().is_none();
        self.auth.set_challenge(c);
        self.auth.forget(scopes);
        first || matches!(self.auth.challenge(), Some(Challenge::Bearer { .. }))
    }

    fn auth_header(&self, scopes: &[String]) -> Result<Option<String>, Failure> {
        self.auth
            .header(scopes, |realm, service, scopes, creds| {
                self.fetch_token(realm, service, scopes, creds)
            })
            .map_err(|error| Failure {
                error,
                retry: false,
                retry_after: None,
                challenge: None,
            })
    }

    /// Docker's token flow: GET the realm with the service and scopes, with
    /// Basic credentials when there are any (anonymous otherwise); an
    /// identity token is exchanged by the OAuth2 refresh-token form.
    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        creds: Option<&Credentials>,
    ) -> Result<(String, Duration), RegistryError> {
        let resp = self.with_retries(|| {
            let r = match creds {
                Some(c) if c.is_identity_token() => {
                    let mut form = vec![
                        ("grant_type", "refresh_token"),
                        ("refresh_token", c.secret.as_str()),
                        ("client_id", "slipway"),
                    ];
                    form.extend(service.map(|s| ("service", s)));
                    let joined = scopes.join(" ");
                    form.push(("scope", joined.as_str()));
                    self.agent.post(realm).send_form(&form)
                }
                _ => {
                    let mut req = self.agent.get(realm);
                    if let Some(s) = service {
                        req = req.query("service", s);
                    }
                    for s in scopes {
                        req = req.query("scope", s);
                    }
                    if let Some(c) = creds {
                        req = req.set("Authorization", &c.basic_header());
                    }
                    req.call()
                }
            };
            r.map_err(|e| match e {
                ureq::Error::Status(401 | 403, _) => Failure {
                    error: RegistryError::Auth(format!(
                        "{}: authentication failed: the token service refused {} (check the user name and password)",
                        self.host,
                        match creds {
                            Some(c) => format!("the credentials of user {:?}", c.username),
                            None => "anonymous access".into(),
                        }
                    )),
                    retry: false,
                    retry_after: None,
                    challenge: None,
                },
                // The realm's own URL is not printed with its query: it
                // holds nothing secret, but it is long and says little.
                e => failure("GET", realm, e),
            })
        })?;
        let mut body = Vec::new();
        resp.into_reader()
            .take(1 << 20)
            .read_to_end(&mut body)
            .map_err(|e| RegistryError::Auth(format!("{}: reading the token: {e}", self.host)))?;
        auth::parse_token_response(&body)
    }

    /// A request retried as `with_retries` says.
    fn request(
        &self,
        method: &'static str,
        url: &str,
        scopes: &[String],
        headers: &[(&str, &str)],
        body: Body,
    ) -> Result<ureq::Response, RegistryError> {
        self.with_retries(|| self.once(method, url, scopes, headers, body))
    }

    /// Whether the repository has a blob.
    pub fn has_blob(&self, repo: &str, digest: &Digest) -> Result<Option<u64>, RegistryError> {
        let url = self.url(repo, &format!("blobs/{digest}"));
        match self.request("HEAD", &url, &self.scopes(repo), &[], Body::Empty) {
            Ok(r) => Ok(Some(
                r.header("Content-Length")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0),
            )),
            Err(RegistryError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Starts an upload, or mounts the blob from another repository of the
    /// same registry when `from` names one; a registry that answers a mount
    /// with a session (202) gets the upload instead.
    pub fn start_upload(
        &self,
        repo: &str,
        mount: Option<(&Digest, &str)>,
    ) -> Result<Upload, RegistryError> {
        let mut url = self.url(repo, "blobs/uploads/");
        let mut scopes = self.scopes(repo);
        if let Some((d, from)) = mount {
            url.push_str(&format!("?mount={d}&from={from}"));
            scopes.push(auth::scope(from, "pull"));
        }
        let resp = self.request(
            "POST",
            &url,
            &scopes,
            &[("Content-Length", "0")],
            Body::Empty,
        )?;
        if mount.is_some() && resp.status() == 201 {
            return Ok(Upload::Mounted);
        }
        Ok(Upload::Session(self.location(&resp, "POST", &url)?))
    }

    /// The absolute URL in a response's Location header.
    fn location(
        &self,
        resp: &ureq::Response,
        method: &str,
        url: &str,
    ) -> Result<String, RegistryError> {
        let loc = resp.header("Location").ok_or_else(|| {
            RegistryError::Protocol(format!("{method} {url}: no Location for the upload"))
        })?;
        Ok(if loc.starts_with('/') {
            format!("{}{loc}", self.base)
        } else {
            loc.to_string()
        })
    }

    /// Sends one piece of an upload from a reader, once (the caller resumes
    /// after a failure): the whole blob by PUT with its digest (`last`), or
    /// a PATCH of `len` bytes at `offset`. Returns the next Location.
    pub fn send_upload(
        &self,
        repo: &str,
        location: &str,
        digest: &Digest,
        piece: Piece,
        body: impl Read,
    ) -> Result<Option<String>, UploadFailure> {
        let scopes = self.scopes(repo);
        let (method, url) = match piece {
            Piece::Whole { .. } | Piece::Finish => {
                ("PUT", with_query(location, "digest", &digest.to_string()))
            }
            Piece::Patch { .. } => ("PATCH", location.to_string()),
        };
        let mut headers: Vec<(&str, String)> =
            vec![("Content-Type", "application/octet-stream".into())];
        match piece {
            Piece::Whole { size } => headers.push(("Content-Length", size.to_string())),
            Piece::Patch { offset, len } => {
                headers.push(("Content-Length", len.to_string()));
                if len > 0 {
                    headers.push(("Content-Range", format!("{offset}-{}", offset + len - 1)));
                }
            }
            Piece::Finish => headers.push(("Content-Length", "0".into())),
        }
        let header_refs: Vec<(&str, &str)> =
            headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        // A streamed body cannot be replayed after a 401: the token is made
        // sure of before the bytes go.
        let auth = if self.same_origin(&url) {
            self.auth_header(&scopes).map_err(UploadFailure::from)?
        } else {
            None
        };
        let mut req = self.agent.request(method, &url);
        for (k, v) in &header_refs {
            req = req.set(k, v);
        }
        if let Some(h) = auth {
            req = req.set("Authorization", &h);
        }
        let sent = normalized(&req, &url);
        let r = match piece {
            Piece::Finish => req.call(),
            _ => req.send(body),
        };
        match r
            .map_err(|e| failure(method, &url, e))
            .and_then(|resp| not_redirected(method, &sent, resp))
        {
            Ok(resp) => match piece {
                Piece::Patch { .. } => Ok(Some(self.location(&resp, method, &url)?)),
                _ => Ok(None),
            },
            Err(f) => {
                if f.challenge.is_some() {
                    self.renew(&f, &scopes);
                }
                Err(f.into())
            }
        }
    }

    /// Where an upload stands: the registry's `Range` end plus one (the
    /// offset to go on from) and the session's current Location.
    pub fn upload_status(
        &self,
        repo: &str,
        location: &str,
    ) -> Result<(u64, String), RegistryError> {
        let resp = self.request("GET", location, &self.scopes(repo), &[], Body::Empty)?;
        let next = match resp.header("Range") {
            Some(r) => {
                let end = r
                    .trim()
                    .trim_start_matches("bytes=")
                    .split_once('-')
                    .map(|(_, e)| e);
                // Distribution says 0-0 for an empty upload as for one
                // byte: starting over at 0 is right for the first and only
                // costs a 416 for the second.
                match end.and_then(|e| e.parse::<u64>().ok()) {
                    Some(0) => 0,
                    Some(e) if e < u64::MAX => e + 1,
                    _ => {
                        return Err(RegistryError::Protocol(format!(
                            "GET {location}: unreadable Range {r:?}"
                        )))
                    }
                }
            }
            None => 0,
        };
        let loc = match resp.header("Location") {
            Some(_) => self.location(&resp, "GET", location)?,
            None => location.to_string(),
        };
        Ok((next, loc))
    }

    /// Abandons an upload session (best effort: the registry expires it anyway).
    pub fn cancel_upload(&self, repo: &str, location: &str) {
        let _ = self.once("DELETE", location, &self.scopes(repo), &[], Body::Empty);
    }

    /// Puts a manifest under a tag or digest; returns its digest, checked
    /// against what the registry reports.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, RegistryError> {
        let url = self.url(repo, &format!("manifests/{reference}"));
        let resp = self.request(
            "PUT",
            &url,
            &self.scopes(repo),
            &[("Content-Type", media_type)],
            Body::Bytes(bytes),
        )?;
        let ours = Digest::of(bytes);
        if let Some(theirs) = resp.header("Docker-Content-Digest") {
            if theirs != ours.to_string() {
                return Err(RegistryError::Protocol(format!(
                    "PUT {url}: the registry stored {theirs}, not {ours}"
                )));
            }
        }
        Ok(ours)
    }

    /// Gets a manifest (or index): its media type and bytes.
    pub fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<(String, Vec<u8>), RegistryError> {
        let url = self.url(repo, &format!("manifests/{reference}"));
        let bytes_and_type = self.with_retries(|| {
            let resp = self.once(
                "GET",
                &url,
                &self.scopes(repo),
                &[("Accept", MANIFEST_ACCEPT)],
                Body::Empty,
            )?;
            let media = resp
                .header("Content-Type")
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            let mut bytes = Vec::new();
            resp.into_reader()
                .take(crate::layout::JSON_BLOB_MAX + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| read_failure("GET", &url, e))?;
            Ok((media, bytes))
        })?;
        if bytes_and_type.1.len() as u64 > crate::layout::JSON_BLOB_MAX {
            return Err(RegistryError::Protocol(format!(
                "GET {url}: manifest larger than {} bytes",
                crate::layout::JSON_BLOB_MAX
            )));
        }
        Ok(bytes_and_type)
    }

    /// A blob as a stream from `offset` on (a Range request after the
    /// first byte), with the status the registry answered: 206 when it
    /// honoured the range, 200 when it sends the whole blob again.
    pub fn get_blob(
        &self,
        repo: &str,
        digest: &Digest,
        offset: u64,
    ) -> Result<(u16, Box<dyn Read + Send>), RegistryError> {
        let url = self.url(repo, &format!("blobs/{digest}"));
        let range = format!("bytes={offset}-");
        let headers: &[(&str, &str)] = if offset > 0 {
            &[("Range", &range)]
        } else {
            &[]
        };
        let resp = self.request("GET", &url, &self.scopes(repo), headers, Body::Empty)?;
        Ok((resp.status(), Box::new(resp.into_reader())))
    }

    /// Retries of a transfer that resumes (the same budget as a request's).
    pub fn retries(&self) -> u32 {
        self.retries
    }
}

/// One request of an upload.
#[derive(Clone, Copy, Debug)]
pub enum Piece {
    /// The whole blob in one PUT, with the digest: the form every registry takes.
    Whole { size: u64 },
    /// `len` bytes at `offset`, by PATCH with Content-Range.
    Patch { offset: u64, len: u64 },
    /// The closing PUT with the digest and no body.
    Finish,
}

/// An upload request that failed, and whether resuming may help.
pub struct UploadFailure {
    pub error: RegistryError,
    pub retry: bool,
    pub retry_after: Option<Duration>,
}

impl From<Failure> for UploadFailure {
    fn from(f: Failure) -> Self {
        // A 401 during an upload is retried once the token is renewed.
        let retry = f.retry || f.challenge.is_some();
        UploadFailure {
            error: f.error,
            retry,
            retry_after: f.retry_after,
        }
    }
}

impl From<RegistryError> for UploadFailure {
    fn from(error: RegistryError) -> Self {
        UploadFailure {
            error,
            retry: false,
            retry_after: None,
        }
    }
}

/// The URL as ureq will send it (parsed and serialized), to compare with
/// the one it answers from.
fn normalized(req: &ureq::Request, url: &str) -> String {
    req.request_url()
        .map(|u| u.as_url().to_string())
        .unwrap_or_else(|_| url.to_string())
}

/// A write that ureq answered with a redirect it did not follow, or
/// followed as a GET, stored nothing: it is an error, not a success.
fn not_redirected(
    method: &'static str,
    sent: &str,
    resp: ureq::Response,
) -> Result<ureq::Response, Failure> {
    let moved = (300..400).contains(&resp.status())
        || (method != "GET" && method != "HEAD" && resp.get_url() != sent);
    if moved {
        return Err(Failure {
                error: RegistryError::Protocol(format!(
                    "{method} {sent}: redirected ({} to {}), which a registry must not do to this request",
                    resp.status(),
                    resp.get_url()
                )),
                retry: false,
                retry_after: None,
                challenge: None,
            });
    }
    Ok(resp)
}

/// Exponential backoff: 0.5 s, 1 s, 2 s, … capped at 16 s.
pub fn backoff(tries: u32) -> Duration {
    Duration::from_millis(500u64 << tries.min(5))
}

fn with_query(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={value}")
}

fn read_failure(method: &'static str, url: &str, e: std::io::Error) -> Failure {
    Failure {
        error: RegistryError::Transport {
            method,
            url: url.to_string(),
            message: e.to_string(),
        },
        retry: true,
        retry_after: None,
        challenge: None,
    }
}

/// A ureq error as a Failure: transport errors, 429 and 5xx may pass on
/// a retry; the registry's own explanation is kept for the message.
fn failure(method: &'static str, url: &str, e: ureq::Error) -> Failure {
    match e {
        ureq::Error::Status(status, resp) => {
            let retry_after = resp
                .header("Retry-After")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let challenge = (status == 401)
                .then(|| resp.header("WWW-Authenticate").map(str::to_string))
                .flatten();
            let mut body = String::new();
            let _ = resp.into_reader().take(64 * 1024).read_to_string(&mut body);
            // Registries explain errors in {"errors":[{"code","message"}]}.
            let message = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["errors"][0]["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| body.trim().chars().take(200).collect());
            let message = match status {
                401 => format!("{message} (unauthorized: check the credentials)"),
                _ => message,
            };
            Failure {
                error: RegistryError::Status {
                    method,
                    url: url.to_string(),
                    status,
                    message,
                },
                retry: status == 429 || (500..600).contains(&status) && status != 501,
                retry_after,
                challenge,
            }
        }
        ureq::Error::Transport(t) => Failure {
            error: RegistryError::Transport {
                method,
                url: url.to_string(),
                message: transport_message(&t),
            },
            // A name that does not resolve or a URL that makes no sense
            // will not get better; a refused or dropped connection may.
            retry: matches!(
                t.kind(),
                ureq::ErrorKind::ConnectionFailed | ureq::ErrorKind::Io
            ),
            retry_after: None,
            challenge: None,
        },
    }
}

/// ureq's description without the URL it repeats.
fn transport_message(t: &ureq::Transport) -> String {
    use std::error::Error;
    let mut m = t.kind().to_string();
    if let Some(msg) = t.message() {
        m.push_str(": ");
        m.push_str(msg);
    }
    if let Some(src) = t.source() {
        m.push_str(": ");
        m.push_str(&src.to_string());
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_stops_growing() {
        assert_eq!(backoff(0), Duration::from_millis(500));
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(9), Duration::from_secs(16));
    }

    #[test]
    fn queries_join_with_the_right_separator() {
        assert_eq!(
            with_query("http://h/u", "digest", "d"),
            "http://h/u?digest=d"
        );
        assert_eq!(
            with_query("http://h/u?_state=x", "digest", "d"),
            "http://h/u?_state=x&digest=d"
        );
    }
}
