//! Request extractors whose rejections are dockerd-style JSON errors, never
//! axum's plain-text ones.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Upper bound for JSON request bodies. Large uploads (build contexts, image
/// tars) are streamed by their own routes, never through this extractor.
pub const MAX_JSON_BODY: usize = 16 * 1024 * 1024;

/// Query string parameters.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(q)
            .map(Query)
            .map_err(|e| ApiError::bad_request(format!("invalid query parameters: {e}")))
    }
}

/// Query parameters that may repeat (`names=a&names=b`, `changes=…`), in order.
pub struct Params(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, ApiError> {
        Query::from_request_parts(parts, s)
            .await
            .map(|Query(v)| Params(v))
    }
}

impl Params {
    /// The first non-empty value of `key`.
    pub fn get(&self, key: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.clone())
    }

    /// Every value of `key`.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// A JSON body, as moby's `httputils.ReadJSON` reads it: the content type must
/// be JSON when a body is present, and decode errors are "invalid JSON: ...".
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body>, _: &S) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let bytes = axum::body::to_bytes(req.into_body(), MAX_JSON_BODY)
            .await
            .map_err(|e| {
                ApiError::bad_request(format!(
                    "invalid JSON: request body could not be read (limit {MAX_JSON_BODY} bytes): {e}"
                ))
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Json(T::default()));
        }
        if let Some(ct) = &content_type {
            let mime = ct.split(';').next().unwrap_or("").trim();
            if !mime.is_empty() && mime != "application/json" {
                return Err(ApiError::bad_request(format!(
                    "unsupported Content-Type header ({ct}): must be 'application/json'"
                )));
            }
        }
        serde_json::from_slice(&bytes)
            .map(Json)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{Request, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::post;
    use axum::Router;
    use serde::Deserialize;
    use tower::ServiceExt;

    #[derive(Debug, Default, Deserialize)]
    struct Body {
        name: String,
    }

    #[derive(Debug, Deserialize)]
    struct Params {
        all: Option<bool>,
    }

    fn app() -> Router {
        Router::new()
            .route("/json", post(|Json(b): Json<Body>| async move { b.name }))
            .route(
                "/query",
                post(|Query(p): Query<Params>| async move { format!("{:?}", p.all) }),
            )
    }

    async fn call(req: Request<axum::body::Body>) -> (StatusCode, String) {
        let resp = app().oneshot(req).await.unwrap().into_response();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    fn json_req(ct: Option<&str>, body: impl Into<axum::body::Body>) -> Request<axum::body::Body> {
        let mut b = Request::post("/json");
        if let Some(ct) = ct {
            b = b.header("content-type", ct);
        }
        b.body(body.into()).unwrap()
    }

    fn message(body: &str) -> String {
        let v: serde_json::Value = serde_json::from_str(body).expect("error body is JSON");
        v["message"].as_str().unwrap().to_string()
    }

    #[tokio::test]
    async fn good_json_is_decoded() {
        let (s, b) = call(json_req(Some("application/json"), r#"{"name":"x"}"#)).await;
        assert_eq!((s, b.as_str()), (StatusCode::OK, "x"));
    }

    #[tokio::test]
    async fn empty_body_is_the_default_value() {
        let (s, b) = call(json_req(None, "")).await;
        assert_eq!((s, b.as_str()), (StatusCode::OK, ""));
    }

    #[tokio::test]
    async fn bad_json_is_a_400_with_a_json_message() {
        let (s, b) = call(json_req(Some("application/json"), "{\"name\": ")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(message(&b).starts_with("invalid JSON: "), "{b}");
    }

    #[tokio::test]
    async fn bad_utf8_is_a_400() {
        let (s, b) = call(json_req(
            Some("application/json"),
            vec![b'"', 0xff, 0xfe, b'"'],
        ))
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(message(&b).starts_with("invalid JSON: "), "{b}");
    }

    #[tokio::test]
    async fn wrong_content_type_is_refused_like_dockerd() {
        let (s, b) = call(json_req(Some("text/plain"), r#"{"name":"x"}"#)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(
            message(&b),
            "unsupported Content-Type header (text/plain): must be 'application/json'"
        );
    }

    #[tokio::test]
    async fn oversized_bodies_are_refused_without_reading_them_all() {
        let big = vec![b' '; MAX_JSON_BODY + 1];
        let (s, b) = call(json_req(Some("application/json"), big)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(message(&b).contains("limit"), "{b}");
    }

    #[tokio::test]
    async fn bad_query_values_are_a_400() {
        let req = Request::post("/query?all=maybe")
            .body(axum::body::Body::empty())
            .unwrap();
        let (s, b) = call(req).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(message(&b).starts_with("invalid query parameters"), "{b}");
    }
}
