//! What a COPY or ADD source is: a URL, a git address, an archive ADD
//! unpacks.

pub(super) fn is_remote(s: &str) -> bool {
    s.contains("://") || s.starts_with("git@")
}

/// Whether ADD unpacks `p`: as Docker's `IsArchivePath`, only what starts
/// a tar once decompressed; a gzip of a plain file is copied as it is.
pub(super) fn is_archive(p: &std::path::Path) -> bool {
    use std::io::Read;
    let Ok(f) = std::fs::File::open(p) else {
        return false;
    };
    let Ok((_, r)) = slipway_common::compress::decompress_archive(f) else {
        return false;
    };
    let mut head = Vec::with_capacity(512);
    if r.take(512).read_to_end(&mut head).is_err() {
        return false;
    }
    starts_a_tar(&head)
}

/// Whether `h` is a tar header block: ustar's magic, or (for old v7
/// tars) a checksum that adds up, as Go's archive/tar accepts them.
pub(super) fn starts_a_tar(h: &[u8]) -> bool {
    if h.len() < 512 || h.iter().all(|b| *b == 0) {
        return false;
    }
    if &h[257..262] == b"ustar" {
        return true;
    }
    let field = String::from_utf8_lossy(&h[148..156]);
    let Ok(want) = u32::from_str_radix(field.trim_matches(|c: char| c == '\0' || c == ' '), 8)
    else {
        return false;
    };
    let sum: u32 = h[..512]
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(*b)
            }
        })
        .sum();
    sum == want
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tar_is_known_by_its_header_old_v7_ones_too() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_old();
        h.set_path("f").unwrap();
        h.set_size(0);
        h.set_cksum();
        b.append(&h, std::io::empty()).unwrap();
        let v7 = b.into_inner().unwrap();
        assert!(starts_a_tar(&v7), "an old v7 header");
        assert!(!starts_a_tar(&[b'x'; 512]), "text");
        assert!(
            !starts_a_tar(&[0; 1024]),
            "an empty tar holds nothing to unpack"
        );
    }
}
