//! Carrying host connections into the guest: one hybrid-vsock connection to the agent
//! ([`hvsock`]), a yamux session on it ([`mux`]), and relays that turn host sockets into
//! streams ([`relay`], [`docker`], [`agent`]), plus the control stream ([`control`]).

pub mod agent;
pub mod control;
pub mod direct;
pub mod docker;
pub mod hvsock;
pub mod mux;
pub mod relay;
pub mod unix;

pub use direct::{Direct, GuestPort};
pub use mux::{Mux, MuxStream};

/// The current session with the guest: `None` while there is none (booting, rebooting).
pub type MuxWatch = tokio::sync::watch::Receiver<Option<Mux>>;
