//! Image routes: `/images/...`, `/images/create` (pull), `/images/search`.

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use bollard_stubs::models::{ImageDeleteResponseItem, ImageSummary};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::extract::{Params, Query};
use super::params::{self, q, Q};
use super::{ApiError, ApiState};
use crate::errdefs::Result;
use crate::images::progress::{Message, Sink};

pub use crate::filters::Filters;

/// What the API needs from the images subsystem.
#[async_trait]
pub trait ImageBackend: Send + Sync + 'static {
    async fn pull(
        &self,
        image: &str,
        tag: Option<&str>,
        platform: Option<&str>,
        auth: Option<&str>,
        sink: Sink,
    ) -> Result<()>;
    async fn list(&self, filters: Filters, all: bool) -> Result<Vec<ImageSummary>>;
    async fn inspect(&self, name: &str) -> Result<Value>;
    async fn history(&self, name: &str) -> Result<Vec<Value>>;
    async fn tag(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<()>;
    async fn remove(&self, name: &str, force: bool) -> Result<Vec<ImageDeleteResponseItem>>;
    async fn push(
        &self,
        name: &str,
        tag: Option<&str>,
        auth: Option<&str>,
        sink: Sink,
    ) -> Result<()>;
    async fn login(&self, username: &str, password: &str, server: &str) -> Result<()>;
    /// The archive of `names`, as chunks; unknown names fail before any byte is sent.
    async fn save(&self, names: Vec<String>) -> Result<mpsc::Receiver<std::io::Result<Vec<u8>>>>;
    /// Loads an archive; returns the lines `docker load` prints.
    async fn load(&self, archive: BodyStream) -> Result<Vec<String>>;
    /// `docker import`: returns the new image ID.
    async fn import(&self, archive: BodyStream, params: ImportParams) -> Result<String>;
    /// `docker image prune`: (deleted, bytes reclaimed).
    async fn prune(&self, filters: Filters) -> Result<(Vec<ImageDeleteResponseItem>, u64)>;
}

#[derive(Debug, Default)]
pub struct ImportParams {
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub changes: Vec<String>,
    pub message: Option<String>,
    pub platform: Option<String>,
}

pub type BodyStream = futures_util::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/images/json", get(list))
        .route("/images/create", post(create))
        .route("/images/search", get(search))
        .route("/auth", post(login))
        .route("/images/get", get(save_many))
        .route("/images/load", post(load))
        .route("/images/prune", post(prune))
        .route("/build/prune", post(build_prune))
        .route("/images/{*rest}", any(by_name))
}

async fn list(
    State(s): State<ApiState>,
    Query(query): Q,
) -> std::result::Result<Json<Vec<ImageSummary>>, ApiError> {
    let filters = params::filters(q(&query, "filters"))?;
    let all = params::bool_value(q(&query, "all"));
    Ok(Json(s.images.list(filters, all).await?))
}

async fn search() -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "docker search is not supported by Berth: it has no Docker Hub index to search",
    )
}

/// `POST /images/create?fromImage=…&tag=…` pulls, streaming progress.
async fn create(
    State(s): State<ApiState>,
    Query(query): Q,
    headers: HeaderMap,
    params: Params,
    body: Body,
) -> std::result::Result<Response, ApiError> {
    if let Some(src) = q(&query, "fromSrc") {
        return import(&s, src, &params, body).await;
    }
    let image = q(&query, "fromImage")
        .filter(|i| !i.is_empty())
        .ok_or_else(|| ApiError::bad_request("fromImage or fromSrc is required"))?
        .to_string();
    let tag = q(&query, "tag").map(String::from);
    let platform = q(&query, "platform")
        .filter(|p| !p.is_empty())
        .map(String::from);
    let auth = registry_auth(&headers);

    let backend = s.images.clone();
    progress_response(move |sink| async move {
        backend
            .pull(
                &image,
                tag.as_deref(),
                platform.as_deref(),
                auth.as_deref(),
                sink,
            )
            .await
    })
    .await
}

/// Runs a long operation that reports progress, as a streamed JSON response.
/// Errors found before any progress was sent get a real status code (so the
/// CLI prints "Error response from daemon: …"); later ones arrive in the stream.
pub(super) async fn progress_response<F, Fut>(op: F) -> std::result::Result<Response, ApiError>
where
    F: FnOnce(Sink) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Message>(256);
    // The operation runs to completion even if the client goes away, so the
    // store never sees an abandoned half-pull.
    let task = tokio::spawn(op(Sink::new(tx)));
    let Some(first) = rx.recv().await else {
        return match task.await {
            Ok(Ok(())) => Ok(json_stream_response(Body::empty())),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(ApiError::internal(format!("operation failed: {e}"))),
        };
    };
    let tail = futures_util::stream::once(async move {
        match task.await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(Message::error(e.message)),
            Err(e) => Some(Message::error(format!("operation failed: {e}"))),
        }
    })
    .filter_map(|m| async move { m });
    let stream = futures_util::stream::once(async move { first })
        .chain(ReceiverStream::new(rx))
        .chain(tail)
        .map(|m| Ok::<_, std::convert::Infallible>(m.to_line()));
    Ok(json_stream_response(Body::from_stream(stream)))
}

