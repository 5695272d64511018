//! The host's settings: `~/.berth/config.json` (VM resources, shared folders, the socket path)
//! and where Berth keeps its files (`~/.berth`, or `$BERTH_HOME`).
//!
//! The desktop app edits the same file through this module: [`Settings::load`],
//! [`Settings::validate`], [`Settings::save`]. Every field has a default, so an absent file or a
//! file that names only some fields is valid; an unknown field is an error (a typo must not be
//! silently ignored).

mod paths;

pub use paths::Home;

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// How the VM is accelerated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// Hardware acceleration when it really works here, software emulation otherwise.
    #[default]
    Auto,
    /// Linux KVM (fails to start when the host cannot run a stock kernel under it).
    Kvm,
    /// QEMU's software emulation: slow but works everywhere.
    Tcg,
}

/// The contents of `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Virtual CPUs of the VM.
    pub cpus: u32,
    /// Memory of the VM in MiB.
    pub memory_mib: u64,
    /// Size of the data disk (images, containers, volumes) in GiB; it only ever grows.
    pub disk_gib: u64,
    /// Host folders shared into the VM at the same path (absolute paths).
    pub shares: Vec<PathBuf>,
    /// Where the Docker socket is served (default `<home>/run/docker.sock`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket: Option<PathBuf>,
    /// `auto`, `kvm` or `tcg`.
    pub accel: Accel,
    /// The folder with `vmlinuz`, `initramfs.img` and `manifest.json` (default: found next to
    /// the installation, see [`Home::images_dir`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub images_dir: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Settings {
            cpus: 2,
            memory_mib: 2048,
            disk_gib: 64,
            shares: home.into_iter().collect(),
            socket: None,
            accel: Accel::Auto,
            images_dir: None,
        }
    }
}

/// Why settings could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid: {message} (fix or remove the file; `berth doctor` shows the settings in use)")]
    Invalid { path: PathBuf, message: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Settings {
    /// Reads `config.json` from `home`; the defaults when the file does not exist.
    pub fn load(home: &Home) -> Result<Settings, SettingsError> {
        let path = home.config_file();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Settings::default()),
            Err(source) => return Err(SettingsError::Read { path, source }),
        };
        Settings::parse(&text).map_err(|message| SettingsError::Invalid { path, message })
    }

    /// Parses and validates the text of a `config.json`.
    pub fn parse(text: &str) -> Result<Settings, String> {
        let settings: Settings = serde_json::from_str(text).map_err(|e| e.to_string())?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks the values make a VM that can boot; the message names the field and the fix.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=256).contains(&self.cpus) {
            return Err(format!("cpus must be 1..256, not {}", self.cpus));
        }
        if self.memory_mib < 256 {
            return Err(format!(
                "memory_mib must be at least 256 (the guest needs it to boot), not {}",
                self.memory_mib
            ));
        }
        if !(1..=16 * 1024).contains(&self.disk_gib) {
            return Err(format!("disk_gib must be 1..16384, not {}", self.disk_gib));
        }
        for share in &self.shares {
            if !share.is_absolute() {
                return Err(format!(
                    "shares: {} is not an absolute path",
                    share.display()
                ));
            }
            let s = share.to_string_lossy();
            // The kernel command line carries the shares as TAG=PATH words separated by
            // commas: those characters and spaces cannot be carried.
            if s.contains([',', ' ', '=', '\n']) {
                return Err(format!(
                    "shares: {s} contains a comma, space or '=', which cannot be shared; share a parent folder instead"
                ));
            }
        }
        if let Some(socket) = &self.socket {
            if !socket.is_absolute() {
                return Err(format!(
                    "socket: {} is not an absolute path",
                    socket.display()
                ));
            }
        }
        Ok(())
    }

    /// Writes `config.json` atomically (temp file, fsync, rename).
    pub fn save(&self, home: &Home) -> Result<(), SettingsError> {
        let path = home.config_file();
        if let Err(message) = self.validate() {
            return Err(SettingsError::Invalid { path, message });
        }
        let mut text = serde_json::to_string_pretty(self).expect("settings serialise");
        text.push('\n');
        write_atomic(&path, text.as_bytes()).map_err(|source| SettingsError::Write { path, source })
    }

    /// The Docker socket path these settings serve.
    pub fn socket_path(&self, home: &Home) -> PathBuf {
        self.socket
            .clone()
            .unwrap_or_else(|| home.dir().join("run").join("docker.sock"))
    }
}

/// Writes `data` to `path` so that a reader sees the old or the new file, never a part, and
/// a crash leaves one of them: a temp file in the same directory, fsync, rename over, fsync
/// the directory. A file that exists keeps its mode.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    if let Ok(meta) = std::fs::metadata(path) {
        tmp.as_file().set_permissions(meta.permissions())?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn an_atomic_write_replaces_the_content_and_keeps_the_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.json");
        std::fs::write(&path, "{}").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&path, b"{\"debug\": true}").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"debug\": true}");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // A new file in a folder that does not exist yet.
        let fresh = dir.path().join("a").join("b.json");
        write_atomic(&fresh, b"x").unwrap();
        assert_eq!(std::fs::read(&fresh).unwrap(), b"x");
        // Nothing else is left in the folder (no temp file).
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn an_absent_file_gives_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        assert_eq!(Settings::load(&home).unwrap(), Settings::default());
    }

    #[test]
    fn saved_settings_load_back() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        let s = Settings {
            cpus: 4,
            memory_mib: 4096,
            shares: vec!["/srv/code".into()],
            socket: Some("/tmp/x.sock".into()),
            accel: Accel::Tcg,
            ..Settings::default()
        };
        s.save(&home).unwrap();
        assert_eq!(Settings::load(&home).unwrap(), s);
        assert_eq!(s.socket_path(&home), PathBuf::from("/tmp/x.sock"));
    }

    #[test]
    fn partial_files_take_defaults_for_the_rest() {
        let s = Settings::parse(r#"{"cpus": 3, "accel": "kvm"}"#).unwrap();
        assert_eq!(s.cpus, 3);
        assert_eq!(s.accel, Accel::Kvm);
        assert_eq!(s.memory_mib, Settings::default().memory_mib);
    }

    #[test]
    fn bad_values_are_explained() {
        for (text, needle) in [
            (r#"{"cpus": 0}"#, "cpus"),
            (r#"{"memory_mib": 16}"#, "memory_mib"),
            (r#"{"disk_gib": 0}"#, "disk_gib"),
            (r#"{"shares": ["relative"]}"#, "absolute"),
            (r#"{"shares": ["/a,b"]}"#, "comma"),
            (r#"{"socket": "x.sock"}"#, "socket"),
            (r#"{"accel": "hvf"}"#, "hvf"),
            (r#"{"cpu": 2}"#, "cpu"),
            ("[", "EOF"),
        ] {
            let e = Settings::parse(text).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn an_invalid_file_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        std::fs::write(home.config_file(), "{\"cpus\": \"many\"}").unwrap();
        let e = Settings::load(&home).unwrap_err().to_string();
        assert!(e.contains("config.json"), "{e}");
    }
}
