//! The Engine API layer: it parses requests and formats responses, and calls
//! the subsystems only through the narrow backend traits declared per area.

pub mod archive;
pub mod build;
pub mod containers;
pub mod error;
pub mod events;
// The first routes with bodies and query strings arrive with images and containers.
#[cfg_attr(not(test), allow(dead_code))]
pub mod extract;
pub mod hijack;
pub mod images;
pub mod lifecycle;
pub mod networks;
pub mod params;
pub mod system;
pub mod version;
pub mod volumes;

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::ServiceExt;
use tower_http::catch_panic::CatchPanicLayer;

pub use containers::ContainerBackend;
pub use error::ApiError;
pub use images::ImageBackend;
pub use system::SystemBackend;
pub use volumes::VolumeBackend;

/// The daemon's backends, one per API area.
#[derive(Clone)]
pub struct ApiState {
    pub system: Arc<dyn SystemBackend>,
    pub images: Arc<dyn ImageBackend>,
    pub containers: Arc<dyn ContainerBackend>,
    pub volumes: Arc<dyn VolumeBackend>,
    pub networks: Arc<dyn networks::NetworkBackend>,
    pub events: Arc<crate::events::Events>,
    pub builder: Arc<crate::build::Builder>,
}

/// The routes, without version prefixes (see [`handle`]).
pub fn router(state: ApiState) -> Router {
    Router::new()
        .merge(system::routes())
        .merge(images::routes())
        .merge(build::routes())
        .merge(containers::routes())
        .merge(volumes::routes())
        .merge(networks::routes())
        .merge(events::routes())
        .fallback(error::page_not_found)
        .method_not_allowed_fallback(error::page_not_found)
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state)
}

/// Entry point for every request: strips and checks the `/vX.Y` prefix,
/// routes, and stamps the headers dockerd puts on every response.
pub async fn handle(router: Router, mut req: Request<Body>) -> Result<Response, Infallible> {
    let (requested, rest) = version::split_path(req.uri().path());
    let mut resp = match version::negotiate(requested) {
        Err(e) => e.into_response(),
        Ok(v) => {
            if requested.is_some() {
                match rewrite_path(req.uri(), rest) {
                    Ok(uri) => *req.uri_mut() = uri,
                    Err(e) => return Ok(stamp(e.into_response())),
                }
            }
            req.extensions_mut().insert(v);
            match router.oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            }
        }
    };
    resp = stamp(resp);
    Ok(resp)
}

fn rewrite_path(uri: &Uri, path: &str) -> Result<Uri, ApiError> {
    let pq = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(
        pq.parse()
            .map_err(|_| ApiError::bad_request("invalid request path"))?,
    );
    Uri::from_parts(parts).map_err(|_| ApiError::bad_request("invalid request path"))
}

fn stamp(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(version::MAX));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert(
        header::SERVER,
        HeaderValue::from_static(concat!("Berth/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    resp
}

fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into());
    ApiError::internal(format!("internal error in berthd: {what}")).into_response()
}
