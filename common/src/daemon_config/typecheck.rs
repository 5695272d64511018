//! Checks a value against its key's [`ValueKind`] before serde sees it.
//!
//! Doing this by hand rather than reading serde's errors gives messages in
//! daemon.json terms ("expected a boolean, found a string") with the exact
//! nested path, and a place to bring Go's lenient field matching (nested
//! struct fields match case-insensitively) into the canonical spelling the
//! typed model expects.

use serde_json::{Map, Value};

use super::keys::ValueKind;
use super::positions::Seg;

/// A value of the wrong shape; `path` is relative to the top-level key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeError {
    pub path: Vec<Seg>,
    pub message: String,
}

impl TypeError {
    fn new(message: impl Into<String>) -> Self {
        TypeError {
            path: Vec::new(),
            message: message.into(),
        }
    }

    fn within(mut self, seg: Seg) -> Self {
        self.path.insert(0, seg);
        self
    }
}

/// Checks `value` and rewrites field names of typed objects to their
/// canonical spelling (`"name"` → `"Name"` in ulimits, as Go would accept).
pub fn check(kind: ValueKind, value: &mut Value) -> Result<(), TypeError> {
    match kind {
        ValueKind::Bool => expect(value.is_boolean(), "a boolean", value),
        ValueKind::String => expect(value.is_string(), "a string", value),
        ValueKind::Int => check_int(value),
        ValueKind::StringList => each_element(value, kind, |v| check(ValueKind::String, v)),
        ValueKind::StringMap => each_member(value, kind, |_, v| check(ValueKind::String, v)),
        ValueKind::BoolMap => each_member(value, kind, |_, v| check(ValueKind::Bool, v)),
        ValueKind::StringMapMap => each_member(value, kind, |_, v| check(ValueKind::StringMap, v)),
        ValueKind::Object => expect(value.is_object(), "an object", value),
        ValueKind::Runtimes => each_member(value, kind, |_, v| check_runtime(v)),
        ValueKind::Ulimits => each_member(value, kind, check_ulimit),
        ValueKind::AddressPools => each_element(value, kind, check_pool),
        ValueKind::Proxies => {
            let obj = as_object(value, "an object")?;
            check_fields(obj, PROXY_FIELDS, false)
        }
    }
}

/// A field of an object we type.
struct Field {
    name: &'static str,
    kind: ValueKind,
    required: bool,
    /// Why Berth refuses a field dockerd knows; `None` for accepted fields.
    refused: Option<&'static str>,
}

const fn field(name: &'static str, kind: ValueKind, required: bool) -> Field {
    Field {
        name,
        kind,
        required,
        refused: None,
    }
}

const RUNTIME_FIELDS: &[Field] = &[
    field("path", ValueKind::String, false),
    field("runtimeArgs", ValueKind::StringList, false),
    Field {
        name: "runtimeType",
        kind: ValueKind::String,
        required: false,
        refused: Some("containerd shims (runtimeType) are not supported by Berth: give the \"path\" of a runc-compatible binary"),
    },
    Field {
        name: "options",
        kind: ValueKind::Object,
        required: false,
        refused: Some("runtime options are only for containerd shims, which Berth does not support"),
    },
];

const ULIMIT_FIELDS: &[Field] = &[
    field("Name", ValueKind::String, false),
    field("Hard", ValueKind::Int, true),
    field("Soft", ValueKind::Int, true),
];

const POOL_FIELDS: &[Field] = &[
    field("base", ValueKind::String, true),
    field("size", ValueKind::Int, true),
];

const PROXY_FIELDS: &[Field] = &[
    field("http-proxy", ValueKind::String, false),
    field("https-proxy", ValueKind::String, false),
    field("no-proxy", ValueKind::String, false),
];

fn check_runtime(value: &mut Value) -> Result<(), TypeError> {
    let obj = as_object(value, "a runtime object")?;
    check_fields(obj, RUNTIME_FIELDS, true)
}

fn check_ulimit(name: &str, value: &mut Value) -> Result<(), TypeError> {
    let obj = as_object(value, "a ulimit object")?;
    check_fields(obj, ULIMIT_FIELDS, true)?;
    // The map key already names the limit; dockerd users often leave Name out.
    obj.entry("Name")
        .or_insert_with(|| Value::String(name.to_string()));
    Ok(())
}

