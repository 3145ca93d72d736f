//! `--provenance mode=min|max`: a SLSA v0.2 provenance statement about
//! each image the build makes, in BuildKit's shape (buildType
//! `https://mobyproject.org/buildkit@v1`), attached to the result's index
//! as BuildKit does (`image-store manifest create --attest`), so `docker
//! buildx imagetools inspect --format '{{json .Provenance}}'`, cosign and
//! the registries read it.
//!
//! Both modes record the Dockerfile (its name and digest), the base
//! images by digest, a git context's URL and commit, the platform and the
//! build's times. max adds the build arguments with their values, the
//! ids of the secrets and ssh agents (never their contents), and the
//! Dockerfile itself.

use super::*;

/// How much a provenance statement says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Min,
    Max,
}

/// `--provenance` as buildx takes it: true|false|min|max|mode=min|mode=max
/// (None: off).
pub fn parse(s: &str) -> Result<Option<Mode>, String> {
    let mut mode = Some(Mode::Min);
    for part in s.split(',') {
        match part {
            "true" | "1" | "min" | "mode=min" => mode = Some(Mode::Min),
            "max" | "mode=max" => mode = Some(Mode::Max),
            "false" | "0" => mode = None,
            other => {
                return Err(format!(
                    "{other:?}: --provenance takes true, false, mode=min or mode=max"
                ))
            }
        }
    }
    Ok(mode)
}

/// A --provenance or --attest flag: a mode, or off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting(pub Option<Mode>);

/// `--provenance` as clap reads it.
pub fn parse_flag(s: &str) -> Result<Setting, String> {
    parse(s).map(Setting)
}

/// What the statement records that only the command line knows.
#[derive(Clone, Debug)]
pub struct Inputs {
    pub mode: Mode,
    /// The Dockerfile's name (its path in the context) and its bytes.
    pub dockerfile: (String, Vec<u8>),
    /// --build-arg, resolved.
    pub args: Vec<(String, String)>,
    /// A git context's URL and commit.
    pub git: Option<(String, String)>,
    pub target: Option<String>,
    /// When the build began, seconds since the epoch.
    pub started: i64,
}

/// An image the build read, by name and digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Material {
    pub name: String,
    pub digest: String,
    pub platform: String,
}

/// A package URL of a docker image (`pkg:docker/alpine@3.19?platform=…`),
/// as BuildKit names subjects and materials.
fn purl(name: &str, platform: &str) -> String {
    let (repo, version) = match name.split_once('@') {
        Some((r, d)) => (r.to_string(), d.to_string()),
        None => match name.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
            Some((r, t)) => (r.to_string(), t.to_string()),
            None => (name.to_string(), "latest".to_string()),
        },
    };
    format!(
        "pkg:docker/{repo}@{version}?platform={}",
        platform.replace('/', "%2F")
    )
}

fn sha256(digest: &str) -> serde_json::Value {
    json!({"sha256": digest.strip_prefix("sha256:").unwrap_or(digest)})
}

