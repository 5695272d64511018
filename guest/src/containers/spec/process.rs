//! The command line, environment and working directory: dockerd merges the
//! container config over the image config at create time (`daemon/commit.go`
//! `merge`) and adds its own variables at start (`CreateDaemonEnvironment`).

use std::path::{Component, Path, PathBuf};

use bollard_stubs::models::{ContainerCreateBody, HostConfig};
use oci_spec::runtime::{Box as ConsoleBox, BoxBuilder};

use crate::errdefs::{Error, Result};

/// moby's `oci.DefaultPathEnv` for Linux.
pub(super) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A string list from the image config; None when absent or null, which
/// differs from an empty list for Entrypoint.
pub(super) fn image_list(image: &serde_json::Value, key: &str) -> Option<Vec<String>> {
    let arr = image.get(key)?.as_array()?;
    Some(
        arr.iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
    )
}

pub(super) fn image_str(image: &serde_json::Value, key: &str) -> Option<String> {
    image.get(key)?.as_str().map(String::from)
}

/// Entrypoint + Cmd. An entrypoint given by the client (even `[""]`, which is
/// what `--entrypoint ""` sends) discards the image's Cmd, because that Cmd was
/// written as arguments for the image's entrypoint.
pub(super) fn args(cfg: &ContainerCreateBody, image: &serde_json::Value) -> Result<Vec<String>> {
    let mut entrypoint = cfg.entrypoint.clone();
    let mut cmd = cfg.cmd.clone().unwrap_or_default();
    if entrypoint.as_ref().is_none_or(|e| e.is_empty()) {
        if cmd.is_empty() {
            cmd = image_list(image, "Cmd").unwrap_or_default();
        }
        if entrypoint.is_none() {
            entrypoint = image_list(image, "Entrypoint");
        }
    }
    let mut args = entrypoint.unwrap_or_default();
    if args.len() == 1 && args[0].is_empty() {
        args.clear();
    }
    args.extend(cmd);
    if args.is_empty() {
        return Err(Error::invalid("no command specified"));
    }
    Ok(args)
}

pub(super) fn cwd(cfg: &ContainerCreateBody, image: &serde_json::Value) -> Result<PathBuf> {
    let wd = cfg
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .or_else(|| image_str(image, "WorkingDir").filter(|w| !w.is_empty()))
        .unwrap_or_else(|| "/".to_string());
    if !wd.starts_with('/') {
        return Err(Error::invalid(format!(
            "the working directory '{wd}' is invalid, it needs to be an absolute path"
        )));
    }
    Ok(clean_abs(&wd))
}

/// Lexical clean of an absolute path (Go's `filepath.Clean`): `..` cannot
/// climb above `/`.
pub(super) fn clean_abs(p: &str) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in Path::new(p).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn env_key(e: &str) -> &str {
    e.split_once('=').map_or(e, |(k, _)| k)
}

/// Image Env under container Env (by key), then dockerd's PATH, HOSTNAME and
/// TERM under both; a container entry without `=` unsets the variable.
pub(super) fn env(
    cfg: &ContainerCreateBody,
    image: &serde_json::Value,
    hostname: &str,
    tty: bool,
    home: &str,
) -> Vec<String> {
    let mut merged = cfg.env.clone().unwrap_or_default();
    for e in image_list(image, "Env").unwrap_or_default() {
        if !merged.iter().any(|u| env_key(u) == env_key(&e)) {
            merged.push(e);
        }
    }

    let mut env = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={hostname}"),
    ];
    if tty {
        env.push("TERM=xterm".to_string());
    }
    let mut unset = Vec::new();
    for value in merged {
        if !value.contains('=') {
            unset.push(value);
            continue;
        }
        match env.iter_mut().find(|d| env_key(d) == env_key(&value)) {
            Some(slot) => *slot = value,
            None => env.push(value),
        }
    }
    env.retain(|e| !unset.iter().any(|u| u == env_key(e)));

    // runc sets HOME from passwd when the environment has none; youki does
    // not, so it is written into the spec to give the same environment.
    if !env.iter().any(|e| env_key(e) == "HOME") {
        env.push(format!("HOME={home}"));
    }
    env
}

/// HostConfig.ConsoleSize is [height, width]; zeros mean "not given".
pub(super) fn console_size(hc: &HostConfig) -> Result<Option<ConsoleBox>> {
    let Some(size) = hc.console_size.as_deref() else {
        return Ok(None);
    };
    match size {
        [h, w] if *h > 0 && *w > 0 => Ok(Some(
            BoxBuilder::default()
                .height(*h as u64)
                .width(*w as u64)
                .build()
                .map_err(super::oci_err)?,
        )),
        _ => Ok(None),
    }
}
