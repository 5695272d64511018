//! Human-readable memory sizes ("64M", "1.5g", "512 KiB") as dockerd reads
//! them (go-units RAMInBytes: binary multiples, suffix case-insensitive).

pub fn parse_ram_size(text: &str) -> Result<i64, String> {
    let invalid = || format!("invalid size: '{text}'");
    let split = text
        .rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ')
        .ok_or_else(invalid)?;
    let (number, suffix) = if text.as_bytes()[split] == b' ' {
        (&text[..split], &text[split + 1..])
    } else {
        (&text[..=split], &text[split + 1..])
    };
    // Go's ParseFloat would take "inf", "1e3" or "0x10"; sizes never mean those.
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(invalid());
    }
    let value: f64 = number.parse().map_err(|_| invalid())?;
    let suffix = suffix.to_ascii_lowercase();
    let multiplier: f64 = match suffix.as_str() {
        "" | "b" => 1.0,
        s => {
            let power = match s.as_bytes()[0] {
                b'k' => 1,
                b'm' => 2,
                b'g' => 3,
                b't' => 4,
                b'p' => 5,
                _ => return Err(format!("invalid suffix: '{s}'")),
            };
            if !matches!(&s[1..], "" | "b" | "ib") {
                return Err(format!("invalid suffix: '{s}'"));
            }
            1024f64.powi(power)
        }
    };
    let bytes = value * multiplier;
    if !bytes.is_finite() || bytes >= i64::MAX as f64 {
        return Err(invalid());
    }
    Ok(bytes as i64)
}

#[cfg(test)]
mod tests {
    use super::parse_ram_size;

    #[test]
    fn accepts_what_go_units_accepts() {
        assert_eq!(parse_ram_size("64M"), Ok(64 << 20));
        assert_eq!(parse_ram_size("64m"), Ok(64 << 20));
        assert_eq!(parse_ram_size("1g"), Ok(1 << 30));
        assert_eq!(parse_ram_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_ram_size("2kb"), Ok(2048));
        assert_eq!(parse_ram_size("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_ram_size("1.5k"), Ok(1536));
        assert_eq!(parse_ram_size("100"), Ok(100));
        assert_eq!(parse_ram_size("100b"), Ok(100));
    }

    #[test]
    fn rejects_with_go_units_wording() {
        assert_eq!(parse_ram_size("lots"), Err("invalid size: 'lots'".into()));
        assert_eq!(parse_ram_size(""), Err("invalid size: ''".into()));
        assert_eq!(parse_ram_size("-1"), Err("invalid size: '-1'".into()));
        assert_eq!(
            parse_ram_size("1.2.3m"),
            Err("invalid size: '1.2.3m'".into())
        );
        assert_eq!(parse_ram_size("10x"), Err("invalid suffix: 'x'".into()));
        assert_eq!(parse_ram_size("10mbb"), Err("invalid suffix: 'mbb'".into()));
        assert_eq!(parse_ram_size("10mx"), Err("invalid suffix: 'mx'".into()));
    }
}
