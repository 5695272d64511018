//! `GET /events`: recent events since `since`, then live ones, until `until`.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use futures_util::stream;
use tokio::sync::broadcast::error::RecvError;

use super::extract::Query;
use super::{params, ApiError, ApiState};
use crate::events::{matches, Event};

pub fn routes() -> Router<ApiState> {
    Router::new().route("/events", get(events))
}

/// `since`/`until` as the CLI sends them (unix seconds, maybe with a
/// fraction), or RFC 3339, in nanoseconds.
fn nanos(v: &str) -> Result<i64, ApiError> {
    if let Some((secs, frac)) = v.split_once('.') {
        let s: i64 = secs.parse().map_err(|_| bad_time(v))?;
        let digits: String = frac.chars().take(9).collect();
        let f: i64 = format!("{digits:0<9}").parse().map_err(|_| bad_time(v))?;
        return Ok(s * 1_000_000_000 + f);
    }
    let now = crate::timefmt::now_unix();
    crate::timefmt::until_cutoff(v, now)
        .map(|s| s * 1_000_000_000)
        .map_err(|_| bad_time(v))
}

fn bad_time(v: &str) -> ApiError {
    ApiError::bad_request(format!("invalid timestamp: {v}"))
}

async fn events(
    State(s): State<ApiState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let filters = params::filters(q.get("filters").map(String::as_str))?;
    let since = q
        .get("since")
        .filter(|v| !v.is_empty())
        .map(|v| nanos(v))
        .transpose()?;
    let until = q
        .get("until")
        .filter(|v| !v.is_empty())
        .map(|v| nanos(v))
        .transpose()?;
    let (past, rx) = s.events.subscribe(since);
    let closing = s.events.closing();
    let past: VecDeque<Event> = past
        .into_iter()
        .filter(|e| until.is_none_or(|u| e.time_nano <= u))
        .collect();
    let deadline = until.map(|u| {
        let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64;
        tokio::time::Instant::now() + Duration::from_nanos(u.saturating_sub(now).max(0) as u64)
    });
    let body = stream::unfold((past, rx, filters), move |(mut past, mut rx, filters)| {
        let closing = closing.clone();
        async move {
            loop {
                let e = match past.pop_front() {
                    Some(e) => e,
                    None => {
                        let recv = async {
                            match deadline {
                                Some(d) => tokio::time::timeout_at(d, rx.recv()).await.ok(),
                                None => Some(rx.recv().await),
                            }
                        };
                        let next = tokio::select! {
                            r = recv => match r {
                                Some(r) => r,
                                None => return None,
                            },
                            _ = closing.cancelled() => return None,
                        };
                        match next {
                            Ok(e) => e,
                            // A slow reader missed some: go on with what comes next.
                            Err(RecvError::Lagged(_)) => continue,
                            Err(RecvError::Closed) => return None,
                        }
                    }
                };
                if until.is_some_and(|u| e.time_nano > u) {
                    return None;
                }
                if matches(&e, &filters) {
                    let mut line = serde_json::to_vec(&e).unwrap_or_default();
                    line.push(b'\n');
                    return Some((Ok::<_, std::convert::Infallible>(line), (past, rx, filters)));
                }
            }
        }
    });
    let mut r = Response::new(Body::from_stream(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Ok(r)
}