fn json_stream_response(body: Body) -> Response {
    let mut r = Response::new(body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

/// `/images/{name}/json|history|tag` and `DELETE /images/{name}`: names may
/// contain slashes and colons, so the action is the last path segment.
async fn by_name(
    State(s): State<ApiState>,
    method: axum::http::Method,
    Path(rest): Path<String>,
    Query(query): Q,
    headers: HeaderMap,
) -> std::result::Result<Response, ApiError> {
    use axum::http::Method;
    let (name, action) = match rest.rsplit_once('/') {
        Some((n, a)) if matches!(a, "json" | "history" | "tag" | "push" | "get") => (n, a),
        _ => (rest.as_str(), ""),
    };
    match (method, action) {
        (Method::GET, "json") => Ok(Json(s.images.inspect(name).await?).into_response()),
        (Method::GET, "history") => Ok(Json(s.images.history(name).await?).into_response()),
        (Method::POST, "tag") => {
            let repo = q(&query, "repo").unwrap_or("");
            s.images.tag(name, repo, q(&query, "tag")).await?;
            Ok(StatusCode::CREATED.into_response())
        }
        (Method::POST, "push") => {
            let (backend, name) = (s.images.clone(), name.to_string());
            let tag = q(&query, "tag").map(String::from);
            let auth = registry_auth(&headers);
            progress_response(move |sink| async move {
                backend
                    .push(&name, tag.as_deref(), auth.as_deref(), sink)
                    .await
            })
            .await
        }
        (Method::GET, "get") => save_response(&s, vec![name.to_string()]).await,
        (Method::DELETE, "") => {
            let force = params::bool_value(q(&query, "force"));
            Ok(Json(s.images.remove(name, force).await?).into_response())
        }
        _ => Err(ApiError::page_not_found()),
    }
}

fn registry_auth(headers: &HeaderMap) -> Option<String> {
    headers
        .get("X-Registry-Auth")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

#[derive(Debug, Default, serde::Deserialize)]
struct AuthBody {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    serveraddress: String,
}

/// `POST /auth`: docker login.
async fn login(
    State(s): State<ApiState>,
    super::extract::Json(body): super::extract::Json<AuthBody>,
) -> std::result::Result<Json<Value>, ApiError> {
    s.images
        .login(&body.username, &body.password, &body.serveraddress)
        .await?;
    Ok(Json(
        serde_json::json!({"Status": "Login Succeeded", "IdentityToken": ""}),
    ))
}

/// `GET /images/get?names=a&names=b`: several images in one archive.
async fn save_many(
    State(s): State<ApiState>,
    p: Params,
) -> std::result::Result<Response, ApiError> {
    let names = p.all("names");
    if names.is_empty() {
        return Err(ApiError::bad_request("no images named: pass names=IMAGE"));
    }
    save_response(&s, names).await
}

async fn save_response(
    s: &ApiState,
    names: Vec<String>,
) -> std::result::Result<Response, ApiError> {
    let rx = s.images.save(names).await?;
    let mut r = Response::new(Body::from_stream(ReceiverStream::new(rx)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/x-tar"),
    );
    Ok(r)
}

/// `POST /images/load`: the archive is streamed in, never held in memory.
async fn load(State(s): State<ApiState>, body: Body) -> std::result::Result<Response, ApiError> {
    let stream = body
        .into_data_stream()
        .map(|r| r.map_err(std::io::Error::other))
        .boxed();
    let lines = s.images.load(stream).await?;
    let out: Vec<u8> = lines
        .iter()
        .flat_map(|l| {
            let mut v = serde_json::to_vec(&serde_json::json!({"stream": format!("{l}\n")}))
                .unwrap_or_default();
            v.extend_from_slice(b"\r\n");
            v
        })
        .collect();
    Ok(json_stream_response(Body::from(out)))
}

/// `POST /images/create?fromSrc=-`: the request body is a root filesystem tar.
async fn import(
    s: &ApiState,
    src: &str,
    p: &Params,
    body: Body,
) -> std::result::Result<Response, ApiError> {
    if src != "-" {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!("importing from a URL ({src}) is not supported by Berth: download it and pipe it to `docker import -`"),
        ));
    }
    let params = ImportParams {
        repo: p.get("repo"),
        tag: p.get("tag"),
        changes: p.all("changes"),
        message: p.get("message"),
        platform: p.get("platform"),
    };
    let stream = body
        .into_data_stream()
        .map(|r| r.map_err(std::io::Error::other))
        .boxed();
    let id = s.images.import(stream, params).await?;
    let mut line = serde_json::to_vec(&serde_json::json!({"status": id})).unwrap_or_default();
    line.extend_from_slice(b"\r\n");
    Ok(json_stream_response(Body::from(line)))
}

/// `POST /build/prune`, which `docker system prune` calls after the image
/// prune and fails without. Berth keeps no build cache yet, so there is
/// never anything to delete; the parameters are still checked as dockerd
/// checks them, so a bad request fails the same way.
async fn build_prune(Query(query): Q) -> std::result::Result<Json<Value>, ApiError> {
    params::filters(q(&query, "filters"))?;
    for key in [
        "keep-storage",
        "reserved-space",
        "max-used-space",
        "min-free-space",
    ] {
        if let Some(v) = q(&query, key).filter(|v| !v.is_empty()) {
            if v.parse::<i64>().is_err() {
                return Err(ApiError::bad_request(format!(
                    "{key} is in bytes and expects an integer, got {v}"
                )));
            }
        }
    }
    Ok(Json(
        serde_json::json!({"CachesDeleted": [], "SpaceReclaimed": 0}),
    ))
}

/// `POST /images/prune`.
async fn prune(
    State(s): State<ApiState>,
    Query(query): Q,
) -> std::result::Result<Json<Value>, ApiError> {
    let filters = params::filters(q(&query, "filters"))?;
    let (deleted, reclaimed) = s.images.prune(filters).await?;
    Ok(Json(
        serde_json::json!({"ImagesDeleted": deleted, "SpaceReclaimed": reclaimed}),
    ))
}
