//! Image references: Docker's `NAME[:TAG][@DIGEST]` with its normalization
//! (`alpine` is `docker.io/library/alpine:latest`), and the transports that
//! skopeo and podman use to say where an image lives.

use crate::digest::{Digest, DigestError};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DOMAIN: &str = "index.docker.io";
const OFFICIAL_PREFIX: &str = "library/";
pub const DEFAULT_TAG: &str = "latest";
const NAME_TOTAL_MAX: usize = 255;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("invalid reference format: empty reference")]
    Empty,
    #[error("invalid reference format: repository name {0:?} must be lowercase")]
    Uppercase(String),
    #[error("invalid reference format: {0:?} is not a valid repository name")]
    Name(String),
    #[error("invalid reference format: {0:?} is not a valid domain")]
    Domain(String),
    #[error("invalid reference format: tag {0:?} is not valid (1-128 of [A-Za-z0-9_.-], not starting with . or -)")]
    Tag(String),
    #[error("invalid reference format: {0}")]
    Digest(#[from] DigestError),
    #[error("invalid reference format: repository name longer than {NAME_TOTAL_MAX} characters")]
    TooLong,
    #[error("invalid reference format: {0:?} is a 64-digit hex string, which cannot be a repository name")]
    HexName(String),
    #[error("invalid image reference {0:?}: {1}")]
    Transport(String, String),
}

/// A normalized Docker image reference. `tag` is always set unless the
/// reference was given by digest alone.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

fn is_path_component(s: &str) -> bool {
    // alpha-numeric (separator alpha-numeric)*, separator = [_.] | __ | -+
    let b = s.as_bytes();
    if b.is_empty() {
        return false;
    }
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &s[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_domain(s: &str) -> bool {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        // [ipv6]:port
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.is_empty() || !v6.bytes().all(|c| c.is_ascii_hexdigit() || c == b':') {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(p) => ("x", Some(p)),
                None => return false,
            },
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

fn is_tag(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

impl Reference {
    /// Parses and normalizes as `docker` does; a reference with neither tag
    /// nor digest gets `latest`.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let mut r = Reference::parse_name_only(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_string());
        }
        Ok(r)
    }

    /// Parses without adding the default tag.
    pub fn parse_name_only(s: &str) -> Result<Reference, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if s.len() == 64 && s.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(ReferenceError::HexName(s.to_string()));
        }
        let (rest, digest) = match s.rsplit_once('@') {
            Some((r, d)) => (r, Some(d.parse::<Digest>()?)),
            None => (s, None),
        };
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let t = &rest[last_slash + i + 1..];
                if !is_tag(t) {
                    return Err(ReferenceError::Tag(t.to_string()));
                }
                (&rest[..last_slash + i], Some(t.to_string()))
            }
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(ReferenceError::Name(s.to_string()));
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.to_lowercase() != first =>
            {
                (first.to_string(), remainder.to_string())
            }
            _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
        };
        let domain = if domain == LEGACY_DOMAIN {
            DEFAULT_DOMAIN.to_string()
        } else {
            domain
        };
        if !is_domain(&domain) {
            return Err(ReferenceError::Domain(domain));
        }
        if path.to_lowercase() != path {
            return Err(ReferenceError::Uppercase(path));
        }
        if path.is_empty() || !path.split('/').all(is_path_component) {
            return Err(ReferenceError::Name(name.to_string()));
        }
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("{OFFICIAL_PREFIX}{path}")
        } else {
            path
        };
        if domain.len() + 1 + path.len() > NAME_TOTAL_MAX {
            return Err(ReferenceError::TooLong);
        }
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }
    /// The repository path inside the registry (`library/alpine`).
    pub fn path(&self) -> &str {
        &self.path
    }
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }
    /// `domain/path`, the full repository name.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }
    /// The short name `docker images` shows (`alpine`, `user/app`,
    /// `localhost:5000/app`).
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            self.path
                .strip_prefix(OFFICIAL_PREFIX)
                .filter(|p| !p.contains('/'))
                .unwrap_or(&self.path)
                .to_string()
        } else {
            self.name()
        }
    }
    /// The familiar name with tag and digest.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        s
    }
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !is_tag(tag) {
            return Err(ReferenceError::Tag(tag.to_string()));
        }
        Ok(Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        })
    }
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            digest: Some(digest),
            ..self.clone()
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

