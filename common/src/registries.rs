//! containers-registries.conf(5), as podman, buildah and skopeo read it:
//! which registries a short name (`busybox`, `team/app`) is looked for in
//! (`unqualified-search-registries`, `[aliases]`), and where a registry's
//! images are really fetched from (`[[registry]]` `location`, its
//! `[[registry.mirror]]`s, `insecure`, `blocked`).
//!
//! Files: `$CONTAINERS_REGISTRIES_CONF` alone when set; else
//! `/etc/containers/registries.conf` and the `registries.conf.d/*.conf`
//! beside it in name order, or for an ordinary user
//! `$XDG_CONFIG_HOME/containers/registries.conf` (and its `.d`) where it
//! exists. A later file's search list replaces an earlier one's, its
//! `[[registry]]` replaces one with the same prefix, its aliases add.
//!
//! Without a search list a short name means Docker Hub, as `docker` has
//! it (podman would refuse it).

use crate::reference::{Reference, ReferenceError};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    #[error("{}: {msg}", path.display())]
    Parse { path: PathBuf, msg: String },
    #[error("{0}: the registry is blocked in registries.conf")]
    Blocked(String),
    #[error("short name {name:?} could be any of {}: give the full name, or an alias in registries.conf (short-name-mode is enforcing, and no prompt is made here)", candidates.join(", "))]
    Ambiguous {
        name: String,
        candidates: Vec<String>,
    },
    #[error("{path}: short-name-mode {mode:?} is none of enforcing, permissive, disabled")]
    BadMode { path: PathBuf, mode: String },
    #[error(transparent)]
    Reference(#[from] ReferenceError),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct File {
    unqualified_search_registries: Option<Vec<String>>,
    #[serde(default)]
    registry: Vec<Registry>,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
    short_name_mode: Option<String>,
}

/// One `[[registry]]` table.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct Registry {
    /// What references it applies to (default: `location`).
    pub prefix: Option<String>,
    /// Where they are fetched from instead.
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub insecure: bool,
    #[serde(default)]
    pub blocked: bool,
    #[serde(default)]
    pub mirror: Vec<Mirror>,
    /// Mirrors only for references by digest (tags can differ there).
    #[serde(default)]
    pub mirror_by_digest_only: bool,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct Mirror {
    pub location: String,
    #[serde(default)]
    pub insecure: bool,
}

/// Where to fetch an image from: the reference as that place names it,
/// and whether that host is insecure (plain HTTP or unverified TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub reference: Reference,
    pub insecure: bool,
    pub mirror: bool,
}

/// The registries configuration of this host (or of a test's file).
#[derive(Debug, Clone, Default)]
pub struct Conf {
    search: Option<Vec<String>>,
    registries: Vec<Registry>,
    aliases: BTreeMap<String, String>,
    /// enforcing refuses a short name that more than one search registry
    /// could mean (there being no prompt); permissive and disabled try
    /// each in turn.
    enforcing: bool,
}

/// Whether the name as typed names no registry: its first component is
/// no host (no `.` or `:`, not `localhost`).
pub fn is_short(typed: &str) -> bool {
    let name = typed.split('@').next().unwrap_or(typed);
    match name.split_once('/') {
        Some((first, _)) => {
            !(first.contains(['.', ':']) || first == "localhost" || first.to_lowercase() != first)
        }
        None => true,
    }
}

impl Conf {
    /// The host's files (see the module's comment); missing ones are none.
    pub fn load() -> Result<Conf, ConfError> {
        Conf::from_files(&files())
    }

    pub fn from_files(paths: &[PathBuf]) -> Result<Conf, ConfError> {
        let mut conf = Conf::default();
        for p in paths {
            let Ok(text) = std::fs::read_to_string(p) else {
                continue;
            };
            conf.add(p, &text)?;
        }
        Ok(conf)
    }

    fn add(&mut self, path: &Path, text: &str) -> Result<(), ConfError> {
        let f: File = toml::from_str(text).map_err(|e| ConfError::Parse {
            path: path.to_path_buf(),
            msg: e.to_string().lines().next().unwrap_or_default().to_string(),
        })?;
        if let Some(s) = f.unqualified_search_registries {
            self.search = Some(s);
        }
        for mut r in f.registry {
            if r.location.is_empty() && r.prefix.is_none() {
                return Err(ConfError::Parse {
                    path: path.to_path_buf(),
                    msg: "a [[registry]] needs a location or a prefix".into(),
                });
            }
            let prefix = r.prefix.clone().unwrap_or_else(|| r.location.clone());
            r.prefix = Some(prefix.clone());
            self.registries
                .retain(|o| o.prefix.as_deref() != Some(prefix.as_str()));
            self.registries.push(r);
        }
        self.aliases.extend(f.aliases);
        match f.short_name_mode.as_deref() {
            None => {}
            Some("enforcing") => self.enforcing = true,
            Some("permissive" | "disabled") => self.enforcing = false,
            Some(m) => {
                return Err(ConfError::BadMode {
                    path: path.to_path_buf(),
                    mode: m.to_string(),
                })
            }
        }
        Ok(())
    }

