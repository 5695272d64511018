//! The container's `HostConfig.LogConfig`, validated the way dockerd does
//! (same checks, same order, same error wording) so clients see the
//! messages they know.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The log drivers Berth implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    JsonFile,
    /// dockerd's `local` driver keeps its rotation defaults (20 MiB x 5) and
    /// its file location here, but not its protobuf framing: Berth writes the
    /// json-file line format, since only Berth itself reads these files.
    /// Compression of rotated files (dockerd's default for `local`) is
    /// accepted but not done.
    Local,
    /// Nothing is written and nothing can be read.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    pub driver: Driver,
    /// The live file; rotated ones are `<path>.1` (newest) to
    /// `<path>.<max_file - 1>`.
    pub path: PathBuf,
    /// Rotate once the live file has reached this size; `None` never does.
    pub max_size: Option<u64>,
    /// Files kept in total, the live one included; 1 means rotation
    /// replaces the live file.
    pub max_file: u32,
}

/// Options every driver takes: dockerd handles them above the driver
/// (non-blocking mode, the local read cache of remote drivers).
const BUILTIN_OPTS: &[&str] = &["mode", "max-buffer-size", "cache-disabled"];
/// dockerd also takes the local driver's keys with a `cache-` prefix.
const LOCAL_OPTS: &[&str] = &["max-file", "max-size", "compress"];
/// Accepted by both file drivers; they only add `attrs` to entries, which
/// Berth does not write (its reader has no use for them).
const ATTR_OPTS: &[&str] = &["labels", "labels-regex", "env", "env-regex", "tag"];

const LOCAL_DEFAULT_MAX_SIZE: u64 = 20 * 1024 * 1024;
const LOCAL_DEFAULT_MAX_FILE: u32 = 5;

impl LogConfig {
    /// From the container's `HostConfig.LogConfig` (`{"Type", "Config"}`)
    /// and its directory (`<data-root>/containers/<id>/`). An empty or
    /// absent `Type` is the daemon default, `json-file`.
    pub fn from_host_config(
        id: &str,
        container_dir: &Path,
        log_config: &Value,
    ) -> Result<LogConfig, String> {
        let kind = log_config.get("Type").and_then(Value::as_str).unwrap_or("");
        let opts = options(log_config)?;
        if kind == "none" {
            // dockerd skips all option checks for `none`.
            return Ok(LogConfig {
                driver: Driver::None,
                path: PathBuf::new(),
                max_size: None,
                max_file: 1,
            });
        }
        validate_builtin(&opts)?;
        let driver = match kind {
            "" | "json-file" => Driver::JsonFile,
            "local" => Driver::Local,
            other => {
                return Err(format!(
                    "logger: no log driver named '{other}' is registered"
                ))
            }
        };
        for key in opts.keys().filter(|k| !is_builtin(k)) {
            if !LOCAL_OPTS.contains(&key.as_str()) && !ATTR_OPTS.contains(&key.as_str()) {
                return Err(match driver {
                    Driver::Local => format!("unknown log opt '{key}' for log driver local"),
                    _ => format!("unknown log opt '{key}' for json-file log driver"),
                });
            }
        }
        let (path, (max_size, max_file)) = match driver {
            Driver::Local => (
                container_dir.join("local-logs").join("container.log"),
                local_limits(&opts)?,
            ),
            _ => (
                container_dir.join(format!("{id}-json.log")),
                json_file_limits(&opts)?,
            ),
        };
        Ok(LogConfig {
            driver,
            path,
            max_size,
            max_file,
        })
    }
}

fn options(log_config: &Value) -> Result<BTreeMap<String, String>, String> {
    let map = match log_config.get("Config") {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map,
        Some(_) => return Err("invalid LogConfig.Config: not an object".to_string()),
    };
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            _ => Err(format!("invalid value for log opt '{k}': not a string")),
        })
        .collect()
}

fn is_builtin(key: &str) -> bool {
    BUILTIN_OPTS.contains(&key)
        || key
            .strip_prefix("cache-")
            .is_some_and(|k| LOCAL_OPTS.contains(&k) || ATTR_OPTS.contains(&k))
}

fn validate_builtin(opts: &BTreeMap<String, String>) -> Result<(), String> {
    let mode = opts.get("mode").map(String::as_str).unwrap_or("");
    if !matches!(mode, "" | "blocking" | "non-blocking") {
        return Err(format!("logger: logging mode not supported: {mode}"));
    }
    if let Some(v) = opts.get("max-buffer-size") {
        if mode != "non-blocking" {
            return Err(
                "logger: max-buffer-size option is only supported with 'mode=non-blocking'".into(),
            );
        }
        parse_size(v, 1024).map_err(|e| format!("error parsing option max-buffer-size: {e}"))?;
    }
    if let Some(v) = opts.get("cache-disabled").filter(|v| !v.is_empty()) {
        parse_bool(v).map_err(|_| format!("invalid value for option cache-disabled: {v}"))?;
    }
    Ok(())
}

