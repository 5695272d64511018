//! The volumes subsystem: named and anonymous volumes of the `local` driver
//! under `data-root/volumes/<name>/_data`, as dockerd lays them out.

pub mod backend;
pub mod mounts;
pub mod service;
pub mod store;
