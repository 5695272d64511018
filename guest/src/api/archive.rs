//! `docker cp`: `HEAD`, `GET` and `PUT /containers/{id}/archive?path=…`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::head;
use axum::Router;
use base64::Engine;
use futures_util::StreamExt;

use super::extract::Query;
use super::params::{self, q, Q};
use super::{ApiError, ApiState};
use crate::containers::archive::{ExtractOptions, PathStat};

type ApiResult<T> = std::result::Result<T, ApiError>;

const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

pub fn routes() -> Router<ApiState> {
    Router::new().route(
        "/containers/{id}/archive",
        head(stat).get(archive).put(extract),
    )
}

/// moby's `ArchiveFormValues`: the path is required.
fn path_param(query: &std::collections::HashMap<String, String>) -> ApiResult<String> {
    match q(query, "path") {
        Some(p) if !p.is_empty() => Ok(p.to_string()),
        _ => Err(ApiError::bad_request("Path cannot be empty")),
    }
}

/// The stat as dockerd sends it: JSON, base64-encoded, in a header.
fn stat_header(stat: &PathStat) -> ApiResult<HeaderValue> {
    let json = serde_json::to_vec(stat).map_err(|e| ApiError::internal(e.to_string()))?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(json);
    HeaderValue::from_str(&encoded).map_err(|e| ApiError::internal(e.to_string()))
}

async fn stat(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Query(query): Q,
) -> ApiResult<Response> {
    let path = path_param(&query)?;
    let stat = s.containers.stat_path(&id, &path).await?;
    let mut headers = HeaderMap::new();
    headers.insert(STAT_HEADER, stat_header(&stat)?);
    Ok((StatusCode::OK, headers).into_response())
}

async fn archive(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Query(query): Q,
) -> ApiResult<Response> {
    let path = path_param(&query)?;
    let (stat, rx) = s.containers.archive_path(&id, &path).await?;
    let body = tokio_stream::wrappers::ReceiverStream::new(rx);
    let mut resp = Response::new(Body::from_stream(body));
    let h = resp.headers_mut();
    h.insert(STAT_HEADER, stat_header(&stat)?);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    Ok(resp)
}

async fn extract(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Query(query): Q,
    body: Body,
) -> ApiResult<StatusCode> {
    let path = path_param(&query)?;
    let opts = ExtractOptions {
        no_overwrite_dir_non_dir: params::bool_value(q(&query, "noOverwriteDirNonDir")),
        copy_uid_gid: params::bool_value(q(&query, "copyUIDGID")),
    };
    let stream = body
        .into_data_stream()
        .map(|r| r.map_err(std::io::Error::other))
        .boxed();
    s.containers
        .extract_to_dir(&id, &path, opts, stream)
        .await?;
    Ok(StatusCode::OK)
}
