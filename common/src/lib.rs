//! The library every slipway tool shares: digests, image references, the OCI
//! layout and the local store on it, compression, layer tar checks, archives
//! and the command-line edge (one error line, the exit codes). Each part is
//! behind a cargo feature (see Cargo.toml), so a tool links only its own.

#[cfg(feature = "layer")]
pub mod apply;
#[cfg(feature = "layer")]
pub mod archive;
#[cfg(feature = "oci")]
pub mod attestation;
#[cfg(feature = "oci")]
pub mod buildcache;
pub mod cli;
#[cfg(feature = "layer")]
pub mod compress;
#[cfg(feature = "container")]
pub mod container;
#[cfg(feature = "layer")]
pub mod convert;
#[cfg(feature = "layer")]
pub mod copytree;
#[cfg(feature = "oci")]
pub mod digest;
pub mod dirfd;
#[cfg(feature = "layer")]
pub mod export;
pub mod fsmeta;
pub mod fsutil;
pub mod ignore;
#[cfg(feature = "oci")]
pub mod image;
#[cfg(feature = "oci")]
pub mod index;
#[cfg(feature = "layer")]
pub mod layer;
#[cfg(feature = "layer")]
pub mod layer_tar;
#[cfg(feature = "layer")]
pub mod layers;
#[cfg(feature = "oci")]
pub mod layout;
pub mod lock;
pub mod mount;
pub mod owner;
#[cfg(feature = "plan")]
pub mod plan;
pub mod platform;
#[cfg(feature = "oci")]
pub mod reference;
#[cfg(feature = "oci")]
pub mod registries;
#[cfg(feature = "registry")]
pub mod registry;
pub mod shell;
#[cfg(feature = "layer")]
pub mod sizes;
#[cfg(feature = "layer")]
pub mod source;
#[cfg(feature = "oci")]
pub mod store;
pub mod template;
pub mod time;
pub mod userns;

/// Every tool uses this one version of oci-spec.
#[cfg(feature = "oci")]
pub use oci_spec;
