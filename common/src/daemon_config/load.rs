//! daemon.json text + command-line flags → a checked [`DaemonConfig`].
//!
//! The steps and their order are dockerd's (syntax, unknown keys, flag
//! conflicts, types, semantics), so the first error a user sees is the one
//! dockerd would show.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Map, Value};

use super::error::ConfigError;
use super::keys::{key_info, KeyInfo, ValueKind};
use super::model::{DaemonConfig, DEFAULT_CONFIG_FILE};
use super::netaddr::mask_credentials;
use super::positions::{PathDisplay, Positions, Seg};
use super::typecheck;
use super::validate;

/// A daemon.json file already read by the caller (berthd reads it; the
/// desktop app edits it in memory).
#[derive(Debug, Clone, Copy)]
pub struct FileSource<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

/// A configuration that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub config: DaemonConfig,
    /// Keys present in the file, sorted.
    pub file_keys: Vec<String>,
    /// Keys given (in the file or as flags) that Berth recognises but does
    /// not implement yet, sorted; keys set to an empty value (`""`, `0`,
    /// `false`, `[]`, `{}`) are left out since they ask for nothing.
    pub not_yet_supported: Vec<String>,
}

/// Loads a configuration. `flags` holds the keys given on the command line,
/// by their daemon.json name, as JSON values of the key's type.
pub fn load(
    file: Option<FileSource<'_>>,
    flags: &Map<String, Value>,
) -> Result<Loaded, ConfigError> {
    let flags = check_flags(flags)?;
    let Some(file) = file else {
        return build(flags, BTreeSet::new(), &Positions::default());
    };
    let in_file = |e: ConfigError| ConfigError {
        file: Some(file.path.to_path_buf()),
        ..e
    };
    let (mut values, positions) = parse(file.text).map_err(in_file)?;
    check_unknown(&values, &positions).map_err(in_file)?;
    check_conflicts(&flags, &values, &positions).map_err(in_file)?;
    for (key, value) in values.iter_mut() {
        check_type(key, value, Some(&positions)).map_err(in_file)?;
    }
    let file_keys: BTreeSet<String> = values.keys().cloned().collect();
    let merged = merge(values, flags);
    build(merged, file_keys, &positions).map_err(in_file)
}

/// Checks a daemon.json text alone, as berthd would at start-up with no
/// flags. Errors name the key and line but no file.
pub fn validate_text(text: &str) -> Result<Loaded, ConfigError> {
    let file = FileSource {
        path: Path::new(DEFAULT_CONFIG_FILE),
        text,
    };
    load(Some(file), &Map::new()).map_err(|e| ConfigError { file: None, ..e })
}

/// Runs the semantic checks on a configuration built in code (for example
/// by the settings panel from its form fields).
pub fn validate_config(config: &DaemonConfig) -> Result<(), ConfigError> {
    validate::check(config).map_err(|e| ConfigError::new(e.message).key(e.key))
}

fn parse(text: &str) -> Result<(Map<String, Value>, Positions), ConfigError> {
    // Windows editors save UTF-8 with a byte order mark; dockerd accepts it.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Ok((Map::new(), Positions::default()));
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ConfigError::new(e.to_string()).at(Some((e.line(), e.column()))))?;
    match value {
        Value::Object(map) => Ok((map, Positions::scan(text))),
        other => {
            let start = text.len() - text.trim_start().len();
            let line = text[..start].matches('\n').count() + 1;
            let column = start - text[..start].rfind('\n').map_or(0, |i| i + 1) + 1;
            Err(ConfigError::new(format!(
                "the configuration must be a JSON object, found {}",
                typecheck::describe(&other)
            ))
            .at(Some((line, column))))
        }
    }
}

fn check_flags(flags: &Map<String, Value>) -> Result<Map<String, Value>, ConfigError> {
    let unknown: Vec<&str> = flags
        .keys()
        .filter(|k| key_info(k).is_none())
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(ConfigError::new(format!(
            "the following flags don't match any configuration option: {}",
            unknown.join(", ")
        ))
        .key(unknown[0]));
    }
    let mut checked = flags.clone();
    for (key, value) in checked.iter_mut() {
        check_type(key, value, None)?;
    }
    Ok(checked)
}

fn check_unknown(values: &Map<String, Value>, positions: &Positions) -> Result<(), ConfigError> {
    let unknown: Vec<&str> = values
        .keys()
        .filter(|k| key_info(k).is_none())
        .map(String::as_str)
        .collect();
    match unknown.first() {
        None => Ok(()),
        Some(first) => Err(ConfigError::new(format!(
            "the following directives don't match any configuration option: {}",
            unknown.join(", ")
        ))
        .key(*first)
        .at(positions.line_of_key(first))),
    }
}

