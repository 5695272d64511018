//! Health checks (`--health-cmd` and friends, or the image's HEALTHCHECK):
//! run in the container by its shim at the interval, recorded in
//! `State.Health`, announced as `health_status` events.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::record::{Health, HealthLog};
use super::service::Containers;
use super::shim::client::read_to_exit;
use super::shim::protocol::ExecRequest;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: i64 = 3;
/// dockerd keeps this many results and this much output of each.
const KEEP_LOGS: usize = 5;
const MAX_OUTPUT: usize = 4096;

struct Check {
    cmd: Vec<String>,
    interval: Duration,
    timeout: Duration,
    start_period: Duration,
    start_interval: Duration,
    retries: i64,
}

fn duration(v: &Value, default: Duration) -> Duration {
    match v.as_i64() {
        Some(ns) if ns > 0 => Duration::from_nanos(ns as u64),
        _ => default,
    }
}

fn check_of(config: &Value) -> Option<Check> {
    let hc = &config["Healthcheck"];
    let test: Vec<String> = hc["Test"]
        .as_array()?
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    let cmd = match test.first().map(String::as_str) {
        Some("CMD") => test[1..].to_vec(),
        Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")],
        _ => return None,
    };
    if cmd.is_empty() {
        return None;
    }
    Some(Check {
        cmd,
        interval: duration(&hc["Interval"], DEFAULT_INTERVAL),
        timeout: duration(&hc["Timeout"], DEFAULT_TIMEOUT),
        start_period: duration(&hc["StartPeriod"], Duration::ZERO),
        start_interval: duration(&hc["StartInterval"], Duration::from_secs(5)),
        retries: hc["Retries"]
            .as_i64()
            .filter(|r| *r > 0)
            .unwrap_or(DEFAULT_RETRIES),
    })
}

impl Containers {
    /// Starts the checker of a container that was just started; it ends by
    /// itself when the container stops.
    pub(super) fn start_health_checks(self: &Arc<Self>, id: &str) {
        let Ok(c) = self.store.get(id) else { return };
        let Some(check) = check_of(&c.config) else {
            return;
        };
        let started = c.state.started_at.clone();
        self.set_health(id, |h| {
            *h = Some(Health {
                status: "starting".into(),
                failing_streak: 0,
                log: Vec::new(),
            })
        });
        let me = self.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            let begun = std::time::Instant::now();
            loop {
                let in_start = begun.elapsed() < check.start_period;
                let starting = me
                    .store
                    .get(&id)
                    .ok()
                    .and_then(|c| c.state.health.map(|h| h.status == "starting"))
                    .unwrap_or(false);
                let wait = if in_start && starting {
                    check.start_interval.min(check.interval)
                } else {
                    check.interval
                };
                tokio::time::sleep(wait).await;
                // Same run of the same container, still up?
                match me.store.get(&id) {
                    Ok(c) if c.state.running && c.state.started_at == started => {
                        if c.state.paused {
                            continue;
                        }
                    }
                    _ => return,
                }
                let start = crate::timefmt::now_rfc3339();
                let (code, output) = me.probe(&id, &check).await;
                let end = crate::timefmt::now_rfc3339();
                let in_start = begun.elapsed() < check.start_period;
                me.record_probe(
                    &id,
                    &check,
                    in_start,
                    HealthLog {
                        start,
                        end,
                        exit_code: code,
                        output,
                    },
                );
            }
        });
    }

    async fn probe(&self, id: &str, check: &Check) -> (i64, String) {
        let Ok(c) = self.store.get(id) else {
            return (-1, String::new());
        };
        let cfg = super::exec::ExecConfig {
            cmd: Some(check.cmd.clone()),
            attach_stdout: true,
            attach_stderr: true,
            ..Default::default()
        };
        let process = match self.exec_process(&c, &cfg) {
            Ok((p, _)) => p,
            Err(e) => return (-1, e.message),
        };
        let req = ExecRequest {
            id: format!("health-{}", uuid::Uuid::new_v4().simple()),
            process,
            stdin: false,
            stdout: true,
            stderr: true,
            detached: false,
        };
        let run = async {
            let (_, conn) = self.shim(id).exec(req).await.map_err(|e| e.to_string())?;
            read_to_exit(conn, MAX_OUTPUT)
                .await
                .map(|(code, out)| (code as i64, String::from_utf8_lossy(&out).into_owned()))
                .ok_or_else(|| "the health check's output ended early".to_string())
        };
        match tokio::time::timeout(check.timeout, run).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => (-1, e),
            Err(_) => (
                -1,
                format!("Health check exceeded timeout ({:?})", check.timeout),
            ),
        }
    }

    fn record_probe(&self, id: &str, check: &Check, in_start: bool, log: HealthLog) {
        let ok = log.exit_code == 0;
        let mut announce = None;
        self.set_health(id, |h| {
            let h = h.get_or_insert_with(|| Health {
                status: "starting".into(),
                failing_streak: 0,
                log: Vec::new(),
            });
            let before = h.status.clone();
            h.log.push(log);
            if h.log.len() > KEEP_LOGS {
                h.log.remove(0);
            }
            if ok {
                h.failing_streak = 0;
                h.status = "healthy".into();
            } else if !(in_start && h.status == "starting") {
                h.failing_streak += 1;
                if h.failing_streak >= check.retries {
                    h.status = "unhealthy".into();
                }
            }
            if h.status != before || ok || h.status == "unhealthy" {
                announce = Some(h.status.clone());
            }
        });
        if let (Some(status), Ok(c)) = (announce, self.store.get(id)) {
            self.event(&format!("health_status: {status}"), &c, &[]);
        }
    }

    fn set_health(&self, id: &str, f: impl FnOnce(&mut Option<Health>)) {
        if let Ok(mut c) = self.store.get(id) {
            f(&mut c.state.health);
            let _ = self.store.save(&c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_come_from_the_config_like_dockerd() {
        let c = serde_json::json!({"Healthcheck": {"Test": ["CMD-SHELL", "test -f /ok"], "Interval": 1_000_000_000i64, "Retries": 2}});
        let chk = check_of(&c).unwrap();
        assert_eq!(chk.cmd, ["/bin/sh", "-c", "test -f /ok"]);
        assert_eq!(chk.interval, Duration::from_secs(1));
        assert_eq!(chk.timeout, DEFAULT_TIMEOUT);
        assert_eq!(chk.retries, 2);
        assert!(check_of(&serde_json::json!({"Healthcheck": {"Test": ["NONE"]}})).is_none());
        assert!(check_of(&serde_json::json!({})).is_none());
    }
}
