//! Images: list, pull, remove.

use bollard::query_parameters::{CreateImageOptions, ListImagesOptions, RemoveImageOptions};
use futures::StreamExt;
use serde_json::{json, Value};

use super::context::Context;
use super::error::CommandError;
use super::Args;

pub(crate) async fn list(ctx: &Context) -> Result<Value, CommandError> {
    let docker = ctx.docker().await?;
    let images = docker
        .list_images(Some(ListImagesOptions::default()))
        .await?;
    let rows: Vec<Value> = images
        .iter()
        .map(|i| {
            let tags: Vec<&String> = i
                .repo_tags
                .iter()
                .filter(|t| *t != "<none>:<none>")
                .collect();
            json!({
                "id": i.id,
                "tags": tags,
                "size": i.size,
                "created": i.created,
                "containers": i.containers,
            })
        })
        .collect();
    Ok(Value::Array(rows))
}

/// fromImage/tag as the docker CLI sends them: a reference without tag or digest means `:latest`.
pub(crate) fn pull_options(reference: &str) -> Result<CreateImageOptions, CommandError> {
    let r = reference.trim();
    if r.is_empty() || r.chars().any(char::is_whitespace) {
        return Err(CommandError::bad_request(format!(
            "invalid reference format: {reference:?} (expected e.g. busybox or registry:5000/repo:tag)"
        )));
    }
    let last = r.rsplit('/').next().unwrap_or(r);
    let tagged = last.contains(':') || r.contains('@');
    Ok(CreateImageOptions {
        from_image: Some(r.to_string()),
        tag: if tagged { None } else { Some("latest".into()) },
        ..Default::default()
    })
}

/// Pulls to the end; the `images.pull` stream is the same with progress.
pub(crate) async fn pull(ctx: &Context, args: &Args) -> Result<Value, CommandError> {
    let reference = args.str("reference")?;
    let options = pull_options(&reference)?;
    let docker = ctx.docker().await?;
    let mut s = docker.create_image(Some(options), None, None);
    let mut last = String::new();
    while let Some(item) = s.next().await {
        let info = item?;
        if let Some(e) = info.error_detail.and_then(|d| d.message) {
            return Err(CommandError::internal(e));
        }
        if let Some(status) = info.status {
            last = status;
        }
    }
    Ok(json!({"reference": reference, "status": last}))
}

pub(crate) async fn remove(ctx: &Context, args: &Args) -> Result<Value, CommandError> {
    let id = args.str("id")?;
    let force = args.bool_or("force", false)?;
    let deleted = ctx
        .docker()
        .await?
        .remove_image(
            &id,
            Some(RemoveImageOptions {
                force,
                ..Default::default()
            }),
            None,
        )
        .await?;
    serde_json::to_value(deleted).map_err(|e| CommandError::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_get_latest_only_without_tag_or_digest() {
        let o = pull_options("busybox").unwrap();
        assert_eq!(
            (o.from_image.as_deref(), o.tag.as_deref()),
            (Some("busybox"), Some("latest"))
        );
        let o = pull_options("127.0.0.1:5000/library/httpd").unwrap();
        assert_eq!(o.tag.as_deref(), Some("latest"));
        let o = pull_options("127.0.0.1:5000/library/httpd:1.0").unwrap();
        assert_eq!(o.tag, None);
        let o = pull_options("busybox@sha256:abc").unwrap();
        assert_eq!(o.tag, None);
        assert!(pull_options("  ").is_err());
        assert!(pull_options("a b").is_err());
    }
}