impl Driver<'_> {
    /// Records an image this build read from outside (FROM, COPY --from,
    /// RUN --mount from=), for the provenance's materials.
    pub(super) fn material(&self, name: &str, found: &Inspected) {
        if self.opts.provenance.is_none() {
            return;
        }
        let m = Material {
            name: name.to_string(),
            digest: found.digest.clone(),
            platform: found.platform.to_string(),
        };
        let mut list = lock(&self.shared.materials);
        if !list.contains(&m) {
            list.push(m);
        }
    }

    /// The statement about `image` (its manifest digest), built for
    /// `platform` from what `materials` lists.
    pub(super) fn provenance(
        &self,
        digest: &str,
        platform: &str,
        materials: &[Material],
    ) -> serde_json::Value {
        let p = self.opts.provenance.as_ref().expect("asked for");
        let max = p.mode == Mode::Max;
        let names: Vec<String> = match self.opts.tags.as_slice() {
            [] => vec![format!("{}:latest", self.repo)],
            t => t.to_vec(),
        };
        let subject: Vec<serde_json::Value> = names
            .iter()
            .map(|n| json!({"name": purl(n, platform), "digest": sha256(digest)}))
            .collect();
        let mut mats: Vec<serde_json::Value> = materials
            .iter()
            .map(|m| json!({"uri": purl(&m.name, &m.platform), "digest": sha256(&m.digest)}))
            .collect();
        let mut config_source = json!({
            "entryPoint": p.dockerfile.0,
            "digest": sha256(&Digest::of(&p.dockerfile.1).to_string()),
        });
        if let Some((url, commit)) = &p.git {
            config_source["uri"] = json!(url);
            config_source["digest"] = json!({"sha1": commit});
            mats.push(json!({"uri": url, "digest": {"sha1": commit}}));
        }
        let mut parameters = json!({
            "frontend": "dockerfile.v0",
            "locals": [{"name": "context"}, {"name": "dockerfile"}],
        });
        if let Some(t) = &p.target {
            parameters["args"] = json!({"target": t});
        }
        if max {
            let args = parameters
                .as_object_mut()
                .expect("an object")
                .entry("args")
                .or_insert_with(|| json!({}));
            for (k, v) in &p.args {
                args[format!("build-arg:{k}")] = json!(v);
            }
            // Their ids only: what a secret or an agent holds never
            // leaves the step that mounts it.
            let ids = |ids: Vec<&String>| -> Vec<serde_json::Value> {
                ids.into_iter()
                    .map(|id| json!({"id": id, "optional": false}))
                    .collect()
            };
            let secrets = ids(self.opts.secrets.iter().map(|(id, _)| id).collect());
            if !secrets.is_empty() {
                parameters["secrets"] = json!(secrets);
            }
            let ssh = ids(self.opts.ssh.iter().map(|(id, _)| id).collect());
            if !ssh.is_empty() {
                parameters["ssh"] = json!(ssh);
            }
        }
        let mut buildkit_meta = json!({});
        if let Some((url, commit)) = &p.git {
            buildkit_meta["vcs"] = json!({"source": url, "revision": commit});
        }
        if max {
            buildkit_meta["source"] = json!({
                "infos": [{
                    "filename": p.dockerfile.0,
                    "language": "Dockerfile",
                    "data": base64_encode(&p.dockerfile.1),
                }],
            });
        }
        json!({
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": "https://slsa.dev/provenance/v0.2",
            "subject": subject,
            "predicate": {
                "builder": {"id": ""},
                "buildType": "https://mobyproject.org/buildkit@v1",
                "materials": mats,
                "invocation": {
                    "configSource": config_source,
                    "parameters": parameters,
                    "environment": {"platform": platform},
                },
                "metadata": {
                    "buildInvocationID": self.repo.rsplit('/').next().unwrap_or_default(),
                    "buildStartedOn": slipway_common::time::format_rfc3339(p.started),
                    "buildFinishedOn": slipway_common::time::format_rfc3339(slipway_common::time::now()),
                    "completeness": {"parameters": max, "environment": true, "materials": false},
                    "reproducible": false,
                    "https://mobyproject.org/buildkit@v1#metadata": buildkit_meta,
                },
            },
        })
    }

    /// What this platform's build read, taken for its statement.
    pub(super) fn take_materials(&self) -> Vec<Material> {
        std::mem::take(&mut *lock(&self.shared.materials))
    }
}

/// Standard base64 with padding, as BuildKit encodes the Dockerfile.
fn base64_encode(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provenance_flags_read_as_buildx_reads_them() {
        assert_eq!(parse("true"), Ok(Some(Mode::Min)));
        assert_eq!(parse("mode=max"), Ok(Some(Mode::Max)));
        assert_eq!(parse("max"), Ok(Some(Mode::Max)));
        assert_eq!(parse("false"), Ok(None));
        assert!(parse("mode=full").is_err());
    }

    #[test]
    fn names_become_package_urls_and_bytes_base64() {
        assert_eq!(
            purl("busybox", "linux/amd64"),
            "pkg:docker/busybox@latest?platform=linux%2Famd64"
        );
        assert_eq!(
            purl("127.0.0.1:5000/app:1", "linux/arm64"),
            "pkg:docker/127.0.0.1:5000/app@1?platform=linux%2Farm64"
        );
        assert_eq!(
            purl("a@sha256:ab", "linux/amd64"),
            "pkg:docker/a@sha256:ab?platform=linux%2Famd64"
        );
        assert_eq!(base64_encode(b"FROM a\n"), "RlJPTSBhCg==");
        assert_eq!(base64_encode(b"ab"), "YWI=");
        assert_eq!(base64_encode(b"abc"), "YWJj");
    }
}
