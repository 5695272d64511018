//! Follows berthd through its Engine API: whether it answers `/_ping`, and
//! which host ports its running containers publish.

use bollard::query_parameters::{EventsOptions, ListContainersOptions};
use bollard::{ClientVersion, Docker};
use futures::StreamExt;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;

/// What the control stream reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineState {
    pub ready: bool,
    pub tcp: Vec<u16>,
    pub udp: Vec<u16>,
}

/// An API version every berthd accepts (it rejects versions newer than the
/// spec it implements).
const API_VERSION: &ClientVersion = &ClientVersion {
    major_version: 1,
    minor_version: 41,
};

/// Runs forever: waits for berthd, then recomputes the ports on every
/// container start/die/destroy event (and every so often, in case an event
/// slipped between two subscriptions).
pub async fn watch_engine(socket: PathBuf, tx: watch::Sender<EngineState>) {
    let path = socket.to_string_lossy().into_owned();
    let mut was_ready = false;
    loop {
        let docker = match Docker::connect_with_unix(&path, 30, API_VERSION) {
            Ok(d) => d,
            Err(e) => {
                // Mostly "socket not found" while berthd starts: not news.
                tracing::debug!("engine client: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if docker.ping().await.is_err() {
            if was_ready {
                tracing::warn!("berthd stopped answering");
                was_ready = false;
            }
            tx.send_if_modified(|s| {
                let changed = s.ready;
                s.ready = false;
                changed
            });
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        if !was_ready {
            tracing::info!(
                uptime = std::fs::read_to_string("/proc/uptime")
                    .unwrap_or_default()
                    .split_whitespace()
                    .next()
                    .unwrap_or(""),
                "berthd answers /_ping"
            );
            was_ready = true;
        }
        tx.send_if_modified(|s| {
            let changed = !s.ready;
            s.ready = true;
            changed
        });
        follow_events(&docker, &tx).await;
    }
}

async fn follow_events(docker: &Docker, tx: &watch::Sender<EngineState>) {
    let filters = HashMap::from([
        ("type".to_string(), vec!["container".to_string()]),
        (
            "event".to_string(),
            ["start", "die", "destroy", "stop", "kill"]
                .map(String::from)
                .to_vec(),
        ),
    ]);
    let mut events = docker.events(Some(EventsOptions {
        filters: Some(filters),
        ..Default::default()
    }));
    let mut resync = tokio::time::interval(Duration::from_secs(10));
    loop {
        if let Err(e) = update_ports(docker, tx).await {
            tracing::debug!("listing containers failed: {e}");
            return;
        }
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(_)) => {}
                Some(Err(e)) => { tracing::debug!("events stream failed: {e}"); return; }
                None => return,
            },
            _ = resync.tick() => {}
        }
    }
}

async fn update_ports(
    docker: &Docker,
    tx: &watch::Sender<EngineState>,
) -> Result<(), bollard::errors::Error> {
    let containers = docker
        .list_containers(Some(ListContainersOptions::default()))
        .await?;
    let (tcp, udp) = published_ports(
        containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .filter_map(|p| Some((p.public_port?, p.typ?))),
    );
    tx.send_if_modified(|s| {
        if s.tcp == tcp && s.udp == udp {
            return false;
        }
        tracing::info!(?tcp, ?udp, "published ports changed");
        s.tcp = tcp;
        s.udp = udp;
        true
    });
    Ok(())
}

/// Sorted, de-duplicated TCP and UDP host ports (a port published on both
/// 0.0.0.0 and :: is listed twice by the API).
fn published_ports(
    ports: impl Iterator<Item = (u16, bollard::models::PortSummaryTypeEnum)>,
) -> (Vec<u16>, Vec<u16>) {
    use bollard::models::PortSummaryTypeEnum as T;
    let mut tcp = BTreeSet::new();
    let mut udp = BTreeSet::new();
    for (port, typ) in ports {
        match typ {
            T::TCP => {
                tcp.insert(port);
            }
            T::UDP => {
                udp.insert(port);
            }
            _ => {}
        }
    }
    (tcp.into_iter().collect(), udp.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::PortSummaryTypeEnum as T;

    #[test]
    fn ports_are_sorted_and_unique_per_protocol() {
        let (tcp, udp) = published_ports(
            [
                (8080, T::TCP),
                (80, T::TCP),
                (8080, T::TCP),
                (53, T::UDP),
                (80, T::UDP),
                (99, T::SCTP),
            ]
            .into_iter(),
        );
        assert_eq!(tcp, vec![80, 8080]);
        assert_eq!(udp, vec![53, 80]);
    }
}
