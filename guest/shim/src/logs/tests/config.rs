use std::path::Path;

use serde_json::json;

use super::super::{Driver, LogConfig};

fn cfg(v: serde_json::Value) -> Result<LogConfig, String> {
    LogConfig::from_host_config("abc123", Path::new("/data/containers/abc123"), &v)
}

fn opts(kind: &str, pairs: &[(&str, &str)]) -> Result<LogConfig, String> {
    let map: serde_json::Map<String, serde_json::Value> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    cfg(json!({"Type": kind, "Config": map}))
}

fn max_size(kind: &str, v: &str) -> Result<Option<u64>, String> {
    opts(kind, &[("max-size", v)]).map(|c| c.max_size)
}

#[test]
fn json_file_defaults_and_path() {
    for v in [
        json!({"Type": "json-file", "Config": {}}),
        json!({"Type": ""}),
        json!(null),
    ] {
        let c = cfg(v).unwrap();
        assert_eq!(c.driver, Driver::JsonFile);
        assert_eq!(c.path, Path::new("/data/containers/abc123/abc123-json.log"));
        assert_eq!((c.max_size, c.max_file), (None, 1));
    }
}

#[test]
fn local_defaults_and_path() {
    let c = cfg(json!({"Type": "local"})).unwrap();
    assert_eq!(c.driver, Driver::Local);
    assert_eq!(
        c.path,
        Path::new("/data/containers/abc123/local-logs/container.log")
    );
    assert_eq!((c.max_size, c.max_file), (Some(20 * 1024 * 1024), 5));
}

#[test]
fn none_takes_anything() {
    let c = opts("none", &[("bogus", "1"), ("max-size", "x")]).unwrap();
    assert_eq!(c.driver, Driver::None);
}

#[test]
fn unknown_driver() {
    assert_eq!(
        cfg(json!({"Type": "syslog2"})).unwrap_err(),
        "logger: no log driver named 'syslog2' is registered"
    );
}

#[test]
fn sizes_are_decimal_like_go_units() {
    assert_eq!(max_size("json-file", "10m"), Ok(Some(10_000_000)));
    assert_eq!(max_size("json-file", "10M"), Ok(Some(10_000_000)));
    assert_eq!(max_size("json-file", "10MB"), Ok(Some(10_000_000)));
    assert_eq!(max_size("json-file", "10MiB"), Ok(Some(10_000_000)));
    assert_eq!(max_size("json-file", "1k"), Ok(Some(1000)));
    assert_eq!(max_size("json-file", "1.5K"), Ok(Some(1500)));
    assert_eq!(max_size("json-file", "2g"), Ok(Some(2_000_000_000)));
    assert_eq!(max_size("json-file", "123"), Ok(Some(123)));
    assert_eq!(max_size("json-file", "123b"), Ok(Some(123)));
    assert_eq!(max_size("json-file", "10 m"), Ok(Some(10_000_000)));
    assert_eq!(max_size("local", "1m"), Ok(Some(1_000_000)));
}

#[test]
fn size_errors() {
    assert_eq!(
        max_size("json-file", "-1"),
        Err("invalid size: '-1'".into())
    );
    assert_eq!(max_size("json-file", "m"), Err("invalid size: 'm'".into()));
    assert_eq!(
        max_size("json-file", "10x"),
        Err("invalid suffix: 'x'".into())
    );
    assert_eq!(
        max_size("json-file", "10mbb"),
        Err("invalid suffix: 'mbb'".into())
    );
    assert_eq!(
        max_size("json-file", "10MX"),
        Err("invalid suffix: 'mx'".into())
    );
    assert_eq!(
        max_size("json-file", "0"),
        Err("max-size must be a positive number".into())
    );
    assert_eq!(
        max_size("json-file", "1.2.3k"),
        Err("strconv.ParseFloat: parsing \"1.2.3\": invalid syntax".into())
    );
    assert_eq!(
        max_size("local", "x"),
        Err("invalid value for max-size: x: invalid size: 'x'".into())
    );
}

