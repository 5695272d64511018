//! `docker stop`, `kill`, `restart`, and the kill that `rm -f` needs.

use std::sync::Arc;
use std::time::Duration;

use super::live::Live;
use super::record::Container;
use super::service::Containers;
use crate::errdefs::{Error, Kind, Result};

const SIGKILL: i32 = 9;
const SIGTERM: i32 = 15;
/// After SIGKILL, how long to wait for the runtime to report the exit.
const KILL_WAIT: Duration = Duration::from_secs(30);
/// How long a kill waits for a start under way before it finds the
/// container not running.
const START_WAIT: Duration = Duration::from_secs(10);

impl Containers {
    /// Returns `NotModified` if the container was not running.
    pub async fn stop(
        self: &Arc<Self>,
        what: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        let (id, live, restarting) = self.take_over(what)?;
        let _op = live.op.lock().await;
        let c = self.store.get(&id)?;
        if !c.state.running {
            if restarting || c.state.restarting {
                self.settle_restarting(&c)?;
                return Ok(());
            }
            return Err(Error::new(Kind::NotModified, "container already stopped"));
        }
        self.stop_locked(&c, &live, timeout, signal).await?;
        self.event("stop", &c, &[]);
        Ok(())
    }

    /// Sends the stop signal, waits the grace time, then SIGKILL.
    pub(super) async fn stop_locked(
        &self,
        c: &Container,
        live: &Live,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        let sig = match signal.filter(|s| !s.is_empty()) {
            Some(s) => parse_signal(s)?,
            None => match c.config["StopSignal"].as_str().filter(|s| !s.is_empty()) {
                Some(s) => parse_signal(s).unwrap_or(SIGTERM),
                None => SIGTERM,
            },
        };
        let grace = timeout
            .or_else(|| c.config["StopTimeout"].as_i64())
            .unwrap_or(10);
        let mut exits = live.exits.subscribe();
        exits.borrow_and_update();
        let client = self.shim(&c.id);
        if sig != SIGKILL {
            if let Err(e) = client.kill(sig).await {
                tracing::debug!(id = %c.id, "stop signal: {e}");
            }
            self.thaw_if_paused(c);
            let waited = if grace < 0 {
                exits.changed().await.ok()
            } else {
                tokio::time::timeout(Duration::from_secs(grace as u64), exits.changed())
                    .await
                    .ok()
                    .and_then(|r| r.ok())
            };
            if waited.is_some() {
                return Ok(());
            }
            tracing::info!(id = %c.id, timeout = grace, "Container failed to exit within the timeout after the stop signal - using the force");
        }
        let _ = client.kill(SIGKILL).await;
        self.thaw_if_paused(c);
        match tokio::time::timeout(KILL_WAIT, exits.changed()).await {
            Ok(_) => Ok(()),
            Err(_) => Err(Error::system(format!(
                "container {} did not exit after SIGKILL",
                c.id
            ))),
        }
    }

    pub async fn kill(self: &Arc<Self>, what: &str, signal: Option<&str>) -> Result<()> {
        let mut c = self.store.get(what)?;
        let sig = match signal.filter(|s| !s.is_empty()) {
            Some(s) => parse_signal(s)?,
            None => SIGKILL,
        };
        let live = self.live(&c.id);
        if !c.state.running {
            // A start may be under way: its process runs, and prints, a
            // moment before the record says so, and `docker run` forwards
            // the signals it gets from then on. Let that start finish.
            if let Ok(_op) = tokio::time::timeout(START_WAIT, live.op.lock()).await {
                c = self.store.get(&c.id)?;
            }
        }
        if !c.state.running {
            if c.state.restarting && live.cancel_restart() {
                live.set_manual_stop(true);
                return self.settle_restarting(&c);
            }
            return Err(Error::conflict(format!(
                "Cannot kill container: {}: Container {} is not running",
                c.name.trim_start_matches('/'),
                c.id
            )));
        }
        if sig == SIGKILL || sig == SIGTERM || sig == stop_signal(&c) {
            live.set_manual_stop(true);
        }
        let mut exits = live.exits.subscribe();
        exits.borrow_and_update();
        self.shim(&c.id)
            .kill(sig)
            .await
            .map_err(|e| Error::system(format!("Cannot kill container: {}: {e}", c.id)))?;
        if sig == SIGKILL {
            self.thaw_if_paused(&c);
            // Like dockerd, a SIGKILL returns once the container is down.
            let _ = tokio::time::timeout(KILL_WAIT, exits.changed()).await;
        }
        let name = sig.to_string();
        self.event("kill", &c, &[("signal", &name)]);
        Ok(())
    }

