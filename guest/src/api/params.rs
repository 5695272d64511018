//! Query-string conventions of the Engine API.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::error::ApiError;
use super::extract::Query;

/// Query parameters by name (the last value of a repeated one wins).
pub type Q = Query<HashMap<String, String>>;

pub fn q<'a>(q: &'a HashMap<String, String>, k: &str) -> Option<&'a str> {
    q.get(k).map(String::as_str)
}

/// dockerd's `BoolValue`: empty, "0", "no", "false" and "none" are false,
/// anything else (e.g. "1", "true") is true.
pub fn bool_value(v: Option<&str>) -> bool {
    match v.map(|s| s.trim().to_ascii_lowercase()) {
        None => false,
        Some(s) => !matches!(s.as_str(), "" | "0" | "no" | "false" | "none"),
    }
}

/// The `filters` parameter: `{"key":["v1","v2"]}` or the older
/// `{"key":{"v1":true}}`, both into key → values.
pub fn filters(raw: Option<&str>) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(BTreeMap::new());
    };
    let v: Value = serde_json::from_str(raw)
        .map_err(|e| ApiError::bad_request(format!("invalid filter: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::bad_request("invalid filter: must be a JSON object"))?;
    let mut out = BTreeMap::new();
    for (k, vals) in obj {
        let list = match vals {
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect(),
            Value::Object(m) => m
                .iter()
                .filter(|(_, on)| on.as_bool().unwrap_or(false))
                .map(|(x, _)| x.clone())
                .collect(),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "invalid filter: values of '{k}' must be a list"
                )))
            }
        };
        out.insert(k.clone(), list);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bools_follow_dockerd() {
        for t in ["1", "true", "True", "yes", "anything"] {
            assert!(bool_value(Some(t)), "{t}");
        }
        for f in ["", "0", "false", "no", "none", "FALSE"] {
            assert!(!bool_value(Some(f)), "{f}");
        }
        assert!(!bool_value(None));
    }

    #[test]
    fn both_filter_forms_parse() {
        let a = filters(Some(r#"{"dangling":["true"],"label":["a","b=c"]}"#)).unwrap();
        assert_eq!(a["label"], vec!["a", "b=c"]);
        let b = filters(Some(r#"{"dangling":{"true":true}}"#)).unwrap();
        assert_eq!(b["dangling"], vec!["true"]);
        assert!(filters(Some("{")).is_err());
        assert!(filters(Some("[1]")).is_err());
        assert!(filters(None).unwrap().is_empty());
    }
}
