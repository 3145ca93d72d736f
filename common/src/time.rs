//! Timestamps for image configs: RFC 3339 in UTC, `SOURCE_DATE_EPOCH` for
//! reproducible builds, and the "2 hours ago" that `docker images` prints.

use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, thiserror::Error)]
#[error("SOURCE_DATE_EPOCH={0:?} is not a number of seconds since 1970")]
pub struct EpochError(String);

/// Seconds since the epoch to use for `created`: `SOURCE_DATE_EPOCH` when
/// set (reproducible builds), else now.
pub fn build_time() -> Result<i64, EpochError> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.is_empty() => v.trim().parse::<i64>().map_err(|_| EpochError(v)),
        _ => Ok(now()),
    }
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

// Howard Hinnant's days-from-civil and civil-from-days.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// `2024-01-02T03:04:05Z`
pub fn format_rfc3339(secs: i64) -> String {
    let (y, mo, d) = civil_from_days(secs.div_euclid(86400));
    let s = secs.rem_euclid(86400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Parses the RFC 3339 timestamps found in image configs (any fraction, `Z`
/// or an offset) to seconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, mo as u32, d as u32) * 86400 + h * 3600 + mi * 60 + se - offset)
}

/// Parses an HTTP date in its one current form (RFC 9110's IMF-fixdate,
/// `Sun, 06 Nov 1994 08:49:37 GMT`) to seconds since the epoch.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let rest = s.trim().split_once(", ")?.1;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [d, mon, y, hms, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mo = MONTHS.iter().position(|m| m == mon)? as u32 + 1;
    let d: u32 = d.parse().ok()?;
    let y: i64 = y.parse().ok()?;
    let t: Vec<i64> = hms
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let [h, mi, se] = t.as_slice() else {
        return None;
    };
    if !(1..=31).contains(&d) || *h > 23 || *mi > 59 || *se > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se)
}

/// "About an hour ago", as Docker's go-units HumanDuration words it.
pub fn human_since(then: i64, now: i64) -> String {
    let secs = (now - then).max(0);
    let d = if secs < 1 {
        "Less than a second".to_string()
    } else if secs == 1 {
        "1 second".to_string()
    } else if secs < 60 {
        format!("{secs} seconds")
    } else if secs / 60 == 1 {
        "About a minute".to_string()
    } else if secs < 3600 {
        format!("{} minutes", secs / 60)
    } else if (secs as f64 / 3600.0).round() as i64 == 1 {
        "About an hour".to_string()
    } else if secs < 48 * 3600 {
        format!("{} hours", (secs as f64 / 3600.0).round() as i64)
    } else if secs < 7 * 24 * 3600 * 2 {
        format!("{} days", secs / 86400)
    } else if secs < 30 * 24 * 3600 * 3 {
        format!("{} weeks", secs / (7 * 86400))
    } else if secs < 365 * 24 * 3600 * 2 {
        format!("{} months", secs / (30 * 86400))
    } else {
        format!("{} years", secs / (365 * 86400))
    };
    format!("{d} ago")
}

/// Parses a size as Docker reads `--memory`: a number with an optional b, k, m or
/// g suffix (powers of 1024).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mult) = match t.chars().last() {
        Some('b') => (&t[..t.len() - 1], 1u64),
        Some('k') => (&t[..t.len() - 1], 1 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t.as_str(), 1),
    };
    let num = num.strip_suffix('i').unwrap_or(num);
    let v: f64 = num.parse().map_err(|_| {
        format!("invalid size {s:?}: expected a number with an optional b, k, m or g")
    })?;
    if v.is_sign_negative() || !v.is_finite() {
        return Err(format!("invalid size {s:?}"));
    }
    Ok((v * mult as f64) as u64)
}

/// go-units' CustomSize: `bytes` in the largest of `units` (each `base`
/// times the last) under `base`, with `digits` significant digits and no
/// trailing zeros (Go's `%.Ng`).
fn custom_size(bytes: u64, base: f64, units: &[&str], digits: usize) -> String {
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= base && i < units.len() - 1 {
        v /= base;
        i += 1;
    }
    let s = format!("{v:.0}");
    let keep = digits.saturating_sub(s.len());
    let mut out = format!("{v:.keep$}");
    if out.contains('.') {
        out = out.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{out}{}", units[i])
}

const DECIMAL: &[&str] = &["B", "kB", "MB", "GB", "TB", "PB"];

/// Sizes as Docker prints them (decimal units, 4 significant digits:
/// go-units' HumanSize).
pub fn human_size(bytes: u64) -> String {
    custom_size(bytes, 1000.0, DECIMAL, 4)
}

/// go-units' HumanSizeWithPrecision(bytes, 3), `docker stats`' I/O figures.
pub fn human_size3(bytes: u64) -> String {
    custom_size(bytes, 1000.0, DECIMAL, 3)
}

/// go-units' BytesSize (binary units), `docker stats`' memory figures.
pub fn bytes_size(bytes: u64) -> String {
    custom_size(bytes, 1024.0, &["B", "KiB", "MiB", "GiB", "TiB", "PiB"], 4)
}

/// Go duration syntax as Docker accepts it: `30s`, `1m30s`, `500ms`, `1h`.
pub fn parse_duration_ns(s: &str) -> Result<u64, String> {
    let err = || format!("invalid duration {s:?} (such as 30s, 1m30s, 500ms)");
    if s == "0" {
        return Ok(0);
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return Err(err());
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        let value: f64 = rest[..n].parse().map_err(|_| err())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(err()),
        };
        total += value * unit;
        rest = &rest[u..];
    }
    Ok(total as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_and_reads_fractions_and_offsets() {
        for secs in [0, 1_700_000_000, 951_782_400, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&format_rfc3339(secs)), Some(secs));
        }
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.123456789Z"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_rfc3339("2023-11-15T00:13:20+02:00"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn human_forms_match_docker() {
        assert_eq!(human_since(0, 30), "30 seconds ago");
        assert_eq!(human_since(0, 3600), "About an hour ago");
        assert_eq!(human_since(0, 5 * 3600), "5 hours ago");
        assert_eq!(human_since(0, 3 * 86400), "3 days ago");
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(4_261_000), "4.261MB");
        assert_eq!(human_size(1_500_000_000), "1.5GB");
        assert_eq!(human_size3(1_234), "1.23kB");
        assert_eq!(human_size3(648), "648B");
        assert_eq!(bytes_size(1_613_824), "1.539MiB");
        assert_eq!(bytes_size(25_165_824 * 1024), "24GiB");
    }

    #[test]
    fn http_dates_read_as_imf_fixdate() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784111777)
        );
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 PST"), None);
    }
}
