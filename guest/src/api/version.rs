//! API version negotiation: `/vX.Y/...` prefixes, the supported range, and
//! dockerd's wording for versions outside it.

use std::cmp::Ordering;
use std::fmt;

use super::error::ApiError;

/// An Engine API version as it appears in `/vX.Y/` paths.
///
/// Compared component by component like moby's `versions.Compare`: missing or
/// non-numeric components count as 0, so odd inputs still order sensibly.
#[derive(Debug, Clone)]
pub struct ApiVersion {
    parts: Vec<u64>,
    text: String,
}

/// Oldest version served, as dockerd 28 does.
pub const MIN: &str = "1.24";
/// Newest version implemented; advertised in `/_ping`, `/version` and headers.
pub const MAX: &str = "1.50";

impl ApiVersion {
    pub fn parse(text: &str) -> ApiVersion {
        ApiVersion {
            parts: text.split('.').map(|p| p.parse().unwrap_or(0)).collect(),
            text: text.to_string(),
        }
    }

    pub fn max() -> ApiVersion {
        Self::parse(MAX)
    }

    pub fn min() -> ApiVersion {
        Self::parse(MIN)
    }

    /// True when the request speaks at least `other` (for per-version behaviour).
    #[allow(dead_code)]
    pub fn at_least(&self, other: &str) -> bool {
        *self >= Self::parse(other)
    }
}

impl Ord for ApiVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let n = self.parts.len().max(other.parts.len());
        (0..n)
            .map(|i| {
                let a = self.parts.get(i).copied().unwrap_or(0);
                let b = other.parts.get(i).copied().unwrap_or(0);
                a.cmp(&b)
            })
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialEq for ApiVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for ApiVersion {}

impl PartialOrd for ApiVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Splits an optional `/v<digits and dots>` prefix off a request path.
///
/// Returns the version (None when unversioned) and the remaining path. A prefix
/// such as `/vfoo/` is not a version: the path is left for the router to 404,
/// as moby's route matcher does.
pub fn split_path(path: &str) -> (Option<&str>, &str) {
    let Some(rest) = path.strip_prefix("/v") else {
        return (None, path);
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let candidate = &rest[..end];
    if candidate.is_empty() || !candidate.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return (None, path);
    }
    let remaining = &rest[end..];
    (
        Some(candidate),
        if remaining.is_empty() { "/" } else { remaining },
    )
}

/// Checks a requested version against the supported range.
pub fn negotiate(requested: Option<&str>) -> Result<ApiVersion, ApiError> {
    let Some(text) = requested else {
        return Ok(ApiVersion::max());
    };
    let v = ApiVersion::parse(text);
    if v < ApiVersion::min() {
        return Err(ApiError::bad_request(format!(
            "client version {text} is too old. Minimum supported API version is {MIN}, please upgrade your client to a newer version"
        )));
    }
    if v > ApiVersion::max() {
        return Err(ApiError::bad_request(format!(
            "client version {text} is too new. Maximum supported API version is {MAX}"
        )));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_versioned_and_unversioned_paths() {
        assert_eq!(split_path("/v1.50/info"), (Some("1.50"), "/info"));
        assert_eq!(
            split_path("/v1.24/containers/json"),
            (Some("1.24"), "/containers/json")
        );
        assert_eq!(split_path("/info"), (None, "/info"));
        assert_eq!(split_path("/v1.50"), (Some("1.50"), "/"));
        assert_eq!(split_path("/vfoo/info"), (None, "/vfoo/info"));
        assert_eq!(split_path("/volumes"), (None, "/volumes"));
    }

    #[test]
    fn range_is_enforced_with_dockerds_wording() {
        assert!(negotiate(Some("1.24")).is_ok());
        assert!(negotiate(Some("1.50")).is_ok());
        assert!(negotiate(None).is_ok());
        let old = negotiate(Some("1.12")).unwrap_err();
        assert_eq!(old.status, 400);
        assert_eq!(old.message, "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version");
        let new = negotiate(Some("1.99")).unwrap_err();
        assert_eq!(
            new.message,
            "client version 1.99 is too new. Maximum supported API version is 1.50"
        );
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(ApiVersion::parse("1.9") < ApiVersion::parse("1.10"));
        assert!(ApiVersion::parse("1.50") > ApiVersion::parse("1.5"));
        assert_eq!(ApiVersion::parse("1.50"), ApiVersion::parse("1.50"));
        assert!(ApiVersion::parse("2") > ApiVersion::parse("1.99"));
        assert!(ApiVersion::parse("1.50").at_least("1.44"));
    }
}