fn check_pool(value: &mut Value) -> Result<(), TypeError> {
    let obj = as_object(value, "an address pool object")?;
    check_fields(obj, POOL_FIELDS, true)?;
    match obj.get("size").and_then(Value::as_i64) {
        Some(0..=255) => Ok(()),
        _ => Err(TypeError::new(format!(
            "expected an integer from 0 to 255, found {}",
            obj["size"]
        ))
        .within(Seg::Key("size".into()))),
    }
}

fn check_fields(
    obj: &mut Map<String, Value>,
    fields: &[Field],
    any_case: bool,
) -> Result<(), TypeError> {
    let names: Vec<String> = obj.keys().cloned().collect();
    for name in names {
        let Some(field) = fields
            .iter()
            .find(|f| f.name == name || (any_case && f.name.eq_ignore_ascii_case(&name)))
        else {
            let expected: Vec<String> = fields
                .iter()
                .filter(|f| f.refused.is_none())
                .map(|f| format!("\"{}\"", f.name))
                .collect();
            return Err(TypeError::new(format!(
                "unknown field \"{name}\", expected one of {}",
                expected.join(", ")
            )));
        };
        let seg = Seg::Key(field.name.to_string());
        if let Some(why) = field.refused {
            return Err(TypeError::new(why).within(seg));
        }
        let mut value = obj.remove(&name).unwrap_or(Value::Null);
        check(field.kind, &mut value).map_err(|e| e.within(seg))?;
        obj.insert(field.name.to_string(), value);
    }
    match fields
        .iter()
        .find(|f| f.required && !obj.contains_key(f.name))
    {
        Some(missing) => Err(TypeError::new(format!(
            "missing field \"{}\"",
            missing.name
        ))),
        None => Ok(()),
    }
}

fn check_int(value: &Value) -> Result<(), TypeError> {
    match value {
        Value::Number(n) if n.is_i64() => Ok(()),
        Value::Number(n) if n.is_u64() => Err(TypeError::new(format!("number {n} is too large"))),
        Value::Number(n) => Err(TypeError::new(format!("expected an integer, found {n}"))),
        other => Err(mismatch("an integer", other)),
    }
}

fn each_element(
    value: &mut Value,
    kind: ValueKind,
    mut check_one: impl FnMut(&mut Value) -> Result<(), TypeError>,
) -> Result<(), TypeError> {
    let Value::Array(items) = value else {
        return Err(mismatch(kind.describe(), value));
    };
    for (i, item) in items.iter_mut().enumerate() {
        check_one(item).map_err(|e| e.within(Seg::Index(i)))?;
    }
    Ok(())
}

fn each_member(
    value: &mut Value,
    kind: ValueKind,
    mut check_one: impl FnMut(&str, &mut Value) -> Result<(), TypeError>,
) -> Result<(), TypeError> {
    let obj = as_object(value, kind.describe())?;
    for (k, v) in obj.iter_mut() {
        check_one(k, v).map_err(|e| e.within(Seg::Key(k.clone())))?;
    }
    Ok(())
}

fn as_object<'v>(
    value: &'v mut Value,
    expected: &str,
) -> Result<&'v mut Map<String, Value>, TypeError> {
    match value {
        Value::Object(obj) => Ok(obj),
        other => Err(mismatch(expected, other)),
    }
}

fn expect(ok: bool, expected: &str, value: &Value) -> Result<(), TypeError> {
    if ok {
        Ok(())
    } else {
        Err(mismatch(expected, value))
    }
}

fn mismatch(expected: &str, found: &Value) -> TypeError {
    TypeError::new(format!("expected {expected}, found {}", describe(found)))
}

