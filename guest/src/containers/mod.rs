//! The containers subsystem: records, lifecycle operations (one file each),
//! and the pieces the runtime will use (OCI spec, seccomp).

pub mod backend;
// Used by container start, which comes with the shim.
#[allow(dead_code)]
pub mod bundle;
pub mod changes;
pub mod commit;
pub mod create;
pub mod names;
pub mod query;
pub mod record;
pub mod remove;
// The linked-in OCI runtime (youki's libcontainer); the shim will call it.
#[allow(dead_code)]
pub mod runtime;
// Used by container start, which comes with the runtime and shim.
#[allow(dead_code)]
pub mod seccomp;
pub mod service;
#[allow(dead_code)]
pub mod spec;
pub mod store;
