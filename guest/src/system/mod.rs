//! The system subsystem: what `/version` and `/info` report.

pub mod host;
pub mod info;