/// A file path, or `-` for stdin/stdout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathOrStdio {
    Stdio,
    Path(PathBuf),
}

impl PathOrStdio {
    fn parse(s: &str) -> PathOrStdio {
        if s == "-" {
            PathOrStdio::Stdio
        } else {
            PathOrStdio::Path(PathBuf::from(s))
        }
    }
}

impl fmt::Display for PathOrStdio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathOrStdio::Stdio => f.write_str("-"),
            PathOrStdio::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Where an image lives, in skopeo's transport syntax.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageRef {
    /// `NAME[:TAG|@DIGEST]`: the local store.
    Store(Reference),
    /// `oci:DIR[:REF]`: an OCI image layout directory.
    Oci { dir: PathBuf, name: Option<String> },
    /// `oci-archive:FILE[:REF]`: a tar of an OCI layout.
    OciArchive {
        file: PathOrStdio,
        name: Option<String>,
    },
    /// `docker-archive:FILE[:NAME:TAG]`: the `docker save` format.
    DockerArchive {
        file: PathOrStdio,
        name: Option<Reference>,
    },
    /// `docker://HOST/REPO[:TAG|@DIGEST]`: a registry.
    Registry(Reference),
    /// `sha256:HEX` or 64 hex digits: an image in the store by its ID (the
    /// config digest) or manifest digest, whole or a unique prefix, as
    /// `docker run sha256:…` takes it.
    Id(String),
}

/// Whether `s` names an image by ID rather than by name: `sha256:` and
/// hex digits, or 64 hex digits (which no repository name may be).
fn id_query(s: &str) -> Option<&str> {
    let hex = |h: &str| {
        !h.is_empty()
            && h.len() <= 64
            && h.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    };
    match s.strip_prefix("sha256:") {
        Some(h) if hex(h) => Some(s),
        Some(_) => None,
        None if s.len() == 64 && hex(s) => Some(s),
        None => None,
    }
}

/// An OCI layout ref name (`org.opencontainers.image.ref.name`): what the
/// image-spec allows, which includes tags and full names with `:` and `/`.
fn check_layout_name(whole: &str, name: &str) -> Result<(), ReferenceError> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-._:@/+=".contains(&c))
        && !name
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if ok {
        Ok(())
    } else {
        Err(ReferenceError::Transport(
            whole.to_string(),
            format!("{name:?} is not a valid OCI layout reference name"),
        ))
    }
}

fn split_path_ref(whole: &str, rest: &str) -> Result<(String, Option<String>), ReferenceError> {
    let (path, name) = match rest.split_once(':') {
        Some((p, n)) => (p, Some(n.to_string())),
        None => (rest, None),
    };
    if path.is_empty() {
        return Err(ReferenceError::Transport(
            whole.to_string(),
            "the path is empty".into(),
        ));
    }
    if let Some(n) = &name {
        check_layout_name(whole, n)?;
    }
    Ok((path.to_string(), name))
}

impl ImageRef {
    pub fn parse(s: &str) -> Result<ImageRef, ReferenceError> {
        if let Some(rest) = s.strip_prefix("oci:") {
            let (dir, name) = split_path_ref(s, rest)?;
            if dir == "-" {
                return Err(ReferenceError::Transport(
                    s.into(),
                    "an oci: layout is a directory, not stdin (use oci-archive:-)".into(),
                ));
            }
            return Ok(ImageRef::Oci {
                dir: dir.into(),
                name,
            });
        }
        if let Some(rest) = s.strip_prefix("oci-archive:") {
            let (file, name) = split_path_ref(s, rest)?;
            return Ok(ImageRef::OciArchive {
                file: PathOrStdio::parse(&file),
                name,
            });
        }
        if let Some(rest) = s.strip_prefix("docker-archive:") {
            let (file, name) = match rest.split_once(':') {
                Some((f, n)) => (f, Some(n)),
                None => (rest, None),
            };
            if file.is_empty() {
                return Err(ReferenceError::Transport(
                    s.into(),
                    "the path is empty".into(),
                ));
            }
            let name = match name {
                Some(n) => {
                    let r = Reference::parse_name_only(n)?;
                    if r.digest().is_some() || r.tag().is_none() {
                        return Err(ReferenceError::Transport(
                            s.into(),
                            "a docker-archive name must be NAME:TAG".into(),
                        ));
                    }
                    Some(r)
                }
                None => None,
            };
            return Ok(ImageRef::DockerArchive {
                file: PathOrStdio::parse(file),
                name,
            });
        }
        if let Some(rest) = s.strip_prefix("docker:") {
            let Some(rest) = rest.strip_prefix("//") else {
                return Err(ReferenceError::Transport(
                    s.into(),
                    "the docker transport is written docker://HOST/REPO".into(),
                ));
            };
            return Ok(ImageRef::Registry(Reference::parse(rest)?));
        }
        if let Some((t, _)) = s.split_once(':') {
            if [
                "containers-storage",
                "dir",
                "docker-daemon",
                "sif",
                "tarball",
            ]
            .contains(&t)
            {
                return Err(ReferenceError::Transport(
                    s.into(),
                    format!("the {t} transport is not supported (use oci:, oci-archive:, docker-archive: or docker://)"),
                ));
            }
        }
        if let Some(id) = id_query(s) {
            return Ok(ImageRef::Id(id.to_string()));
        }
        Ok(ImageRef::Store(Reference::parse(s)?))
    }
}

