//! Entries encoded byte for byte as dockerd's json-file driver does, so
//! files are interchangeable and `docker logs` gives back what was written.

use super::Stream;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends one entry, with its line feed, to `out`. Field order and
/// omission of an empty `log` follow dockerd.
pub(super) fn entry(out: &mut Vec<u8>, stream: Stream, line: &[u8], newline: bool, time: &str) {
    out.push(b'{');
    if !line.is_empty() || newline {
        out.extend_from_slice(b"\"log\":\"");
        escape(out, line);
        if newline {
            out.extend_from_slice(b"\\n");
        }
        out.extend_from_slice(b"\",");
    }
    out.extend_from_slice(b"\"stream\":\"");
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(b"\",\"time\":\"");
    out.extend_from_slice(time.as_bytes());
    out.extend_from_slice(b"\"}\n");
}

/// The escaping of Go's encoding/json with HTML escaping on (what dockerd's
/// hand-written encoder mirrors): `<`, `>`, `&`, U+2028 and U+2029 as
/// `\uXXXX`, control characters other than `\n` and `\r` as `\u00XX`, and
/// every byte that does not start a valid UTF-8 sequence as `\ufffd`, one
/// per byte (Go decodes rune by rune, unlike Rust's lossy conversion which
/// folds a truncated sequence into one replacement).
fn escape(out: &mut Vec<u8>, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        match std::str::from_utf8(bytes) {
            Ok(valid) => {
                escape_valid(out, valid.as_bytes());
                return;
            }
            Err(e) => {
                let good = e.valid_up_to();
                escape_valid(out, &bytes[..good]);
                out.extend_from_slice(b"\\ufffd");
                bytes = &bytes[good + 1..];
            }
        }
    }
}

/// `bytes` is valid UTF-8: multi-byte sequences are copied whole.
fn escape_valid(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let escaped: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'<' | b'>' | b'&' | 0..=0x1f => None,
            // U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
            0xe2 if bytes.get(i + 1) == Some(&0x80)
                && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9)) =>
            {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(b"\\u202");
                out.push(HEX[usize::from(bytes[i + 2] & 0xf)]);
                i += 3;
                start = i;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[start..i]);
        match escaped {
            Some(text) => out.extend_from_slice(text),
            None => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
}
