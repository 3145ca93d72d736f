//! Cache keys of build steps. A step's key is the digest of everything its
//! result depends on: the image it starts from (by manifest digest, so a
//! changed base or an earlier step that changed makes a new key), what
//! the step does once expanded (its command, environment, build args,
//! flags, the history text it leaves) and the digests of the contents it
//! reads. Two steps with the same key make the same image, so the second
//! takes the first one's image from the record (slipway_common::buildcache).

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use slipway_common::digest::Digest;

/// Bumped whenever what a key covers changes meaning, so old records miss.
const FORMAT: &str = "slipway image-build step cache 2";

/// The key of a step on `parent` ("scratch" or a manifest digest). `epoch`
/// is SOURCE_DATE_EPOCH, which changes the times written into layers and
/// configs.
pub fn step_key(parent: &str, epoch: Option<&str>, platform: &str, step: &Value) -> Digest {
    let mut h = Sha256::new();
    for part in [
        FORMAT,
        env!("CARGO_PKG_VERSION"),
        platform,
        parent,
        epoch.unwrap_or("-"),
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    // serde_json's maps are sorted: the same step always gives the same
    // bytes.
    h.update(serde_json::to_vec(step).expect("a JSON value serializes"));
    let out: [u8; 32] = h.finalize().into();
    format!("sha256:{}", hex::encode(out))
        .parse()
        .expect("a sha256 digest")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_input_of_a_key_changes_it() {
        let step = json!({"cmd": "run", "argv": ["sh", "-c", "true"]});
        let k = step_key("sha256:aa", None, "linux/amd64", &step);
        assert_eq!(k, step_key("sha256:aa", None, "linux/amd64", &step));
        for other in [
            step_key("sha256:ab", None, "linux/amd64", &step),
            step_key("sha256:aa", Some("0"), "linux/amd64", &step),
            step_key("sha256:aa", None, "linux/arm64", &step),
            step_key(
                "sha256:aa",
                None,
                "linux/amd64",
                &json!({"cmd": "run", "argv": ["sh", "-c", "false"]}),
            ),
        ] {
            assert_ne!(k, other);
        }
    }
}
