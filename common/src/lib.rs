//! The library every slipway tool shares: digests, image references, the OCI
//! layout and the local store on it, compression, layer tar checks, archives
//! and the command-line edge (one error line, the exit codes).

pub mod apply;
pub mod archive;
pub mod buildcache;
pub mod cli;
pub mod compress;
#[cfg(feature = "container")]
pub mod container;
pub mod digest;
pub mod dirfd;
pub mod export;
pub mod fsmeta;
pub mod fsutil;
pub mod ignore;
pub mod image;
pub mod layer;
pub mod layer_tar;
pub mod layout;
pub mod lock;
pub mod mount;
pub mod owner;
pub mod platform;
pub mod reference;
#[cfg(feature = "registry")]
pub mod registry;
pub mod shell;
pub mod source;
pub mod store;
pub mod template;
pub mod time;
pub mod userns;

/// Every tool uses this one version of oci-spec.
pub use oci_spec;
