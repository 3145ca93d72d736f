//! The command-line options of the tools that talk to registries, with
//! skopeo's and Docker's names.

use super::{Credentials, Options, Progress, RegistryError};
use std::path::PathBuf;

#[derive(clap::Args, Debug, Clone)]
pub struct RegistryArgs {
    /// Credentials for the registry, USER:PASSWORD (USER alone asks for
    /// the password on the terminal). Without it: $REGISTRY_AUTH_FILE, the
    /// containers auth.json, then ~/.docker/config.json and its helpers.
    #[arg(long, value_name = "USER[:PASSWORD]")]
    pub creds: Option<String>,

    /// A directory of certificates for the registry: *.crt are CAs trusted
    /// beside the system's, NAME.cert with NAME.key a client certificate.
    /// Default: /etc/containers/certs.d/HOST and /etc/docker/certs.d/HOST.
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,

    /// Verify the registry's TLS certificate (true even for loopback
    /// hosts, which otherwise may be plain HTTP), or not (false: any
    /// certificate, and plain HTTP where the host has no TLS).
    // `=` is required, as skopeo's Go flags do: `--tls-verify IMAGE` must
    // not read the image as the value.
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub tls_verify: Option<bool>,

    /// Treat this host as Docker treats an insecure registry (repeatable):
    /// unverified TLS, or plain HTTP. Loopback hosts always are.
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure: Vec<String>,

    /// Retries of a request or a transfer after a dropped connection, a 429
    /// or a 5xx, with exponential backoff (and Retry-After honoured).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retries: u32,

    /// Blobs moved at once.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,

    /// The platform to choose from a multi-platform image (default: the host's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<crate::platform::Platform>,

    /// No progress on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

impl RegistryArgs {
    pub fn platform(&self) -> crate::platform::Platform {
        self.platform
            .clone()
            .unwrap_or_else(crate::platform::Platform::host)
    }

    /// How to reach `host` (a reference's domain).
    pub fn options(&self, host: &str) -> Result<Options, RegistryError> {
        let creds = match &self.creds {
            None => None,
            Some(c) if c.contains(':') => Some(Credentials::parse(c)?),
            Some(user) => Some(Credentials {
                username: user.clone(),
                secret: read_password(user)?,
            }),
        };
        Ok(Options {
            insecure: self.insecure.iter().any(|h| h == host),
            tls_verify: self.tls_verify,
            cert_dir: self.cert_dir.clone(),
            creds,
            retries: self.retries,
        })
    }

    pub fn progress(&self, tool: &'static str) -> Progress {
        Progress::new(tool, self.quiet)
    }
}

/// Asks for a password on the terminal, without echo, as skopeo does for
/// `--creds USER`.
pub fn read_password(user: &str) -> Result<String, RegistryError> {
    use std::io::{BufRead, Write};
    use std::os::fd::AsRawFd;
    let no_tty = || {
        RegistryError::Auth(format!(
            "--creds {user}: no password given and no terminal to ask for one (give USER:PASSWORD)"
        ))
    };
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| no_tty())?;
    let fd = tty.as_raw_fd();
    // SAFETY: termios is plain data; tcgetattr fills it for an open tty.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open for the whole block; saved is a valid termios.
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        return Err(no_tty());
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    // SAFETY: as above; the saved settings are restored below.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    let mut out = &tty;
    let _ = write!(out, "Password for {user}: ");
    let mut line = String::new();
    let r = std::io::BufReader::new(&tty).read_line(&mut line);
    // SAFETY: restores what tcgetattr read from the same fd.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    let _ = writeln!(out);
    r.map_err(|_| no_tty())?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