fn json_file_limits(opts: &BTreeMap<String, String>) -> Result<(Option<u64>, u32), String> {
    let mut max_size = None;
    if let Some(v) = opts.get("max-size") {
        let n = parse_size(v, 1000)?;
        if n <= 0 {
            return Err("max-size must be a positive number".into());
        }
        max_size = Some(n as u64);
    }
    let mut max_file = 1;
    if let Some(v) = opts.get("max-file") {
        let n = atoi(v)?;
        if n < 1 {
            return Err("max-file cannot be less than 1".into());
        }
        max_file = u32::try_from(n).unwrap_or(u32::MAX);
    }
    if let Some(v) = opts.get("compress") {
        if parse_bool(v)? && (max_file == 1 || max_size.is_none()) {
            return Err(
                "compress cannot be true when max-file is less than 2 or max-size is not set"
                    .into(),
            );
        }
    }
    Ok((max_size, max_file))
}

fn local_limits(opts: &BTreeMap<String, String>) -> Result<(Option<u64>, u32), String> {
    let mut max_size = LOCAL_DEFAULT_MAX_SIZE;
    if let Some(v) = opts.get("max-size") {
        let n = parse_size(v, 1000).map_err(|e| format!("invalid value for max-size: {v}: {e}"))?;
        max_size = n.max(0) as u64;
    }
    let mut max_file = i64::from(LOCAL_DEFAULT_MAX_FILE);
    if let Some(v) = opts.get("max-file") {
        max_file = atoi(v).map_err(|e| format!("invalid value for max-file: {v}: {e}"))?;
    }
    let mut compress = true;
    if let Some(v) = opts.get("compress") {
        compress = parse_bool(v).map_err(|e| format!("invalid boolean value for compress: {e}"))?;
    }
    if max_file < 0 {
        return Err("max-file must not be negative".into());
    }
    if compress && max_file <= 1 {
        return Err("compression cannot be enabled when max file count is 1".into());
    }
    // dockerd treats 0 files like 1: the live file is replaced on rotation.
    let max_file = u32::try_from(max_file.max(1)).unwrap_or(u32::MAX);
    Ok((Some(max_size), max_file))
}

/// Go's `strconv.Atoi`, with its error text.
fn atoi(s: &str) -> Result<i64, String> {
    s.parse::<i64>().map_err(|e| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "value out of range"
            }
            _ => "invalid syntax",
        };
        format!("strconv.Atoi: parsing {s:?}: {why}")
    })
}

/// Go's `strconv.ParseBool`, with its error text.
fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("strconv.ParseBool: parsing {s:?}: invalid syntax")),
    }
}

/// go-units' size parser: `FromHumanSize` with `base` 1000 (what both file
/// drivers use for max-size, so `10m` is 10,000,000 bytes and even `10MiB`
/// is), `RAMInBytes` with 1024. Negative sizes are rejected.
fn parse_size(s: &str, base: i64) -> Result<i64, String> {
    let Some(sep) = s.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ') else {
        return Err(format!("invalid size: '{s}'"));
    };
    let (num, sfx) = match s.as_bytes()[sep] {
        b' ' => (&s[..sep], &s[sep + 1..]),
        _ => (&s[..=sep], &s[sep + 1..]),
    };
    let size: f64 = num
        .parse()
        .map_err(|_| format!("strconv.ParseFloat: parsing {num:?}: invalid syntax"))?;
    if size.is_infinite() && !num.to_ascii_lowercase().contains("inf") {
        return Err(format!(
            "strconv.ParseFloat: parsing {num:?}: value out of range"
        ));
    }
    if size < 0.0 {
        return Err(format!("invalid size: '{s}'"));
    }
    if sfx.is_empty() {
        return Ok(size as i64);
    }
    if sfx.len() > 3 {
        return Err(format!("invalid suffix: '{sfx}'"));
    }
    let sfx = sfx.to_ascii_lowercase();
    let bad = || Err(format!("invalid suffix: '{sfx}'"));
    if sfx.starts_with('b') {
        return if sfx.len() == 1 {
            Ok(size as i64)
        } else {
            bad()
        };
    }
    let power = match sfx.as_bytes()[0] {
        b'k' => 1,
        b'm' => 2,
        b'g' => 3,
        b't' => 4,
        b'p' => 5,
        _ => return bad(),
    };
    if (sfx.len() == 2 && &sfx[1..] != "b") || (sfx.len() == 3 && &sfx[1..] != "ib") {
        return bad();
    }
    Ok((size * base.pow(power) as f64) as i64)
}
