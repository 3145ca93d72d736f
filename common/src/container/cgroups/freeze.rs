//! pause and unpause: the freezer (v1 `freezer.state`, v2 `cgroup.freeze`),
//! as runc pauses a container: every process stops where it is, none is
//! signalled.

use super::{io_err, Cgroup, CgroupError};
use std::fs;
use std::time::{Duration, Instant};

/// How long a freeze may take to settle before we call it failed: a
/// process in an uninterruptible sleep holds it back.
const SETTLE: Duration = Duration::from_secs(5);

impl Cgroup {
    fn freezer_file(&self) -> Result<std::path::PathBuf, CgroupError> {
        let file = if self.v2 {
            "cgroup.freeze"
        } else {
            "freezer.state"
        };
        self.dir_of("freezer")
            .map(|d| d.join(file))
            .filter(|f| f.exists())
            .ok_or(CgroupError::NoController("pause", "freezer"))
    }

    /// Whether the container's processes are frozen.
    pub fn paused(&self) -> bool {
        let Ok(f) = self.freezer_file() else {
            return false;
        };
        let now = fs::read_to_string(&f).unwrap_or_default();
        if self.v2 {
            now.trim() == "1"
        } else {
            now.trim() == "FROZEN"
        }
    }

    /// Freezes (`true`) or thaws the container's processes, and waits
    /// until the kernel says it is done.
    pub fn freeze(&self, frozen: bool) -> Result<(), CgroupError> {
        let f = self.freezer_file()?;
        let (value, done) = match (self.v2, frozen) {
            (true, true) => ("1", "frozen 1"),
            (true, false) => ("0", "frozen 0"),
            (false, true) => ("FROZEN", "FROZEN"),
            (false, false) => ("THAWED", "THAWED"),
        };
        fs::write(&f, value).map_err(io_err("write", &f))?;
        // v1 passes through FREEZING; v2 reports it in cgroup.events.
        let (check, want) = if self.v2 {
            (f.with_file_name("cgroup.events"), done)
        } else {
            (f.clone(), done)
        };
        let start = Instant::now();
        loop {
            let now = fs::read_to_string(&check).map_err(io_err("read", &check))?;
            if now.lines().any(|l| l.trim() == want) {
                return Ok(());
            }
            if start.elapsed() > SETTLE {
                return Err(CgroupError::Unsupported(format!(
                    "{} did not settle to {want:?}",
                    check.display()
                )));
            }
            if !self.v2 {
                // Writing FROZEN again moves a FREEZING cgroup on.
                let _ = fs::write(&f, value);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}
