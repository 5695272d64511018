//! `docker wait` and the wait the CLI does around `docker run`.

use std::sync::Arc;

use super::service::Containers;
use crate::errdefs::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Condition {
    NotRunning,
    NextExit,
    Removed,
}

impl Condition {
    pub fn parse(s: &str) -> Result<Condition> {
        match s {
            "" | "not-running" => Ok(Condition::NotRunning),
            "next-exit" => Ok(Condition::NextExit),
            "removed" => Ok(Condition::Removed),
            other => Err(Error::invalid(format!("invalid condition: \"{other}\""))),
        }
    }
}

/// A wait that was accepted: the container exists; `.done()` resolves with
/// the exit code.
pub struct Waiter {
    rx: tokio::sync::watch::Receiver<super::live::ExitSeq>,
    condition: Condition,
    immediate: Option<i64>,
}

impl Containers {
    /// Checks the container and subscribes before returning, so that an
    /// exit right after (the CLI waits, then starts) is not missed.
    pub fn wait(self: &Arc<Self>, what: &str, condition: Condition) -> Result<Waiter> {
        let c = self.store.get(what)?;
        let live = self.live(&c.id);
        let mut rx = live.exits.subscribe();
        rx.borrow_and_update();
        let immediate =
            (condition == Condition::NotRunning && !c.state.running && !c.state.restarting)
                .then_some(c.state.exit_code);
        Ok(Waiter {
            rx,
            condition,
            immediate,
        })
    }
}

impl Waiter {
    pub async fn done(mut self) -> i64 {
        if let Some(code) = self.immediate {
            return code;
        }
        loop {
            if self.rx.changed().await.is_err() {
                // The container's entry was dropped: it was removed.
                return self.rx.borrow().code;
            }
            let e = *self.rx.borrow_and_update();
            match self.condition {
                Condition::Removed if !e.removed => continue,
                _ => return e.code,
            }
        }
    }
}
