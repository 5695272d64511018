//! The operating system behind narrow interfaces: cgroups (and, as they
//! move here, mounts, netlink and the runtime), so that the logic that uses
//! them can be tested without root.

pub mod cgroups;
#[allow(dead_code)] // wired by the networks subsystem next
pub mod net;
