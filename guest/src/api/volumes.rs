//! Volume routes: `/volumes/...`.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{Json as Body, Query};
use super::version::ApiVersion;
use super::{params, ApiError, ApiState};
use crate::errdefs::Result;

use crate::filters::Filters;

/// What the API needs from the volumes subsystem.
#[async_trait]
pub trait VolumeBackend: Send + Sync + 'static {
    async fn create(
        &self,
        name: Option<String>,
        driver: Option<String>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<Value>;
    async fn inspect(&self, name: &str) -> Result<Value>;
    async fn list(&self, filters: Filters) -> Result<Vec<Value>>;
    async fn remove(&self, name: &str, force: bool) -> Result<()>;
    /// (names removed, bytes reclaimed)
    async fn prune(&self, filters: Filters) -> Result<(Vec<String>, u64)>;
}

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/volumes", get(list))
        .route("/volumes/create", post(create))
        .route("/volumes/prune", post(prune))
        .route("/volumes/{name}", get(inspect).delete(remove))
}

type Q = Query<HashMap<String, String>>;

#[derive(Debug, Default, Deserialize)]
struct CreateBody {
    #[serde(rename = "Name", default)]
    name: Option<String>,
    #[serde(rename = "Driver", default)]
    driver: Option<String>,
    #[serde(rename = "DriverOpts", default)]
    driver_opts: Option<BTreeMap<String, String>>,
    #[serde(rename = "Labels", default)]
    labels: Option<BTreeMap<String, String>>,
}

async fn create(
    State(s): State<ApiState>,
    Body(b): Body<CreateBody>,
) -> std::result::Result<(StatusCode, Json<Value>), ApiError> {
    let v = s
        .volumes
        .create(
            b.name,
            b.driver,
            b.labels.unwrap_or_default(),
            b.driver_opts.unwrap_or_default(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(v)))
}

async fn list(
    State(s): State<ApiState>,
    Query(q): Q,
) -> std::result::Result<Json<Value>, ApiError> {
    let filters = params::filters(q.get("filters").map(String::as_str))?;
    let volumes = s.volumes.list(filters).await?;
    Ok(Json(json!({"Volumes": volumes, "Warnings": []})))
}

async fn inspect(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> std::result::Result<Json<Value>, ApiError> {
    Ok(Json(s.volumes.inspect(&name).await?))
}

async fn remove(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    Query(q): Q,
) -> std::result::Result<StatusCode, ApiError> {
    s.volumes
        .remove(
            &name,
            params::bool_value(q.get("force").map(String::as_str)),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn prune(
    State(s): State<ApiState>,
    version: Option<Extension<ApiVersion>>,
    Query(q): Q,
) -> std::result::Result<Json<Value>, ApiError> {
    let mut filters = params::filters(q.get("filters").map(String::as_str))?;
    // Before API 1.42 prune took named volumes too; dockerd keeps that for
    // old clients by asking for all of them on their behalf.
    if version.is_some_and(|Extension(v)| !v.at_least("1.42")) {
        filters.entry("all".into()).or_default().push("true".into());
    }
    let (deleted, reclaimed) = s.volumes.prune(filters).await?;
    Ok(Json(
        json!({"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed}),
    ))
}
