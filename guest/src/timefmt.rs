//! Times as the Engine API writes and filters them.

use crate::errdefs::{Error, Result};

pub use berth_shim::clock::{go_rfc3339_nano, now_rfc3339};

/// Seconds (with fraction) since an RFC 3339 time, `None` if unparsable.
pub fn seconds_since(s: &str) -> Option<f64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some((time::OffsetDateTime::now_utc() - t).as_seconds_f64())
}

/// docker's human durations ("Less than a second", "5 seconds", "About a
/// minute", "3 hours", …) as `docker ps` shows them.
pub fn human_duration(secs: f64) -> String {
    let s = secs as i64;
    let (m, h) = (secs / 60.0, secs / 3600.0);
    if s < 1 {
        "Less than a second".into()
    } else if s == 1 {
        "1 second".into()
    } else if s < 60 {
        format!("{s} seconds")
    } else if (m as i64) == 1 {
        "About a minute".into()
    } else if m < 60.0 {
        format!("{} minutes", m as i64)
    } else if (h.round() as i64) == 1 {
        "About an hour".into()
    } else if h < 48.0 {
        format!("{} hours", h.round() as i64)
    } else if h < 24.0 * 7.0 * 2.0 {
        format!("{} days", (h / 24.0) as i64)
    } else if h < 24.0 * 30.0 * 2.0 {
        format!("{} weeks", (h / 24.0 / 7.0) as i64)
    } else if h < 24.0 * 365.0 * 2.0 {
        format!("{} months", (h / 24.0 / 30.0) as i64)
    } else {
        format!("{} years", (h / 24.0 / 365.0) as i64)
    }
}

pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The `until` filter: a Go duration back from now (`24h`, `90m`, `1h30m`),
/// a unix timestamp, or an RFC 3339 time.
pub fn until_cutoff(v: &str, now: i64) -> Result<i64> {
    if let Ok(secs) = v.split('.').next().unwrap_or(v).parse::<i64>() {
        return Ok(secs);
    }
    if let Ok(t) = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339) {
        return Ok(t.unix_timestamp());
    }
    let bad = || {
        Error::invalid(format!(
            "invalid filter 'until={v}': not a duration, timestamp or RFC 3339 time"
        ))
    };
    let (mut total, mut num) = (0f64, String::new());
    for c in v.chars() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let n: f64 = num.parse().map_err(|_| bad())?;
        total += n * match c {
            'h' => 3600.0,
            'm' => 60.0,
            's' => 1.0,
            _ => return Err(bad()),
        };
        num.clear();
    }
    if !num.is_empty() {
        return Err(bad());
    }
    Ok(now - total as i64)
}

pub fn rfc3339_to_unix(s: &str) -> i64 {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn human_durations_read_like_dockers() {
        assert_eq!(super::human_duration(0.4), "Less than a second");
        assert_eq!(super::human_duration(1.2), "1 second");
        assert_eq!(super::human_duration(59.0), "59 seconds");
        assert_eq!(super::human_duration(61.0), "About a minute");
        assert_eq!(super::human_duration(600.0), "10 minutes");
        assert_eq!(super::human_duration(3700.0), "About an hour");
        assert_eq!(super::human_duration(5.0 * 86400.0), "5 days");
    }

    use super::*;

    #[test]
    fn until_takes_durations_timestamps_and_times() {
        assert_eq!(until_cutoff("24h", 100_000).unwrap(), 100_000 - 86_400);
        assert_eq!(until_cutoff("1h30m", 10_000).unwrap(), 10_000 - 5_400);
        assert_eq!(until_cutoff("1700000000", 0).unwrap(), 1_700_000_000);
        assert_eq!(until_cutoff("1970-01-01T00:01:00Z", 0).unwrap(), 60);
        assert!(until_cutoff("soon", 0).is_err());
    }

    #[test]
    fn rfc3339_parses() {
        assert_eq!(rfc3339_to_unix("1970-01-01T00:01:00Z"), 60);
        assert_eq!(rfc3339_to_unix("garbage"), 0);
    }
}
