//! `docker push`: the layers' original compressed blobs, the config, then a
//! manifest, skipping what the registry already has.

use std::sync::Arc;

use oci_client::secrets::RegistryAuth;
use oci_client::RegistryOperation;
use serde_json::json;

use super::compression::{self, Compression};
use super::digest::Digest;
use super::progress::{Message, Sink};
use super::pull::{blocking, store_err};
use super::reference::Reference;
use super::registry;
use super::service::Images;
use crate::errdefs::{Error, Result};

const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

struct Blob {
    digest: Digest,
    size: u64,
    compression: Compression,
}

impl Images {
    pub async fn push(
        self: &Arc<Self>,
        name: &str,
        tag: Option<&str>,
        auth: RegistryAuth,
        sink: Sink,
    ) -> Result<()> {
        let reference = Reference::tagged(name, tag).map_err(|e| Error::invalid(e.to_string()))?;
        let tag = reference.tag().unwrap_or("latest").to_string();
        let id = self
            .store
            .resolve_ref(&reference.to_string())
            .ok_or_else(|| {
                Error::not_found(format!(
                    "An image does not exist locally with the tag: {}",
                    reference.familiar_repository()
                ))
            })?;
        let record = self
            .store
            .image(&id)
            .ok_or_else(|| Error::not_found(format!("No such image: {}", reference.familiar())))?;
        let store = self.store.clone();
        let chains = record.layers.clone();
        let layers: Vec<Blob> = blocking(move || {
            chains
                .iter()
                .map(|c| {
                    let info = store.layer(c).ok_or_else(|| Error::system(format!("layer {c} is missing from the store")))?;
                    let digest = info.compressed.clone().ok_or_else(|| {
                        Error::not_implemented(format!(
                            "layer {} was not pulled from a registry; pushing locally created layers is not supported yet",
                            info.diff_id
                        ))
                    })?;
                    let path = store.blob_path(&digest);
                    let size = std::fs::metadata(&path)?.len();
                    let mut head = [0u8; 8];
                    let n = std::io::Read::read(&mut std::fs::File::open(&path)?, &mut head)?;
                    Ok(Blob { digest, size, compression: compression::detect(&head[..n]) })
                })
                .collect()
        })
        .await?;

        let cfg = self.config.get();
        let endpoint = registry::endpoints(&reference, &cfg)
            .into_iter()
            .rfind(|e| !e.mirror)
            .ok_or_else(|| Error::system("no registry endpoint"))?;
        let client = registry::client(&endpoint, cfg.max_concurrent_uploads.max(1) as usize);
        let oref = oci_client::Reference::with_tag(
            endpoint.host.clone(),
            reference.path().to_string(),
            tag.clone(),
        );
        client
            .auth(&oref, &auth, RegistryOperation::Push)
            .await
            .map_err(|e| {
                Error::unauthorized(format!(
                    "unauthorized: authentication required to push to {}: {e}",
                    reference.familiar_repository()
                ))
            })?;

        sink.send(Message::status(format!(
            "The push refers to repository [{}]",
            reference.familiar_repository()
        )))
        .await;
        for l in &layers {
            sink.send(Message::with_id("Preparing", l.digest.short()))
                .await;
        }
        for l in &layers {
            self.push_blob(&client, &oref, &l.digest, l.size, &sink, true)
                .await?;
        }
        let config_size = std::fs::metadata(self.store.blob_path(&id))?.len();
        self.push_blob(&client, &oref, &id, config_size, &Sink::discard(), false)
            .await?;

        let docker_types = layers.iter().all(|l| l.compression == Compression::Gzip);
        let (manifest_type, config_type) = if docker_types {
            (super::manifest::DOCKER_MANIFEST, DOCKER_CONFIG)
        } else {
            (super::manifest::OCI_MANIFEST, OCI_CONFIG)
        };
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {"mediaType": config_type, "digest": id.to_string(), "size": config_size},
            "layers": layers.iter().map(|l| json!({
                "mediaType": match (docker_types, l.compression) {
                    (true, _) => DOCKER_LAYER_GZIP,
                    (false, Compression::Gzip) => OCI_LAYER_GZIP,
                    (false, Compression::Zstd) => OCI_LAYER_ZSTD,
                    (false, Compression::None) => OCI_LAYER,
                },
                "digest": l.digest.to_string(),
                "size": l.size,
            })).collect::<Vec<_>>(),
        });
        let bytes = serde_json::to_vec(&manifest).map_err(|e| Error::system(e.to_string()))?;
        let digest = Digest::of(&bytes);
        let content_type = manifest_type
            .parse()
            .map_err(|_| Error::system("invalid manifest content type"))?;
        client
            .push_manifest_raw(&oref, bytes.clone(), content_type)
            .await
            .map_err(|e| Error::system(format!("failed to push the manifest: {e}")))?;

        let store = self.store.clone();
        let repo_digest = format!("{}@{digest}", reference.repository());
        let (id2, len) = (id.clone(), bytes.len());
        blocking(move || {
            store.put_blob(&bytes)?;
            store.set_ref(&repo_digest, &id2)?;
            Ok(())
        })
        .await?;
        sink.send(Message::status(format!(
            "{tag}: digest: {digest} size: {len}"
        )))
        .await;
        self.event("push", &reference.familiar(), Some(&reference.familiar()));
        sink.send(Message {
            aux: Some(json!({"Tag": tag, "Digest": digest.to_string(), "Size": len})),
            ..Default::default()
        })
        .await;
        let _ = store_err;
        Ok(())
    }

    async fn push_blob(
        &self,
        client: &oci_client::Client,
        oref: &oci_client::Reference,
        digest: &Digest,
        size: u64,
        sink: &Sink,
        show: bool,
    ) -> Result<()> {
        let id = digest.short();
        if client
            .blob_exists(oref, digest.as_str())
            .await
            .unwrap_or(false)
        {
            if show {
                sink.send(Message::with_id("Layer already exists", id))
                    .await;
            }
            return Ok(());
        }
        if show {
            sink.send(Message::progress("Pushing", id, 0, Some(size)))
                .await;
        }
        let path = self.store.blob_path(digest);
        let data = tokio::fs::read(&path).await?;
        if Digest::of(&data) != *digest {
            return Err(Error::system(format!(
                "blob {digest} is corrupt in the local store"
            )));
        }
        client
            .push_blob(oref, data, digest.as_str())
            .await
            .map_err(|e| Error::system(format!("failed to push {digest}: {e}")))?;
        if show {
            sink.send(Message::progress("Pushing", id, size, Some(size)))
                .await;
            sink.send(Message::with_id("Pushed", id)).await;
        }
        Ok(())
    }
}
