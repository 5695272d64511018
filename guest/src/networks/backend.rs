//! The networks subsystem behind the API's `NetworkBackend` interface;
//! connecting containers goes through the containers subsystem.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::service::{CreateRequest, Networks};
use crate::api::networks::{ConnectRequest, NetworkBackend};
use crate::containers::service::Containers;
use crate::errdefs::Result;
use crate::filters::Filters;
use crate::task::blocking;

pub struct NetworkService {
    pub networks: Arc<Networks>,
    pub containers: Arc<Containers>,
}

#[async_trait]
impl NetworkBackend for NetworkService {
    async fn create(&self, req: CreateRequest) -> Result<(String, String)> {
        let me = self.networks.clone();
        blocking(move || me.create(req)).await
    }

    async fn list(&self, filters: Filters) -> Result<Vec<Value>> {
        let me = self.networks.clone();
        blocking(move || me.list(&filters)).await
    }

    async fn inspect(&self, id: &str) -> Result<Value> {
        let (me, id) = (self.networks.clone(), id.to_string());
        blocking(move || me.inspect(&id)).await
    }

    async fn remove(&self, id: &str) -> Result<()> {
        let (me, id) = (self.networks.clone(), id.to_string());
        blocking(move || me.remove(&id)).await
    }

    async fn prune(&self, filters: Filters) -> Result<Vec<String>> {
        let me = self.networks.clone();
        blocking(move || me.prune(&filters)).await
    }

    async fn connect(&self, network: &str, req: ConnectRequest) -> Result<()> {
        self.containers.connect_network(network, req).await
    }

    async fn disconnect(&self, network: &str, container: &str, force: bool) -> Result<()> {
        self.containers
            .disconnect_network(network, container, force)
            .await
    }
}
