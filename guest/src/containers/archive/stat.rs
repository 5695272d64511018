//! What `HEAD /containers/{id}/archive` reports about a path, in the shape of
//! moby's `container.PathStat`, and the path conventions of `docker cp`.

use rustix::fs::{FileType, Stat};
use serde::Serialize;

/// `X-Docker-Container-Path-Stat`, before its JSON is base64-encoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// Go's `os.FileMode` bits, which is what the CLI decodes this as.
    pub mode: u32,
    pub mtime: String,
    /// For a symlink: where it leads in the container, fully resolved.
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

// Go's os.FileMode type bits.
pub const GO_DIR: u32 = 1 << 31;
pub const GO_SYMLINK: u32 = 1 << 27;
pub const GO_DEVICE: u32 = 1 << 26;
pub const GO_NAMED_PIPE: u32 = 1 << 25;
pub const GO_SOCKET: u32 = 1 << 24;
pub const GO_SETUID: u32 = 1 << 23;
pub const GO_SETGID: u32 = 1 << 22;
pub const GO_CHAR_DEVICE: u32 = 1 << 21;
pub const GO_STICKY: u32 = 1 << 20;

/// A Unix `st_mode` as Go's `os.FileMode`: the permission bits stay where
/// they are, the file type and setuid/setgid/sticky move to Go's high bits.
pub fn go_file_mode(st_mode: u32) -> u32 {
    let mut mode = st_mode & 0o777;
    mode |= match FileType::from_raw_mode(st_mode) {
        FileType::Directory => GO_DIR,
        FileType::Symlink => GO_SYMLINK,
        FileType::BlockDevice => GO_DEVICE,
        FileType::CharacterDevice => GO_DEVICE | GO_CHAR_DEVICE,
        FileType::Fifo => GO_NAMED_PIPE,
        FileType::Socket => GO_SOCKET,
        _ => 0,
    };
    for (unix, go) in [
        (0o4000, GO_SETUID),
        (0o2000, GO_SETGID),
        (0o1000, GO_STICKY),
    ] {
        if st_mode & unix != 0 {
            mode |= go;
        }
    }
    mode
}

pub fn path_stat(name: String, st: &Stat, link_target: String) -> PathStat {
    PathStat {
        name,
        size: st.st_size,
        mode: go_file_mode(st.st_mode),
        mtime: go_time(st.st_mtime, st.st_mtime_nsec as i64),
        link_target,
    }
}

/// A time as Go's `time.Time` marshals to JSON (RFC 3339, fraction without
/// trailing zeros), in UTC.
pub fn go_time(secs: i64, nanos: i64) -> String {
    crate::timefmt::go_rfc3339_nano((secs, nanos.clamp(0, 999_999_999) as u32))
}

/// The request's path as dockerd takes it: absolute and cleaned (Go's
/// `filepath.Clean` of `/` + path), keeping a trailing `/` or `/.` that
/// asks for a directory or its contents (`PreserveTrailingDotOrSeparator`).
pub fn abs_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            _ => parts.push(c),
        }
    }
    let mut out = format!("/{}", parts.join("/"));
    if base(path) == "." && base(&out) != "." {
        if !out.ends_with('/') {
            out.push('/');
        }
        out.push('.');
    }
    if path.ends_with('/') && !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// Go's `filepath.Base`: the last element, trailing slashes ignored; `/` for
/// the root and `.` for an empty path.
pub fn base(path: &str) -> &str {
    if path.is_empty() {
        return ".";
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/";
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

/// Whether `abs` (from [`abs_path`]) names a directory itself rather than
/// possibly a symlink to one: `dir/` and `dir/.` follow a final symlink.
pub fn follows_last(abs: &str) -> bool {
    abs.ends_with('/') || base(abs) == "."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_go_file_modes() {
        assert_eq!(go_file_mode(0o100644), 0o644);
        assert_eq!(go_file_mode(0o040755), GO_DIR | 0o755);
        assert_eq!(go_file_mode(0o040755), 2147484141);
        assert_eq!(go_file_mode(0o120777), GO_SYMLINK | 0o777);
        assert_eq!(go_file_mode(0o120777), 134218239);
        assert_eq!(go_file_mode(0o020666), GO_DEVICE | GO_CHAR_DEVICE | 0o666);
        assert_eq!(go_file_mode(0o060660), GO_DEVICE | 0o660);
        assert_eq!(go_file_mode(0o010600), GO_NAMED_PIPE | 0o600);
        assert_eq!(go_file_mode(0o140755), GO_SOCKET | 0o755);
        assert_eq!(go_file_mode(0o104755), GO_SETUID | 0o755);
        assert_eq!(go_file_mode(0o102755), GO_SETGID | 0o755);
        assert_eq!(go_file_mode(0o041777), GO_DIR | GO_STICKY | 0o777);
    }

    #[test]
    fn times_marshal_like_go() {
        assert_eq!(go_time(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(
            go_time(1_700_000_000, 120_000_000),
            "2023-11-14T22:13:20.12Z"
        );
        assert_eq!(go_time(1_700_000_000, 1), "2023-11-14T22:13:20.000000001Z");
    }

    #[test]
    fn paths_are_cleaned_keeping_the_directory_markers() {
        for (given, abs, name, follow) in [
            ("/etc/passwd", "/etc/passwd", "passwd", false),
            ("etc/passwd", "/etc/passwd", "passwd", false),
            ("/etc/", "/etc/", "etc", true),
            ("/etc/.", "/etc/.", ".", true),
            ("/etc/./", "/etc/./", ".", true),
            ("/", "/", "/", true),
            (".", "/.", ".", true),
            ("/a/b/..", "/a", "a", false),
            ("/../../etc//x", "/etc/x", "x", false),
            ("a/../..", "/", "/", true),
        ] {
            let a = abs_path(given);
            assert_eq!(a, abs, "{given}");
            assert_eq!(base(&a), name, "{given}");
            assert_eq!(follows_last(&a), follow, "{given}");
        }
    }
}
