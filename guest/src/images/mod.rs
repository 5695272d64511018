//! The images subsystem: references, the content store, layers unpacked for
//! overlayfs, registries (pull/push), and archives (save/load/import).

pub mod archive;
pub mod backend;
pub mod changes;
pub mod commit;
pub mod compression;
pub mod digest;
pub mod import;
pub mod login;
pub mod manifest;
pub mod progress;
pub mod pull;
pub mod push;
pub mod query;
pub mod reference;
pub mod registry;
pub mod service;
pub mod store;
pub mod tags;
pub mod unpack;
