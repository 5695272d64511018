//! Timestamps as dockerd writes, prints and parses them.

use std::time::{SystemTime, UNIX_EPOCH};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Now, as (seconds, nanoseconds) since the epoch.
pub(super) fn now() -> (i64, u32) {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        // A clock before 1970: stamp the epoch rather than fail a write.
        Err(_) => (0, 0),
    }
}

/// What `docker logs -t` puts before each line. dockerd formats it with a
/// fixed-width fraction (`2006-01-02T15:04:05.000000000Z07:00`), not with
/// RFC3339Nano, so every prefix has the same width.
pub fn format_timestamp(unix: (i64, u32)) -> String {
    use crate::clock::{civil, write_seconds};
    let t = civil(unix);
    let mut out = String::with_capacity(30);
    write_seconds(&mut out, t);
    out.push_str(&format!(".{:09}Z", t.nanosecond()));
    out
}

/// A stored `time` field.
pub(super) fn parse_rfc3339(s: &str) -> Option<(i64, u32)> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    Some((t.unix_timestamp(), t.nanosecond()))
}

/// The API's `since` / `until` query values: `seconds` or
/// `seconds.nanoseconds` (fewer than 9 digits are right-padded, more are
/// truncated), with dockerd's error text. dockerd treats an empty value as
/// unset, and `until=0` too: callers check those before calling this.
pub fn parse_time_param(s: &str) -> Result<(i64, u32), String> {
    let invalid = |why: String| format!("invalid timestamp {s:?}: {why}");
    let (secs, frac) = match s.split_once('.') {
        Some((secs, frac)) => (secs, frac),
        None => (s, ""),
    };
    let secs: i64 = secs.parse().map_err(|e: std::num::ParseIntError| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "value out of range"
            }
            _ => "invalid syntax",
        };
        invalid(format!("invalid seconds {secs:?}: {why}"))
    })?;
    if frac.len() > 20 {
        let len = frac.len();
        return Err(invalid(format!(
            "invalid nanoseconds: length {len} exceeds maximum 20"
        )));
    }
    if let Some((i, c)) = frac.bytes().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
        let c = c as char;
        return Err(invalid(format!(
            "invalid nanoseconds: invalid character {c:?} at position {i}"
        )));
    }
    let mut digits = frac.as_bytes().iter().take(9).copied().collect::<Vec<u8>>();
    digits.resize(9, b'0');
    let nanos = digits
        .iter()
        .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    Ok((secs, nanos))
}
