//! System routes: `/_ping`, `/version`, `/info`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bollard_stubs::models::{SystemInfo, SystemVersion};

use super::{version, ApiState};

/// What the API needs from the daemon for the system routes.
pub trait SystemBackend: Send + Sync + 'static {
    fn version(&self) -> SystemVersion;
    fn info(&self) -> SystemInfo;
    fn experimental(&self) -> bool;
    /// `GET /system/df`.
    fn disk_usage(&self) -> crate::errdefs::Result<serde_json::Value>;
}

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/_ping", get(ping).head(ping_head))
        .route("/version", get(version_handler))
        .route("/info", get(info))
        .route("/system/df", get(disk_usage))
}

/// The headers the docker CLI reads from `/_ping` to pick its API version,
/// builder and swarm mode.
fn ping_headers(system: &Arc<dyn SystemBackend>) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("API-Version", HeaderValue::from_static(version::MAX));
    h.insert("OSType", HeaderValue::from_static("linux"));
    h.insert(
        "Docker-Experimental",
        HeaderValue::from_static(if system.experimental() {
            "true"
        } else {
            "false"
        }),
    );
    // "1": the classic builder behind POST /build; Berth has no BuildKit.
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    h.insert("Swarm", HeaderValue::from_static("inactive"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h
}

async fn ping(State(s): State<ApiState>) -> Response {
    (StatusCode::OK, ping_headers(&s.system), "OK").into_response()
}

async fn ping_head(State(s): State<ApiState>) -> Response {
    let mut h = ping_headers(&s.system);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    (StatusCode::OK, h).into_response()
}

async fn version_handler(State(s): State<ApiState>) -> axum::Json<SystemVersion> {
    axum::Json(s.system.version())
}

async fn info(State(s): State<ApiState>) -> Response {
    let system = s.system.clone();
    // Reading /proc and /sys is blocking file I/O.
    match tokio::task::spawn_blocking(move || system.info()).await {
        Ok(info) => axum::Json(info).into_response(),
        Err(e) => super::error::ApiError::internal(format!("collecting system info failed: {e}"))
            .into_response(),
    }
}

async fn disk_usage(State(s): State<ApiState>) -> Response {
    let system = s.system.clone();
    // Walking layer and volume directories is blocking work.
    match tokio::task::spawn_blocking(move || system.disk_usage()).await {
        Ok(Ok(v)) => axum::Json(v).into_response(),
        Ok(Err(e)) => super::error::ApiError::from(e).into_response(),
        Err(e) => {
            super::error::ApiError::internal(format!("disk usage failed: {e}")).into_response()
        }
    }
}
