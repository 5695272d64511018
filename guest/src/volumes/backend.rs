//! The volumes subsystem behind the API's `VolumeBackend` interface.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::service::Volumes;
use crate::api::volumes::VolumeBackend;
use crate::errdefs::Result;
use crate::task::blocking;

pub struct VolumeService(pub Arc<Volumes>);

#[async_trait]
impl VolumeBackend for VolumeService {
    async fn create(
        &self,
        name: Option<String>,
        driver: Option<String>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<Value> {
        let me = self.0.clone();
        blocking(move || me.create(name.as_deref(), driver.as_deref(), labels, options)).await
    }

    async fn inspect(&self, name: &str) -> Result<Value> {
        let (me, name) = (self.0.clone(), name.to_string());
        blocking(move || me.inspect(&name)).await
    }

    async fn list(&self, filters: BTreeMap<String, Vec<String>>) -> Result<Vec<Value>> {
        let me = self.0.clone();
        blocking(move || me.list(&filters)).await
    }

    async fn remove(&self, name: &str, force: bool) -> Result<()> {
        let (me, name) = (self.0.clone(), name.to_string());
        blocking(move || me.remove(&name, force)).await
    }

    async fn prune(&self, filters: BTreeMap<String, Vec<String>>) -> Result<(Vec<String>, u64)> {
        let me = self.0.clone();
        blocking(move || me.prune(&filters)).await
    }
}
