//! The containers subsystem behind the API's `ContainerBackend` interface.

use std::sync::Arc;

use async_trait::async_trait;
use bollard_stubs::models::ContainerCreateBody;
use serde_json::Value;

use super::commit::CommitRequest;
use super::service::Containers;
use crate::api::containers::{CommitParams, ContainerBackend, Filters};
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

    async fn list(&self, all: bool, limit: Option<usize>, filters: Filters) -> Result<Vec<Value>> {
        let me = self.0.clone();
        blocking(move || me.list(all, limit, &filters)).await
    }

    async fn inspect(&self, id: &str) -> Result<Value> {
        let (me, id) = (self.0.clone(), id.to_string());
        blocking(move || me.inspect(&id)).await
    }

    async fn remove(&self, id: &str, force: bool, volumes: bool) -> Result<()> {
        let (me, id) = (self.0.clone(), id.to_string());
        blocking(move || me.remove(&id, force, volumes)).await
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
        };
        blocking(move || me.commit(&id, req)).await
    }

    async fn rename(&self, id: &str, name: &str) -> Result<()> {
        let (me, id, name) = (self.0.clone(), id.to_string(), name.to_string());
        blocking(move || me.rename(&id, &name)).await
    }
}