    /// The references a name as typed may mean, in the order to try them:
    /// a qualified name is itself; a short one is its alias, else itself on
    /// each search registry, else on Docker Hub.
    pub fn candidates(&self, typed: &str) -> Result<Vec<Reference>, ConfError> {
        if !is_short(typed) {
            return Ok(vec![Reference::parse(typed)?]);
        }
        let r = Reference::parse(typed)?;
        // The alias table is keyed by the name without tag or digest.
        let bare = typed
            .split('@')
            .next()
            .unwrap_or(typed)
            .rsplit_once(':')
            .map_or(typed, |(n, _)| n);
        let suffix = |target: &str| -> Result<Reference, ConfError> {
            let mut full = target.to_string();
            if let Some(d) = r.digest() {
                full = format!("{full}@{d}");
            } else if let Some(t) = r.tag() {
                full = format!("{full}:{t}");
            }
            Ok(Reference::parse(&full)?)
        };
        if let Some(target) = self.aliases.get(bare) {
            return Ok(vec![suffix(target)?]);
        }
        match &self.search {
            Some(list) if !list.is_empty() => list
                .iter()
                .map(|reg| suffix(&format!("{reg}/{bare}")))
                .collect(),
            _ => Ok(vec![r]),
        }
    }

    /// The candidates a pull tries: as [`Conf::candidates`], but in
    /// enforcing mode a short name with no alias that several search
    /// registries could mean is refused, as podman refuses it without a
    /// terminal to ask on.
    pub fn pull_candidates(&self, typed: &str) -> Result<Vec<Reference>, ConfError> {
        let c = self.candidates(typed)?;
        if self.enforcing && is_short(typed) && c.len() > 1 {
            return Err(ConfError::Ambiguous {
                name: typed.to_string(),
                candidates: c.iter().map(|r| r.to_string()).collect(),
            });
        }
        Ok(c)
    }

    /// The `[[registry]]` whose prefix matches `r` best (the longest).
    fn registry_for(&self, r: &Reference) -> Option<&Registry> {
        let name = r.name();
        self.registries
            .iter()
            .filter(|reg| {
                let p = reg.prefix.as_deref().unwrap_or(&reg.location);
                prefix_matches(p, &name)
            })
            .max_by_key(|reg| reg.prefix.as_deref().unwrap_or_default().len())
    }

    /// Where to fetch `r` from, in order: the mirrors of its registry,
    /// then its location (by default the registry it names).
    pub fn endpoints(&self, r: &Reference) -> Result<Vec<Endpoint>, ConfError> {
        let Some(reg) = self.registry_for(r) else {
            return Ok(vec![Endpoint {
                reference: r.clone(),
                insecure: false,
                mirror: false,
            }]);
        };
        if reg.blocked {
            return Err(ConfError::Blocked(r.name()));
        }
        let prefix = reg.prefix.as_deref().unwrap_or(&reg.location);
        let name = r.name();
        let rest = &name[prefix.trim_end_matches('/').len()..];
        let at = |location: &str| -> Result<Reference, ConfError> {
            let mut full = format!("{}{rest}", location.trim_end_matches('/'));
            if let Some(d) = r.digest() {
                full = format!("{full}@{d}");
            } else if let Some(t) = r.tag() {
                full = format!("{full}:{t}");
            }
            Ok(Reference::parse(&full)?)
        };
        let mut out = Vec::new();
        if !reg.mirror_by_digest_only || r.digest().is_some() {
            for m in &reg.mirror {
                out.push(Endpoint {
                    reference: at(&m.location)?,
                    insecure: m.insecure,
                    mirror: true,
                });
            }
        }
        let location = if reg.location.is_empty() {
            prefix
        } else {
            &reg.location
        };
        out.push(Endpoint {
            reference: at(location)?,
            insecure: reg.insecure,
            mirror: false,
        });
        Ok(out)
    }

    /// Whether `host` is marked insecure by a `[[registry]]` or mirror.
    pub fn insecure_host(&self, host: &str) -> bool {
        let host_of = |loc: &str| loc.split('/').next().unwrap_or_default().to_string();
        self.registries.iter().any(|r| {
            (r.insecure && host_of(&r.location) == host)
                || r.mirror
                    .iter()
                    .any(|m| m.insecure && host_of(&m.location) == host)
        })
    }
}

/// A prefix matches a name on whole components: `docker.io/library`
/// matches `docker.io/library/busybox`, not `docker.io/libraryx`.
fn prefix_matches(prefix: &str, name: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    // `docker.io` prefixes written as Docker users do also match.
    let prefix = prefix
        .strip_prefix("index.docker.io")
        .map_or(prefix.to_string(), |r| format!("docker.io{r}"));
    name == prefix || name.starts_with(&format!("{prefix}/"))
}

