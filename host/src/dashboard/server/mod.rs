//! `berth dashboard`: the dashboard UI and its commands over HTTP on loopback.
//!
//! `POST /api/cmd/<name>` runs [`dispatch`](super::dispatch) (JSON in, JSON out, errors as
//! `{"message", "field"}` with a 4xx/5xx); `GET /api/events` and
//! `GET /api/stream/<name>?args=<json>` are Server-Sent Events, one JSON item per `data:`.
//! Every request passes the [`guard`].

mod assets;
pub mod guard;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{dispatch, CommandError, Context};
pub use assets::find_frontend;
use guard::Guard;

#[derive(Clone)]
struct App {
    ctx: Context,
    guard: Guard,
    frontend: PathBuf,
}

#[derive(Deserialize, Default)]
struct TokenQuery {
    token: Option<String>,
}

/// A bound, not yet serving dashboard; `url()` is what the user opens.
pub struct Dashboard {
    listener: tokio::net::TcpListener,
    app: App,
}

impl Dashboard {
    pub async fn bind(ctx: Context, listen: SocketAddr, frontend: PathBuf) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {listen}: {e} (pick another port with --listen 127.0.0.1:PORT)"
            )
        })?;
        let local = listener.local_addr()?;
        let guard = Guard {
            token: guard::new_token()?,
            listen: local,
        };
        if !frontend.join("index.html").exists() {
            tracing::warn!(
                "no built frontend at {}: build it with `cd frontend && npm ci && npm run build` \
                 (the API works without it)",
                frontend.display()
            );
        }
        Ok(Dashboard {
            listener,
            app: App {
                ctx,
                guard,
                frontend,
            },
        })
    }

    pub fn url(&self) -> String {
        let a = self.app.guard.listen;
        let host = if a.ip().is_unspecified() {
            format!("127.0.0.1:{}", a.port())
        } else {
            a.to_string()
        };
        format!("http://{host}/?token={}", self.app.guard.token)
    }

    pub async fn serve(self) -> anyhow::Result<()> {
        let app = self.app.clone();
        let router = Router::new()
            .route("/api/cmd/{name}", post(command))
            .route("/api/events", get(events))
            .route("/api/stream/{name}", get(named_stream))
            .fallback(get(static_file))
            .layer(middleware::from_fn_with_state(app.clone(), guarded))
            .with_state(app);
        axum::serve(self.listener, router)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        Ok(())
    }
}

async fn guarded(
    State(app): State<App>,
    Query(q): Query<TokenQuery>,
    req: Request,
    next: Next,
) -> Response {
    if let Err(refusal) = app.guard.check(req.headers(), q.token.as_deref()) {
        tracing::warn!("{}", refusal.message());
        return error_response(StatusCode::FORBIDDEN, &refusal.message());
    }
    let mut resp = next.run(req).await;
    // The page opened with ?token= keeps it as a cookie for its API calls and streams.
    if q.token.is_some() {
        if let Ok(v) = HeaderValue::from_str(&app.guard.set_cookie()) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp.headers_mut()
        .insert("x-frame-options", HeaderValue::from_static("DENY"));
    // Only the dashboard's own files run in the page: container names and logs are data.
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    resp
}

fn error_response(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"message": message, "field": null})),
    )
        .into_response()
}

async fn command(State(app): State<App>, UrlPath(name): UrlPath<String>, body: Bytes) -> Response {
    let args: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                let e = CommandError::bad_request(format!("{name}: the body is not JSON: {e}"));
                return (StatusCode::BAD_REQUEST, axum::Json(e)).into_response();
            }
        }
    };
    match dispatch(&app.ctx, &name, args).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => {
            let status =
                StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, axum::Json(e)).into_response()
        }
    }
}

fn sse(items: impl Stream<Item = Value> + Send + 'static) -> Response {
    let events = items.map(|v| Ok::<_, Infallible>(Event::default().data(v.to_string())));
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

async fn events(State(app): State<App>) -> Response {
    sse(super::events(&app.ctx))
}

#[derive(Deserialize)]
struct StreamQuery {
    args: Option<String>,
}

async fn named_stream(
    State(app): State<App>,
    UrlPath(name): UrlPath<String>,
    Query(q): Query<StreamQuery>,
) -> Response {
    let args = match q.args.as_deref().map(serde_json::from_str::<Value>) {
        None => Value::Null,
        Some(Ok(v)) => v,
        Some(Err(e)) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                &format!("{name}: ?args= is not JSON: {e}"),
            )
        }
    };
    match super::stream(&app.ctx, &name, args) {
        Ok(s) => sse(s),
        Err(e) => {
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
            (status, axum::Json(e)).into_response()
        }
    }
}

async fn static_file(State(app): State<App>, req: Request) -> Response {
    let path = req.uri().path();
    if path.starts_with("/api/") {
        return error_response(StatusCode::NOT_FOUND, &format!("no API route {path}"));
    }
    let Some(file) = assets::resolve(&app.frontend, path) else {
        if !app.frontend.join("index.html").exists() {
            return error_response(
                StatusCode::NOT_FOUND,
                &format!(
                    "the dashboard UI is not built at {}: run `cd frontend && npm ci && npm run build`",
                    app.frontend.display()
                ),
            );
        }
        return error_response(StatusCode::NOT_FOUND, &format!("not found: {path}"));
    };
    match tokio::fs::read(&file).await {
        Ok(bytes) => {
            let mut resp = Response::new(Body::from(bytes));
            if let Ok(v) = HeaderValue::from_str(&assets::content_type(&file)) {
                resp.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            resp
        }
        Err(e) => error_response(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
