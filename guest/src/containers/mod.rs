#![allow(dead_code)] // called by the container lifecycle, not written yet

pub mod seccomp;
pub mod spec;
