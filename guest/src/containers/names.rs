//! Container names: dockerd's validation, and generated names for
//! containers created without one.

use crate::errdefs::{Error, Result};

/// `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, with an optional leading slash; returns the
/// name with its slash, as the API stores it.
pub fn validate(name: &str) -> Result<String> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let mut chars = bare.chars();
    let ok = match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => {
            bare.len() >= 2 && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        }
        _ => false,
    };
    if !ok {
        return Err(Error::invalid(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    Ok(format!("/{bare}"))
}

const ADJECTIVES: &[&str] = &[
    "brave", "calm", "clever", "eager", "fervent", "gentle", "happy", "jolly", "keen", "lucid",
    "merry", "nimble", "patient", "quiet", "sharp", "steady", "sunny", "swift", "tender", "upbeat",
    "vivid", "wise", "zealous", "bold", "cheerful", "curious", "daring", "friendly", "proud",
    "serene",
];

/// Sailors, harbour makers and navigators: fitting for a berth.
const NAMES: &[&str] = &[
    "bougainville",
    "cabot",
    "cook",
    "dampier",
    "drake",
    "elcano",
    "flinders",
    "gama",
    "hudson",
    "humboldt",
    "magellan",
    "nansen",
    "polo",
    "raleigh",
    "shackleton",
    "tasman",
    "vespucci",
    "amundsen",
    "baffin",
    "bering",
    "cartier",
    "columbus",
    "darwin",
    "frobisher",
    "hillary",
    "kupe",
    "mawson",
    "peary",
    "ross",
    "zheng",
];

/// `adjective_name`, with a number appended after the first collisions, like dockerd.
pub fn generate(taken: impl Fn(&str) -> bool) -> String {
    let seed =
        u64::from_str_radix(&uuid::Uuid::new_v4().simple().to_string()[..16], 16).unwrap_or(7);
    for attempt in 0..64u64 {
        let r = seed.wrapping_add(attempt.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut name = format!(
            "{}_{}",
            ADJECTIVES[(r % ADJECTIVES.len() as u64) as usize],
            NAMES[((r >> 16) % NAMES.len() as u64) as usize]
        );
        if attempt >= 8 {
            name.push_str(&((r >> 32) % 10).to_string());
        }
        if !taken(&format!("/{name}")) {
            return name;
        }
    }
    format!("berth_{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockerds_rule() {
        assert_eq!(validate("web").unwrap(), "/web");
        assert_eq!(validate("/web-1.a_b").unwrap(), "/web-1.a_b");
        for bad in ["", "a", "-web", "we b", "web/x", "_x"] {
            let e = validate(bad).unwrap_err();
            assert_eq!(
                e.message,
                format!(
                    "Invalid container name ({bad}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )
            );
        }
    }

    #[test]
    fn generated_names_are_valid_and_avoid_taken_ones() {
        let n = generate(|_| false);
        assert!(validate(&n).is_ok(), "{n}");
        let taken = format!("/{n}");
        for _ in 0..20 {
            assert!(validate(&generate(|x| x == taken)).is_ok());
        }
    }
}
