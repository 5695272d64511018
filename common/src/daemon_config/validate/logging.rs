//! `log-driver` and `log-opts`: the drivers Berth has and the options
//! dockerd's drivers of the same name accept.

use super::{bad, Check};
use crate::daemon_config::model::DaemonConfig;
use crate::daemon_config::size::parse_ram_size;

const DOCKER_LOG_DRIVERS: &[&str] = &[
    "awslogs",
    "etwlogs",
    "fluentd",
    "gcplogs",
    "gelf",
    "journald",
    "logentries",
    "splunk",
    "syslog",
];
/// Options every log driver takes (dual logging cache, delivery mode).
const COMMON_LOG_OPTS: &[&str] = &[
    "cache-compress",
    "cache-disabled",
    "cache-max-file",
    "cache-max-size",
    "max-buffer-size",
    "mode",
];
const JSON_FILE_LOG_OPTS: &[&str] = &[
    "compress",
    "env",
    "env-regex",
    "labels",
    "labels-regex",
    "max-file",
    "max-size",
    "tag",
];
const LOCAL_LOG_OPTS: &[&str] = &["compress", "max-file", "max-size"];

pub(super) fn check(c: &DaemonConfig) -> Check {
    let driver = c.log_driver.as_str();
    let fail = |m: String| bad("log-opts", format!("failed to set log opts: {m}"));
    let allowed = match driver {
        "none" => return Ok(()),
        "json-file" => JSON_FILE_LOG_OPTS,
        "local" => LOCAL_LOG_OPTS,
        d if DOCKER_LOG_DRIVERS.contains(&d) => {
            return bad(
                "log-driver",
                format!("log driver \"{d}\" is not supported by Berth: use \"json-file\", \"local\" or \"none\""),
            )
        }
        d => {
            return bad(
                "log-driver",
                format!("failed to set log opts: logger: no log driver named '{d}' is registered"),
            )
        }
    };
    let opts = &c.log_opts;
    let mode = opts.get("mode").map(String::as_str).unwrap_or("");
    if !matches!(mode, "" | "blocking" | "non-blocking") {
        return fail(format!("logger: logging mode not supported: {mode}"));
    }
    if let Some(size) = opts.get("max-buffer-size") {
        if mode != "non-blocking" {
            return fail(
                "logger: max-buffer-size option is only supported with 'mode=non-blocking'".into(),
            );
        }
        if let Err(e) = parse_ram_size(size) {
            return fail(format!("error parsing option max-buffer-size: {e}"));
        }
    }
    if let Some(v) = opts.get("cache-disabled") {
        if parse_go_bool(v).is_none() {
            return fail(format!("invalid value for option cache-disabled: {v}"));
        }
    }
    for key in opts.keys() {
        if COMMON_LOG_OPTS.contains(&key.as_str()) || allowed.contains(&key.as_str()) {
            continue;
        }
        return fail(if driver == "json-file" {
            format!("unknown log opt '{key}' for json-file log driver")
        } else {
            format!("unknown log opt '{key}' for log driver {driver}")
        });
    }
    if let Some(v) = opts.get("max-file") {
        match v.parse::<i64>() {
            Ok(n) if n >= 1 => {}
            Ok(_) => return fail("max-file cannot be less than 1".into()),
            Err(_) => return fail(format!("invalid max-file: {v}")),
        }
    }
    if let Some(v) = opts.get("max-size") {
        if let Err(e) = parse_ram_size(v) {
            return fail(format!("invalid max-size: {e}"));
        }
    }
    if let Some(v) = opts.get("compress") {
        if parse_go_bool(v).is_none() {
            return fail(format!("invalid value for option compress: {v}"));
        }
    }
    Ok(())
}

/// Go's strconv.ParseBool.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::check;
    use super::super::test_support::{refuse, with};

    #[test]
    fn log_opts() {
        let opts = |driver: &str, kv: &[(&str, &str)]| {
            with(|c| {
                c.log_driver = driver.into();
                c.log_opts = kv
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
            })
        };
        assert!(check(&opts(
            "json-file",
            &[
                ("max-size", "10m"),
                ("max-file", "3"),
                ("tag", "x"),
                ("mode", "non-blocking"),
                ("max-buffer-size", "4m")
            ]
        ))
        .is_ok());
        assert!(check(&opts("none", &[("anything", "goes")])).is_ok());
        assert_eq!(
            refuse(&opts("json-file", &[("foo", "1")])),
            (
                "log-opts".into(),
                "failed to set log opts: unknown log opt 'foo' for json-file log driver".into()
            )
        );
        assert_eq!(
            refuse(&opts("local", &[("tag", "1")])).1,
            "failed to set log opts: unknown log opt 'tag' for log driver local"
        );
        assert_eq!(
            refuse(&opts("json-file", &[("mode", "fast")])).1,
            "failed to set log opts: logger: logging mode not supported: fast"
        );
        assert_eq!(
            refuse(&opts("local", &[("max-buffer-size", "1m")])).1,
            "failed to set log opts: logger: max-buffer-size option is only supported with 'mode=non-blocking'"
        );
        assert_eq!(
            refuse(&opts("json-file", &[("max-file", "0")])).1,
            "failed to set log opts: max-file cannot be less than 1"
        );
        assert_eq!(
            refuse(&opts("json-file", &[("cache-disabled", "maybe")])).1,
            "failed to set log opts: invalid value for option cache-disabled: maybe"
        );
    }

    #[test]
    fn log_drivers() {
        assert!(refuse(&with(|c| c.log_driver = "syslog".into()))
            .1
            .contains("not supported by Berth"));
        assert_eq!(
            refuse(&with(|c| c.log_driver = "nope".into())).1,
            "failed to set log opts: logger: no log driver named 'nope' is registered"
        );
    }
}
