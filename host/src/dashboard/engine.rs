//! Engine status: whether it answers, and what it is.

use serde_json::{json, Value};

use super::context::Context;
use super::error::CommandError;

/// Never fails for an engine that is down: the UI shows "Stopped" with the reason.
pub(crate) async fn status(ctx: &Context) -> Result<Value, CommandError> {
    let ep = ctx.endpoint();
    let answer = async {
        let docker = ctx.docker().await?;
        Ok::<_, CommandError>(docker.version().await?)
    }
    .await;
    Ok(match answer {
        Ok(v) => json!({
            "running": true,
            "host": ep.host,
            "source": ep.source,
            "version": v.version,
            "api_version": v.api_version,
            "os": v.os,
            "arch": v.arch,
        }),
        Err(e) => json!({
            "running": false,
            "host": ep.host,
            "source": ep.source,
            "error": e.message,
        }),
    })
}

/// `docker info`, as the engine answers it.
pub(crate) async fn info(ctx: &Context) -> Result<Value, CommandError> {
    let info = ctx.docker().await?.info().await?;
    serde_json::to_value(info).map_err(|e| CommandError::internal(e.to_string()))
}
