//! Times as records and container logs carry them.

use time::OffsetDateTime;

/// Now, as the RFC 3339 text records and API answers carry.
pub fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Go's `time.RFC3339Nano` in UTC: the fraction loses its trailing zeros,
/// and disappears when zero. This is the `time` field of json-file entries and the `mtime` of `docker cp`'s path stat.
pub fn go_rfc3339_nano(unix: (i64, u32)) -> String {
    let t = civil(unix);
    let mut out = String::with_capacity(30);
    write_seconds(&mut out, t);
    let nanos = t.nanosecond();
    if nanos != 0 {
        let digits = format!("{nanos:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

pub fn civil(unix: (i64, u32)) -> OffsetDateTime {
    let nanos = i128::from(unix.0) * 1_000_000_000 + i128::from(unix.1.min(999_999_999));
    OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub fn write_seconds(out: &mut String, t: OffsetDateTime) {
    use std::fmt::Write;
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
}
