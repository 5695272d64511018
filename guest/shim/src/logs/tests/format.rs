use super::super::reader::decode;
use super::super::timefmt::parse_rfc3339;
use super::super::{encode, format_timestamp, parse_time_param, Stream};
use crate::clock::go_rfc3339_nano as format_rfc3339_nano;

fn encoded(line: &[u8], newline: bool) -> String {
    let mut out = Vec::new();
    encode::entry(&mut out, Stream::Stdout, line, newline, "T");
    String::from_utf8(out).unwrap()
}

#[test]
fn entry_layout_matches_dockerd() {
    assert_eq!(
        encoded(b"hi", true),
        "{\"log\":\"hi\\n\",\"stream\":\"stdout\",\"time\":\"T\"}\n"
    );
    assert_eq!(
        encoded(b"hi", false),
        "{\"log\":\"hi\",\"stream\":\"stdout\",\"time\":\"T\"}\n"
    );
    // Go omits an empty log field.
    assert_eq!(
        encoded(b"", false),
        "{\"stream\":\"stdout\",\"time\":\"T\"}\n"
    );
}

#[test]
fn escaping_matches_go() {
    let line = "q\"b\\ <a&b> \t\u{1}\r\u{7f} é \u{fffd} \u{2028}\u{2029}".as_bytes();
    assert_eq!(
        encoded(line, false),
        "{\"log\":\"q\\\"b\\\\ \\u003ca\\u0026b\\u003e \\u0009\\u0001\\r\u{7f} é \u{fffd} \\u2028\\u2029\",\
         \"stream\":\"stdout\",\"time\":\"T\"}\n"
    );
}

#[test]
fn invalid_utf8_becomes_one_replacement_per_byte() {
    // E2 82 is a truncated 3-byte sequence: Go replaces each byte.
    assert_eq!(
        encoded(&[b'a', 0xe2, 0x82, b'b', 0xff, 0xed, 0xa0, 0x80], false),
        "{\"log\":\"a\\ufffd\\ufffdb\\ufffd\\ufffd\\ufffd\\ufffd\",\"stream\":\"stdout\",\"time\":\"T\"}\n"
    );
}

#[test]
fn decoding_gives_back_what_was_written() {
    let line = "tab\there <html> & \"quotes\" \\ \u{2028} 日本 \u{1f600}\r\u{0}".as_bytes();
    let mut out = Vec::new();
    encode::entry(
        &mut out,
        Stream::Stderr,
        line,
        true,
        "2026-11-23T10:00:00.5Z",
    );
    let entry = decode(&out[..out.len() - 1]).unwrap();
    let mut want = line.to_vec();
    want.push(b'\n');
    assert_eq!(entry.line, want);
    assert_eq!(entry.stream, Stream::Stderr);
    assert_eq!(entry.time, "2026-11-23T10:00:00.5Z");
    assert_eq!(entry.unix, (1_795_428_000, 500_000_000));
}

#[test]
fn stored_time_trims_the_fraction_like_rfc3339nano() {
    assert_eq!(format_rfc3339_nano((0, 0)), "1970-01-01T00:00:00Z");
    assert_eq!(
        format_rfc3339_nano((1_700_000_000, 123_456_789)),
        "2023-11-14T22:13:20.123456789Z"
    );
    assert_eq!(
        format_rfc3339_nano((1_700_000_000, 123_456_000)),
        "2023-11-14T22:13:20.123456Z"
    );
    assert_eq!(
        format_rfc3339_nano((1_700_000_000, 5)),
        "2023-11-14T22:13:20.000000005Z"
    );
    assert_eq!(
        format_rfc3339_nano((1_700_000_000, 500_000_000)),
        "2023-11-14T22:13:20.5Z"
    );
}

#[test]
fn logs_t_prefix_is_fixed_width() {
    assert_eq!(
        format_timestamp((1_700_000_000, 0)),
        "2023-11-14T22:13:20.000000000Z"
    );
    assert_eq!(
        format_timestamp((1_700_000_000, 120_000_000)),
        "2023-11-14T22:13:20.120000000Z"
    );
    assert_eq!(
        format_timestamp((1_700_000_000, 999_999_999)),
        "2023-11-14T22:13:20.999999999Z"
    );
}

#[test]
fn stored_times_parse() {
    assert_eq!(
        parse_rfc3339("2023-11-14T22:13:20Z"),
        Some((1_700_000_000, 0))
    );
    assert_eq!(
        parse_rfc3339("2023-11-14T22:13:20.000000005Z"),
        Some((1_700_000_000, 5))
    );
    assert_eq!(
        parse_rfc3339("2023-11-14T23:13:20.25+01:00"),
        Some((1_700_000_000, 250_000_000))
    );
    assert_eq!(parse_rfc3339("yesterday"), None);
    for t in [(0, 0), (1_700_000_000, 1), (1_795_428_000, 120_000_000)] {
        assert_eq!(parse_rfc3339(&format_rfc3339_nano(t)), Some(t));
    }
}

#[test]
fn api_time_params() {
    assert_eq!(
        parse_time_param("1700000000.000000000"),
        Ok((1_700_000_000, 0))
    );
    assert_eq!(parse_time_param("1700000000"), Ok((1_700_000_000, 0)));
    assert_eq!(
        parse_time_param("1700000000.5"),
        Ok((1_700_000_000, 500_000_000))
    );
    assert_eq!(
        parse_time_param("1700000000.123456789123"),
        Ok((1_700_000_000, 123_456_789))
    );
    assert_eq!(parse_time_param("1."), Ok((1, 0)));
    assert_eq!(parse_time_param("-5.25"), Ok((-5, 250_000_000)));
    assert_eq!(
        parse_time_param("soon"),
        Err("invalid timestamp \"soon\": invalid seconds \"soon\": invalid syntax".into())
    );
    assert_eq!(
        parse_time_param("99999999999999999999"),
        Err("invalid timestamp \"99999999999999999999\": invalid seconds \"99999999999999999999\": value out of range".into())
    );
    assert_eq!(
        parse_time_param("1.2x"),
        Err(
            "invalid timestamp \"1.2x\": invalid nanoseconds: invalid character 'x' at position 1"
                .into()
        )
    );
    assert_eq!(
        parse_time_param("1.-5"),
        Err(
            "invalid timestamp \"1.-5\": invalid nanoseconds: invalid character '-' at position 0"
                .into()
        )
    );
    assert!(parse_time_param("1.000000000000000000000").is_err());
}
