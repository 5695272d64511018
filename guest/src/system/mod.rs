//! The system subsystem: what `/version` and `/info` report.

pub mod df;
pub mod host;
pub mod info;
