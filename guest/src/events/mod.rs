//! Engine events (`docker events`): subsystems publish what happened; the API
//! streams it to every listener, and replays recent events for `--since`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;
use tokio::sync::broadcast;

/// How many past events are kept for `--since` replays.
const KEPT: usize = 1024;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

/// One event, in the Engine API's shape (with the legacy top-level fields the
/// CLI still prints for containers and images).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Event {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

pub struct Events {
    tx: broadcast::Sender<Event>,
    recent: Mutex<VecDeque<Event>>,
    /// Cancelled when the daemon stops: live feeds end, as dockerd's do,
    /// instead of holding the shutdown until its grace period runs out.
    closing: tokio_util::sync::CancellationToken,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            tx: broadcast::channel(KEPT).0,
            recent: Mutex::new(VecDeque::with_capacity(KEPT)),
            closing: Default::default(),
        }
    }
}

impl Events {
    /// Publishes `action` on a `kind` object ("container", "image", "volume", "network").
    pub fn publish(
        &self,
        kind: &str,
        action: &str,
        id: &str,
        attributes: BTreeMap<String, String>,
    ) {
        let now = time::OffsetDateTime::now_utc();
        let nanos = now.unix_timestamp_nanos() as i64;
        let legacy = matches!(kind, "container" | "image");
        let e = Event {
            kind: kind.into(),
            action: action.into(),
            from: (kind == "container")
                .then(|| attributes.get("image").cloned())
                .flatten(),
            actor: Actor {
                id: id.into(),
                attributes,
            },
            scope: "local".into(),
            time: nanos / 1_000_000_000,
            time_nano: nanos,
            status: legacy.then(|| action.to_string()),
            id: legacy.then(|| id.to_string()),
        };
        {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if recent.len() == KEPT {
                recent.pop_front();
            }
            recent.push_back(e.clone());
        }
        // No listener is fine.
        let _ = self.tx.send(e);
    }

    /// Past events at or after `since_nanos`, then a live feed.
    pub fn subscribe(&self, since_nanos: Option<i64>) -> (Vec<Event>, broadcast::Receiver<Event>) {
        // Subscribe under the lock so nothing falls between the replay and the feed.
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.tx.subscribe();
        let past = match since_nanos {
            Some(s) => recent
                .iter()
                .filter(|e| e.time_nano >= s)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        (past, rx)
    }

    pub fn listeners(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Ends every live feed (daemon shutdown).
    pub fn close(&self) {
        self.closing.cancel();
    }

    /// Done when the feeds must end.
    pub fn closing(&self) -> tokio_util::sync::CancellationToken {
        self.closing.clone()
    }
}

/// Attributes from key/value pairs.
pub fn attrs<const N: usize>(pairs: [(&str, &str); N]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// dockerd's event filters: type, event (action), container, image, volume,
/// network, label; values within a key are alternatives, keys must all match.
pub fn matches(e: &Event, filters: &BTreeMap<String, Vec<String>>) -> bool {
    filters.iter().all(|(key, wanted)| {
        let any = |f: &dyn Fn(&str) -> bool| wanted.iter().any(|w| f(w));
        let name = e
            .actor
            .attributes
            .get("name")
            .map(String::as_str)
            .unwrap_or("");
        match key.as_str() {
            "type" => any(&|w| e.kind == w),
            "event" => any(&|w| e.action == w || e.action.split(':').next() == Some(w)),
            "container" => {
                e.kind == "container" && any(&|w| e.actor.id.starts_with(w) || name == w)
            }
            "image" => any(&|w| {
                (e.kind == "image" && (e.actor.id == w || name == w))
                    || e.actor.attributes.get("image").map(String::as_str) == Some(w)
            }),
            "volume" => e.kind == "volume" && any(&|w| e.actor.id == w),
            "network" => e.kind == "network" && any(&|w| e.actor.id == w || name == w),
            "label" => any(&|w| {
                crate::filters::label_matches(|k| e.actor.attributes.get(k).map(String::as_str), w)
            }),
            _ => true,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_since_and_feeds_live() {
        let ev = Events::default();
        ev.publish(
            "image",
            "pull",
            "busybox:latest",
            attrs([("name", "busybox")]),
        );
        let (past, mut rx) = ev.subscribe(Some(0));
        assert_eq!(past.len(), 1);
        assert_eq!(past[0].status.as_deref(), Some("pull"));
        ev.publish("volume", "create", "data", attrs([("driver", "local")]));
        let live = rx.try_recv().unwrap();
        assert_eq!(
            (live.kind.as_str(), live.action.as_str()),
            ("volume", "create")
        );
        assert!(live.status.is_none(), "volumes have no legacy fields");
    }

    #[test]
    fn filters_follow_dockerd() {
        let ev = Events::default();
        ev.publish(
            "container",
            "create",
            &"a".repeat(64),
            attrs([("name", "web"), ("image", "busybox"), ("tier", "x")]),
        );
        let (past, _) = ev.subscribe(Some(0));
        let e = &past[0];
        let f = |k: &str, v: &str| BTreeMap::from([(k.to_string(), vec![v.to_string()])]);
        assert!(matches(e, &f("type", "container")));
        assert!(!matches(e, &f("type", "image")));
        assert!(matches(e, &f("container", "web")));
        assert!(matches(e, &f("container", "aaaa")));
        assert!(matches(e, &f("image", "busybox")));
        assert!(matches(e, &f("label", "tier=x")));
        assert!(!matches(e, &f("event", "destroy")));
        assert_eq!(e.from.as_deref(), Some("busybox"));
    }
}
