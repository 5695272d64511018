//! The containers subsystem: records, lifecycle operations (one file each),
//! the shim that runs each container, and the pieces it uses (OCI spec,
//! seccomp, the linked-in runtime, logs).

pub mod archive;
pub mod attach;
pub mod backend;
pub mod bundle;
pub mod changes;
pub mod commit;
pub mod create;
pub mod exec;
pub mod executable;
pub mod health;
pub mod live;
pub use berth_shim::logs;
pub mod monitor;
pub mod names;
pub mod network;
pub mod pause;
pub mod ports;
pub mod private_binds;
pub mod query;
pub mod read_logs;
pub mod record;
pub mod remove;
pub mod restore;
pub mod runtime;
pub mod seccomp;
pub mod service;
pub mod shim;
pub mod spec;
pub mod start;
pub mod stats;
pub mod stop;
pub mod store;
pub mod top;
pub mod update;
pub mod volumes_from;
pub mod wait;