    pub async fn restart(
        self: &Arc<Self>,
        what: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        let (id, live, _) = self.take_over(what)?;
        let _op = live.op.lock().await;
        let c = self.store.get(&id)?;
        if c.state.running {
            self.stop_locked(&c, &live, timeout, signal).await?;
        }
        live.set_manual_stop(false);
        let mut c = self.store.get(&id)?;
        c.state.restarting = false;
        self.start_locked(c, &live).await?;
        if let Ok(c) = self.store.get(&id) {
            self.event("restart", &c, &[]);
        }
        Ok(())
    }

    /// `docker rm`, stopping the container first when forced.
    pub async fn remove_container(
        self: &Arc<Self>,
        what: &str,
        force: bool,
        volumes: bool,
    ) -> Result<()> {
        let id = self.store.get(what)?.id;
        if force {
            let (_, live, _) = self.take_over(&id)?;
            let _op = live.op.lock().await;
            let c = self.store.get(&id)?;
            if c.state.running {
                self.stop_locked(&c, &live, Some(0), Some("SIGKILL"))
                    .await?;
            }
        }
        let me = self.clone();
        crate::task::blocking(move || me.remove(&id, force, volumes)).await
    }

    /// A user acts on the container (stop, restart, rm -f): its restart
    /// policy stays quiet and a pending policy restart is cancelled.
    /// Returns its ID, its live state, and whether a restart was pending.
    fn take_over(&self, what: &str) -> Result<(String, Arc<Live>, bool)> {
        let id = self.store.get(what)?.id;
        let live = self.live(&id);
        live.set_manual_stop(true);
        let pending = live.cancel_restart();
        Ok((id, live, pending))
    }

    /// A container waiting for a policy restart that was stopped: it is
    /// simply exited now.
    fn settle_restarting(&self, c: &Container) -> Result<()> {
        let mut c = self.store.get(&c.id)?;
        c.state.restarting = false;
        c.state.status = "exited".into();
        self.store.save(&c)
    }
}

fn stop_signal(c: &Container) -> i32 {
    c.config["StopSignal"]
        .as_str()
        .and_then(|s| parse_signal(s).ok())
        .unwrap_or(SIGTERM)
}

/// A signal as docker accepts it: a number, `KILL`, or `SIGKILL`.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(Error::invalid(format!("Invalid signal: {s}")));
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let sig: std::result::Result<nix::sys::signal::Signal, _> = format!("SIG{name}").parse();
    match sig {
        Ok(sig) => Ok(sig as i32),
        Err(_) => {
            // Real-time signals: RTMIN+n, RTMAX-n.
            let (base, rest) = if let Some(r) = name.strip_prefix("RTMIN") {
                (34, r)
            } else if let Some(r) = name.strip_prefix("RTMAX") {
                (64, r)
            } else {
                return Err(Error::invalid(format!("Invalid signal: {s}")));
            };
            let off: i32 = if rest.is_empty() {
                0
            } else {
                rest.parse()
                    .map_err(|_| Error::invalid(format!("Invalid signal: {s}")))?
            };
            let n = base + off;
            if (1..=64).contains(&n) {
                Ok(n)
            } else {
                Err(Error::invalid(format!("Invalid signal: {s}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_signal;

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("sigterm").unwrap(), 15);
        assert_eq!(parse_signal("SIGUSR1").unwrap(), 10);
        assert_eq!(parse_signal("RTMIN+1").unwrap(), 35);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("0").is_err());
    }
}
