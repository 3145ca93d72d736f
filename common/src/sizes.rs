//! Layers' uncompressed sizes, as `docker images` adds them up for an
//! image's SIZE: the compressed blob sizes that a manifest lists are not
//! what a user's disk holds. Each is counted once (image-assemble knows it
//! when it writes the blob; any other is read through its decompressor on
//! first need) and kept in `STORE/.slipway/sizes/HEX`.

use crate::compress;
use crate::digest::Digest;
use crate::layout::Layout;
use std::io;
use std::path::{Path, PathBuf};

fn dir(store: &Path) -> PathBuf {
    store.join(crate::layout::STATE_DIR).join("sizes")
}

/// Remembers that blob `blob` holds `size` bytes uncompressed.
pub fn record(store: &Path, blob: &Digest, size: u64) -> io::Result<()> {
    let d = dir(store);
    std::fs::create_dir_all(&d)?;
    crate::fsutil::write_atomic(&d.join(blob.hex()), size.to_string().as_bytes())
        .map_err(|e| io::Error::other(e.to_string()))
}

/// The uncompressed size of the layer blob `blob` (`size` bytes as
/// stored), counted and remembered the first time it is asked for.
pub fn uncompressed(layout: &Layout, blob: &Digest, size: u64) -> io::Result<u64> {
    let root = layout.root();
    if let Some(n) = std::fs::read_to_string(dir(root).join(blob.hex()))
        .ok()
        .and_then(|t| t.trim().parse().ok())
    {
        return Ok(n);
    }
    let reader = layout
        .open_blob(blob, Some(size))
        .map_err(|e| io::Error::other(e.to_string()))?;
    let (_, mut plain) = compress::decompress(reader)?;
    let n = io::copy(&mut plain, &mut io::sink())?;
    // A store that cannot keep the number counts again next time.
    let _ = record(root, blob, n);
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_gzip_layer_is_counted_once_then_read_back() {
        let t = tempfile::tempdir().unwrap();
        let layout = Layout::create(t.path()).unwrap();
        let plain = vec![7u8; 100_000];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&plain).unwrap();
        let blob = gz.finish().unwrap();
        let (digest, size) = layout.write_blob(&blob).unwrap();
        assert_eq!(uncompressed(&layout, &digest, size).unwrap(), 100_000);
        // The number is kept: the blob is not read again.
        std::fs::remove_file(layout.blob_path(&digest)).unwrap();
        assert_eq!(uncompressed(&layout, &digest, size).unwrap(), 100_000);
    }
}
