//! `docker cp`: the archive endpoints. `HEAD` describes a path in the
//! container, `GET` archives it, `PUT` extracts a tar into a directory.
//!
//! Each operation holds the container's lifecycle lock (`Live::op`) from
//! before the root filesystem is mounted until it is released: a stopped
//! container is mounted for the copy and unmounted after it, and a start in
//! between would mount the same upper directory twice. Paths are resolved as
//! the container sees them, volumes and binds included (see [`fs`]).

mod fs;
mod input;
pub use input::Input;
mod leaf;
mod pack;
mod session;
mod stat;
mod untar;
mod write;

#[cfg(test)]
mod tests;

use std::io;
use std::sync::Arc;

use rustix::fs::FileType;
use tokio::sync::{mpsc, oneshot};

use self::fs::{display, ContainerFs, Resolved};
use self::session::Session;
use super::service::Containers;
use crate::errdefs::{Error, Result};

pub use self::stat::PathStat;

/// The query of `PUT /containers/{id}/archive`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtractOptions {
    pub no_overwrite_dir_non_dir: bool,
    /// Give everything the container's `User` (dockerd's `copyUIDGID`).
    pub copy_uid_gid: bool,
}

/// Chunks of the archive `GET` streams.
pub type ArchiveChunks = mpsc::Receiver<io::Result<Vec<u8>>>;

impl Containers {
    /// `HEAD /containers/{id}/archive?path=`.
    pub async fn stat_path(self: &Arc<Self>, what: &str, path: &str) -> Result<PathStat> {
        let id = self.store.get(what)?.id;
        let (what, path) = (what.to_string(), path.to_string());
        self.run_locked(id, move |_, s| {
            let (stat, _) = stat_in(s?.fs(), &path).map_err(|e| not_found(e, &what, &path))?;
            Ok(stat)
        })
        .await
    }

    /// `GET /containers/{id}/archive?path=`: the path's stat, then its tar.
    pub async fn archive_path(
        self: &Arc<Self>,
        what: &str,
        path: &str,
    ) -> Result<(PathStat, ArchiveChunks)> {
        let id = self.store.get(what)?.id;
        let (what, path) = (what.to_string(), path.to_string());
        let (head_tx, head_rx) = oneshot::channel();
        let (tx, rx) = mpsc::channel(16);
        let me = self.clone();
        tokio::spawn(async move {
            let _ = me
                .run_locked(id, move |me, s| {
                    let found = s.and_then(|s| {
                        let (stat, r) =
                            stat_in(s.fs(), &path).map_err(|e| not_found(e, &what, &path))?;
                        Ok((s, stat, r))
                    });
                    let (s, stat, r) = match found {
                        Ok(x) => x,
                        Err(e) => {
                            let _ = head_tx.send(Err(e));
                            return Ok(());
                        }
                    };
                    let name = stat.name.clone();
                    let _ = head_tx.send(Ok(stat));
                    me.event("archive-path", &s.c, &[]);
                    let out = pack::ChunkSender::new(tx.clone());
                    let written = pack::write_tree(s.fs(), r.leaf, r.path, &name, out)
                        .and_then(|mut w| w.flush_now());
                    if let Err(e) = written {
                        // The response has started: the client sees a truncated tar.
                        tracing::warn!(path, "archiving a container path failed: {e}");
                        let _ = tx.blocking_send(Err(e));
                    }
                    Ok(())
                })
                .await;
        });
        let stat = head_rx
            .await
            .map_err(|_| Error::system("archiving the container path ended early"))??;
        Ok((stat, rx))
    }

    /// `PUT /containers/{id}/archive?path=`: extracts `body`, a tar (plain,
    /// gzip or zstd), into the directory `path`.
    pub async fn extract_to_dir(
        self: &Arc<Self>,
        what: &str,
        path: &str,
        opts: ExtractOptions,
        mut body: impl Input + Send + 'static,
    ) -> Result<()> {
        let id = self.store.get(what)?.id;
        let (what, path) = (what.to_string(), path.to_string());
        self.run_locked(id, move |me, s| {
            let result = s.and_then(|s| {
                extract_in(s, &what, &path, opts, &mut body)?;
                me.event("extract-to-dir", &s.c, &[]);
                Ok(())
            });
            // A client still sending (a refused request, padding after the
            // archive's end) must read our answer, not a broken pipe.
            let _ = io::copy(&mut body, &mut io::sink());
            result
        })
        .await
    }
}

/// Resolves the request's `path` and describes it. A final symlink is
/// described itself unless the path ends in `/` or `/.`.
fn stat_in(fs: &ContainerFs, path: &str) -> io::Result<(PathStat, Resolved)> {
    let abs = stat::abs_path(path);
    let follow = stat::follows_last(&abs);
    let r = fs.resolve(abs.as_bytes(), follow)?;
    let st = r.leaf.lstat()?;
    let kind = FileType::from_raw_mode(st.st_mode);
    if follow && kind != FileType::Directory {
        return Err(rustix::io::Errno::NOTDIR.into());
    }
    let link_target = if kind == FileType::Symlink {
        fs.resolve(abs.as_bytes(), true)
            .map(|t| display(&t.path))
            .unwrap_or_default()
    } else {
        String::new()
    };
    let name = stat::base(&abs).to_string();
    Ok((stat::path_stat(name, &st, link_target), r))
}

fn extract_in(
    s: &Session,
    what: &str,
    path: &str,
    opts: ExtractOptions,
    body: &mut dyn Input,
) -> Result<()> {
    let fs = s.fs();
    let abs = stat::abs_path(path);
    let missing = |e| not_found(e, what, path);
    // The destination's own symlinks are all followed, the last one too, so
    // that a symlink to a directory is extracted into.
    let r = fs.resolve(abs.as_bytes(), true).map_err(missing)?;
    let st = r.leaf.lstat().map_err(missing)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return Err(Error::invalid("extraction point is not a directory"));
    }
    fs.check_writable(r.mount)?;
    let user = s.c.config["User"].as_str().unwrap_or("");
    let owner = if opts.copy_uid_gid && !user.is_empty() {
        let u = super::spec::resolve_user(&s.rootfs, user, &[])?;
        Some((u.uid, u.gid))
    } else {
        None
    };
    let uopts = untar::UntarOptions {
        no_overwrite_dir_non_dir: opts.no_overwrite_dir_non_dir,
        owner,
    };
    use crate::images::compression::{open, Opened};
    match open(body).map_err(|e| Error::invalid(e.to_string()))? {
        Opened::Plain(tar) => untar::untar(fs, &r.path, tar, &uopts)?,
        Opened::Packed(tar) => untar::untar(fs, &r.path, tar, &uopts)?,
    };
    Ok(())
}

/// dockerd's answer for a path that is not there, naming the path and the
/// container as the client gave them; other failures as they are.
fn not_found(e: io::Error, what: &str, path: &str) -> Error {
    if e.kind() == io::ErrorKind::NotFound {
        return Error::not_found(format!(
            "Could not find the file {path} in container {what}"
        ));
    }
    Error::system(format!("{path}: {e}"))
}
