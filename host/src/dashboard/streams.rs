//! The streams both shells forward: engine events, a container's log, a pull's progress.

use std::collections::BTreeMap;
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::models::{CreateImageInfo, EventMessage};
use futures::stream::{self, BoxStream, Stream, StreamExt};
use serde_json::{json, Value};

use super::context::Context;
use super::error::CommandError;
use super::Args;

/// How long to wait before asking a stopped engine again.
const RECONNECT_DELAY: Duration = Duration::from_secs(2);

/// Opens a named stream: `events`, `containers.logs` (`{"id", "tail"?, "follow"?}`) or
/// `images.pull` (`{"reference"}`). Argument errors come back at once, engine errors as
/// an `error` item followed by `end`.
pub fn stream(
    ctx: &Context,
    name: &str,
    args: Value,
) -> Result<BoxStream<'static, Value>, CommandError> {
    let args = Args::new(name, args)?;
    match name {
        "events" => Ok(events(ctx).boxed()),
        "containers.logs" => {
            let id = args.str("id")?;
            let tail = args.u64_or("tail", 200)?;
            let follow = args.bool_or("follow", true)?;
            Ok(logs(ctx.clone(), id, tail, follow))
        }
        "images.pull" => {
            let reference = args.str("reference")?;
            let options = super::images::pull_options(&reference)?;
            Ok(pull(ctx.clone(), options))
        }
        _ => Err(CommandError::not_found(format!(
            "unknown stream {name:?}; known streams: events, containers.logs, images.pull"
        ))),
    }
}

/// Engine events for as long as it is consumed; across engine restarts it reconnects and
/// says so with `{"type": "engine", "running": bool}` items (the tray follows them, the
/// lists reload on them).
pub fn events(ctx: &Context) -> impl Stream<Item = Value> + Send + 'static {
    type Inner = BoxStream<'static, Result<EventMessage, bollard::errors::Error>>;
    struct State {
        ctx: Context,
        inner: Option<Inner>,
        running: Option<bool>,
    }
    let state = State {
        ctx: ctx.clone(),
        inner: None,
        running: None,
    };
    stream::unfold(state, |mut st| async move {
        loop {
            if let Some(inner) = st.inner.as_mut() {
                match inner.next().await {
                    Some(Ok(ev)) => return Some((event_json(ev), st)),
                    Some(Err(e)) => {
                        tracing::debug!("engine events ended: {e}");
                        st.inner = None;
                        tokio::time::sleep(RECONNECT_DELAY / 4).await;
                    }
                    None => st.inner = None,
                }
                continue;
            }
            let up = match st.ctx.docker().await {
                Ok(d) => match d.ping().await {
                    Ok(_) => Some(d),
                    Err(_) => None,
                },
                Err(_) => None,
            };
            let now = up.is_some();
            if let Some(d) = up {
                st.inner = Some(d.events(None).boxed());
            }
            if st.running != Some(now) {
                st.running = Some(now);
                return Some((json!({"type": "engine", "running": now}), st));
            }
            if !now {
                tokio::time::sleep(RECONNECT_DELAY).await;
            }
        }
    })
}

fn event_json(ev: EventMessage) -> Value {
    let actor = ev.actor.unwrap_or_default();
    json!({
        "type": "event",
        "kind": ev.typ.map(|t| t.to_string()),
        "action": ev.action,
        "id": actor.id,
        "attributes": actor.attributes.unwrap_or_default(),
        "time": ev.time,
    })
}

pub(crate) fn log_item(out: LogOutput) -> Value {
    let (stream, bytes) = match out {
        LogOutput::StdOut { message } => ("stdout", message),
        LogOutput::StdErr { message } => ("stderr", message),
        LogOutput::Console { message } => ("stdout", message),
        LogOutput::StdIn { message } => ("stdin", message),
    };
    let line = String::from_utf8_lossy(&bytes);
    json!({"type": "log", "stream": stream, "line": line.trim_end_matches(['\n', '\r'])})
}

fn end_item() -> Value {
    json!({"type": "end"})
}

fn error_item(e: impl Into<CommandError>) -> Value {
    json!({"type": "error", "message": e.into().message})
}

fn logs(ctx: Context, id: String, tail: u64, follow: bool) -> BoxStream<'static, Value> {
    let opened = async move {
        match ctx.docker().await {
            Ok(d) => d
                .logs(&id, Some(super::containers::log_options(follow, tail)))
                .map(|item| match item {
                    Ok(out) => log_item(out),
                    Err(e) => error_item(e),
                })
                .boxed(),
            Err(e) => stream::iter([error_item(e)]).boxed(),
        }
    };
    stream::once(opened)
        .flatten()
        .chain(stream::once(async { end_item() }))
        .boxed()
}

