//! The containers subsystem behind the API's `ContainerBackend` interface.

use std::sync::Arc;

use async_trait::async_trait;
use bollard_stubs::models::ContainerCreateBody;
use serde_json::Value;

use super::commit::CommitRequest;
use super::service::Containers;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::FutureExt;
use tokio::sync::mpsc;

use super::archive::{ArchiveChunks, ExtractOptions, PathStat};
use super::attach::{AttachOptions, Session};
use super::exec::ExecConfig;
use super::read_logs::LogsOptions;
use super::wait::Condition;
use crate::api::containers::{CommitParams, ContainerBackend, Filters};
use crate::api::images::BodyStream;
use crate::errdefs::Result;
use crate::task::blocking;

pub struct ContainerService(pub Arc<Containers>);

#[async_trait]
impl ContainerBackend for ContainerService {
    async fn create(
        &self,
        name: Option<String>,
        body: ContainerCreateBody,
    ) -> Result<(String, Vec<String>)> {
        let me = self.0.clone();
        blocking(move || me.create(name.as_deref(), &body)).await
    }

    async fn list(
        &self,
        all: bool,
        limit: Option<usize>,
        size: bool,
        filters: Filters,
    ) -> Result<Vec<Value>> {
        let me = self.0.clone();
        blocking(move || me.list(all, limit, size, &filters)).await
    }

    async fn inspect(&self, id: &str) -> Result<Value> {
        let (me, id) = (self.0.clone(), id.to_string());
        blocking(move || me.inspect(&id)).await
    }

    async fn remove(&self, id: &str, force: bool, volumes: bool) -> Result<()> {
        self.0.remove_container(id, force, volumes).await
    }

    async fn prune(&self, filters: Filters) -> Result<(Vec<String>, u64)> {
        let me = self.0.clone();
        blocking(move || me.prune(&filters)).await
    }

    async fn diff(&self, id: &str) -> Result<Value> {
        let (me, id) = (self.0.clone(), id.to_string());
        blocking(move || me.diff(&id)).await
    }

    async fn commit(&self, id: &str, p: CommitParams) -> Result<String> {
        let (me, id) = (self.0.clone(), id.to_string());
        let req = CommitRequest {
            repo: p.repo,
            tag: p.tag,
            comment: p.comment,
            author: p.author,
            changes: p.changes,
            config: None,
            created_by: None,
        };
        blocking(move || me.commit(&id, req)).await
    }

    async fn rename(&self, id: &str, name: &str) -> Result<()> {
        let (me, id, name) = (self.0.clone(), id.to_string(), name.to_string());
        blocking(move || me.rename(&id, &name)).await
    }

    async fn start(&self, id: &str) -> Result<()> {
        self.0.start(id).await
    }

    async fn stop(&self, id: &str, timeout: Option<i64>, signal: Option<String>) -> Result<()> {
        self.0.stop(id, timeout, signal.as_deref()).await
    }

    async fn restart(&self, id: &str, timeout: Option<i64>, signal: Option<String>) -> Result<()> {
        self.0.restart(id, timeout, signal.as_deref()).await
    }

    async fn kill(&self, id: &str, signal: Option<String>) -> Result<()> {
        self.0.kill(id, signal.as_deref()).await
    }

    async fn wait(&self, id: &str, condition: &str) -> Result<BoxFuture<'static, i64>> {
        let waiter = self.0.wait(id, Condition::parse(condition)?)?;
        Ok(waiter.done().boxed())
    }

    async fn attach(&self, id: &str, opts: AttachOptions) -> Result<Session> {
        self.0.attach(id, opts).await
    }

    async fn resize(&self, id: &str, height: u16, width: u16) -> Result<()> {
        self.0.resize(id, height, width).await
    }

    async fn pause(&self, id: &str) -> Result<()> {
        self.0.pause(id).await
    }

    async fn unpause(&self, id: &str) -> Result<()> {
        self.0.unpause(id).await
    }

    async fn logs(&self, id: &str, opts: LogsOptions) -> Result<(bool, BodyStream)> {
        self.0.logs(id, opts).await
    }

    async fn top(&self, id: &str, ps_args: &str) -> Result<Value> {
        let (me, id, args) = (self.0.clone(), id.to_string(), ps_args.to_string());
        blocking(move || me.top(&id, &args)).await
    }

    async fn stats(
        &self,
        id: &str,
        stream: bool,
        one_shot: bool,
    ) -> Result<BoxStream<'static, Value>> {
        self.0.stats(id, stream, one_shot)
    }

    async fn update(&self, id: &str, body: Value) -> Result<Vec<String>> {
        self.0.update(id, body).await
    }

    async fn export(&self, id: &str) -> Result<mpsc::Receiver<std::io::Result<Vec<u8>>>> {
        self.0.export(id)
    }

    async fn exec_create(&self, id: &str, config: ExecConfig) -> Result<String> {
        self.0.exec_create(id, config)
    }

    async fn exec_start(&self, exec_id: &str, detach: bool) -> Result<Option<Session>> {
        self.0.exec_start(exec_id, detach).await
    }

    async fn exec_inspect(&self, exec_id: &str) -> Result<Value> {
        self.0.exec_inspect(exec_id)
    }

    async fn exec_resize(&self, exec_id: &str, height: u16, width: u16) -> Result<()> {
        self.0.exec_resize(exec_id, height, width).await
    }

    async fn stat_path(&self, id: &str, path: &str) -> Result<PathStat> {
        self.0.stat_path(id, path).await
    }

    async fn archive_path(&self, id: &str, path: &str) -> Result<(PathStat, ArchiveChunks)> {
        self.0.archive_path(id, path).await
    }

    async fn extract_to_dir(
        &self,
        id: &str,
        path: &str,
        opts: ExtractOptions,
        archive: BodyStream,
    ) -> Result<()> {
        // Read on the blocking thread that extracts, as it arrives.
        let (body, feed) = crate::task::body_reader(archive);
        let (_, done) = tokio::join!(feed, self.0.extract_to_dir(id, path, opts, body));
        done
    }
}
