//! Network routes: create, list, inspect, remove, prune, connect, disconnect.

use async_trait::async_trait;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{Json as Body, Query};
use super::params::{self, q, Q};
use super::{ApiError, ApiState};
use crate::errdefs::Result;
use crate::filters::Filters;
use crate::networks::service::CreateRequest;

/// The body of `POST /networks/{id}/connect`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ConnectRequest {
    pub container: String,
    pub endpoint_config: Option<Value>,
}

#[async_trait]
pub trait NetworkBackend: Send + Sync + 'static {
    /// (ID, warning)
    async fn create(&self, req: CreateRequest) -> Result<(String, String)>;
    async fn list(&self, filters: Filters) -> Result<Vec<Value>>;
    async fn inspect(&self, id: &str) -> Result<Value>;
    async fn remove(&self, id: &str) -> Result<()>;
    /// Names of the removed networks.
    async fn prune(&self, filters: Filters) -> Result<Vec<String>>;
    async fn connect(&self, network: &str, req: ConnectRequest) -> Result<()>;
    async fn disconnect(&self, network: &str, container: &str, force: bool) -> Result<()>;
}

type R<T> = std::result::Result<T, ApiError>;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create))
        .route("/networks/prune", post(prune))
        .route("/networks/{id}", get(inspect).delete(remove))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(disconnect))
}

async fn list(State(s): State<ApiState>, Query(query): Q) -> R<Json<Vec<Value>>> {
    let filters = params::filters(q(&query, "filters"))?;
    Ok(Json(s.networks.list(filters).await?))
}

async fn create(State(s): State<ApiState>, Body(req): Body<CreateRequest>) -> R<Response> {
    let (id, warning) = s.networks.create(req).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": id, "Warning": warning})),
    )
        .into_response())
}

async fn inspect(State(s): State<ApiState>, Path(id): Path<String>) -> R<Json<Value>> {
    Ok(Json(s.networks.inspect(&id).await?))
}

async fn remove(State(s): State<ApiState>, Path(id): Path<String>) -> R<StatusCode> {
    s.networks.remove(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn prune(State(s): State<ApiState>, Query(query): Q) -> R<Json<Value>> {
    let filters = params::filters(q(&query, "filters"))?;
    Ok(Json(
        json!({"NetworksDeleted": s.networks.prune(filters).await?}),
    ))
}

async fn connect(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Body(req): Body<ConnectRequest>,
) -> R<StatusCode> {
    s.networks.connect(&id, req).await?;
    Ok(StatusCode::OK)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct DisconnectRequest {
    container: String,
    force: bool,
}

async fn disconnect(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Body(req): Body<DisconnectRequest>,
) -> R<StatusCode> {
    s.networks
        .disconnect(&id, &req.container, req.force)
        .await?;
    Ok(StatusCode::OK)
}