/// A key may come from the file or a flag, never both (dockerd refuses even
/// equal values, so that a reload cannot silently lose a change). Like
/// dockerd, `runtimes` merge instead, and `proxies` conflict per proxy.
fn check_conflicts(
    flags: &Map<String, Value>,
    file: &Map<String, Value>,
    positions: &Positions,
) -> Result<(), ConfigError> {
    let mut conflicts = Vec::new();
    let mut first = None;
    for (key, from_flag) in flags {
        let Some(from_file) = file.get(key) else {
            continue;
        };
        match key.as_str() {
            "runtimes" => continue,
            "proxies" => {
                let (Some(flag_proxies), Some(file_proxies)) =
                    (from_flag.as_object(), from_file.as_object())
                else {
                    continue;
                };
                for (name, flag_value) in flag_proxies {
                    if let Some(file_value) = file_proxies.get(name) {
                        first.get_or_insert(key.as_str());
                        let (a, b) = (show(flag_value), show(file_value));
                        let (a, b) = (mask_credentials(&a), mask_credentials(&b));
                        conflicts.push(format!("{name}: (from flag: {a}, from file: {b})"));
                    }
                }
            }
            _ => {
                first.get_or_insert(key.as_str());
                conflicts.push(format!(
                    "{key}: (from flag: {}, from file: {})",
                    show(from_flag),
                    show(from_file)
                ));
            }
        }
    }
    match first {
        None => Ok(()),
        Some(key) => Err(ConfigError::new(format!(
            "the following directives are specified both as a flag and in the configuration file: {}",
            conflicts.join(", ")
        ))
        .key(key)
        .at(positions.line_of_key(key))),
    }
}

/// Values in conflict messages: strings bare, as dockerd prints them.
fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `null` is accepted everywhere and means "not set", as Go's decoder has it.
fn check_type(
    key: &str,
    value: &mut Value,
    positions: Option<&Positions>,
) -> Result<(), ConfigError> {
    let info = key_info(key).expect("unknown keys are refused first");
    if value.is_null() {
        return Ok(());
    }
    typecheck::check(info.kind, value).map_err(|e| {
        let mut path = vec![Seg::Key(key.to_string())];
        path.extend(e.path);
        let shown = PathDisplay(&path);
        match positions {
            None => ConfigError::new(format!("invalid value for flag \"{shown}\": {}", e.message)),
            Some(p) => {
                let at = p.get(&path);
                let line = at.map(|(l, _)| format!(" (line {l})")).unwrap_or_default();
                ConfigError::new(format!(
                    "invalid value for \"{shown}\"{line}: {}",
                    e.message
                ))
                .at(at)
            }
        }
        .key(key)
    })
}

fn merge(mut file: Map<String, Value>, flags: Map<String, Value>) -> Map<String, Value> {
    for (key, flag_value) in flags {
        match (file.get_mut(&key), flag_value) {
            // dockerd lets flags add runtimes and proxies next to the file's;
            // for a runtime named in both, the file's definition stays.
            (Some(Value::Object(from_file)), Value::Object(from_flags))
                if key == "runtimes" || key == "proxies" =>
            {
                for (k, v) in from_flags {
                    from_file.entry(k).or_insert(v);
                }
            }
            (_, flag_value) => {
                file.insert(key, flag_value);
            }
        }
    }
    file
}

/// dockerd fills a key set to its type's zero value from the flag default,
/// so the example daemon.json with `"data-root": ""` or `"mtu": 0` means
/// "the default". Booleans are exempt: dockerd takes `false` literally.
fn means_default(info: &KeyInfo, value: &Value, from_file: bool) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => info.kind == ValueKind::String && s.is_empty(),
        Value::Number(n) => from_file && info.kind == ValueKind::Int && n.as_i64() == Some(0),
        _ => false,
    }
}

/// Nothing to implement for a key whose value asks for nothing.
fn is_empty_value(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_i64() == Some(0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

fn build(
    values: Map<String, Value>,
    file_keys: BTreeSet<String>,
    positions: &Positions,
) -> Result<Loaded, ConfigError> {
    let mut typed = Map::new();
    let mut unsupported = std::collections::BTreeMap::new();
    let mut not_yet_supported = Vec::new();
    for (key, value) in values {
        let info = key_info(&key).expect("unknown keys are refused first");
        if info.supported {
            if !means_default(info, &value, file_keys.contains(&key)) {
                typed.insert(key, value);
            }
        } else if !value.is_null() {
            if !is_empty_value(&value) {
                not_yet_supported.push(key.clone());
            }
            unsupported.insert(key, value);
        }
    }
    let mut config: DaemonConfig = serde_json::from_value(Value::Object(typed))
        .map_err(|e| ConfigError::new(format!("invalid configuration: {e}")))?;
    config.unsupported = unsupported;
    let located = |key: &str| {
        if file_keys.contains(key) {
            positions.line_of_key(key)
        } else {
            None
        }
    };
    validate::check(&config)
        .map_err(|e| ConfigError::new(e.message).key(e.key).at(located(e.key)))?;
    config.labels = validate::conflict_free_labels(&config.labels)
        .map_err(|m| ConfigError::new(m).key("labels").at(located("labels")))?;
    Ok(Loaded {
        config,
        file_keys: file_keys.into_iter().collect(),
        not_yet_supported,
    })
}
