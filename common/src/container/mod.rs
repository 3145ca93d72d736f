//! What container-run and container-ctl share: capabilities, the seccomp
//! filter, cgroups, unpacked layers, becoming the container's process, and
//! the state of containers.

pub mod caps;
pub mod cgroups;
pub mod devfilter;
pub mod exec;
pub mod layergc;
pub mod logfile;
pub mod network;
pub mod process;
pub mod sealed;
pub mod seccomp;
pub mod signal;
pub mod state;
pub mod stores;
pub mod sys;
pub mod tty;
pub mod volumes;
