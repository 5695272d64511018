//! `docker pull`: resolve the manifest (mirrors first for Docker Hub), fetch
//! the config and the layers (concurrently, each blob once), unpack them in
//! order into the store, then tag. Progress goes to a [`Sink`] in the format
//! the CLI draws bars from.

use std::fs::File;
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use oci_client::secrets::RegistryAuth;
use oci_client::Reference as OciRef;

use super::compression;
use super::digest::{Digest, HashingReader};
use super::manifest::{self, Descriptor, Parsed, Platform};
use super::progress::{Message, Sink};
use super::reference::Reference;
use super::registry::{self, Endpoint};
use super::service::Images;
use super::store::{Store, StoreError};
use super::unpack::{self, UnpackOptions};
use crate::errdefs::{Error, Result};
pub(super) use crate::task::blocking;

pub struct PullRequest {
    pub reference: Reference,
    pub platform: Option<Platform>,
    pub auth: RegistryAuth,
}

/// A manifest resolved down to one image.
struct Resolved {
    /// What `Digest:` prints and RepoDigests records: the index digest when there is one.
    top_digest: Digest,
    docs: Vec<(Digest, Vec<u8>)>,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

impl Images {
    /// Pulls `req.reference` (which must carry a tag or a digest) and returns the image ID.
    pub async fn pull(self: &Arc<Self>, req: PullRequest, sink: Sink) -> Result<Digest> {
        let cfg = self.config.get();
        let want = req.platform.clone().unwrap_or_else(Platform::host);
        let mut last_err = None;
        for ep in registry::endpoints(&req.reference, &cfg) {
            let client = registry::client(&ep, cfg.max_concurrent_downloads as usize);
            let oref = oci_reference(&ep, &req.reference);
            match resolve(&client, &oref, &req.auth, &want, &req.reference).await {
                Ok(r) => return self.fetch(&client, &oref, &req, r, &want, sink).await,
                Err(e) if ep.mirror => {
                    tracing::info!(mirror = %ep.host, "mirror cannot serve {}: {e}; trying the next endpoint", req.reference);
                    last_err = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| registry::not_found(&req.reference)))
    }

    /// Every tag of `repo` (for `docker pull -a`), as references.
    pub async fn list_tags(&self, repo: &Reference, auth: &RegistryAuth) -> Result<Vec<Reference>> {
        let cfg = self.config.get();
        let mut last_err = None;
        for ep in registry::endpoints(repo, &cfg) {
            let client = registry::client(&ep, 1);
            let oref = oci_reference(&ep, &repo.clone().with_default_tag());
            match client.list_tags(&oref, auth, None, None).await {
                Ok(t) => {
                    let mut tags = t.tags;
                    tags.sort();
                    return tags
                        .iter()
                        .map(|t| repo.with_tag(t).map_err(|e| Error::system(e.to_string())))
                        .collect();
                }
                Err(e) => last_err = Some(registry::map_error(repo, e)),
            }
        }
        Err(last_err.unwrap_or_else(|| registry::not_found(repo)))
    }

    async fn fetch(
        self: &Arc<Self>,
        client: &oci_client::Client,
        oref: &OciRef,
        req: &PullRequest,
        r: Resolved,
        want: &Platform,
        sink: Sink,
    ) -> Result<Digest> {
        let reference = &req.reference;
        let shown = reference
            .digest()
            .map(|d| d.to_string())
            .or_else(|| reference.tag().map(String::from))
            .unwrap_or_default();
        sink.send(Message::with_id(
            format!("Pulling from {}", hub_path(reference)),
            shown,
        ))
        .await;

        let store = self.store.clone();
        self.download(client, oref, &r.config, &Sink::discard(), "")
            .await?;
        let config_digest = r.config.digest.clone();
        let config_bytes =
            blocking(move || store.read_blob(&config_digest).map_err(store_err)).await?;
        let config: serde_json::Value = serde_json::from_slice(&config_bytes)
            .map_err(|e| Error::system(format!("invalid image config from registry: {e}")))?;
        check_platform(&config, want, req.platform.is_some(), reference)?;
        let diff_ids = diff_ids(&config)?;
        if diff_ids.len() != r.layers.len() {
            return Err(Error::system(format!(
                "invalid image {reference}: {} layers in the manifest but {} in the config",
                r.layers.len(),
                diff_ids.len()
            )));
        }

        // Which layers are already unpacked, by chain id.
        let mut chains = Vec::with_capacity(diff_ids.len());
        let mut parent: Option<Digest> = None;
        for d in &diff_ids {
            let c = Store::chain_id(parent.as_ref(), d);
            chains.push(c.clone());
            parent = Some(c);
        }
        let mut downloads = Vec::new();
        for (i, layer) in r.layers.iter().enumerate() {
            let id = layer.digest.short().to_string();
            if self.store.layer(&chains[i]).is_some() {
                sink.send(Message::with_id("Already exists", &id)).await;
                downloads.push(None);
                continue;
            }
            sink.send(Message::with_id("Pulling fs layer", &id)).await;
            let (me, client, oref, layer, sink) = (
                self.clone(),
                client.clone(),
                oref.clone(),
                layer.clone(),
                sink.clone(),
            );
            downloads.push(Some(tokio::spawn(async move {
                me.download(&client, &oref, &layer, &sink, &id).await
            })));
        }

        // Unpack in order: each layer's chain id depends on the one below.
        for (i, task) in downloads.into_iter().enumerate() {
            let Some(task) = task else { continue };
            task.await
                .map_err(|e| Error::system(format!("download task failed: {e}")))??;
            let layer = r.layers[i].clone();
            let (store, sink2) = (self.store.clone(), sink.clone());
            let parent = (i > 0).then(|| chains[i - 1].clone());
            let diff_id = diff_ids[i].clone();
            blocking(move || extract(&store, parent, &diff_id, &layer, &sink2)).await?;
            sink.send(Message::with_id(
                "Pull complete",
                r.layers[i].digest.short(),
            ))
            .await;
        }

        // Content first, then the records that point at it.
        let store = self.store.clone();
        let repository = reference.repository();
        let top = r.top_digest.clone();
        let tagged = reference.tag().map(|_| reference.to_string());
        let (id, previous) = blocking(move || {
            for (d, bytes) in &r.docs {
                if !store.has_blob(d) {
                    let put = store.put_blob(bytes)?;
                    debug_assert_eq!(&put, d);
                }
            }
            let image = store
                .put_image(&r.config.digest, &chains, Some((&repository, &top)))
                .map_err(store_err)?;
            let previous = match &tagged {
                Some(t) => store.set_ref(t, &image.id)?,
                None => None,
            };
            store.set_ref(&format!("{repository}@{top}"), &image.id)?;
            Ok((image.id, previous))
        })
        .await?;

        sink.send(Message::status(format!("Digest: {}", r.top_digest)))
            .await;
        let status = if previous.as_ref() == Some(&id) {
            "Image is up to date for"
        } else {
            "Downloaded newer image for"
        };
        sink.send(Message::status(format!(
            "Status: {status} {}",
            reference.familiar()
        )))
        .await;
        self.event("pull", &reference.familiar(), Some(&reference.familiar()));
        Ok(id)
    }

    /// Downloads one blob into the store unless it is there already.
    async fn download(
        &self,
        client: &oci_client::Client,
        oref: &OciRef,
        desc: &Descriptor,
        sink: &Sink,
        id: &str,
    ) -> Result<()> {
        let lock = self.blob_lock(&desc.digest);
        let _one_at_a_time = lock.lock().await;
        if self.store.has_blob(&desc.digest) {
            sink.send(Message::with_id("Download complete", id)).await;
            return Ok(());
        }
        let permits = self.download_permits();
        if permits.available_permits() == 0 {
            sink.send(Message::with_id("Waiting", id)).await;
        }
        let _permit = permits
            .acquire_owned()
            .await
            .map_err(|_| Error::system("daemon is shutting down"))?;
        let mut stream = client
            .pull_blob_stream(oref, desc.digest.as_str())
            .await
            .map_err(|e| Error::system(format!("failed to download {}: {e}", desc.digest)))?;
        let total = Some(desc.size).filter(|s| *s > 0).or(stream.content_length);
        let mut writer = self
            .store
            .blob_writer(&desc.digest, Some(desc.size).filter(|s| *s > 0))?;
        let (mut done, mut last) = (0u64, Instant::now());
        while let Some(chunk) = stream.stream.next().await {
            let chunk = chunk
                .map_err(|e| Error::system(format!("failed to download {}: {e}", desc.digest)))?;
            tokio::task::block_in_place(|| std::io::Write::write_all(&mut writer, &chunk))?;
            done += chunk.len() as u64;
            if last.elapsed() > Duration::from_millis(100) {
                last = Instant::now();
                sink.try_send(Message::progress("Downloading", id, done, total));
            }
        }
        sink.send(Message::with_id("Verifying Checksum", id)).await;
        tokio::task::block_in_place(|| writer.commit()).map_err(store_err)?;
        sink.send(Message::with_id("Download complete", id)).await;
        Ok(())
    }
}

async fn resolve(
    client: &oci_client::Client,
    oref: &OciRef,
    auth: &RegistryAuth,
    want: &Platform,
    reference: &Reference,
) -> Result<Resolved> {
    let (bytes, reported) = client
        .pull_manifest_raw(oref, auth, manifest::ACCEPTED)
        .await
        .map_err(|e| registry::map_error(reference, e))?;
    let top = verify_doc(&bytes, &reported, reference.digest())?;
    let mut docs = vec![(top.clone(), bytes.to_vec())];
    let (config, layers) = match manifest::parse(&bytes, "")? {
        Parsed::Image { config, layers } => (config, layers),
        Parsed::Index(entries) => {
            let chosen = manifest::choose(&entries, want)?;
            let child = oref.clone_with_digest(chosen.digest.to_string());
            let (bytes, reported) = client
                .pull_manifest_raw(&child, auth, manifest::ACCEPTED)
                .await
                .map_err(|e| registry::map_error(reference, e))?;
            let d = verify_doc(&bytes, &reported, Some(&chosen.digest))?;
            docs.push((d, bytes.to_vec()));
            match manifest::parse(&bytes, &chosen.media_type)? {
                Parsed::Image { config, layers } => (config, layers),
                Parsed::Index(_) => {
                    return Err(Error::system("nested manifest lists are not supported"))
                }
            }
        }
    };
    Ok(Resolved {
        top_digest: top,
        docs,
        config,
        layers,
    })
}

/// A manifest's digest is what its bytes hash to; the registry's word and the
/// digest the user asked for must both agree.
fn verify_doc(bytes: &[u8], reported: &str, expected: Option<&Digest>) -> Result<Digest> {
    let actual = Digest::of(bytes);
    if let Some(e) = expected {
        if *e != actual {
            return Err(Error::system(format!(
                "manifest verification failed for digest {e}"
            )));
        }
    }
    if !reported.is_empty() && reported != actual.as_str() && reported.starts_with("sha256:") {
        return Err(Error::system(format!(
            "manifest verification failed: registry said {reported}, content is {actual}"
        )));
    }
    Ok(actual)
}

fn extract(
    store: &Store,
    parent: Option<Digest>,
    diff_id: &Digest,
    layer: &Descriptor,
    sink: &Sink,
) -> Result<()> {
    let id = layer.digest.short().to_string();
    let total = layer.size;
    unpack_blob(store, parent.as_ref(), diff_id, &layer.digest, |done| {
        sink.try_send(Message::progress("Extracting", &id, done, Some(total)))
    })
}

/// Creates the layer `diff_id` on `parent` from the stored blob `blob` (gzip,
/// zstd or plain tar), checking that the unpacked tar hashes to `diff_id`.
/// `progress` hears the compressed bytes read, at most ten times a second.
pub(super) fn unpack_blob(
    store: &Store,
    parent: Option<&Digest>,
    diff_id: &Digest,
    blob: &Digest,
    progress: impl FnMut(u64),
) -> Result<()> {
    let path = store.blob_path(blob);
    let same_owner = nix::unistd::geteuid().is_root();
    store
        .create_layer(parent, diff_id, Some(blob), |dir| {
            let counting = Counting {
                inner: File::open(&path)?,
                done: 0,
                last: Instant::now(),
                tick: progress,
            };
            let mut hashing = HashingReader::new(compression::decompress(counting)?);
            let stats = unpack::unpack_layer(&mut hashing, dir, &UnpackOptions { same_owner })
                .map_err(|e| StoreError::Corrupt(format!("layer {blob}: {e}")))?;
            let (digest, _) = hashing.finish()?;
            Ok((digest, stats.bytes))
        })
        .map_err(store_err)?;
    Ok(())
}

/// Counts bytes read to report extraction progress, at most ten times a second.
struct Counting<R, F: FnMut(u64)> {
    inner: R,
    done: u64,
    last: Instant,
    tick: F,
}

impl<R: Read, F: FnMut(u64)> Read for Counting<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if self.last.elapsed() > Duration::from_millis(100) {
            self.last = Instant::now();
            (self.tick)(self.done);
        }
        Ok(n)
    }
}

