//! The build context: the tar the client sent, kept as a plain tar file.
//! Files are read from it by name, and `COPY`/`ADD` sources are gathered
//! from it into a new tar with the destination's names, which is then
//! extracted into a container (where its symlinks are resolved, as for
//! `docker cp`). Nothing here touches the host's filesystem by the names in
//! the tar, so no name can escape anything.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::Path;

use crate::errdefs::{Error, Result};

pub struct Context {
    file: File,
    ignore: Vec<(bool, String)>,
}

fn sys(e: io::Error) -> Error {
    Error::system(format!("reading the build context: {e}"))
}

/// A context entry's name as a clean relative path: no `./`, no trailing
/// `/`, no `.` parts; `None` for names that leave the context (`..`,
/// absolute) or the root itself.
fn clean(name: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for p in name.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Whether the `.dockerignore` rules leave `name` out (the last matching
/// line decides; a pattern that matches a directory covers what is in it).
fn ignored(rules: &[(bool, String)], name: &str) -> bool {
    let mut out = false;
    for (exclude, pattern) in rules {
        let hit = name
            .match_indices('/')
            .map(|(i, _)| &name[..i])
            .chain(std::iter::once(name))
            .any(|prefix| glob(pattern, prefix));
        if hit {
            out = *exclude;
        }
    }
    out
}

/// `*`, `?` and `**` (any number of parts), as in `.dockerignore` and
/// `COPY` sources.
fn glob(pattern: &str, name: &str) -> bool {
    fn parts(p: &[&str], n: &[&str]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(&"**"), _) => parts(&p[1..], n) || (!n.is_empty() && parts(p, &n[1..])),
            (Some(pp), Some(nn)) => part(pp.as_bytes(), nn.as_bytes()) && parts(&p[1..], &n[1..]),
            _ => false,
        }
    }
    fn part(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => part(&p[1..], n) || (!n.is_empty() && part(p, &n[1..])),
            (Some(b'?'), Some(_)) => part(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => part(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('/').collect();
    let n: Vec<&str> = name.split('/').collect();
    parts(&p, &n)
}

impl Context {
    /// Opens the plain tar at `path` and reads its `.dockerignore`.
    pub fn open(path: &Path) -> Result<Context> {
        let mut ctx = Context {
            file: File::open(path).map_err(sys)?,
            ignore: Vec::new(),
        };
        if let Some(text) = ctx.read(".dockerignore")? {
            ctx.ignore = String::from_utf8_lossy(&text)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .filter_map(|l| match l.strip_prefix('!') {
                    Some(p) => clean(p.trim()).map(|p| (false, p)),
                    None => clean(l).map(|p| (true, p)),
                })
                .collect();
        }
        Ok(ctx)
    }

    fn entries(&mut self) -> Result<tar::Archive<&mut File>> {
        self.file.rewind().map_err(sys)?;
        Ok(tar::Archive::new(&mut self.file))
    }

    /// The bytes of the regular file `name` in the context, if it is there.
    pub fn read(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        let want = clean(name);
        for entry in self.entries()?.entries().map_err(sys)? {
            let mut entry = entry.map_err(sys)?;
            let path = entry.path().map_err(sys)?.to_string_lossy().into_owned();
            if clean(&path) == want && entry.header().entry_type().is_file() {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).map_err(sys)?;
                return Ok(Some(data));
            }
        }
        Ok(None)
    }

    /// Writes to `out` a tar of the context's `sources` placed at `dest`
    /// (absolute, in the image), the way `COPY` places them: a directory's
    /// contents go into `dest`; a file goes to `dest` itself, or into it
    /// when `dest` ends in `/` or several sources are copied. Everything
    /// gets `owner` (root unless `--chown` said otherwise).
    pub fn copy_tar(
        &mut self,
        sources: &[String],
        dest: &str,
        owner: (u64, u64),
        out: impl Write,
    ) -> Result<()> {
        let into_dir = dest.ends_with('/') || sources.len() > 1;
        let dest = dest.trim_matches('/').to_string();
        let mut patterns = Vec::new();
        for s in sources {
            if s.split('/').any(|p| p == "..") && clean(s).is_none_or(|c| c.starts_with("..")) {
                return Err(Error::invalid(format!(
                    "forbidden path outside the build context: {s}"
                )));
            }
            // `.` (or `./`) is the whole context.
            patterns.push((s.clone(), clean(s).unwrap_or_default()));
        }
        let ignore = std::mem::take(&mut self.ignore);
        let result = (|| {
            let mut found = vec![false; patterns.len()];
            let mut w = tar::Builder::new(out);
            w.mode(tar::HeaderMode::Complete);
            let mut archive = self.entries()?;
            for entry in archive.entries().map_err(sys)? {
                let mut entry = entry.map_err(sys)?;
                let path = entry.path().map_err(sys)?.to_string_lossy().into_owned();
                let Some(name) = clean(&path) else { continue };
                if ignored(&ignore, &name) {
                    continue;
                }
                for (i, (_, pattern)) in patterns.iter().enumerate() {
                    let is_dir = entry.header().entry_type().is_dir();
                    let Some(target) = place(pattern, &name, is_dir, &dest, into_dir) else {
                        continue;
                    };
                    found[i] = true;
                    let mut header = entry.header().clone();
                    header.set_uid(owner.0);
                    header.set_gid(owner.1);
                    let kind = header.entry_type();
                    if kind.is_hard_link() {
                        // The link's target has other names here: keep it as a copy.
                        continue;
                    }
                    if kind.is_symlink() {
                        let link = entry.link_name().map_err(sys)?.unwrap_or_default();
                        w.append_link(&mut header, &target, link).map_err(sys)?;
                    } else if kind.is_dir() {
                        // The destination itself is left to the extraction,
                        // which follows it if it is a symlink in the image.
                        if target.is_empty() || target == dest {
                            break;
                        }
                        w.append_data(&mut header, &target, io::empty())
                            .map_err(sys)?;
                    } else {
                        w.append_data(&mut header, &target, &mut entry)
                            .map_err(sys)?;
                    }
                    break;
                }
            }
            w.finish().map_err(sys)?;
            if let Some(i) = found.iter().position(|f| !f) {
                return Err(Error::invalid(format!(
                    "file not found in build context or excluded by .dockerignore: \
                     stat {}: file does not exist",
                    patterns[i].0
                )));
            }
            Ok(())
        })();
        self.ignore = ignore;
        result
    }
}

/// Where the context's `name` goes for the source `pattern`, if it is
/// one of its files: a matched directory's contents go into `dest`; a
/// matched file goes to `dest`, or into it (`into_dir`, or a wildcard).
fn place(pattern: &str, name: &str, is_dir: bool, dest: &str, into_dir: bool) -> Option<String> {
    let join = |a: &str, b: &str| match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    };
    if pattern.is_empty() {
        return Some(join(dest, name));
    }
    // The pattern names this entry, or a directory it is in.
    let parts: Vec<&str> = name.split('/').collect();
    for depth in 1..=parts.len() {
        let head = parts[..depth].join("/");
        if !glob(pattern, &head) {
            continue;
        }
        let rest = parts[depth..].join("/");
        let wildcard = pattern.contains(['*', '?']);
        return Some(if !rest.is_empty() || is_dir {
            join(dest, &rest)
        } else if into_dir || wildcard {
            join(dest, parts[depth - 1])
        } else {
            dest.to_string()
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(files: &[(&str, &str)]) -> Context {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("berth-context-{}-{n}.tar", std::process::id()));
        let mut b = tar::Builder::new(File::create(&path).unwrap());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            if name.ends_with('/') {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, name, io::empty()).unwrap();
            } else {
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                h.set_uid(1000);
                b.append_data(&mut h, name, data.as_bytes()).unwrap();
            }
        }
        b.finish().unwrap();
        let ctx = Context::open(&path).unwrap();
        // The open file is all the context needs.
        std::fs::remove_file(&path).unwrap();
        ctx
    }

    fn names(tar: &[u8]) -> Vec<String> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                assert_eq!(e.header().uid().unwrap(), 0);
                e.path().unwrap().to_string_lossy().into_owned()
            })
            .collect()
    }

    fn copy(ctx: &mut Context, srcs: &[&str], dest: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let srcs: Vec<String> = srcs.iter().map(|s| s.to_string()).collect();
        ctx.copy_tar(&srcs, dest, (0, 0), &mut out)?;
        Ok(names(&out))
    }

    #[test]
    fn copy_places_files_and_directory_contents_like_docker() {
        let mut ctx = context(&[
            ("Dockerfile", "FROM x"),
            ("a.txt", "a"),
            ("b.txt", "b"),
            ("src/", ""),
            ("src/main.c", "m"),
            ("src/lib/", ""),
            ("src/lib/l.c", "l"),
        ]);
        assert_eq!(
            copy(&mut ctx, &["a.txt"], "/app/x.txt").unwrap(),
            ["app/x.txt"]
        );
        assert_eq!(copy(&mut ctx, &["a.txt"], "/app/").unwrap(), ["app/a.txt"]);
        assert_eq!(
            copy(&mut ctx, &["a.txt", "b.txt"], "/app").unwrap(),
            ["app/a.txt", "app/b.txt"]
        );
        assert_eq!(
            copy(&mut ctx, &["*.txt"], "/t/").unwrap(),
            ["t/a.txt", "t/b.txt"]
        );
        assert_eq!(
            copy(&mut ctx, &["src"], "/app").unwrap(),
            ["app/main.c", "app/lib", "app/lib/l.c"]
        );
        assert_eq!(
            copy(&mut ctx, &["./src/"], "/app/").unwrap(),
            ["app/main.c", "app/lib", "app/lib/l.c"]
        );
        let all = copy(&mut ctx, &["."], "/w").unwrap();
        assert!(all.contains(&"w/src/lib/l.c".to_string()), "{all:?}");
        assert!(all.contains(&"w/Dockerfile".to_string()), "{all:?}");
        assert_eq!(ctx.read("src/main.c").unwrap().unwrap(), b"m");
        assert_eq!(ctx.read("./Dockerfile").unwrap().unwrap(), b"FROM x");
        assert_eq!(ctx.read("nope").unwrap(), None);
    }

    #[test]
    fn missing_and_escaping_sources_are_refused() {
        let mut ctx = context(&[("a", "a")]);
        let e = copy(&mut ctx, &["nope"], "/x").unwrap_err();
        assert!(
            e.message.contains("file not found in build context"),
            "{}",
            e.message
        );
        let e = copy(&mut ctx, &["../etc/passwd"], "/x").unwrap_err();
        assert!(
            e.message.contains("outside the build context"),
            "{}",
            e.message
        );
    }

    #[test]
    fn dockerignore_leaves_files_out_with_exceptions() {
        let mut ctx = context(&[
            (".dockerignore", "# deps\nnode_modules\n*.log\n!keep.log\n"),
            ("app.js", "x"),
            ("node_modules/", ""),
            ("node_modules/m.js", "m"),
            ("debug.log", "d"),
            ("keep.log", "k"),
        ]);
        let all = copy(&mut ctx, &["."], "/app").unwrap();
        assert_eq!(all, ["app/.dockerignore", "app/app.js", "app/keep.log"]);
        let e = copy(&mut ctx, &["debug.log"], "/x").unwrap_err();
        assert!(e.message.contains("excluded by .dockerignore"));
    }

    #[test]
    fn globs_match_within_and_across_parts() {
        assert!(glob("*.txt", "a.txt"));
        assert!(!glob("*.txt", "d/a.txt"));
        assert!(glob("**/*.txt", "d/e/a.txt"));
        assert!(glob("**/*.txt", "a.txt"));
        assert!(glob("a?c", "abc"));
        assert_eq!(clean("./a//b/./c/"), Some("a/b/c".into()));
        assert_eq!(clean("../x"), None);
        assert_eq!(clean("."), None);
    }
}
