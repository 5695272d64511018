//! Routes that run containers: start, stop, restart, kill, wait, attach,
//! resize, pause, logs, top, stats, update, export, and exec.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use serde_json::{json, Value};

use super::extract::{Json as Body_, Query};
use super::hijack::{hijack, MULTIPLEXED, RAW};
use super::params::{self, q, Q};
use super::{ApiError, ApiState};
use crate::containers::attach::AttachOptions;
use crate::containers::exec::ExecConfig;
use crate::containers::read_logs::LogsOptions;
use crate::errdefs::{Error, Kind};

type ApiResult<T> = std::result::Result<T, ApiError>;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/containers/{id}/start", post(start))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/restart", post(restart))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/wait", post(wait))
        .route("/containers/{id}/attach", post(attach))
        .route("/containers/{id}/resize", post(resize))
        .route("/containers/{id}/pause", post(pause))
        .route("/containers/{id}/unpause", post(unpause))
        .route("/containers/{id}/logs", get(logs))
        .route("/containers/{id}/top", get(top))
        .route("/containers/{id}/stats", get(stats))
        .route("/containers/{id}/update", post(update))
        .route("/containers/{id}/export", get(export))
        .route("/containers/{id}/exec", post(exec_create))
        .route("/exec/{id}/start", post(exec_start))
        .route("/exec/{id}/json", get(exec_inspect))
        .route("/exec/{id}/resize", post(exec_resize))
}

/// 204, or 304 when there was nothing to do (dockerd's answer for starting
/// a running container or stopping a stopped one).
fn no_content(r: crate::errdefs::Result<()>) -> ApiResult<StatusCode> {
    match r {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(Error {
            kind: Kind::NotModified,
            ..
        }) => Ok(StatusCode::NOT_MODIFIED),
        Err(e) => Err(e.into()),
    }
}

fn timeout(query: &std::collections::HashMap<String, String>) -> ApiResult<Option<i64>> {
    match q(query, "t").filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => t
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("invalid value for t: {t}"))),
    }
}

async fn start(State(s): State<ApiState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    no_content(s.containers.start(&id).await)
}

async fn stop(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Query(query): Q,
) -> ApiResult<StatusCode> {
    let t = timeout(&query)?;
    let signal = q(&query, "signal").map(String::from);
    no_content(s.containers.stop(&id, t, signal).await)
}

async fn restart(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Query(query): Q,
) -> ApiResult<StatusCode> {
    let t = timeout(&query)?;
    let signal = q(&query, "signal").map(String::from);
    no_content(s.containers.restart(&id, t, signal).await)
}

async fn kill(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Query(query): Q,
) -> ApiResult<StatusCode> {
    let signal = q(&query, "signal").map(String::from);
    no_content(s.containers.kill(&id, signal).await)
}

/// The status line goes out at once; the body when the condition is met.
async fn wait(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Query(query): Q,
) -> ApiResult<Response> {
    let condition = q(&query, "condition").unwrap_or("").to_string();
    let done = s.containers.wait(&id, &condition).await?;
    let body = futures_util::stream::once(async move {
        let code = done.await;
        Ok::<_, std::convert::Infallible>(format!(
            "{}\n",
            json!({"StatusCode": code, "Error": null})
        ))
    });
    let mut resp = Response::new(Body::from_stream(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

async fn attach(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Query(query): Q,
    req: Request,
) -> ApiResult<Response> {
    let flag = |k| params::bool_value(q(&query, k));
    let opts = AttachOptions {
        stdin: flag("stdin"),
        stdout: flag("stdout"),
        stderr: flag("stderr"),
        detach_keys: q(&query, "detachKeys").map(String::from),
    };
    let session = s.containers.attach(&id, opts).await?;
    Ok(hijack(req, session))
}

fn size(query: &std::collections::HashMap<String, String>) -> ApiResult<(u16, u16)> {
    let get = |k: &str| -> ApiResult<u16> {
        let v = q(query, k).unwrap_or("");
        v.parse().map_err(|_| {
            ApiError::bad_request(format!("strconv.Atoi: parsing \"{v}\": invalid syntax"))
        })
    };
    Ok((get("h")?, get("w")?))
}

async fn resize(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Query(query): Q,
) -> ApiResult<StatusCode> {
    let (h, w) = size(&query)?;
    s.containers.resize(&id, h, w).await?;
    Ok(StatusCode::OK)
}

async fn pause(State(s): State<ApiState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    s.containers.pause(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unpause(State(s): State<ApiState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    s.containers.unpause(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn logs(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Query(query): Q,
) -> ApiResult<Response> {
    let flag = |k| params::bool_value(q(&query, k));
    let opts = LogsOptions {
        stdout: flag("stdout"),
        stderr: flag("stderr"),
        follow: flag("follow"),
        timestamps: flag("timestamps"),
        since: q(&query, "since")
            .filter(|v| !v.is_empty() && *v != "0")
            .map(String::from),
        until: q(&query, "until")
            .filter(|v| !v.is_empty() && *v != "0")
            .map(String::from),
        tail: q(&query, "tail").map(String::from),
    };
    if !opts.stdout && !opts.stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let (tty, stream) = s.containers.logs(&id, opts).await?;
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if tty { RAW } else { MULTIPLEXED }),
    );
    Ok(resp)
}

async fn top(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Query(query): Q,
) -> ApiResult<Json<Value>> {
    let args = q(&query, "ps_args").unwrap_or("").to_string();
    Ok(Json(s.containers.top(&id, &args).await?))
}

async fn stats(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Query(query): Q,
) -> ApiResult<Response> {
    let stream = q(&query, "stream").is_none_or(|v| params::bool_value(Some(v)));
    let one_shot = params::bool_value(q(&query, "one-shot"));
    let samples = s.containers.stats(&id, stream, one_shot).await?;
    let body = samples.map(|v| Ok::<_, std::convert::Infallible>(format!("{v}\n")));
    let mut resp = Response::new(Body::from_stream(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

async fn update(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Body_(body): Body_<Value>,
) -> ApiResult<Json<Value>> {
    let warnings = s.containers.update(&id, body).await?;
    Ok(Json(json!({"Warnings": warnings})))
}

async fn export(State(s): State<ApiState>, Path(id): Path<String>) -> ApiResult<Response> {
    let rx = s.containers.export(&id).await?;
    let body = tokio_stream::wrappers::ReceiverStream::new(rx);
    let mut resp = Response::new(Body::from_stream(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    Ok(resp)
}

async fn exec_create(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Body_(cfg): Body_<ExecConfig>,
) -> ApiResult<Response> {
    let exec_id = s.containers.exec_create(&id, cfg).await?;
    Ok((StatusCode::CREATED, Json(json!({"Id": exec_id}))).into_response())
}

async fn exec_start(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    // The body is read here; the upgrade lives in the request's parts.
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let req = Request::from_parts(parts, Body::empty());
    let body: Value = if bytes.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
    };
    let detach = body["Detach"].as_bool().unwrap_or(false);
    match s.containers.exec_start(&id, detach).await? {
        None => Ok(StatusCode::OK.into_response()),
        Some(session) => Ok(hijack(req, session)),
    }
}

async fn exec_inspect(State(s): State<ApiState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(s.containers.exec_inspect(&id).await?))
}

async fn exec_resize(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Query(query): Q,
) -> ApiResult<StatusCode> {
    let (h, w) = size(&query)?;
    s.containers.exec_resize(&id, h, w).await?;
    Ok(StatusCode::OK)
}