/// How a JSON value reads in "found ..." (the same words as `ValueKind::describe`).
pub fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon_config::positions::PathDisplay;
    use serde_json::json;

    fn fails(kind: ValueKind, mut v: Value) -> String {
        let e = check(kind, &mut v).expect_err("should fail");
        format!("{}: {}", PathDisplay(&e.path), e.message)
    }

    #[test]
    fn scalars() {
        assert!(check(ValueKind::Bool, &mut json!(true)).is_ok());
        assert_eq!(
            fails(ValueKind::Bool, json!("yes")),
            ": expected a boolean, found a string"
        );
        assert_eq!(
            fails(ValueKind::String, json!(1)),
            ": expected a string, found a number"
        );
        assert!(check(ValueKind::Int, &mut json!(-3)).is_ok());
        assert_eq!(
            fails(ValueKind::Int, json!(1.5)),
            ": expected an integer, found 1.5"
        );
        assert_eq!(
            fails(ValueKind::Int, json!(u64::MAX)),
            ": number 18446744073709551615 is too large"
        );
        assert_eq!(
            fails(ValueKind::Int, json!("3")),
            ": expected an integer, found a string"
        );
    }

    #[test]
    fn collections_name_the_element() {
        assert_eq!(
            fails(ValueKind::StringList, json!("a")),
            ": expected an array of strings, found a string"
        );
        assert_eq!(
            fails(ValueKind::StringList, json!(["a", 2])),
            "[1]: expected a string, found a number"
        );
        assert_eq!(
            fails(ValueKind::StringMap, json!({"max-file": 3})),
            "max-file: expected a string, found a number"
        );
        assert_eq!(
            fails(ValueKind::BoolMap, json!({"cdi": "on"})),
            "cdi: expected a boolean, found a string"
        );
        assert_eq!(
            fails(ValueKind::StringMapMap, json!({"bridge": {"m": 1}})),
            "bridge.m: expected a string, found a number"
        );
        assert_eq!(
            fails(ValueKind::Object, json!([])),
            ": expected an object, found an array"
        );
    }

    #[test]
    fn runtimes() {
        let mut ok = json!({"crun": {"path": "/bin/crun", "runtimeArgs": ["--x"]}});
        assert!(check(ValueKind::Runtimes, &mut ok).is_ok());
        let mut any_case = json!({"crun": {"Path": "/bin/crun", "runtimeargs": []}});
        check(ValueKind::Runtimes, &mut any_case).unwrap();
        assert_eq!(
            any_case,
            json!({"crun": {"path": "/bin/crun", "runtimeArgs": []}})
        );
        assert_eq!(
            fails(
                ValueKind::Runtimes,
                json!({"crun": {"path": "/x", "foo": 1}})
            ),
            "crun: unknown field \"foo\", expected one of \"path\", \"runtimeArgs\""
        );
        assert!(fails(
            ValueKind::Runtimes,
            json!({"k": {"runtimeType": "io.containerd.kata.v2"}})
        )
        .starts_with("k.runtimeType: containerd shims (runtimeType) are not supported by Berth"));
        assert_eq!(
            fails(ValueKind::Runtimes, json!({"k": "/x"})),
            "k: expected a runtime object, found a string"
        );
    }

    #[test]
    fn ulimits_fill_the_name_and_need_both_limits() {
        let mut v = json!({"nofile": {"hard": 2, "soft": 1}});
        check(ValueKind::Ulimits, &mut v).unwrap();
        assert_eq!(
            v,
            json!({"nofile": {"Name": "nofile", "Hard": 2, "Soft": 1}})
        );
        assert_eq!(
            fails(ValueKind::Ulimits, json!({"nofile": {"Hard": 2}})),
            "nofile: missing field \"Soft\""
        );
        assert_eq!(
            fails(
                ValueKind::Ulimits,
                json!({"nofile": {"Hard": "2", "Soft": 1}})
            ),
            "nofile.Hard: expected an integer, found a string"
        );
    }

    #[test]
    fn address_pools() {
        assert!(check(
            ValueKind::AddressPools,
            &mut json!([{"base": "10.0.0.0/8", "size": 24}])
        )
        .is_ok());
        assert_eq!(
            fails(ValueKind::AddressPools, json!([{"base": "10.0.0.0/8"}])),
            "[0]: missing field \"size\""
        );
        assert_eq!(
            fails(
                ValueKind::AddressPools,
                json!([{"base": "a", "size": 1}, {"base": "b", "size": 1, "x": 1}])
            ),
            "[1]: unknown field \"x\", expected one of \"base\", \"size\""
        );
        assert_eq!(
            fails(ValueKind::AddressPools, json!([{"base": "a", "size": 300}])),
            "[0].size: expected an integer from 0 to 255, found 300"
        );
        assert_eq!(
            fails(ValueKind::AddressPools, json!({})),
            ": expected an array of address pools, found an object"
        );
    }

    #[test]
    fn proxies_are_case_sensitive_like_dockerds_flags() {
        assert!(check(
            ValueKind::Proxies,
            &mut json!({"http-proxy": "http://p:3128"})
        )
        .is_ok());
        assert_eq!(
            fails(ValueKind::Proxies, json!({"HTTP-PROXY": "x"})),
            ": unknown field \"HTTP-PROXY\", expected one of \"http-proxy\", \"https-proxy\", \"no-proxy\""
        );
    }
}
