//! Networks: the built-in `bridge`, `host` and `none`, user-defined
//! bridges with their address management, containers' endpoints on them,
//! and each user network's DNS server. The OS work (bridges, veths,
//! namespaces) goes through `os::net`.

pub mod backend;
// stop()/local_addr()/Config serve the tests and a graceful stop to come.
#[allow(dead_code)]
pub mod dns;
pub mod endpoints;
pub mod firewall;
pub mod ipam;
pub mod model;
// Parts (reserve, unpublish, UDP idle timeout) serve tests and iptables mode to come.
#[allow(dead_code, unused_imports)]
pub mod ports;
pub mod service;
pub mod store;
