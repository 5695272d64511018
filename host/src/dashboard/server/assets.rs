//! The built frontend (`frontend/dist`), served from a directory so that the
//! Rust build never depends on the npm build.

use std::path::{Component, Path, PathBuf};

/// `--frontend DIR`, else `$BERTH_FRONTEND_DIR`, else `share/berth/frontend` next to the
/// installed binary, else this checkout's `frontend/dist`.
pub fn find_frontend(explicit: Option<PathBuf>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir;
    }
    if let Some(dir) = std::env::var_os("BERTH_FRONTEND_DIR") {
        return PathBuf::from(dir);
    }
    let installed = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("../share/berth/frontend")));
    if let Some(dir) = installed.filter(|d| d.join("index.html").exists()) {
        return dir;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../frontend/dist")
}

/// The file for a URL path, or None when it does not exist or would leave `root`.
pub fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let rel = url_path.trim_start_matches('/');
    let rel = if rel.is_empty() { "index.html" } else { rel };
    let rel = Path::new(rel);
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    let path = root.join(rel);
    path.is_file().then_some(path)
}

pub fn content_type(path: &Path) -> String {
    mime_guess::from_path(path)
        .first_or_octet_stream()
        .essence_str()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "x").unwrap();
        std::fs::create_dir(dir.path().join("assets")).unwrap();
        std::fs::write(dir.path().join("assets/a.js"), "x").unwrap();
        assert_eq!(
            resolve(dir.path(), "/"),
            Some(dir.path().join("index.html"))
        );
        assert_eq!(
            resolve(dir.path(), "/assets/a.js"),
            Some(dir.path().join("assets/a.js"))
        );
        assert_eq!(resolve(dir.path(), "/../etc/passwd"), None);
        assert_eq!(resolve(dir.path(), "/assets/../index.html"), None);
        assert_eq!(resolve(dir.path(), "/nope.js"), None);
        assert_eq!(content_type(Path::new("a.js")), "text/javascript");
    }
}