#[test]
fn max_file_rules() {
    let c = opts("json-file", &[("max-size", "1k"), ("max-file", "3")]).unwrap();
    assert_eq!((c.max_size, c.max_file), (Some(1000), 3));
    // dockerd does not require max-size with max-file: nothing rotates.
    let c = opts("json-file", &[("max-file", "3")]).unwrap();
    assert_eq!((c.max_size, c.max_file), (None, 3));
    assert_eq!(
        opts("json-file", &[("max-file", "0")]).unwrap_err(),
        "max-file cannot be less than 1"
    );
    assert_eq!(
        opts("json-file", &[("max-file", "three")]).unwrap_err(),
        "strconv.Atoi: parsing \"three\": invalid syntax"
    );
    assert_eq!(
        opts("local", &[("max-file", "x")]).unwrap_err(),
        "invalid value for max-file: x: strconv.Atoi: parsing \"x\": invalid syntax"
    );
    assert_eq!(
        opts("local", &[("max-file", "-1")]).unwrap_err(),
        "max-file must not be negative"
    );
}

#[test]
fn compress_rules() {
    assert!(opts("json-file", &[("compress", "false")]).is_ok());
    assert_eq!(
        opts("json-file", &[("compress", "true"), ("max-file", "3")]).unwrap_err(),
        "compress cannot be true when max-file is less than 2 or max-size is not set"
    );
    assert!(opts(
        "json-file",
        &[("compress", "1"), ("max-file", "2"), ("max-size", "1m")]
    )
    .is_ok());
    assert_eq!(
        opts("json-file", &[("compress", "yes")]).unwrap_err(),
        "strconv.ParseBool: parsing \"yes\": invalid syntax"
    );
    // local compresses by default, which needs rotated files.
    assert_eq!(
        opts("local", &[("max-file", "1")]).unwrap_err(),
        "compression cannot be enabled when max file count is 1"
    );
    let c = opts("local", &[("max-file", "1"), ("compress", "false")]).unwrap();
    assert_eq!(c.max_file, 1);
    let c = opts("local", &[("max-file", "0"), ("compress", "false")]).unwrap();
    assert_eq!(c.max_file, 1);
}

#[test]
fn unknown_and_accepted_opts() {
    assert_eq!(
        opts("json-file", &[("max-sise", "1m")]).unwrap_err(),
        "unknown log opt 'max-sise' for json-file log driver"
    );
    assert_eq!(
        opts("", &[("fluentd-address", "x")]).unwrap_err(),
        "unknown log opt 'fluentd-address' for json-file log driver"
    );
    assert_eq!(
        opts("local", &[("bogus", "1")]).unwrap_err(),
        "unknown log opt 'bogus' for log driver local"
    );
    let common = [
        ("labels", "a,b"),
        ("labels-regex", "^a"),
        ("env", "X"),
        ("env-regex", "^X"),
        ("tag", "{{.Name}}"),
        ("mode", "non-blocking"),
        ("max-buffer-size", "4m"),
        ("cache-disabled", "true"),
        ("cache-max-size", "1m"),
    ];
    assert!(opts("json-file", &common).is_ok());
    assert!(opts("local", &common).is_ok());
}

#[test]
fn builtin_opt_errors() {
    assert_eq!(
        opts("json-file", &[("mode", "fast")]).unwrap_err(),
        "logger: logging mode not supported: fast"
    );
    assert_eq!(
        opts("json-file", &[("max-buffer-size", "1m")]).unwrap_err(),
        "logger: max-buffer-size option is only supported with 'mode=non-blocking'"
    );
    assert_eq!(
        opts(
            "json-file",
            &[("mode", "non-blocking"), ("max-buffer-size", "lots")]
        )
        .unwrap_err(),
        "error parsing option max-buffer-size: invalid size: 'lots'"
    );
    assert_eq!(
        opts("json-file", &[("cache-disabled", "maybe")]).unwrap_err(),
        "invalid value for option cache-disabled: maybe"
    );
    // dockerd checks these before looking the driver up.
    assert_eq!(
        opts("nope", &[("mode", "fast")]).unwrap_err(),
        "logger: logging mode not supported: fast"
    );
}

#[test]
fn non_string_values_are_refused() {
    assert!(cfg(json!({"Type": "json-file", "Config": {"max-file": 3}})).is_err());
    assert!(cfg(json!({"Type": "json-file", "Config": "max-file=3"})).is_err());
}
