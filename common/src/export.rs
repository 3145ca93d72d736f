//! Writing an image out of a layout: into an OCI layout, an oci-archive or
//! a docker-archive (a file, or stdout). image-assemble writes what it
//! assembles this way, and `image-store save` what the store holds.

use crate::archive::{self, ArchiveError};
use crate::fsutil::IoContext;
use crate::image::Image;
use crate::index::MultiImage;
use crate::layout::{Layout, LayoutError};
use crate::reference::{ImageRef, PathOrStdio, Reference};
use oci_spec::image::Descriptor;
use std::path::PathBuf;

/// Where an image is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    Oci {
        dir: PathBuf,
        name: Option<String>,
    },
    OciArchive {
        file: PathOrStdio,
        name: Option<String>,
    },
    DockerArchive {
        file: PathOrStdio,
        name: Option<Reference>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Io(#[from] crate::fsutil::IoError),
    #[error("{0}")]
    Invalid(String),
}

impl Destination {
    /// oci:DIR[:REF], oci-archive:FILE[:REF] or docker-archive:FILE[:NAME:TAG].
    pub fn parse(s: &str) -> Result<Destination, ExportError> {
        match ImageRef::parse(s).map_err(|e| ExportError::Invalid(e.to_string()))? {
            ImageRef::Oci { dir, name } => Ok(Destination::Oci { dir, name }),
            ImageRef::OciArchive { file, name } => Ok(Destination::OciArchive { file, name }),
            ImageRef::DockerArchive { file, name } => Ok(Destination::DockerArchive { file, name }),
            _ => Err(ExportError::Invalid(format!(
                "{s:?}: takes oci:DIR[:REF], oci-archive:FILE[:REF] or docker-archive:FILE[:NAME:TAG]"
            ))),
        }
    }

    /// Whether the image goes to stdout.
    pub fn is_stdout(&self) -> bool {
        matches!(
            self,
            Destination::OciArchive {
                file: PathOrStdio::Stdio,
                ..
            } | Destination::DockerArchive {
                file: PathOrStdio::Stdio,
                ..
            }
        )
    }
}

/// What is written: one image, or an index with every image it lists.
#[derive(Clone, Copy)]
pub enum Exported<'a> {
    Image(&'a Image),
    Index(&'a MultiImage),
}

impl Exported<'_> {
    fn blob_sizes(&self) -> Vec<(crate::digest::Digest, u64)> {
        match self {
            Exported::Image(i) => i.blob_sizes(),
            Exported::Index(m) => m.blob_sizes(),
        }
    }

    fn descriptor(&self) -> &Descriptor {
        match self {
            Exported::Image(i) => &i.manifest_descriptor,
            Exported::Index(m) => &m.descriptor,
        }
    }
}

/// Copies what is exported, blobs first, into `out` and names it there.
pub fn write_into(
    out: &Layout,
    from: &Layout,
    what: Exported,
    name: Option<&str>,
) -> Result<(), ExportError> {
    let _session = out.write_session()?;
    if out.root() != from.root() {
        for (d, size) in what.blob_sizes() {
            out.copy_blob_from(from, &d, Some(size))?;
        }
    }
    out.add_manifest(what.descriptor(), name)?;
    Ok(())
}

/// Writes an image or an index (whose blobs are in `from`) to `dest`. A
/// docker-archive holds one image: an index's image for `platform`. A
/// docker-archive without a name of its own is tagged `tags`.
pub fn export(
    from: &Layout,
    what: Exported,
    dest: &Destination,
    tags: &[Reference],
) -> Result<(), ExportError> {
    match dest {
        Destination::Oci { dir, name } => {
            let out = if from.root() == dir.as_path() {
                from.clone()
            } else {
                Layout::create(dir)?
            };
            write_into(&out, from, what, name.as_deref())
        }
        Destination::OciArchive { file, name } => {
            let tmp = tempfile::tempdir().ctx("create a temp dir in", &std::env::temp_dir())?;
            let out = Layout::create(tmp.path())?;
            write_into(&out, from, what, name.as_deref())?;
            archive::write_output(file, |w| archive::write_layout_tar(&out, w))?;
            Ok(())
        }
        Destination::DockerArchive { file, name } => {
            let image = match what {
                Exported::Image(i) => i,
                Exported::Index(m) => {
                    let host = crate::platform::Platform::host();
                    let pick = crate::image::select_platform(&m.index, &host).ok_or_else(|| {
                        ExportError::Invalid(format!(
                            "a docker-archive holds one image, and the index has none for {host} (it has {}): write it as oci-archive",
                            m.platforms().join(", ")
                        ))
                    })?;
                    m.images
                        .iter()
                        .find(|i| i.manifest_descriptor.digest() == pick.digest())
                        .expect("the index lists its images")
                }
            };
            let repo_tags: Vec<String> = match name {
                Some(n) => vec![n.familiar()],
                None => tags.iter().map(|t| t.familiar()).collect(),
            };
            let scratch = tempfile::tempdir().ctx("create a temp dir in", &std::env::temp_dir())?;
            archive::write_output(file, |w| {
                archive::write_docker_archive(w, from, image, &repo_tags, scratch.path())
            })?;
            Ok(())
        }
    }
}
