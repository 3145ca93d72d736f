//! A detached container's log, as Docker's json-file driver keeps it: one
//! JSON record per line in `container.log`, rotated at `max-size` into
//! `container.log.1`, `.2`… keeping `max-file` files in all; or no log at
//! all with the `none` driver.

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// `--log-driver` and `--log-opt`, as recorded in the state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogConfig {
    /// json-file or none.
    #[serde(rename = "Type")]
    pub driver: String,
    /// Bytes a file may reach before it is rotated (none: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<u64>,
    /// Files kept, the current one included (1: no rotated files).
    #[serde(default = "one")]
    pub max_file: u32,
}

fn one() -> u32 {
    1
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            driver: "json-file".into(),
            max_size: None,
            max_file: 1,
        }
    }
}

impl LogConfig {
    /// Reads `--log-driver` and the `--log-opt KEY=VALUE`s.
    pub fn parse(driver: Option<&str>, opts: &[String]) -> Result<LogConfig, String> {
        let mut c = LogConfig::default();
        match driver {
            None | Some("json-file") => {}
            Some("none") => c.driver = "none".into(),
            Some(d) => {
                return Err(format!(
                    "--log-driver {d:?}: slipway writes json-file logs, or none"
                ))
            }
        }
        for o in opts {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| format!("--log-opt {o:?}: takes KEY=VALUE"))?;
            if c.driver == "none" {
                return Err(format!("--log-opt {k}: the none driver takes no options"));
            }
            match k {
                "max-size" => {
                    let n = crate::time::parse_bytes(v)
                        .map_err(|e| format!("--log-opt max-size: {e}"))?;
                    if n == 0 {
                        return Err("--log-opt max-size: must be more than 0".into());
                    }
                    c.max_size = Some(n);
                }
                "max-file" => {
                    c.max_file = v
                        .parse()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| format!("--log-opt max-file {v:?}: a number, 1 or more"))?;
                }
                _ => {
                    return Err(format!(
                        "--log-opt {k}: not an option of the json-file driver here (max-size, max-file)"
                    ))
                }
            }
        }
        if c.max_file > 1 && c.max_size.is_none() {
            return Err("--log-opt max-file needs max-size".into());
        }
        Ok(c)
    }
}

/// The rotated files of `path`, oldest first, then `path` itself.
pub fn files(path: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = (1..)
        .map(|n| rotated(path, n))
        .take_while(|p| p.exists())
        .collect();
    out.reverse();
    out.push(path.to_path_buf());
    out
}

fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Appends records to the log, rotating as the config says.
pub struct LogWriter {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    config: LogConfig,
}

impl LogWriter {
    pub fn open(path: &Path, config: &LogConfig) -> io::Result<LogWriter> {
        let file = if config.driver == "none" {
            None
        } else {
            Some(OpenOptions::new().create(true).append(true).open(path)?)
        };
        let size = file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map_or(0, |m| m.len());
        Ok(LogWriter {
            path: path.to_path_buf(),
            file,
            size,
            config: config.clone(),
        })
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.config.max_file <= 1 {
            // Nothing kept: the file starts again.
            if let Some(f) = &self.file {
                f.set_len(0)?;
            }
            self.size = 0;
            return Ok(());
        }
        let keep = self.config.max_file - 1;
        let _ = std::fs::remove_file(rotated(&self.path, keep));
        for n in (1..keep).rev() {
            let _ = std::fs::rename(rotated(&self.path, n), rotated(&self.path, n + 1));
        }
        std::fs::rename(&self.path, rotated(&self.path, 1))?;
        self.file = Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?,
        );
        self.size = 0;
        Ok(())
    }

    /// Writes whole records (each ending in a newline), rotating before
    /// a record that would take the file past max-size.
    pub fn write(&mut self, records: &[u8]) -> io::Result<()> {
        if self.file.is_none() {
            return Ok(());
        }
        for rec in records.split_inclusive(|b| *b == b'\n') {
            if let Some(max) = self.config.max_size {
                if self.size > 0 && self.size + rec.len() as u64 > max {
                    self.rotate()?;
                }
            }
            if let Some(f) = &mut self.file {
                f.write_all(rec)?;
            }
            self.size += rec.len() as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_read_as_docker_takes_them() {
        let c = LogConfig::parse(None, &["max-size=1k".into(), "max-file=3".into()]).unwrap();
        assert_eq!((c.max_size, c.max_file), (Some(1024), 3));
        assert_eq!(LogConfig::parse(Some("none"), &[]).unwrap().driver, "none");
        assert!(LogConfig::parse(Some("syslog"), &[]).is_err());
        // Docker's local driver writes another format: not passed off as
        // json-file.
        assert!(LogConfig::parse(Some("local"), &[]).is_err());
        assert!(LogConfig::parse(None, &["max-file=2".into()]).is_err());
        assert!(LogConfig::parse(None, &["compress=true".into()]).is_err());
        assert!(LogConfig::parse(Some("none"), &["max-size=1k".into()]).is_err());
    }

    #[test]
    fn a_full_file_rotates_and_the_oldest_goes() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("container.log");
        let c = LogConfig::parse(None, &["max-size=10".into(), "max-file=3".into()]).unwrap();
        let mut w = LogWriter::open(&path, &c).unwrap();
        w.write(b"aaaa\nbbbb\ncccc\n").unwrap();
        for rec in ["dddd\n", "eeee\n", "ffff\n", "gggg\n"] {
            w.write(rec.as_bytes()).unwrap();
        }
        let all: Vec<String> = files(&path)
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        assert_eq!(all, ["cccc\ndddd\n", "eeee\nffff\n", "gggg\n"]);
        // None: nothing is written at all.
        let none = t.path().join("none.log");
        let mut w = LogWriter::open(&none, &LogConfig::parse(Some("none"), &[]).unwrap()).unwrap();
        w.write(b"x\n").unwrap();
        assert!(!none.exists());
    }
}