/// The files read, in order.
fn files() -> Vec<PathBuf> {
    if let Some(f) = std::env::var_os("CONTAINERS_REGISTRIES_CONF") {
        return vec![PathBuf::from(f)];
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
        if let Some(c) = config {
            let user = c.join("containers/registries.conf");
            if user.exists() {
                return with_dropins(user);
            }
        }
    }
    with_dropins(PathBuf::from("/etc/containers/registries.conf"))
}

fn with_dropins(main: PathBuf) -> Vec<PathBuf> {
    let dir = main.with_extension("conf.d");
    let mut drop: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    drop.sort();
    let mut out = vec![main];
    out.extend(drop);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> Conf {
        let mut c = Conf::default();
        c.add(Path::new("test.conf"), text).unwrap();
        c
    }

    fn names(v: Vec<Reference>) -> Vec<String> {
        v.into_iter().map(|r| r.to_string()).collect()
    }

    #[test]
    fn short_names_are_those_without_a_host() {
        for (n, short) in [
            ("busybox", true),
            ("team/app:1", true),
            ("busybox@sha256:abc", true),
            ("localhost/app", false),
            ("registry.example/app", false),
            ("127.0.0.1:5000/app", false),
        ] {
            assert_eq!(is_short(n), short, "{n}");
        }
    }

    #[test]
    fn a_short_name_is_tried_on_each_search_registry_or_by_its_alias() {
        let c = conf(
            r#"
unqualified-search-registries = ["registry.example:5000", "docker.io"]
short-name-mode = "enforcing"
[aliases]
"app" = "quay.io/team/app"
"#,
        );
        assert_eq!(
            names(c.candidates("busybox:1").unwrap()),
            [
                "registry.example:5000/busybox:1",
                "docker.io/library/busybox:1"
            ]
        );
        // Enforcing: a pull of an ambiguous short name is refused, an
        // alias is not ambiguous.
        let e = c.pull_candidates("busybox:1").unwrap_err().to_string();
        assert!(
            e.contains("registry.example:5000/busybox:1") && e.contains("enforcing"),
            "{e}"
        );
        assert_eq!(c.pull_candidates("app").unwrap().len(), 1);
        assert_eq!(
            names(c.candidates("app").unwrap()),
            ["quay.io/team/app:latest"]
        );
        assert_eq!(
            names(c.candidates("127.0.0.1:5000/x").unwrap()),
            ["127.0.0.1:5000/x:latest"]
        );
        // No search list: Docker Hub, as docker has it.
        assert_eq!(
            names(Conf::default().candidates("busybox").unwrap()),
            ["docker.io/library/busybox:latest"]
        );
    }

    #[test]
    fn a_registry_is_fetched_from_its_mirrors_then_its_location() {
        let c = conf(
            r#"
[[registry]]
prefix = "docker.io"
location = "hub.internal:5000/dockerhub"
insecure = true
[[registry.mirror]]
location = "127.0.0.1:6000/cache"
[[registry]]
location = "blocked.example"
blocked = true
[[registry]]
prefix = "quay.io/team"
location = "q.internal/team"
mirror-by-digest-only = true
[[registry.mirror]]
location = "m.internal/team"
"#,
        );
        let r = Reference::parse("busybox:1").unwrap();
        let e = c.endpoints(&r).unwrap();
        let got: Vec<(String, bool, bool)> = e
            .iter()
            .map(|e| (e.reference.to_string(), e.insecure, e.mirror))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "127.0.0.1:6000/cache/library/busybox:1".to_string(),
                    false,
                    true
                ),
                (
                    "hub.internal:5000/dockerhub/library/busybox:1".to_string(),
                    true,
                    false
                ),
            ]
        );
        assert!(c.insecure_host("hub.internal:5000"));
        assert!(!c.insecure_host("127.0.0.1:6000"));
        assert!(matches!(
            c.endpoints(&Reference::parse("blocked.example/x").unwrap()),
            Err(ConfError::Blocked(_))
        ));
        // By tag, a digest-only mirror is skipped.
        let q = c
            .endpoints(&Reference::parse("quay.io/team/app:2").unwrap())
            .unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].reference.to_string(), "q.internal/team/app:2");
        // Prefixes match whole components only.
        let other = c
            .endpoints(&Reference::parse("quay.io/teamx/app").unwrap())
            .unwrap();
        assert_eq!(other[0].reference.to_string(), "quay.io/teamx/app:latest");
    }

    #[test]
    fn later_files_replace_the_search_list_and_same_prefix_registries() {
        let mut c = conf("unqualified-search-registries = [\"a.example\"]\n[[registry]]\nlocation = \"a.example\"\ninsecure = true\n");
        c.add(
            Path::new("drop.conf"),
            "unqualified-search-registries = [\"b.example\"]\n[[registry]]\nlocation = \"a.example\"\n",
        )
        .unwrap();
        assert_eq!(names(c.candidates("x").unwrap()), ["b.example/x:latest"]);
        assert!(!c.insecure_host("a.example"));
        let bad = Conf::default().add(Path::new("bad.conf"), "unqualified-search-registries = 3");
        assert!(matches!(bad, Err(ConfError::Parse { .. })));
    }
}
