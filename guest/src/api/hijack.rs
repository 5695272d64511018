//! Taking over a connection for attach and exec: `Upgrade: tcp` → 101 and
//! the raw socket, as the docker CLI and SDKs ask for it. A client that does
//! not ask for the upgrade gets the output as a streamed body instead.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use hyper_util::rt::TokioIo;

use crate::containers::attach::Session;

pub const RAW: &str = "application/vnd.docker.raw-stream";
pub const MULTIPLEXED: &str = "application/vnd.docker.multiplexed-stream";

pub fn hijack(mut req: Request, session: Session) -> Response {
    let content_type = if session.tty { RAW } else { MULTIPLEXED };
    let wants_upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("tcp"));
    if !wants_upgrade {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        tokio::spawn(session.run(Box::new(ours)));
        let (rd, _wr) = tokio::io::split(theirs);
        let body = Body::from_stream(tokio_util::io::ReaderStream::new(rd));
        let mut resp = Response::new(body);
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        return resp;
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => session.run(Box::new(TokioIo::new(upgraded))).await,
            Err(e) => tracing::debug!("the client did not take the upgraded connection: {e}"),
        }
    });
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}
