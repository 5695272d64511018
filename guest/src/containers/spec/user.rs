//! `--user` resolution against the container's own etc/passwd and etc/group,
//! with the rules (and messages) of runc's `user.GetExecUser` that dockerd uses.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::errdefs::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: i64,
    gid: i64,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: i64,
    members: Vec<String>,
}

const MAX_ID: i64 = i32::MAX as i64;

/// `spec` is "", "user", "user:group" with each side a name or a number.
pub fn resolve(rootfs: &Path, spec: &str, group_add: &[String]) -> Result<ExecUser> {
    let passwd = read_in_root(rootfs, "etc/passwd")?.map(|t| parse_passwd(&t));
    let groups = read_in_root(rootfs, "etc/group")?.map(|t| parse_group(&t));

    let (user_arg, group_arg) = spec.split_once(':').unwrap_or((spec, ""));
    let uid_num = user_arg.parse::<i64>().ok();
    let gid_num = group_arg.parse::<i64>().ok();

    let mut user = ExecUser {
        uid: 0,
        gid: 0,
        additional_gids: Vec::new(),
        home: "/".to_string(),
    };
    let mut matched_name = None;

    // A number is always a uid, never a user whose name is digits.
    let found = passwd.as_deref().unwrap_or_default().iter().find(|u| {
        if user_arg.is_empty() {
            u.uid == 0
        } else if let Some(n) = uid_num {
            u.uid == n
        } else {
            u.name == user_arg
        }
    });
    match found {
        Some(u) => {
            user.uid = in_range(u.uid)?;
            user.gid = in_range(u.gid)?;
            user.home = u.home.clone();
            matched_name = Some(u.name.as_str());
        }
        None if user_arg.is_empty() => {}
        None => match uid_num {
            Some(n) => user.uid = in_range(n)?,
            None => {
                return Err(Error::invalid(format!(
                    "unable to find user {user_arg}: no matching entries in passwd file"
                )))
            }
        },
    }

    let groups = groups.as_deref().unwrap_or_default();
    if !group_arg.is_empty() {
        let found = groups.iter().find(|g| match gid_num {
            Some(n) => g.gid == n,
            None => g.name == group_arg,
        });
        user.gid = match (found, gid_num) {
            (Some(g), _) => in_range(g.gid)?,
            (None, Some(n)) => in_range(n)?,
            (None, None) => {
                return Err(Error::invalid(format!(
                    "unable to find group {group_arg}: no matching entries in group file"
                )))
            }
        };
    } else if let Some(name) = matched_name {
        // Supplementary groups come with the user only when no group was given.
        for g in groups
            .iter()
            .filter(|g| g.members.iter().any(|m| m == name))
        {
            user.additional_gids.push(in_range(g.gid)?);
        }
    }

    for add in group_add {
        let found = groups
            .iter()
            .find(|g| g.name == *add || add.parse::<i64>().is_ok_and(|n| n == g.gid));
        let gid = match (found, add.parse::<i64>()) {
            (Some(g), _) => in_range(g.gid)?,
            (None, Ok(n)) => in_range(n)?,
            (None, Err(_)) => {
                return Err(Error::invalid(format!(
                    "Unable to find group {add}: no matching entries in group file"
                )))
            }
        };
        if !user.additional_gids.contains(&gid) {
            user.additional_gids.push(gid);
        }
    }
    // moby's getUser: the primary group is also the first supplementary
    // group (`id` shows it in groups=).
    if !user.additional_gids.contains(&user.gid) {
        user.additional_gids.insert(0, user.gid);
    }
    Ok(user)
}

fn in_range(id: i64) -> Result<u32> {
    if (0..=MAX_ID).contains(&id) {
        Ok(id as u32)
    } else {
        Err(Error::invalid(format!(
            "uids and gids must be in range 0-{MAX_ID}"
        )))
    }
}

/// The fields of each record of a passwd/group style file, skipping blank
/// lines and comments.
fn records(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').collect())
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    records(text)
        .filter_map(|f| {
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3).and_then(|g| g.parse().ok()).unwrap_or(0),
                home: f.get(5).copied().unwrap_or("/").to_string(),
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    records(text)
        .filter_map(|f| {
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Reads `rel` inside `root` with symlinks resolved as if `root` were `/`: an
/// image's `etc/passwd -> /etc/shadow` must not read the host's file.
/// A missing file is None, like runc treats it (numeric ids still work).
fn read_in_root(root: &Path, rel: &str) -> Result<Option<String>> {
    let Some(path) = resolve_in_root(root, rel) else {
        return Ok(None);
    };
    match fs::read(&path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(Error::system(format!(
            "reading {rel} in the container: {e}"
        ))),
    }
}

/// None when the symlinks loop (more than 40 hops, the kernel's limit).
pub fn resolve_in_root(root: &Path, rel: &str) -> Option<PathBuf> {
    fn parts(p: &Path) -> impl Iterator<Item = OsString> + '_ {
        p.components().filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
    }
    let mut pending: VecDeque<OsString> = parts(Path::new(rel)).collect();
    let mut resolved: Vec<OsString> = Vec::new();
    let mut hops = 0;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = root.join(resolved.iter().collect::<PathBuf>()).join(&part);
        let is_link = fs::symlink_metadata(&candidate).is_ok_and(|m| m.file_type().is_symlink());
        if !is_link {
            resolved.push(part);
            continue;
        }
        hops += 1;
        if hops > 40 {
            return None;
        }
        let target = fs::read_link(&candidate).ok()?;
        if target.is_absolute() {
            resolved.clear();
        }
        for p in parts(&target).collect::<Vec<_>>().into_iter().rev() {
            pending.push_front(p);
        }
    }
    Some(root.join(resolved.iter().collect::<PathBuf>()))
}