/// Per-layer progress folded into one percentage for the progress bar.
#[derive(Default)]
struct PullProgress {
    layers: BTreeMap<String, (i64, i64)>,
    done: usize,
}

impl PullProgress {
    fn update(&mut self, info: &CreateImageInfo) -> Value {
        let status = info.status.clone().unwrap_or_default();
        if let Some(id) = &info.id {
            let detail = info.progress_detail.clone().unwrap_or_default();
            match (detail.current, detail.total) {
                (Some(cur), Some(total)) if total > 0 => {
                    self.layers.insert(id.clone(), (cur.min(total), total));
                }
                _ => {}
            }
            if status == "Pull complete" || status == "Already exists" {
                let e = self.layers.entry(id.clone()).or_insert((1, 1));
                e.0 = e.1;
                self.done += 1;
            }
        }
        let (cur, total) = self
            .layers
            .values()
            .fold((0i64, 0i64), |(c, t), (lc, lt)| (c + lc, t + lt));
        let percent = if total > 0 {
            (cur as f64 * 100.0 / total as f64).clamp(0.0, 100.0)
        } else {
            0.0
        };
        json!({
            "type": "progress",
            "id": info.id,
            "status": status,
            "percent": (percent * 10.0).round() / 10.0,
            "layers": self.layers.len(),
            "layers_done": self.done,
        })
    }
}

fn pull(
    ctx: Context,
    options: bollard::query_parameters::CreateImageOptions,
) -> BoxStream<'static, Value> {
    let opened = async move {
        match ctx.docker().await {
            Ok(d) => {
                let mut progress = PullProgress::default();
                d.create_image(Some(options), None, None)
                    .map(move |item| match item {
                        Ok(info) => match info.error_detail.as_ref().and_then(|e| e.message.clone())
                        {
                            Some(message) => json!({"type": "error", "message": message}),
                            None => progress.update(&info),
                        },
                        Err(e) => error_item(e),
                    })
                    .chain(stream::once(async {
                        json!({"type": "progress", "status": "done", "percent": 100.0, "done": true})
                    }))
                    // No "done" after an error.
                    .scan(false, |errored, v| {
                        let out = if *errored && v["done"] == true {
                            None
                        } else {
                            Some(v)
                        };
                        if out.as_ref().is_some_and(|v| v["type"] == "error") {
                            *errored = true;
                        }
                        async move { Some(out) }
                    })
                    .filter_map(|v| async move { v })
                    .boxed()
            }
            Err(e) => stream::iter([error_item(e)]).boxed(),
        }
    };
    stream::once(opened)
        .flatten()
        .chain(stream::once(async { end_item() }))
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::ProgressDetail;

    fn info(id: &str, status: &str, cur: Option<i64>, total: Option<i64>) -> CreateImageInfo {
        CreateImageInfo {
            id: Some(id.into()),
            status: Some(status.into()),
            progress_detail: Some(ProgressDetail {
                current: cur,
                total,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn pull_progress_sums_layers() {
        let mut p = PullProgress::default();
        assert_eq!(
            p.update(&info("a", "Downloading", Some(50), Some(100)))["percent"],
            50.0
        );
        assert_eq!(
            p.update(&info("b", "Downloading", Some(0), Some(300)))["percent"],
            12.5
        );
        let v = p.update(&info("a", "Pull complete", None, None));
        assert_eq!(v["percent"], 25.0);
        assert_eq!(v["layers_done"], 1);
        assert_eq!(
            p.update(&info("b", "Pull complete", None, None))["percent"],
            100.0
        );
    }

    #[test]
    fn unknown_streams_and_missing_args_fail_at_once() {
        let ctx = Context::new(
            super::super::Endpoint {
                host: "unix:///nonexistent.sock".into(),
                source: "test".into(),
            },
            super::super::SettingsTarget::native("/nonexistent".into(), None),
        );
        assert!(stream(&ctx, "nope", Value::Null).is_err());
        assert!(stream(&ctx, "containers.logs", json!({})).is_err());
        assert!(stream(&ctx, "images.pull", json!({"reference": " "})).is_err());
    }

    #[tokio::test]
    async fn a_pull_without_engine_ends_with_an_error() {
        let ctx = Context::new(
            super::super::Endpoint {
                host: "unix:///nonexistent.sock".into(),
                source: "test".into(),
            },
            super::super::SettingsTarget::native("/nonexistent".into(), None),
        );
        let items: Vec<Value> = stream(&ctx, "images.pull", json!({"reference": "busybox"}))
            .unwrap()
            .collect()
            .await;
        assert_eq!(items.len(), 2, "{items:?}");
        assert_eq!(items[0]["type"], "error");
        assert_eq!(items[1]["type"], "end");
    }
}
