//! The guest images built by `vm-images/build.sh`: vmlinuz, initramfs.img, manifest.json.

use crate::settings::{Home, Settings};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Images {
    pub dir: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// manifest.json's `version`, when there is one.
    pub version: Option<String>,
}

impl Images {
    pub fn find(home: &Home, settings: &Settings) -> anyhow::Result<Images> {
        let dir = home.images_dir(settings.images_dir.as_deref());
        let kernel = dir.join("vmlinuz");
        let initrd = dir.join("initramfs.img");
        for f in [&kernel, &initrd] {
            anyhow::ensure!(
                f.is_file(),
                "the guest image {} is missing: build it with `bash vm-images/build.sh {}` in Berth's source tree, or set \"images_dir\" in {}",
                f.display(),
                dir.display(),
                home.config_file().display()
            );
        }
        let version = std::fs::read(dir.join("manifest.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v.get("version").and_then(|v| v.as_str()).map(String::from));
        Ok(Images {
            dir,
            kernel,
            initrd,
            version,
        })
    }
}