impl FromStr for ImageRef {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageRef::parse(s)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageRef::Store(r) => write!(f, "{r}"),
            ImageRef::Oci { dir, name } => {
                write!(f, "oci:{}", dir.display())?;
                name.iter().try_for_each(|n| write!(f, ":{n}"))
            }
            ImageRef::OciArchive { file, name } => {
                write!(f, "oci-archive:{file}")?;
                name.iter().try_for_each(|n| write!(f, ":{n}"))
            }
            ImageRef::DockerArchive { file, name } => {
                write!(f, "docker-archive:{file}")?;
                name.iter().try_for_each(|n| write!(f, ":{}", n.familiar()))
            }
            ImageRef::Registry(r) => write!(f, "docker://{r}"),
            ImageRef::Id(id) => f.write_str(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// (input, Some(normalized) or None for an error)
    #[test]
    fn docker_references_normalize_like_docker() {
        let cases: Vec<(&str, Option<String>)> = vec![
            ("alpine", Some("docker.io/library/alpine:latest".into())),
            ("alpine:3.19", Some("docker.io/library/alpine:3.19".into())),
            (
                "library/alpine",
                Some("docker.io/library/alpine:latest".into()),
            ),
            (
                "docker.io/alpine",
                Some("docker.io/library/alpine:latest".into()),
            ),
            (
                "index.docker.io/alpine",
                Some("docker.io/library/alpine:latest".into()),
            ),
            (
                "index.docker.io/user/app:v1",
                Some("docker.io/user/app:v1".into()),
            ),
            ("user/app", Some("docker.io/user/app:latest".into())),
            (
                "user/app/sub:tag",
                Some("docker.io/user/app/sub:tag".into()),
            ),
            ("localhost/x", Some("localhost/x:latest".into())),
            ("localhost:5000/x", Some("localhost:5000/x:latest".into())),
            ("127.0.0.1:5000/x:t", Some("127.0.0.1:5000/x:t".into())),
            ("[::1]:5000/x:t", Some("[::1]:5000/x:t".into())),
            ("ghcr.io/a/b", Some("ghcr.io/a/b:latest".into())),
            (
                &*format!("ghcr.io/a/b@{D}").leak(),
                Some(format!("ghcr.io/a/b@{D}")),
            ),
            (
                &*format!("alpine:3@{D}").leak(),
                Some(format!("docker.io/library/alpine:3@{D}")),
            ),
            (
                "quay.io/org/repo:v1.2.3-rc_1",
                Some("quay.io/org/repo:v1.2.3-rc_1".into()),
            ),
            (
                "a.b-c_d__e",
                Some("docker.io/library/a.b-c_d__e:latest".into()),
            ),
            ("my--app", Some("docker.io/library/my--app:latest".into())),
            (
                "example.com:443/x/y/z",
                Some("example.com:443/x/y/z:latest".into()),
            ),
            ("alpine:_tag", Some("docker.io/library/alpine:_tag".into())),
            (
                "alpine:LATEST",
                Some("docker.io/library/alpine:LATEST".into()),
            ),
            ("Foo/bar", Some("Foo/bar:latest".into())),
            (
                "registry-1.docker.io/library/busybox",
                Some("registry-1.docker.io/library/busybox:latest".into()),
            ),
            ("x:1", Some("docker.io/library/x:1".into())),
            // rejected
            ("", None),
            ("Alpine", None),
            ("docker.io/Library/alpine", None),
            ("user/App", None),
            ("alpine:", None),
            ("alpine:.bad", None),
            ("alpine:-bad", None),
            ("alpine:a/b", None),
            (&*format!("alpine:{}", "t".repeat(129)).leak(), None),
            ("alpine@sha256:abc", None),
            ("alpine@md5:abc", None),
            (
                &*format!("alpine@{}", D.replace("sha256", "SHA256")).leak(),
                None,
            ),
            (":tag", None),
            ("/alpine", None),
            ("alpine/", None),
            ("a//b", None),
            ("_alpine", None),
            ("alpine_", None),
            ("al___pine", None),
            ("al.-pine", None),
            ("localhost:port/x", None),
            ("exa_mple.com/x", None),
            (
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                None,
            ),
            ("has space", None),
            (&*format!("x.io/{}", "a".repeat(260)).leak(), None),
        ];
        assert!(cases.len() >= 40);
        for (input, want) in &cases {
            let got = Reference::parse(input).map(|r| r.to_string());
            match want {
                Some(w) => assert_eq!(got.as_ref(), Ok(w), "{input}"),
                None => assert!(got.is_err(), "{input} should be rejected, got {got:?}"),
            }
        }
    }

    #[test]
    fn familiar_names_are_what_docker_images_shows() {
        for (input, familiar) in [
            ("alpine", "alpine:latest"),
            ("docker.io/user/app:v1", "user/app:v1"),
            ("localhost:5000/x:t", "localhost:5000/x:t"),
            ("docker.io/library/a/b", "library/a/b:latest"),
        ] {
            assert_eq!(Reference::parse(input).unwrap().familiar(), familiar);
        }
    }

    #[test]
    fn transports_parse_as_skopeo_writes_them() {
        let hex64 = "ab".repeat(32);
        let cases: Vec<(&str, Option<ImageRef>)> = vec![
            (
                "oci:/tmp/l",
                Some(ImageRef::Oci {
                    dir: "/tmp/l".into(),
                    name: None,
                }),
            ),
            (
                "oci:/tmp/l:v1",
                Some(ImageRef::Oci {
                    dir: "/tmp/l".into(),
                    name: Some("v1".into()),
                }),
            ),
            (
                "oci:store:docker.io/library/a:latest",
                Some(ImageRef::Oci {
                    dir: "store".into(),
                    name: Some("docker.io/library/a:latest".into()),
                }),
            ),
            (
                "oci-archive:-",
                Some(ImageRef::OciArchive {
                    file: PathOrStdio::Stdio,
                    name: None,
                }),
            ),
            (
                "oci-archive:a.tar:x",
                Some(ImageRef::OciArchive {
                    file: PathOrStdio::Path("a.tar".into()),
                    name: Some("x".into()),
                }),
            ),
            (
                "docker-archive:a.tar:app:v1",
                Some(ImageRef::DockerArchive {
                    file: PathOrStdio::Path("a.tar".into()),
                    name: Some(Reference::parse("app:v1").unwrap()),
                }),
            ),
            (
                "docker-archive:-",
                Some(ImageRef::DockerArchive {
                    file: PathOrStdio::Stdio,
                    name: None,
                }),
            ),
            (
                "docker://alpine",
                Some(ImageRef::Registry(Reference::parse("alpine").unwrap())),
            ),
            (
                "busybox",
                Some(ImageRef::Store(Reference::parse("busybox").unwrap())),
            ),
            ("sha256:0a1b", Some(ImageRef::Id("sha256:0a1b".into()))),
            (hex64.as_str(), Some(ImageRef::Id(hex64.clone()))),
            ("docker:alpine", None),
            ("oci:", None),
            ("oci:-", None),
            ("oci:dir:../x", None),
            ("docker-archive:a.tar:app", None),
            ("containers-storage:x", None),
            ("docker://Alpine", None),
        ];
        for (input, want) in cases {
            let got = ImageRef::parse(input);
            match want {
                Some(w) => assert_eq!(got, Ok(w), "{input}"),
                None => assert!(got.is_err(), "{input} should be rejected, got {got:?}"),
            }
        }
    }
}
