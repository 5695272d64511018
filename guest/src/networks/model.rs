//! What berthd remembers about a network (`network/<id>.json`) and about a
//! container's place on one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Network {
    pub id: String,
    pub name: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    pub created: String,
    #[serde(default)]
    pub subnet: Option<String>,
    #[serde(default)]
    pub gateway: Option<String>,
    #[serde(default)]
    pub ip_range: Option<String>,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// The bridge device, for the bridge driver.
    #[serde(default)]
    pub bridge: String,
    /// bridge, host and none: created by the daemon, never removed.
    #[serde(default)]
    pub builtin: bool,
}

/// A container's endpoint on a network, kept in the container's record
/// while it runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Endpoint {
    pub network_id: String,
    pub endpoint_id: String,
    pub ip: String,
    pub prefix: u8,
    pub gateway: String,
    pub mac: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub host_if: String,
}
