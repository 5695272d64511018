//! `POST /build`: the classic builder's API. Parses the query, stores the
//! context, and streams the build's output (see `crate::build`).

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use futures_util::StreamExt;

use super::extract::Params;
use super::images::progress_response;
use super::{ApiError, ApiState};
use crate::build::BuildOptions;
use crate::errdefs::Error;

pub fn routes() -> Router<ApiState> {
    Router::new().route("/build", post(build))
}

fn json_map<T: serde::de::DeserializeOwned>(
    p: &Params,
    key: &str,
) -> std::result::Result<HashMap<String, T>, ApiError> {
    match p.get(key) {
        None => Ok(HashMap::new()),
        Some(raw) => serde_json::from_str(&raw)
            .map_err(|e| ApiError::bad_request(format!("invalid {key}: {e}"))),
    }
}

fn flag(p: &Params, key: &str) -> bool {
    matches!(p.get(key).as_deref(), Some("1" | "true" | "True"))
}

async fn build(
    State(s): State<ApiState>,
    p: Params,
    body: Body,
) -> std::result::Result<Response, ApiError> {
    let stream = body
        .into_data_stream()
        .map(|r| r.map_err(std::io::Error::other));
    let opts = (|| {
        if p.get("remote").is_some() {
            return Err(ApiError::from(Error::invalid(
                "a remote build context is not supported by Berth's builder yet: \
                 send the context from a local directory",
            )));
        }
        Ok(BuildOptions {
            tags: p.all("t").into_iter().filter(|t| !t.is_empty()).collect(),
            dockerfile: p.get("dockerfile").unwrap_or_else(|| "Dockerfile".into()),
            build_args: json_map(&p, "buildargs")?,
            labels: json_map(&p, "labels")?,
            pull: flag(&p, "pull"),
            quiet: flag(&p, "q"),
            target: p.get("target"),
            no_cache: flag(&p, "nocache"),
        })
    })();
    // The context is read in full either way: the client sends all of it
    // before it reads the answer.
    let context = s.builder.receive_context(stream).await?;
    let opts = match opts {
        Ok(o) => o,
        Err(e) => {
            let _ = std::fs::remove_file(&context);
            return Err(e);
        }
    };
    let builder = s.builder.clone();
    progress_response(move |sink| async move {
        let result = builder.build(opts, context.clone(), sink).await;
        let _ = std::fs::remove_file(&context);
        result.map(|_| ())
    })
    .await
}
