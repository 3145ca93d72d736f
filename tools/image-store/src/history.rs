//! history: an image's history, newest first, as `docker history` prints
//! it: each step, its age, what made it and the size of its layer.

use crate::{out_err, Error};
use serde::Serialize;
use slipway_common::image::{self, Image, ImageConfig};
use slipway_common::layout::canonical_json;
use slipway_common::platform::Platform;
use slipway_common::store::{Store, StoreError};
use slipway_common::template::{ellipsis, Fields, Template};
use slipway_common::time;
use std::io::Write;

#[derive(clap::Args, Debug)]
pub struct HistoryArgs {
    /// The image: NAME[:TAG], NAME@DIGEST, a digest or an image ID prefix.
    pub image: String,
    /// Do not cut the commands short.
    #[arg(long)]
    pub no_trunc: bool,
    /// Only the image ID on its line (<missing> on the others).
    #[arg(short, long)]
    pub quiet: bool,
    /// Sizes and dates for people (the default); false prints bytes and
    /// RFC 3339 times.
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub human: bool,
    /// A Go-style template per step: {{.ID}}, {{.CreatedSince}},
    /// {{.CreatedAt}}, {{.CreatedBy}}, {{.Size}}, {{.Comment}}, {{json .}};
    /// a leading "table " prints a header.
    #[arg(long, value_name = "TEMPLATE")]
    pub format: Option<String>,
}

const DEFAULT: &str = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

const FIELDS: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Step {
    #[serde(rename = "ID")]
    id: String,
    created_since: String,
    created_at: String,
    created_by: String,
    size: String,
    comment: String,
}

impl Fields for Step {
    fn field(&self, name: &str) -> String {
        match name {
            "ID" => self.id.clone(),
            "CreatedSince" => self.created_since.clone(),
            "CreatedAt" => self.created_at.clone(),
            "CreatedBy" => self.created_by.clone(),
            "Size" => self.size.clone(),
            "Comment" => self.comment.clone(),
            _ => String::new(),
        }
    }
    fn json(&self) -> String {
        String::from_utf8(canonical_json(self)).expect("JSON is UTF-8")
    }
}

pub fn history(store: &Store, a: &HistoryArgs, out: &mut dyn Write) -> Result<(), Error> {
    let desc = store.resolve(&a.image)?;
    let img = Image::load(store.layout(), &desc, &Platform::host()).map_err(StoreError::from)?;
    let config = ImageConfig::of(&img.config)
        .map_err(|e| Error::Invalid(format!("{}: config: {e}", a.image)))?;
    // Each step that made a layer takes the next layer's size, in order.
    let mut sizes = Vec::new();
    for l in img.manifest.layers() {
        let d = image::digest_of(l).map_err(|e| Error::Invalid(e.to_string()))?;
        sizes.push(
            slipway_common::sizes::uncompressed(store.layout(), &d, l.size()).unwrap_or(l.size()),
        );
    }
    let mut layer_sizes = sizes.into_iter();
    let now = time::now();
    let id = img.id().to_string();
    let steps: Vec<_> = config.history.unwrap_or_default();
    let count = steps.len();
    let mut rows: Vec<Step> = steps
        .into_iter()
        .enumerate()
        .map(|(i, h)| {
            let size = if h.is_empty_layer() {
                0
            } else {
                layer_sizes.next().unwrap_or(0)
            };
            let created = h.created.as_deref().and_then(time::parse_rfc3339);
            let by = h.created_by.clone().unwrap_or_default();
            Step {
                // As docker: the image's ID on the newest step only.
                id: if i + 1 == count {
                    if a.no_trunc {
                        id.clone()
                    } else {
                        id.trim_start_matches("sha256:").chars().take(12).collect()
                    }
                } else {
                    "<missing>".into()
                },
                created_since: match created {
                    Some(c) if a.human => time::human_since(c, now),
                    _ => h.created.clone().unwrap_or_default(),
                },
                created_at: h.created.clone().unwrap_or_default(),
                created_by: if a.no_trunc { by } else { ellipsis(&by, 45) },
                size: if a.human {
                    time::human_size(size)
                } else {
                    size.to_string()
                },
                comment: h.comment.clone().unwrap_or_default(),
            }
        })
        .collect();
    rows.reverse();
    if a.quiet {
        for r in &rows {
            writeln!(out, "{}", r.id).map_err(out_err)?;
        }
        return Ok(());
    }
    let t = Template::parse(a.format.as_deref().unwrap_or(DEFAULT), FIELDS)
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let shown: Vec<&dyn Fields> = rows.iter().map(|r| r as &dyn Fields).collect();
    t.write(&shown, out).map_err(out_err)
}
