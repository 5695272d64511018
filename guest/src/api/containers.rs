//! Container routes: records (create, list, inspect, remove, rename, prune,
//! diff, commit) here; running them in `lifecycle`.

use async_trait::async_trait;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use bollard_stubs::models::ContainerCreateBody;
use serde_json::{json, Value};

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use tokio::sync::mpsc;

use super::extract::{Json as Body, Params, Query};
use super::images::BodyStream;
use super::params::{self, q, Q};
use super::{ApiError, ApiState};
use crate::containers::archive::{ArchiveChunks, ExtractOptions, PathStat};
use crate::containers::attach::{AttachOptions, Session};
use crate::containers::exec::ExecConfig;
use crate::containers::read_logs::LogsOptions;
use crate::errdefs::Result;

pub use crate::filters::Filters;

/// What the API needs from the containers subsystem.
#[async_trait]
pub trait ContainerBackend: Send + Sync + 'static {
    async fn create(
        &self,
        name: Option<String>,
        body: ContainerCreateBody,
    ) -> Result<(String, Vec<String>)>;
    async fn list(
        &self,
        all: bool,
        limit: Option<usize>,
        size: bool,
        filters: Filters,
    ) -> Result<Vec<Value>>;
    async fn inspect(&self, id: &str) -> Result<Value>;
    async fn remove(&self, id: &str, force: bool, volumes: bool) -> Result<()>;
    async fn rename(&self, id: &str, name: &str) -> Result<()>;
    /// (IDs removed, bytes reclaimed)
    async fn prune(&self, filters: Filters) -> Result<(Vec<String>, u64)>;
    async fn diff(&self, id: &str) -> Result<Value>;
    /// Returns the new image's ID.
    async fn commit(&self, id: &str, params: CommitParams) -> Result<String>;

    // Running containers (routes in `lifecycle`). `NotModified` means there
    // was nothing to do.
    async fn start(&self, id: &str) -> Result<()>;
    async fn stop(&self, id: &str, timeout: Option<i64>, signal: Option<String>) -> Result<()>;
    async fn restart(&self, id: &str, timeout: Option<i64>, signal: Option<String>) -> Result<()>;
    async fn kill(&self, id: &str, signal: Option<String>) -> Result<()>;
    /// Checks the container now; the future resolves with the exit code.
    async fn wait(&self, id: &str, condition: &str) -> Result<BoxFuture<'static, i64>>;
    async fn attach(&self, id: &str, opts: AttachOptions) -> Result<Session>;
    async fn resize(&self, id: &str, height: u16, width: u16) -> Result<()>;
    async fn pause(&self, id: &str) -> Result<()>;
    async fn unpause(&self, id: &str) -> Result<()>;
    /// (whether the container has a TTY, the log stream in wire format)
    async fn logs(&self, id: &str, opts: LogsOptions) -> Result<(bool, BodyStream)>;
    async fn top(&self, id: &str, ps_args: &str) -> Result<Value>;
    async fn stats(
        &self,
        id: &str,
        stream: bool,
        one_shot: bool,
    ) -> Result<BoxStream<'static, Value>>;
    async fn update(&self, id: &str, body: Value) -> Result<Vec<String>>;
    async fn export(&self, id: &str) -> Result<mpsc::Receiver<std::io::Result<Vec<u8>>>>;
    async fn exec_create(&self, id: &str, config: ExecConfig) -> Result<String>;
    async fn exec_start(&self, exec_id: &str, detach: bool) -> Result<Option<Session>>;
    async fn exec_inspect(&self, exec_id: &str) -> Result<Value>;
    async fn exec_resize(&self, exec_id: &str, height: u16, width: u16) -> Result<()>;

    // `docker cp` (routes in `archive`).
    async fn stat_path(&self, id: &str, path: &str) -> Result<PathStat>;
    /// The path's stat, then its tar as chunks.
    async fn archive_path(&self, id: &str, path: &str) -> Result<(PathStat, ArchiveChunks)>;
    /// Extracts the tar `archive` into the directory `path`.
    async fn extract_to_dir(
        &self,
        id: &str,
        path: &str,
        opts: ExtractOptions,
        archive: BodyStream,
    ) -> Result<()>;
}

#[derive(Debug, Default)]
pub struct CommitParams {
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub comment: Option<String>,
    pub author: Option<String>,
    pub changes: Vec<String>,
}

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/containers/create", post(create))
        .route("/containers/json", get(list))
        .route("/containers/prune", post(prune))
        .route("/containers/{id}/json", get(inspect))
        .route("/containers/{id}", delete(remove))
        .route("/containers/{id}/rename", post(rename))
        .route("/containers/{id}/changes", get(diff))
        .route("/commit", post(commit))
        .merge(super::lifecycle::routes())
        .merge(super::archive::routes())
}

async fn create(
    State(s): State<ApiState>,
    Query(query): Q,
    Body(body): Body<ContainerCreateBody>,
) -> std::result::Result<Response, ApiError> {
    let name = q(&query, "name").map(String::from);
    let (id, warnings) = s.containers.create(name, body).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": id, "Warnings": warnings})),
    )
        .into_response())
}

async fn list(
    State(s): State<ApiState>,
    Query(query): Q,
) -> std::result::Result<Json<Vec<Value>>, ApiError> {
    let filters = params::filters(q(&query, "filters"))?;
    let limit = match q(&query, "limit").filter(|l| !l.is_empty()) {
        None => None,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if n > 0 => Some(n as usize),
            Ok(_) => None,
            Err(_) => return Err(ApiError::bad_request(format!("invalid limit: {l}"))),
        },
    };
    Ok(Json(
        s.containers
            .list(
                params::bool_value(q(&query, "all")),
                limit,
                params::bool_value(q(&query, "size")),
                filters,
            )
            .await?,
    ))
}

async fn inspect(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> std::result::Result<Json<Value>, ApiError> {
    Ok(Json(s.containers.inspect(&id).await?))
}

async fn remove(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Query(query): Q,
) -> std::result::Result<StatusCode, ApiError> {
    s.containers
        .remove(
            &id,
            params::bool_value(q(&query, "force")),
            params::bool_value(q(&query, "v")),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn rename(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Query(query): Q,
) -> std::result::Result<StatusCode, ApiError> {
    s.containers
        .rename(&id, q(&query, "name").unwrap_or(""))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn prune(
    State(s): State<ApiState>,
    Query(query): Q,
) -> std::result::Result<Json<Value>, ApiError> {
    let filters = params::filters(q(&query, "filters"))?;
    let (deleted, reclaimed) = s.containers.prune(filters).await?;
    Ok(Json(
        json!({"ContainersDeleted": deleted, "SpaceReclaimed": reclaimed}),
    ))
}

async fn diff(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> std::result::Result<Json<Value>, ApiError> {
    Ok(Json(s.containers.diff(&id).await?))
}

/// `POST /commit?container=…&repo=…&tag=…&comment=…&author=…&changes=…`.
async fn commit(State(s): State<ApiState>, p: Params) -> std::result::Result<Response, ApiError> {
    let container = p
        .get("container")
        .ok_or_else(|| ApiError::bad_request("no container given: pass container=NAME"))?;
    let params = CommitParams {
        repo: p.get("repo"),
        tag: p.get("tag"),
        comment: p.get("comment"),
        author: p.get("author"),
        changes: p.all("changes"),
    };
    let id = s.containers.commit(&container, params).await?;
    Ok((StatusCode::CREATED, Json(json!({"Id": id}))).into_response())
}
