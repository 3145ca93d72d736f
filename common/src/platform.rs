//! Platforms (`os/arch[/variant]`) as OCI names them, and the host's.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid platform {0:?}: expected OS/ARCH[/VARIANT], such as linux/amd64")]
pub struct PlatformError(String);

impl Platform {
    /// The platform this binary runs on, in Go's GOOS/GOARCH names.
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "x86" => ("386", None),
            "arm" => ("arm", Some("v7")),
            "powerpc64" => ("ppc64le", None),
            "s390x" => ("s390x", None),
            "riscv64" => ("riscv64", None),
            other => (other, None),
        };
        Platform {
            os: std::env::consts::OS.to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        }
    }

    /// Whether an image of platform `other` runs here: os and architecture
    /// equal, and the variant equal when both name one.
    pub fn matches(&self, os: &str, arch: &str, variant: Option<&str>) -> bool {
        self.os == os
            && self.architecture == arch
            && match (&self.variant, variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

impl Platform {
    /// Whether binaries of this platform run here without emulation.
    pub fn is_native(&self) -> bool {
        let h = Platform::host();
        self.os == h.os && self.architecture == h.architecture
    }

    /// The CPU name qemu and the kernel give this platform's architecture
    /// (arm64 is aarch64), as in binfmt_misc's qemu-NAME entries.
    pub fn qemu_arch(&self) -> &str {
        match (self.architecture.as_str(), self.variant.as_deref()) {
            ("amd64", _) => "x86_64",
            ("arm64", _) => "aarch64",
            ("386", _) => "i386",
            ("arm", _) => "arm",
            ("ppc64le", _) => "ppc64le",
            ("riscv64", _) => "riscv64",
            ("s390x", _) => "s390x",
            ("mips64le", _) => "mips64el",
            (a, _) => a,
        }
    }

    /// The emulator binfmt_misc runs this platform's binaries with, if one
    /// is registered and enabled; the kernel finds it for every process,
    /// a container's too, when it was registered with the fix-binary flag.
    pub fn emulator(&self) -> Option<Emulator> {
        let dir = std::path::Path::new("/proc/sys/fs/binfmt_misc");
        let want = format!("qemu-{}", self.qemu_arch());
        let text = std::fs::read_to_string(dir.join(&want)).ok()?;
        let mut lines = text.lines();
        if lines.next()? != "enabled" {
            return None;
        }
        let mut interpreter = None;
        let mut fix_binary = false;
        for l in lines {
            if let Some(i) = l.strip_prefix("interpreter ") {
                interpreter = Some(std::path::PathBuf::from(i));
            }
            if let Some(f) = l.strip_prefix("flags: ") {
                fix_binary = f.contains('F');
            }
        }
        Some(Emulator {
            interpreter: interpreter?,
            fix_binary,
        })
    }
}

/// A binfmt_misc emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emulator {
    pub interpreter: std::path::PathBuf,
    /// Opened at registration (flag F): it works inside any root.
    pub fix_binary: bool,
}

/// Why a platform's binaries cannot run here, for an error line.
pub fn no_emulator(p: &Platform) -> String {
    format!(
        "no emulator for {p} is registered with binfmt_misc (qemu-{}): apt install qemu-user-static, and register it with the fix-binary flag (scripts/lib.sh's qemu_binfmt does both)",
        p.qemu_arch()
    )
}

impl FromStr for Platform {
    type Err = PlatformError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(PlatformError(s.to_string()));
        }
        Ok(Platform {
            os: parts[0].to_string(),
            architecture: parts[1].to_string(),
            variant: parts.get(2).map(|v| v.to_string()),
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}
