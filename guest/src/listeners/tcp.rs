//! `tcp://` listener.

use anyhow::Context;

pub fn bind(host: &str, port: u16) -> anyhow::Result<tokio::net::TcpListener> {
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let std = std::net::TcpListener::bind(&addr)
        .with_context(|| format!("cannot listen on tcp://{addr}"))?;
    std.set_nonblocking(true)?;
    Ok(tokio::net::TcpListener::from_std(std)?)
}
