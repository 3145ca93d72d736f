//! Named volumes, as `docker volume` has them: a directory per volume in
//! `STORE/.slipway/volumes/NAME` (its data, bind mounted into containers)
//! and `.NAME.json` beside it (when it was made, its labels). A volume is
//! made on first use or by `volume create`, and removed only when no
//! container (running or not) names it.

use super::state::{valid_name, Containers, StateError};
use crate::fsutil::{self, IoContext};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("invalid volume name {0:?}: letters, digits, _ . - (not first)")]
    BadName(String),
    #[error("no such volume: {0}")]
    NotFound(String),
    #[error("remove {0}: volume is in use by container {1}")]
    InUse(String, String),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Io(#[from] fsutil::IoError),
}

/// What `docker volume inspect` shows of a volume.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub name: String,
    pub created_at: String,
    pub driver: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub mountpoint: PathBuf,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    pub scope: String,
}

pub struct Volumes {
    dir: PathBuf,
}

impl Volumes {
    pub fn open(store: &Path) -> Volumes {
        Volumes {
            dir: store.join(".slipway").join("volumes"),
        }
    }

    fn meta(&self, name: &str) -> PathBuf {
        self.dir.join(format!(".{name}.json"))
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The name of the volume whose data `dir` is, if it is one.
    pub fn name_of(&self, dir: &Path) -> Option<String> {
        let rest = dir.strip_prefix(&self.dir).ok()?;
        let mut parts = rest.components();
        let name = parts.next()?.as_os_str().to_str()?.to_string();
        (parts.next().is_none() && valid_name(&name)).then_some(name)
    }

    /// The volume NAME, made (with `labels`) if it does not exist; whether
    /// it was made now.
    pub fn create(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(Volume, bool), VolumeError> {
        if !valid_name(name) {
            return Err(VolumeError::BadName(name.to_string()));
        }
        if let Ok(v) = self.get(name) {
            return Ok((v, false));
        }
        let data = self.path(name);
        fsutil::create_dir_all(&data)?;
        let v = Volume {
            name: name.to_string(),
            created_at: crate::time::format_rfc3339(crate::time::now()),
            driver: "local".into(),
            labels: labels.clone(),
            mountpoint: data,
            options: BTreeMap::new(),
            scope: "local".into(),
        };
        let bytes = serde_json::to_vec_pretty(&v).expect("volume serializes");
        fsutil::write_atomic(&self.meta(name), &bytes)?;
        Ok((v, true))
    }

    /// A volume; one made before volumes kept a record (only its
    /// directory) is described from the directory.
    pub fn get(&self, name: &str) -> Result<Volume, VolumeError> {
        let data = self.path(name);
        if !valid_name(name) || !data.is_dir() {
            return Err(VolumeError::NotFound(name.to_string()));
        }
        if let Ok(bytes) = std::fs::read(self.meta(name)) {
            if let Ok(v) = serde_json::from_slice(&bytes) {
                return Ok(v);
            }
        }
        let created = std::fs::metadata(&data)
            .ctx("stat", &data)?
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs() as i64);
        Ok(Volume {
            name: name.to_string(),
            created_at: crate::time::format_rfc3339(created),
            driver: "local".into(),
            labels: BTreeMap::new(),
            mountpoint: data,
            options: BTreeMap::new(),
            scope: "local".into(),
        })
    }

    /// Every volume, by name.
    pub fn list(&self) -> Result<Vec<Volume>, VolumeError> {
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Ok(out);
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && e.path().is_dir() {
                if let Ok(v) = self.get(&name) {
                    out.push(v);
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The container that names `name`, if any.
    pub fn user(&self, containers: &Containers, name: &str) -> Result<Option<String>, VolumeError> {
        Ok(containers
            .list()?
            .into_iter()
            .find(|s| s.volumes.iter().any(|v| v == name))
            .map(|s| s.name))
    }

    /// Removes a volume no container names.
    pub fn remove(&self, containers: &Containers, name: &str) -> Result<(), VolumeError> {
        self.get(name)?;
        if let Some(c) = self.user(containers, name)? {
            return Err(VolumeError::InUse(name.to_string(), c));
        }
        let data = self.path(name);
        std::fs::remove_dir_all(&data).ctx("remove", &data)?;
        let _ = std::fs::remove_file(self.meta(name));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_are_made_once_listed_and_removed_unless_used() {
        let t = tempfile::tempdir().unwrap();
        let v = Volumes::open(t.path());
        let labels: BTreeMap<String, String> = [("k".to_string(), "v".to_string())].into();
        let (a, made) = v.create("data", &labels).unwrap();
        assert!(made && a.mountpoint.is_dir());
        let (again, made) = v.create("data", &BTreeMap::new()).unwrap();
        assert!(!made);
        assert_eq!(again.labels, labels);
        assert!(matches!(
            v.create("-bad", &labels),
            Err(VolumeError::BadName(_))
        ));
        v.create("other", &BTreeMap::new()).unwrap();
        let names: Vec<String> = v.list().unwrap().into_iter().map(|x| x.name).collect();
        assert_eq!(names, ["data", "other"]);
        let c = Containers::open(t.path()).unwrap();
        v.remove(&c, "other").unwrap();
        assert!(matches!(v.get("other"), Err(VolumeError::NotFound(_))));
        assert!(matches!(
            v.remove(&c, "nosuch"),
            Err(VolumeError::NotFound(_))
        ));
    }
}
