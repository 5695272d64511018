//! The operating system behind narrow interfaces: cgroups, netlink and the
//! firewall (and, as they move here, mounts and the runtime), so that the
//! logic that uses them can be tested without root.

pub mod cgroups;
pub mod firewall;
pub mod memory;
#[allow(dead_code)] // parts serve the tests only
pub mod net;
