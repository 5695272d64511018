//! The images subsystem behind the API's `ImageBackend` interface.

use std::sync::Arc;

use async_trait::async_trait;
use bollard_stubs::models::{ImageDeleteResponseItem, ImageSummary};
use serde_json::Value;

use super::digest::Digest;
use super::import::ImportRequest;
use super::manifest::Platform;
use super::progress::Sink;
use super::pull::{blocking, PullRequest};
use super::reference::Reference;
use super::registry;
use super::service::Images;
use crate::api::images::{BodyStream, Filters, ImageBackend, ImportParams};
use crate::errdefs::{Error, Result};
use tokio::sync::mpsc;

pub struct ImageService(pub Arc<Images>);

/// `fromImage` + `tag` as the CLI sends them (`tag` may also be a digest).
/// `None` means every tag of the repository (`docker pull -a`).
pub fn pull_reference(image: &str, tag: Option<&str>) -> Result<Option<Reference>> {
    let base = Reference::parse(image).map_err(|e| Error::invalid(e.to_string()))?;
    let r = match tag.filter(|t| !t.is_empty()) {
        Some(t) if t.starts_with("sha256:") => {
            let d = Digest::parse(t).map_err(|e| Error::invalid(e.to_string()))?;
            base.trim().with_digest(d)
        }
        Some(t) => base
            .with_tag(t)
            .map_err(|e| Error::invalid(e.to_string()))?,
        None if base.tag().is_some() || base.digest().is_some() => base,
        None => return Ok(None),
    };
    Ok(Some(r))
}

#[async_trait]
impl ImageBackend for ImageService {
    async fn pull(
        &self,
        image: &str,
        tag: Option<&str>,
        platform: Option<&str>,
        auth: Option<&str>,
        sink: Sink,
    ) -> Result<()> {
        let platform = platform.map(Platform::parse).transpose()?;
        let auth = registry::decode_auth_header(auth)?;
        let references = match pull_reference(image, tag)? {
            Some(r) => vec![r],
            None => {
                let base = Reference::parse(image).map_err(|e| Error::invalid(e.to_string()))?;
                self.0.list_tags(&base, &auth).await?
            }
        };
        for reference in references {
            let req = PullRequest {
                reference,
                platform: platform.clone(),
                auth: auth.clone(),
            };
            self.0.pull(req, sink.clone()).await?;
        }
        Ok(())
    }

    async fn list(&self, filters: Filters, all: bool) -> Result<Vec<ImageSummary>> {
        let me = self.0.clone();
        blocking(move || me.list(&filters, all)).await
    }

    async fn inspect(&self, name: &str) -> Result<Value> {
        let (me, name) = (self.0.clone(), name.to_string());
        blocking(move || me.inspect(&name)).await
    }

    async fn history(&self, name: &str) -> Result<Vec<Value>> {
        let (me, name) = (self.0.clone(), name.to_string());
        blocking(move || me.history(&name)).await
    }

    async fn tag(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<()> {
        let (me, name, repo, tag) = (
            self.0.clone(),
            name.to_string(),
            repo.to_string(),
            tag.map(String::from),
        );
        blocking(move || me.tag(&name, &repo, tag.as_deref())).await
    }

    async fn remove(&self, name: &str, force: bool) -> Result<Vec<ImageDeleteResponseItem>> {
        let (me, name) = (self.0.clone(), name.to_string());
        blocking(move || me.remove(&name, force)).await
    }

    async fn push(
        &self,
        name: &str,
        tag: Option<&str>,
        auth: Option<&str>,
        sink: Sink,
    ) -> Result<()> {
        let auth = registry::decode_auth_header(auth)?;
        self.0.push(name, tag, auth, sink).await
    }

    async fn login(&self, username: &str, password: &str, server: &str) -> Result<()> {
        self.0.login(username, password, server).await
    }

    async fn save(&self, names: Vec<String>) -> Result<mpsc::Receiver<std::io::Result<Vec<u8>>>> {
        for n in &names {
            self.0.resolve(n)?;
        }
        let (tx, rx) = mpsc::channel(16);
        let me = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let mut w = ChannelWriter {
                tx: tx.clone(),
                buf: Vec::with_capacity(CHUNK),
            };
            let result = me
                .save(&names, &mut w)
                .and_then(|_| w.flush_out().map_err(Error::from));
            if let Err(e) = result {
                // The response has started: the client sees a truncated tar and an error.
                tracing::error!("docker save failed: {e}");
                let _ = tx.blocking_send(Err(std::io::Error::other(e.message)));
            }
        });
        Ok(rx)
    }

    async fn load(&self, archive: BodyStream) -> Result<Vec<String>> {
        let me = self.0.clone();
        let (mut reader, feed) = crate::task::body_reader(archive);
        let work = blocking(move || drain_on_error(me.load(&mut reader), &mut reader));
        tokio::join!(feed, work).1
    }

    async fn import(&self, archive: BodyStream, p: ImportParams) -> Result<String> {
        let req = ImportRequest {
            repo: p.repo,
            tag: p.tag,
            changes: p.changes,
            message: p.message,
            platform: p.platform.as_deref().map(Platform::parse).transpose()?,
        };
        let me = self.0.clone();
        let (mut reader, feed) = crate::task::body_reader(archive);
        let work = blocking(move || {
            drain_on_error(
                me.import(&mut reader, &req).map(|d| d.to_string()),
                &mut reader,
            )
        });
        tokio::join!(feed, work).1
    }

    async fn prune(&self, filters: Filters) -> Result<(Vec<ImageDeleteResponseItem>, u64)> {
        let me = self.0.clone();
        blocking(move || me.prune(&filters).map(|p| (p.deleted, p.reclaimed))).await
    }
}

/// A client still sending an upload we refused must read our answer, not a
/// broken pipe: consume the rest of the body before answering.
fn drain_on_error<T>(result: Result<T>, body: &mut impl std::io::Read) -> Result<T> {
    if result.is_err() {
        let _ = std::io::copy(body, &mut std::io::sink());
    }
    result
}

const CHUNK: usize = 256 * 1024;

/// A `Write` whose bytes become the chunks of an HTTP response body.
struct ChannelWriter {
    tx: mpsc::Sender<std::io::Result<Vec<u8>>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn flush_out(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush_out()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.flush_out()
    }
}
