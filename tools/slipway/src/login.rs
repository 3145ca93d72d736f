//! login and logout: a registry's credentials checked against it and
//! kept in the auth file every slipway tool (and skopeo, podman, docker)
//! reads, or taken out of it.

use crate::Error;
use slipway_common::registry::{creds, read_password, Access, Credentials, Options, Registry};
use std::io::Read;
use std::path::PathBuf;

#[derive(clap::Args, Debug, Clone)]
pub struct LoginArgs {
    /// The user name.
    #[arg(short, long)]
    pub username: Option<String>,
    /// The password (seen by every user of `ps`: prefer --password-stdin).
    #[arg(short, long)]
    pub password: Option<String>,
    /// Read the password from stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// The auth file to write (default: $REGISTRY_AUTH_FILE, else
    /// ~/.docker/config.json, as docker login).
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// Verify the registry's TLS certificate (false: any certificate, and
    /// plain HTTP where the host has no TLS).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub tls_verify: Option<bool>,
    /// A directory of CA certificates (*.crt) for the registry.
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// The registry (default: docker.io).
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct LogoutArgs {
    /// Every registry in the auth files.
    #[arg(short, long, conflicts_with = "server")]
    pub all: bool,
    /// The registry (default: docker.io).
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

/// `https://h:5000/v2/` and `h:5000` name one registry; Docker Hub is
/// docker.io.
fn host(server: Option<&str>) -> String {
    let s = server.unwrap_or("docker.io");
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let h = s.split('/').next().unwrap_or(s);
    match h {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
        h => h.into(),
    }
}

fn reg(e: slipway_common::registry::RegistryError) -> Error {
    Error::Usage(e.to_string())
}

pub fn login(a: &LoginArgs) -> Result<u8, Error> {
    let host = host(a.server.as_deref());
    let username = match &a.username {
        Some(u) if !u.is_empty() => u.clone(),
        _ => {
            return Err(Error::Usage(
                "login: give the user name with -u (and the password with --password-stdin)".into(),
            ))
        }
    };
    let secret = match (&a.password, a.password_stdin) {
        (Some(_), true) => {
            return Err(Error::Usage(
                "login: --password and --password-stdin conflict".into(),
            ))
        }
        (Some(p), false) => {
            eprintln!("slipway: warning: a password given with -p is seen by other users (ps); use --password-stdin");
            p.clone()
        }
        (None, true) => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| Error::Usage(format!("login: read the password from stdin: {e}")))?;
            s.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => read_password(&username).map_err(reg)?,
    };
    if secret.is_empty() {
        return Err(Error::Usage("login: the password is empty".into()));
    }
    let creds = Credentials { username, secret };
    let opts = Options {
        tls_verify: a.tls_verify,
        cert_dir: a.cert_dir.clone(),
        creds: Some(creds.clone()),
        retries: 1,
        ..Options::default()
    };
    Registry::connect(&host, &opts, Access::Pull)
        .and_then(|r| r.check_login())
        .map_err(reg)?;
    let file = a
        .authfile
        .clone()
        .or_else(creds::login_file)
        .ok_or_else(|| {
            Error::Usage("login: no HOME: give --authfile or $REGISTRY_AUTH_FILE".into())
        })?;
    creds::store(&file, &host, &creds).map_err(reg)?;
    println!("Login Succeeded");
    Ok(0)
}

pub fn logout(a: &LogoutArgs) -> Result<u8, Error> {
    if a.all {
        let hosts = creds::hosts().map_err(reg)?;
        for h in &hosts {
            creds::erase(h).map_err(reg)?;
        }
        println!("Removed login credentials for all registries");
        return Ok(0);
    }
    let host = host(a.server.as_deref());
    let changed = creds::erase(&host).map_err(reg)?;
    if changed.is_empty() {
        println!("Not logged in to {host}");
    } else {
        println!("Removing login credentials for {host}");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::host;

    #[test]
    fn servers_are_named_by_their_host() {
        assert_eq!(host(None), "docker.io");
        assert_eq!(host(Some("https://index.docker.io/v1/")), "docker.io");
        assert_eq!(host(Some("127.0.0.1:5000")), "127.0.0.1:5000");
        assert_eq!(host(Some("http://reg:5000/v2/")), "reg:5000");
    }
}
