//! Any bytes as what a registry or a layout hands over: a manifest, an
//! index, an image config. Decoding must return (an error is fine) and
//! never panic, and what decodes must encode again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slipway_common::image::{self, ContainerConfig};
use slipway_common::oci_spec::image::{ImageIndex, ImageManifest};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = image::decode::<ImageManifest>(data) {
        let _ = serde_json::to_vec(&m).expect("a decoded manifest encodes");
    }
    if let Ok(i) = image::decode::<ImageIndex>(data) {
        let _ = serde_json::to_vec(&i).expect("a decoded index encodes");
    }
    if let Ok(map) = image::parse_config(data) {
        let _ = image::check_config(&map);
        let _ = ContainerConfig::of(&map);
    }
    let v = serde_json::from_slice::<serde_json::Value>(data).ok();
    let _ = image::doc_kind("", v.as_ref());
});
