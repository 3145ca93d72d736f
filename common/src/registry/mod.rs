//! A registry client for the OCI distribution API (Docker registry v2):
//! TLS or plain HTTP as Docker decides, Basic and Bearer-token
//! authentication, retries, uploads in one streamed PUT or in chunks, both
//! directions resumed after a dropped connection, and mounts across
//! repositories of one registry.

mod args;
mod auth;
mod client;
pub mod creds;
pub mod fetch;
mod progress;
mod sources;
mod tls;
mod transfer;

pub use args::{read_password, RegistryArgs};
pub use client::{Access, Options, Registry};
pub use creds::Credentials;
pub use progress::Progress;
pub use sources::BlobSources;
pub use transfer::{pull_all, pull_image, push_image, put_index, Job, Transfer};

pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{method} {url}: {status} {message}")]
    Status {
        method: &'static str,
        url: String,
        status: u16,
        message: String,
    },
    #[error("{method} {url}: {message}")]
    Transport {
        method: &'static str,
        url: String,
        message: String,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Auth(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("{0}")]
    Protocol(String),
}

/// Whether a host is on this machine (plain HTTP is fine there, as Docker
/// allows).
pub fn is_loopback(host: &str) -> bool {
    let h = host.rsplit_once(':').map_or(host, |(h, p)| {
        if p.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    h == "localhost" || h.starts_with("127.") || h == "[::1]"
}

#[derive(Debug, thiserror::Error)]
pub enum PushPullError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Layout(#[from] crate::layout::LayoutError),
    #[error(transparent)]
    Digest(#[from] crate::digest::DigestError),
    #[error(transparent)]
    Layers(#[from] crate::layers::LayersError),
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_hosts() {
        for (h, want) in [
            ("localhost:5000", true),
            ("127.0.0.1:5000", true),
            ("[::1]:5000", true),
            ("ghcr.io", false),
            ("localhost.example.com", false),
        ] {
            assert_eq!(super::is_loopback(h), want, "{h}");
        }
    }
}
