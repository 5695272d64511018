//! The few unsupported keys whose dockerd checks cost nothing: a file that
//! dockerd refuses should not pass here either.

use serde_json::Value;

use super::{bad, Check};
use crate::daemon_config::model::DaemonConfig;

pub(super) fn check(c: &DaemonConfig) -> Check {
    let text = |key: &str| c.unsupported.get(key).and_then(Value::as_str).unwrap_or("");
    match text("log-format") {
        "" | "text" | "json" => {}
        other => return bad("log-format", format!("invalid log format: {other}")),
    }
    if c.unsupported.contains_key("host-gateway-ip")
        && c.unsupported.contains_key("host-gateway-ips")
    {
        return bad(
            "host-gateway-ip",
            "host-gateway-ip and host-gateway-ips must not both be specified in the config file",
        );
    }
    if let Some(port) = c
        .unsupported
        .get("network-diagnostic-port")
        .and_then(Value::as_i64)
    {
        if !(0..=65535).contains(&port) {
            return bad(
                "network-diagnostic-port",
                format!(
                    "invalid network-diagnostic-port ({port}): value must be between 0 and 65535"
                ),
            );
        }
    }
    for r in string_list(c.unsupported.get("node-generic-resources")) {
        if !r.contains('=') {
            return bad(
                "node-generic-resources",
                format!("invalid node-generic-resource format `{r}` expected `name=value`"),
            );
        }
    }
    if !text("api-cors-header").is_empty() {
        return bad(
            "api-cors-header",
            "DEPRECATED: The \"api-cors-header\" config parameter and the berthd \"--api-cors-header\" option have been removed; use a reverse proxy if you need CORS headers",
        );
    }
    match text("default-ipc-mode") {
        "" | "private" | "shareable" => {}
        m @ ("host" | "none") => return bad("default-ipc-mode", ipc_not_default(m)),
        m if m.starts_with("container:") => return bad("default-ipc-mode", ipc_not_default(m)),
        m => {
            return bad(
                "default-ipc-mode",
                format!(
                    "default IPC mode setting ({m}) is invalid; use \"shareable\" or \"private\""
                ),
            )
        }
    }
    match text("default-cgroupns-mode") {
        "" | "host" | "private" => {}
        m => {
            return bad(
                "default-cgroupns-mode",
                format!("invalid default cgroup namespace ({m}): use \"host\" or \"private\""),
            )
        }
    }
    if !text("bridge").is_empty() && c.bip.is_some() {
        return bad(
            "bip",
            "You specified -b & --bip, mutually exclusive options. Please specify only one",
        );
    }
    Ok(())
}

fn ipc_not_default(mode: &str) -> String {
    format!(
        "IPC mode \"{mode}\" is not supported as default value; use \"shareable\" or \"private\""
    )
}

fn string_list(value: Option<&Value>) -> impl Iterator<Item = &str> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::super::check;
    use super::super::test_support::{refuse, with};
    use serde_json::{json, Value};

    #[test]
    fn unsupported_keys_get_dockerds_cheap_checks() {
        let un = |k: &str, v: Value| {
            with(|c| {
                c.unsupported.insert(k.into(), v);
            })
        };
        assert_eq!(
            refuse(&un("log-format", json!("xml"))).1,
            "invalid log format: xml"
        );
        assert!(check(&un("log-format", json!("json"))).is_ok());
        assert!(refuse(&un("api-cors-header", json!("*")))
            .1
            .starts_with("DEPRECATED: The \"api-cors-header\""));
        assert!(check(&un("api-cors-header", json!(""))).is_ok());
        assert_eq!(
            refuse(&un("default-ipc-mode", json!("host"))).1,
            "IPC mode \"host\" is not supported as default value; use \"shareable\" or \"private\""
        );
        assert_eq!(
            refuse(&un("default-ipc-mode", json!("weird"))).1,
            "default IPC mode setting (weird) is invalid; use \"shareable\" or \"private\""
        );
        assert_eq!(
            refuse(&un("default-cgroupns-mode", json!("x"))).1,
            "invalid default cgroup namespace (x): use \"host\" or \"private\""
        );
        assert_eq!(
            refuse(&un("network-diagnostic-port", json!(70000))).1,
            "invalid network-diagnostic-port (70000): value must be between 0 and 65535"
        );
        assert_eq!(
            refuse(&un("node-generic-resources", json!(["gpu"]))).1,
            "invalid node-generic-resource format `gpu` expected `name=value`"
        );
        let mut both = un("host-gateway-ip", json!("1.2.3.4"));
        both.unsupported
            .insert("host-gateway-ips".into(), json!(["1.2.3.4"]));
        assert_eq!(refuse(&both).0, "host-gateway-ip");
        let mut bridge = un("bridge", json!("br0"));
        bridge.bip = Some("10.0.0.1/24".into());
        assert!(refuse(&bridge).1.starts_with("You specified -b & --bip"));
    }
}