fn diff_ids(config: &serde_json::Value) -> Result<Vec<Digest>> {
    config["rootfs"]["diff_ids"]
        .as_array()
        .ok_or_else(|| Error::system("invalid image config: no rootfs.diff_ids"))?
        .iter()
        .map(|v| {
            v.as_str()
                .and_then(|s| Digest::parse(s).ok())
                .ok_or_else(|| Error::system(format!("invalid diff id in image config: {v}")))
        })
        .collect()
}

fn check_platform(
    config: &serde_json::Value,
    want: &Platform,
    explicit: bool,
    r: &Reference,
) -> Result<()> {
    let got = Platform {
        os: config["os"].as_str().unwrap_or("linux").to_string(),
        architecture: config["architecture"].as_str().unwrap_or("").to_string(),
        variant: config["variant"].as_str().map(String::from),
    };
    if explicit && !want.matches(&got) {
        return Err(Error::not_found(format!(
            "image with reference {} was found but its platform ({got}) does not match the specified platform ({want})",
            r.familiar()
        )));
    }
    Ok(())
}

/// "library/busybox" for Docker Hub, as dockerd prints "Pulling from …".
fn hub_path(r: &Reference) -> String {
    r.path().to_string()
}

fn oci_reference(ep: &Endpoint, r: &Reference) -> OciRef {
    match (r.digest(), r.tag()) {
        (Some(d), _) => OciRef::with_digest(ep.host.clone(), r.path().to_string(), d.to_string()),
        (None, t) => OciRef::with_tag(
            ep.host.clone(),
            r.path().to_string(),
            t.unwrap_or("latest").to_string(),
        ),
    }
}

pub(super) fn store_err(e: StoreError) -> Error {
    match e {
        StoreError::NotFound(m) => Error::not_found(m),
        other => Error::system(other.to_string()),
    }
}
