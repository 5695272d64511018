//! The `filters` of list and prune requests, with dockerd's errors.

use std::collections::BTreeMap;

use crate::errdefs::{Error, Result};

/// Filter name → accepted values (alternatives).
pub type Filters = BTreeMap<String, Vec<String>>;

/// Refuses any filter name not in `allowed`, as dockerd does.
pub fn check_keys(filters: &Filters, allowed: &[&str]) -> Result<()> {
    match filters.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(Error::invalid(format!("invalid filter '{k}'"))),
        None => Ok(()),
    }
}

/// A true/false filter such as `dangling`: None when absent.
pub fn bool_filter(filters: &Filters, key: &str) -> Result<Option<bool>> {
    match filters.get(key).and_then(|v| v.first()).map(String::as_str) {
        None => Ok(None),
        Some("true") | Some("1") => Ok(Some(true)),
        Some("false") | Some("0") => Ok(Some(false)),
        Some(other) => Err(Error::invalid(format!("invalid filter '{key}={other}'"))),
    }
}

/// `key` or `key=value` against labels.
pub fn label_matches<'a>(get: impl Fn(&str) -> Option<&'a str>, wanted: &str) -> bool {
    match wanted.split_once('=') {
        Some((k, v)) => get(k) == Some(v),
        None => get(wanted).is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_bools_and_labels() {
        let f: Filters = [("dangling".to_string(), vec!["true".to_string()])].into();
        assert!(check_keys(&f, &["dangling"]).is_ok());
        assert_eq!(
            check_keys(&f, &["label"]).unwrap_err().message,
            "invalid filter 'dangling'"
        );
        assert_eq!(bool_filter(&f, "dangling").unwrap(), Some(true));
        assert_eq!(bool_filter(&f, "other").unwrap(), None);
        let bad: Filters = [("dangling".to_string(), vec!["maybe".to_string()])].into();
        assert_eq!(
            bool_filter(&bad, "dangling").unwrap_err().message,
            "invalid filter 'dangling=maybe'"
        );
        let labels = |k: &str| if k == "a" { Some("1") } else { None };
        assert!(label_matches(labels, "a") && label_matches(labels, "a=1"));
        assert!(!label_matches(labels, "a=2") && !label_matches(labels, "b"));
    }
}
