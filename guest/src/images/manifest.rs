//! Manifests and indexes (OCI and Docker schema 2) as far as pulling needs
//! them: the platform choice, the config and the layers.

use serde::Deserialize;

use super::digest::Digest;
use crate::errdefs::Error;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const ACCEPTED: &[&str] = &[OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST];

#[derive(Debug, Clone, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: Digest,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl Platform {
    /// This machine, with Go's architecture names as registries use them.
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "x86" => ("386", None),
            other => (other, None),
        };
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: variant.map(String::from),
        }
    }

    /// `os/arch[/variant]`, as `--platform` takes it.
    pub fn parse(s: &str) -> Result<Platform, Error> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || {
            Error::invalid(format!(
                "\"{s}\": unknown operating system or architecture: invalid argument"
            ))
        };
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: os.to_lowercase(),
                architecture: normalise_arch(arch),
                variant: None,
            }),
            [os, arch, variant] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: os.to_lowercase(),
                architecture: normalise_arch(arch),
                variant: Some(variant.to_lowercase()),
            }),
            [os] if *os == "linux" => Ok(Platform::host()),
            _ => Err(bad()),
        }
    }

    pub fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && match (&self.variant, &other.variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

fn normalise_arch(a: &str) -> String {
    match a.to_lowercase().as_str() {
        "x86_64" | "x86-64" => "amd64".into(),
        "aarch64" => "arm64".into(),
        other => other.to_string(),
    }
}

/// What a manifest document is.
#[derive(Debug)]
pub enum Parsed {
    Index(Vec<Descriptor>),
    Image {
        config: Descriptor,
        layers: Vec<Descriptor>,
    },
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "schemaVersion", default)]
    schema_version: u32,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
}

pub fn parse(bytes: &[u8], content_type: &str) -> Result<Parsed, Error> {
    let raw: Raw = serde_json::from_slice(bytes)
        .map_err(|e| Error::system(format!("invalid manifest from registry: {e}")))?;
    if raw.schema_version == 1 {
        return Err(Error::invalid(
            "Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been removed; push the image again with a current client",
        ));
    }
    let kind = raw.media_type.as_deref().unwrap_or(content_type);
    match (raw.manifests, raw.config, raw.layers) {
        (Some(m), _, _) if kind != OCI_MANIFEST && kind != DOCKER_MANIFEST => Ok(Parsed::Index(m)),
        (_, Some(config), Some(layers)) => Ok(Parsed::Image { config, layers }),
        _ => Err(Error::system(format!(
            "unsupported manifest media type {kind:?} from registry"
        ))),
    }
}

/// Picks the entry for `want` from an index, as dockerd does.
pub fn choose<'a>(entries: &'a [Descriptor], want: &Platform) -> Result<&'a Descriptor, Error> {
    entries
        .iter()
        .filter(|d| d.platform.as_ref().is_some_and(|p| want.matches(p)))
        // An exact variant match beats an entry without one.
        .max_by_key(|d| {
            d.platform.as_ref().and_then(|p| p.variant.as_ref()) == want.variant.as_ref()
        })
        .ok_or_else(|| {
            Error::not_found(format!(
                "no matching manifest for {want} in the manifest list entries"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> String {
        format!("sha256:{}", format!("{n:02x}").repeat(32))
    }

    #[test]
    fn index_entries_are_chosen_by_platform() {
        let idx = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[
            {{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}},
            {{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1,"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#,
            d(1),
            d(2)
        );
        let Parsed::Index(entries) = parse(idx.as_bytes(), "").unwrap() else {
            panic!("not an index")
        };
        let amd = choose(&entries, &Platform::parse("linux/amd64").unwrap()).unwrap();
        assert_eq!(amd.digest.as_str(), d(2));
        let arm = choose(&entries, &Platform::parse("linux/arm64/v8").unwrap()).unwrap();
        assert_eq!(arm.digest.as_str(), d(1));
        let err = choose(&entries, &Platform::parse("linux/s390x").unwrap()).unwrap_err();
        assert_eq!(
            err.message,
            "no matching manifest for linux/s390x in the manifest list entries"
        );
    }

    #[test]
    fn image_manifests_give_config_and_layers() {
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"x","digest":"{}","size":3}},"layers":[{{"mediaType":"y","digest":"{}","size":4}}]}}"#,
            d(3),
            d(4)
        );
        let Parsed::Image { config, layers } = parse(m.as_bytes(), "").unwrap() else {
            panic!("not an image")
        };
        assert_eq!(config.size, 3);
        assert_eq!(layers[0].digest.as_str(), d(4));
    }

    #[test]
    fn schema1_is_refused_clearly() {
        let err = parse(br#"{"schemaVersion":1,"fsLayers":[]}"#, "").unwrap_err();
        assert!(err.message.contains("schema 1"));
    }
}
