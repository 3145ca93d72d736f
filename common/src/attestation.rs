//! Attestations as BuildKit attaches them to an image index: an in-toto
//! statement (a provenance, an SBOM) as the one layer of a manifest whose
//! index entry has the platform unknown/unknown and the annotations
//! `vnd.docker.reference.type: attestation-manifest` and
//! `vnd.docker.reference.digest: <the image it attests>`. Docker, buildx
//! imagetools, cosign and the registries read them from there.

use crate::digest::Digest;
use crate::image::{digest_of, Image, ImageError};
use crate::layout::{canonical_json, Layout, LayoutError};
use oci_spec::image::{Descriptor, DescriptorBuilder, MediaType, PlatformBuilder};
use std::collections::HashMap;

pub const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
pub const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";
pub const ATTESTATION_MANIFEST: &str = "attestation-manifest";
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
pub const PREDICATE_TYPE: &str = "in-toto.io/predicate-type";

#[derive(Debug, thiserror::Error)]
pub enum AttestationError {
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("attestation: {0}")]
    Invalid(String),
}

/// Whether an index entry is an attestation manifest.
pub fn is_attestation(entry: &Descriptor) -> bool {
    entry
        .annotations()
        .as_ref()
        .and_then(|a| a.get(REFERENCE_TYPE))
        .is_some_and(|t| t == ATTESTATION_MANIFEST)
}

/// The digest of the image an attestation entry attests.
pub fn subject_of(entry: &Descriptor) -> Option<Digest> {
    entry
        .annotations()
        .as_ref()?
        .get(REFERENCE_DIGEST)?
        .parse()
        .ok()
}

/// What an in-toto statement must say for us to attach it.
#[derive(serde::Deserialize)]
struct Statement {
    #[serde(rename = "_type")]
    kind: String,
    #[serde(rename = "predicateType")]
    predicate_type: String,
    subject: Vec<Subject>,
}

#[derive(serde::Deserialize)]
struct Subject {
    digest: HashMap<String, String>,
}

/// Writes the attestation manifest of `statement` (an in-toto statement
/// whose subject names `subject`'s manifest digest) to `layout`; returns
/// it and its index entry.
pub fn attach(
    layout: &Layout,
    statement: &[u8],
    subject: &Digest,
) -> Result<(Image, Descriptor), AttestationError> {
    let s: Statement = serde_json::from_slice(statement)
        .map_err(|e| AttestationError::Invalid(format!("not an in-toto statement: {e}")))?;
    if !s.kind.starts_with("https://in-toto.io/Statement/") {
        return Err(AttestationError::Invalid(format!(
            "_type {:?} is not an in-toto statement's",
            s.kind
        )));
    }
    if !s
        .subject
        .iter()
        .any(|x| x.digest.get("sha256").is_some_and(|h| h == subject.hex()))
    {
        return Err(AttestationError::Invalid(format!(
            "its subject does not name the image it is attached to ({subject})"
        )));
    }
    let (ldigest, lsize) = layout.write_blob(statement)?;
    let config = serde_json::json!({
        "architecture": "unknown",
        "os": "unknown",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [ldigest.to_string()]},
    });
    let (cdigest, csize) = layout.write_blob(&canonical_json(&config))?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": cdigest.to_string(),
            "size": csize,
        },
        "layers": [{
            "mediaType": IN_TOTO,
            "digest": ldigest.to_string(),
            "size": lsize,
            "annotations": {PREDICATE_TYPE: s.predicate_type},
        }],
    });
    let (mdigest, msize) = layout.write_blob(&canonical_json(&manifest))?;
    let plain = DescriptorBuilder::default()
        .media_type(MediaType::ImageManifest)
        .digest(mdigest.to_oci())
        .size(msize)
        .build()
        .expect("complete descriptor");
    let image = Image::load(layout, &plain, &crate::platform::Platform::host())?;
    let entry = DescriptorBuilder::default()
        .media_type(MediaType::ImageManifest)
        .digest(mdigest.to_oci())
        .size(msize)
        .platform(
            PlatformBuilder::default()
                .os("unknown")
                .architecture("unknown")
                .build()
                .expect("complete platform"),
        )
        .annotations(HashMap::from([
            (REFERENCE_TYPE.to_string(), ATTESTATION_MANIFEST.to_string()),
            (REFERENCE_DIGEST.to_string(), subject.to_string()),
        ]))
        .build()
        .expect("complete descriptor");
    Ok((image, entry))
}

/// The statement of an attestation manifest (its one in-toto layer), read
/// from `layout`.
pub fn statement(layout: &Layout, att: &Image) -> Result<Vec<u8>, AttestationError> {
    let layer = match att.manifest.layers().as_slice() {
        [one] if one.media_type().to_string() == IN_TOTO => one,
        _ => {
            return Err(AttestationError::Invalid(format!(
                "{} is not an attestation manifest (one in-toto layer)",
                att.digest()
            )))
        }
    };
    let d = digest_of(layer).map_err(ImageError::from)?;
    Ok(layout.read_blob(&d, Some(layer.size()))?)
}

/// The same attestation about the image `old` became (`new`: its layers
/// compressed as it leaves): the statement's subject digest replaced, the
/// manifest made again in `to`.
pub fn retarget(
    from: &Layout,
    to: &Layout,
    att: &Image,
    old: &Digest,
    new: &Digest,
) -> Result<(Image, Descriptor), AttestationError> {
    let bytes = statement(from, att)?;
    let mut value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| AttestationError::Invalid(format!("{}: {e}", att.digest())))?;
    if let Some(subjects) = value.get_mut("subject").and_then(|s| s.as_array_mut()) {
        for s in subjects {
            if let Some(h) = s.pointer_mut("/digest/sha256") {
                if h.as_str() == Some(old.hex()) {
                    *h = serde_json::Value::String(new.hex().to_string());
                }
            }
        }
    }
    attach(to, &canonical_json(&value), new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_is_attached_to_the_image_it_names_and_follows_it_when_it_moves() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let old = Digest::of(b"image one");
        let new = Digest::of(b"image one, compressed");
        let st = format!(
            r#"{{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://slsa.dev/provenance/v0.2","subject":[{{"name":"pkg:docker/app","digest":{{"sha256":"{}"}}}}],"predicate":{{}}}}"#,
            old.hex()
        );
        let (att, entry) = attach(&layout, st.as_bytes(), &old).unwrap();
        assert!(is_attestation(&entry));
        assert_eq!(subject_of(&entry), Some(old.clone()));
        assert_eq!(
            att.manifest.layers()[0]
                .annotations()
                .as_ref()
                .unwrap()
                .get(PREDICATE_TYPE)
                .map(String::as_str),
            Some("https://slsa.dev/provenance/v0.2")
        );
        // Another image's statement is refused.
        let e = attach(&layout, st.as_bytes(), &new).unwrap_err();
        assert!(e.to_string().contains("does not name"), "{e}");
        let (moved, entry) = retarget(&layout, &layout, &att, &old, &new).unwrap();
        assert_eq!(subject_of(&entry), Some(new.clone()));
        let text = String::from_utf8(statement(&layout, &moved).unwrap()).unwrap();
        assert!(text.contains(new.hex()) && !text.contains(old.hex()));
    }
}
