//! berth-host: the host side of Berth. Today it finds and checks the engine;
//! the VM backends, socket/port forwarding and shared folders land here next
//! (see DESIGN.md).

pub mod creds;
pub mod dashboard;
pub mod engine;
