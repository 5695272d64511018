//! `docker build` with the classic builder: the `/build` API the docker CLI
//! uses when it has no buildx. Each Dockerfile step makes an image. Steps
//! that only change the config (`ENV`, `CMD`, …) make one with the same
//! layers; `RUN` runs its command in a container and commits it; `COPY` and
//! `ADD` extract the chosen context files into a container (symlinks
//! resolved inside it, as for `docker cp`) and commit it.
//!
//! The cache, as dockerd's: a step is skipped when an image made from the
//! current one by the same step is here (its history's "created by" says
//! which: the expanded instruction, `RUN`'s command with the build args in
//! force, `COPY`'s sources by the digest of what they copy).
//!
//! A base image's `ONBUILD` triggers run right after its `FROM`.
//!
//! Not yet: `COPY --from`, `ADD` of URLs and archives, `HEALTHCHECK`,
//! `FROM scratch`. Each is refused with a clear error rather than built
//! differently from dockerd.

pub mod context;
pub mod dockerfile;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use bollard_stubs::models::ContainerCreateBody;
use serde_json::{json, Map, Value};
use tokio::io::AsyncReadExt;

use self::context::Context;
use self::dockerfile::Instruction;
use crate::containers::archive::ExtractOptions;
use crate::containers::attach::AttachOptions;
use crate::containers::commit::CommitRequest;
use crate::containers::service::Containers;
use crate::containers::wait::Condition;
use crate::errdefs::{Error, Result};
use crate::images::digest::{Digest, HashingWriter};
use crate::images::progress::{Message, Sink};
use crate::images::reference::Reference;
use crate::images::service::Images;

#[derive(Debug, Default, Clone)]
pub struct BuildOptions {
    /// `-t`, each `name[:tag]`.
    pub tags: Vec<String>,
    /// The Dockerfile's path in the context.
    pub dockerfile: String,
    /// `--build-arg`: a value, or `None` for "take it from the client's
    /// environment" (the CLI has already done that when it could).
    pub build_args: HashMap<String, Option<String>>,
    pub labels: HashMap<String, String>,
    /// `--pull`: pull `FROM` images even when they are here.
    pub pull: bool,
    /// `-q`: only the image ID.
    pub quiet: bool,
    /// `--target`: the stage to stop after.
    pub target: Option<String>,
    /// `--no-cache`: run every step, even when an image made by the same
    /// step from the same image is here.
    pub no_cache: bool,
}

pub struct Builder {
    pub images: Arc<Images>,
    pub containers: Arc<Containers>,
}

/// Where a stage stands: its image so far and what the next steps see.
struct Stage {
    image: Digest,
    config: Map<String, Value>,
    /// `ARG`s declared in this stage, with their values.
    args: HashMap<String, String>,
}

impl Stage {
    /// What `$NAME` means in this stage's instructions: its args, then its
    /// environment over them.
    fn vars(&self) -> HashMap<String, String> {
        let mut vars = self.args.clone();
        for e in self
            .config
            .get("Env")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some((k, v)) = e.as_str().and_then(|e| e.split_once('=')) {
                vars.insert(k.to_string(), v.to_string());
            }
        }
        vars
    }

    fn shell(&self) -> Vec<String> {
        self.config
            .get("Shell")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .filter(|s: &Vec<String>| !s.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    fn workdir(&self) -> &str {
        self.config
            .get("WorkingDir")
            .and_then(Value::as_str)
            .filter(|w| !w.is_empty())
            .unwrap_or("/")
    }
}

/// What the client sees of the build.
struct Out {
    sink: Sink,
    quiet: bool,
}

impl Out {
    async fn say(&self, text: impl Into<String>) {
        if !self.quiet {
            self.sink.send(Message::stream(text)).await;
        }
    }
}

fn unsupported(what: &str) -> Error {
    Error::invalid(format!("{what} is not supported by Berth's builder yet"))
}

impl Builder {
    /// Stores the context the client sends (a tar, maybe compressed) as a
    /// plain tar file; the caller removes it after the build.
    pub async fn receive_context<S>(&self, body: S) -> Result<PathBuf>
    where
        S: futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static,
    {
        let path = self.images.temp_path("build-context");
        let (mut reader, feed) = crate::task::body_reader(body);
        let dest = path.clone();
        let work = blocking(move || {
            use crate::images::compression::{open, Opened};
            let fail =
                |e: std::io::Error| Error::invalid(format!("reading the build context: {e}"));
            let mut file = std::fs::File::create(&dest).map_err(fail)?;
            match open(&mut reader).map_err(fail)? {
                Opened::Plain(mut tar) => std::io::copy(&mut tar, &mut file),
                Opened::Packed(mut tar) => std::io::copy(&mut tar, &mut file),
            }
            .map_err(fail)?;
            // What follows the archive is read, so the client gets our answer.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
            Ok(())
        });
        let (_, done) = tokio::join!(feed, work);
        if let Err(e) = done {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(path)
    }

    /// Builds from the plain context tar at `context`; returns the image.
    pub async fn build(&self, opts: BuildOptions, context: PathBuf, sink: Sink) -> Result<Digest> {
        let tags = opts
            .tags
            .iter()
            .map(|t| Reference::tagged(t, None).map_err(|e| Error::invalid(e.to_string())))
            .collect::<Result<Vec<_>>>()?;
        let name = opts.dockerfile.clone();
        let (ctx, text) = blocking(move || {
            let mut ctx = Context::open(&context)?;
            let text = ctx.read(&name)?;
            Ok((ctx, text))
        })
        .await?;
        let text = text.ok_or_else(|| {
            Error::invalid(format!(
                "Cannot locate specified Dockerfile: {}",
                opts.dockerfile
            ))
        })?;
        let steps = dockerfile::parse(&String::from_utf8_lossy(&text))?;
        let out = Out {
            sink: sink.clone(),
            quiet: opts.quiet,
        };
        let mut run = Run {
            b: self,
            opts: &opts,
            out,
            ctx: Some(ctx),
            used_args: Default::default(),
        };
        let id = run.steps(&steps).await?;
        let unused: Vec<&String> = opts
            .build_args
            .keys()
            .filter(|k| !run.used_args.contains(*k) && !PREDEFINED_ARGS.contains(&k.as_str()))
            .collect();
        if !unused.is_empty() {
            let mut unused: Vec<_> = unused.into_iter().cloned().collect();
            unused.sort();
            run.out
                .say(format!(
                    "[Warning] One or more build-args [{}] were not consumed\n",
                    unused.join(" ")
                ))
                .await;
        }
        sink.send(Message {
            aux: Some(json!({"ID": id.to_string()})),
            ..Default::default()
        })
        .await;
        run.out
            .say(format!("Successfully built {}\n", id.short()))
            .await;
        if opts.quiet {
            // All that `docker build -q` prints.
            sink.send(Message::stream(format!("{id}\n"))).await;
        }
        for t in &tags {
            self.images.tag(id.as_str(), &t.to_string(), None)?;
            run.out
                .say(format!("Successfully tagged {}\n", t.familiar()))
                .await;
        }
        Ok(id)
    }
}

/// Build args Docker knows without an `ARG` (proxies), never "unused".
const PREDEFINED_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

struct Run<'a> {
    b: &'a Builder,
    opts: &'a BuildOptions,
    out: Out,
    /// Moved into blocking tasks and back.
    ctx: Option<Context>,
    used_args: std::collections::HashSet<String>,
}

impl Run<'_> {
    async fn steps(&mut self, steps: &[Instruction]) -> Result<Digest> {
        // ARGs before the first FROM are for the FROM lines.
        let mut global = HashMap::new();
        let first_from = steps
            .iter()
            .position(|s| s.keyword == "FROM")
            .ok_or_else(|| Error::invalid("no build stage in current context: add a FROM"))?;
        for s in &steps[..first_from] {
            if s.keyword != "ARG" {
                return Err(Error::invalid(format!(
                    "Dockerfile parse error line {}: {} before the first FROM",
                    s.line, s.keyword
                )));
            }
        }
        // With --target, the steps after that stage are not run (nor counted).
        let mut last = steps.len();
        if let Some(target) = self.opts.target.as_deref().filter(|t| !t.is_empty()) {
            let at = steps
                .iter()
                .position(|s| s.keyword == "FROM" && stage_name(s).as_deref() == Some(target))
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "failed to reach build target {target} in Dockerfile"
                    ))
                })?;
            last = steps[at + 1..]
                .iter()
                .position(|s| s.keyword == "FROM")
                .map(|p| at + 1 + p)
                .unwrap_or(steps.len());
        }
        let total = last;
        let mut stages: HashMap<String, Digest> = HashMap::new();
        let mut stage: Option<Stage> = None;
        for (i, s) in steps[..last].iter().enumerate() {
            self.out
                .say(format!("Step {}/{total} : {}\n", i + 1, s.text))
                .await;
            if s.keyword == "ARG" && stage.is_none() {
                self.arg(&mut global, &s.args, &HashMap::new())?;
                continue;
            }
            if s.keyword == "FROM" {
                if let (Some(prev), Some(name)) = (&stage, previous_name(steps, i)) {
                    stages.insert(name, prev.image.clone());
                }
                let mut new = self.from(s, &global, &stages).await?;
                self.out.say(format!(" ---> {}\n", new.image.short())).await;
                self.triggers(&mut new).await?;
                stage = Some(new);
                continue;
            }
            let st = stage.as_mut().expect("a FROM came first");
            self.step(st, s).await?;
            self.out.say(format!(" ---> {}\n", st.image.short())).await;
        }
        let st = stage.expect("a FROM came first");
        if self.opts.labels.is_empty() {
            return Ok(st.image);
        }
        let mut st = st;
        let mut pairs: Vec<String> = self
            .opts
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        pairs.sort();
        let labels = self.opts.labels.clone();
        self.config_step(
            &mut st,
            nop(&format!("LABEL {}", pairs.join(" "))),
            |config| {
                let l = config.entry("Labels").or_insert_with(|| json!({}));
                if !l.is_object() {
                    *l = json!({});
                }
                for (k, v) in &labels {
                    l[k] = json!(v);
                }
                Ok(())
            },
        )
        .await?;
        Ok(st.image)
    }

    /// The base image's `ONBUILD` instructions, run right after its `FROM`
    /// (and not passed on to the image built here).
    async fn triggers(&mut self, st: &mut Stage) -> Result<()> {
        let Some(Value::Array(triggers)) = st.config.remove("OnBuild") else {
            return Ok(());
        };
        let triggers: Vec<String> = triggers
            .iter()
            .filter_map(|t| t.as_str().map(String::from))
            .collect();
        if triggers.is_empty() {
            return Ok(());
        }
        let plural = if triggers.len() == 1 { "" } else { "s" };
        self.out
            .say(format!(
                "# Executing {} build trigger{plural}\n",
                triggers.len()
            ))
            .await;
        for text in &triggers {
            for t in dockerfile::parse(text)? {
                if matches!(t.keyword.as_str(), "FROM" | "ONBUILD" | "MAINTAINER") {
                    return Err(Error::invalid(format!(
                        "{} isn't allowed as an ONBUILD trigger",
                        t.keyword
                    )));
                }
                self.step(st, &t).await?;
            }
        }
        self.out.say(format!(" ---> {}\n", st.image.short())).await;
        Ok(())
    }

    /// `ARG name[=default]`: its value is the build arg's, else the default.
    fn arg(
        &mut self,
        args: &mut HashMap<String, String>,
        text: &str,
        vars: &HashMap<String, String>,
    ) -> Result<()> {
        for word in text.split_whitespace() {
            let (name, default) = match word.split_once('=') {
                Some((n, d)) => (n, Some(dockerfile::expand(d.trim_matches('"'), vars)?)),
                None => (word, None),
            };
            self.used_args.insert(name.to_string());
            let given = self.opts.build_args.get(name).cloned().flatten();
            if let Some(v) = given.or(default) {
                args.insert(name.to_string(), v);
            }
        }
        Ok(())
    }

    async fn from(
        &mut self,
        s: &Instruction,
        global: &HashMap<String, String>,
        stages: &HashMap<String, Digest>,
    ) -> Result<Stage> {
        let words: Vec<&str> = s.args.split_whitespace().collect();
        let name = match words.as_slice() {
            [image] | [image, _, _] => dockerfile::expand(image, global)?,
            _ => {
                return Err(Error::invalid(format!(
                    "Dockerfile parse error line {}: FROM requires either one or three \
                     arguments",
                    s.line
                )))
            }
        };
        if let [_, as_word, _] = words.as_slice() {
            if !as_word.eq_ignore_ascii_case("as") {
                return Err(Error::invalid(format!(
                    "Dockerfile parse error line {}: FROM requires either one or three \
                     arguments",
                    s.line
                )));
            }
        }
        if name == "scratch" {
            return Err(unsupported("FROM scratch"));
        }
        if s.flag("platform").is_some() {
            return Err(unsupported("FROM --platform"));
        }
        let image = match stages.get(&name) {
            Some(id) => id.clone(),
            None => self.base_image(&name).await?,
        };
        let config = self.b.images.image_config(&image)?["config"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        Ok(Stage {
            image,
            config,
            args: HashMap::new(),
        })
    }

    /// The image a `FROM` names: the one here, else (or with `--pull`) pulled.
    async fn base_image(&mut self, name: &str) -> Result<Digest> {
        if !self.opts.pull {
            if let Ok(id) = self.b.images.resolve(name) {
                return Ok(id);
            }
        }
        let reference = Reference::parse(name)
            .map_err(|e| Error::invalid(e.to_string()))?
            .with_default_tag();
        let req = crate::images::pull::PullRequest {
            reference,
            platform: None,
            auth: oci_client::secrets::RegistryAuth::Anonymous,
        };
        let sink = if self.out.quiet {
            Sink::discard()
        } else {
            self.out.sink.clone()
        };
        self.b.images.pull(req, sink).await?;
        self.b.images.resolve(name)
    }

    async fn step(&mut self, st: &mut Stage, s: &Instruction) -> Result<()> {
        let vars = st.vars();
        let expanded = || dockerfile::expand(&s.args, &vars);
        match s.keyword.as_str() {
            "RUN" => {
                if !s.flags.is_empty() {
                    return Err(unsupported("RUN --mount and the other RUN flags"));
                }
                let cmd = match s.exec_form() {
                    Some(v) => v,
                    None => {
                        let mut sh = st.shell();
                        sh.push(s.args.clone());
                        sh
                    }
                };
                let by = run_history(&st.args, &cmd);
                if !self.cached(st, &by).await? {
                    st.image = self.run(st, cmd, by).await?;
                }
            }
            "COPY" | "ADD" => {
                if s.flag("from").is_some() {
                    return Err(unsupported("COPY --from"));
                }
                let args = expanded()?;
                let mut words: Vec<String> = match s.exec_form() {
                    Some(v) => v
                        .iter()
                        .map(|w| dockerfile::expand(w, &vars))
                        .collect::<Result<_>>()?,
                    None => args.split_whitespace().map(String::from).collect(),
                };
                if words.len() < 2 {
                    return Err(Error::invalid(format!(
                        "Dockerfile parse error line {}: {} requires at least two arguments, \
                         but only one was provided. Destination could not be determined",
                        s.line, s.keyword
                    )));
                }
                let dest = words.pop().unwrap_or_default();
                if s.keyword == "ADD" {
                    if let Some(w) = words.iter().find(|w| is_remote_or_archive(w)) {
                        return Err(unsupported(&format!("ADD of a URL or an archive ({w})")));
                    }
                }
                let owner = match s.flag("chown") {
                    None => (0, 0),
                    Some(c) => numeric_owner(c)
                        .ok_or_else(|| unsupported(&format!("--chown={c} with names")))?,
                };
                let dest = if dest.starts_with('/') {
                    dest
                } else {
                    let trailing = if dest.ends_with('/') || dest == "." {
                        "/"
                    } else {
                        ""
                    };
                    format!(
                        "{}/{}{trailing}",
                        st.workdir().trim_end_matches('/'),
                        dest.trim_start_matches("./")
                    )
                };
                self.copy(st, &s.keyword, words, dest, owner).await?;
            }
            "ARG" => {
                let mut args = std::mem::take(&mut st.args);
                let r = self.arg(&mut args, &s.args, &vars);
                st.args = args;
                r?;
            }
            "WORKDIR" => {
                let dir = expanded()?;
                let dir = if dir.starts_with('/') {
                    dir
                } else {
                    format!("{}/{dir}", st.workdir().trim_end_matches('/'))
                };
                self.change(st, &format!("WORKDIR {dir}")).await?;
            }
            "SHELL" => {
                let shell = s.exec_form().filter(|v| !v.is_empty()).ok_or_else(|| {
                    Error::invalid("SHELL requires the arguments to be in JSON form")
                })?;
                self.config_step(st, nop(&s.text), |c| {
                    c.insert("Shell".into(), json!(shell));
                    Ok(())
                })
                .await?;
            }
            "ENV" | "LABEL" | "EXPOSE" | "VOLUME" | "USER" | "STOPSIGNAL" | "ONBUILD" => {
                let text = if s.keyword == "ONBUILD" {
                    s.args.clone()
                } else {
                    expanded()?
                };
                self.change(st, &format!("{} {text}", s.keyword)).await?;
            }
            "CMD" | "ENTRYPOINT" => {
                let value = match s.exec_form() {
                    Some(v) => v,
                    None => {
                        let mut sh = st.shell();
                        sh.push(s.args.clone());
                        sh
                    }
                };
                let key = if s.keyword == "CMD" {
                    "Cmd"
                } else {
                    "Entrypoint"
                };
                let entrypoint = s.keyword == "ENTRYPOINT";
                self.config_step(st, nop(&s.text), |c| {
                    c.insert(key.into(), json!(value));
                    // As dockerd: a new ENTRYPOINT drops the CMD inherited with the old one.
                    if entrypoint {
                        c.insert("Cmd".into(), Value::Null);
                    }
                    Ok(())
                })
                .await?;
            }
            "MAINTAINER" => {
                self.change(st, &format!("LABEL maintainer=\"{}\"", s.args))
                    .await?;
            }
            "HEALTHCHECK" => return Err(unsupported("HEALTHCHECK")),
            other => {
                return Err(Error::invalid(format!(
                    "Dockerfile parse error line {}: unknown instruction: {other}",
                    s.line
                )))
            }
        }
        Ok(())
    }

    /// A config-only step through `--change`'s rules; `change` is the
    /// expanded instruction, so a different build arg is a different step.
    async fn change(&mut self, st: &mut Stage, change: &str) -> Result<()> {
        let change = change.to_string();
        self.config_step(st, nop(&change), |c| {
            crate::images::changes::apply(c, std::slice::from_ref(&change))
        })
        .await
    }

    /// A step that only edits the config: from the cache, or a new image.
    async fn config_step(
        &mut self,
        st: &mut Stage,
        created_by: String,
        edit: impl FnOnce(&mut Map<String, Value>) -> Result<()>,
    ) -> Result<()> {
        if self.cached(st, &created_by).await? {
            return Ok(());
        }
        edit(&mut st.config)?;
        st.image = self
            .derive(&st.image, st.config.clone(), created_by)
            .await?;
        Ok(())
    }

    /// Takes the cached result of the step `created_by`, if there is one.
    async fn cached(&mut self, st: &mut Stage, created_by: &str) -> Result<bool> {
        if self.opts.no_cache {
            return Ok(false);
        }
        let Some(id) = self.b.images.cached_child(&st.image, created_by) else {
            return Ok(false);
        };
        st.config = self.b.images.image_config(&id)?["config"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        st.image = id;
        self.out.say(" ---> Using cache\n").await;
        Ok(true)
    }

    async fn derive(
        &self,
        base: &Digest,
        config: Map<String, Value>,
        by: String,
    ) -> Result<Digest> {
        let (images, base) = (self.b.images.clone(), base.clone());
        blocking(move || images.derive(&base, Value::Object(config), by)).await
    }

    /// `RUN`: the command in a container of the stage's image, its output
    /// streamed, then committed with the stage's config (not the command).
    async fn run(&mut self, st: &Stage, cmd: Vec<String>, by: String) -> Result<Digest> {
        let (entrypoint, rest) = cmd
            .split_first()
            .ok_or_else(|| unsupported("an empty RUN"))?;
        let env: Vec<String> = st
            .args
            .iter()
            .filter(|(k, _)| !env_has(&st.config, k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let body = ContainerCreateBody {
            image: Some(st.image.to_string()),
            entrypoint: Some(vec![entrypoint.clone()]),
            cmd: Some(rest.to_vec()),
            env: Some(env),
            ..Default::default()
        };
        let c = &self.b.containers;
        let (id, _) = c.create(None, &body)?;
        let result = self.run_in(&id, &cmd, st, by).await;
        let _ = c.remove(&id, true, true);
        if result.is_ok() {
            self.out
                .say(format!("Removing intermediate container {}\n", &id[..12]))
                .await;
        }
        result
    }

    async fn run_in(&mut self, id: &str, cmd: &[String], st: &Stage, by: String) -> Result<Digest> {
        let c = &self.b.containers;
        self.out
            .say(format!(" ---> Running in {}\n", &id[..12]))
            .await;
        let opts = AttachOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let session = c.attach(id, opts).await?;
        let waiter = c.wait(id, Condition::NextExit)?;
        let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
        let attached = tokio::spawn(session.run(Box::new(ours)));
        c.start(id).await?;
        let mut header = [0u8; 8];
        let mut buf = Vec::new();
        while theirs.read_exact(&mut header).await.is_ok() {
            let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
            buf.resize(len, 0);
            if theirs.read_exact(&mut buf).await.is_err() {
                break;
            }
            self.out
                .say(String::from_utf8_lossy(&buf).into_owned())
                .await;
        }
        let code = waiter.done().await;
        let _ = attached.await;
        if code != 0 {
            return Err(Error::system(format!(
                "The command '{}' returned a non-zero code: {code}",
                cmd.join(" ")
            )));
        }
        self.commit(id, st, by).await
    }

    async fn commit(&self, id: &str, st: &Stage, by: String) -> Result<Digest> {
        let req = CommitRequest {
            repo: None,
            tag: None,
            comment: None,
            author: None,
            changes: Vec::new(),
            config: Some(Value::Object(st.config.clone())),
            created_by: Some(by),
        };
        let (c, id) = (self.b.containers.clone(), id.to_string());
        let new = blocking(move || c.commit(&id, req)).await?;
        Digest::parse(&new).map_err(|e| Error::system(e.to_string()))
    }

    /// `COPY`/`ADD`: the sources extracted at `dest` in a container of the
    /// stage's image, committed; from the cache when the same bytes were
    /// copied to the same place before.
    async fn copy(
        &mut self,
        st: &mut Stage,
        keyword: &str,
        sources: Vec<String>,
        dest: String,
        owner: (u64, u64),
    ) -> Result<()> {
        let tar_path = self.b.images.temp_path("build-copy");
        let mut ctx = self
            .ctx
            .take()
            .ok_or_else(|| Error::system("no build context"))?;
        let (path, to) = (tar_path.clone(), dest.clone());
        let (ctx, made) = tokio::task::spawn_blocking(move || {
            let made = std::fs::File::create(&path)
                .map_err(|e| Error::system(format!("{}: {e}", path.display())))
                .and_then(|inner| {
                    let mut w = HashingWriter {
                        inner,
                        hasher: Default::default(),
                    };
                    ctx.copy_tar(&sources, &to, owner, &mut w)?;
                    Ok(w.hasher.finish())
                });
            (ctx, made)
        })
        .await
        .map_err(|e| Error::system(format!("copying from the build context: {e}")))?;
        self.ctx = Some(ctx);
        let result = async {
            let digest = made?;
            let by = nop(&format!("{keyword} sources:{} in {dest}", digest.hex()));
            if self.cached(st, &by).await? {
                return Ok(());
            }
            let body = ContainerCreateBody {
                image: Some(st.image.to_string()),
                entrypoint: Some(vec!["/bin/sh".into()]),
                cmd: Some(vec![
                    "-c".into(),
                    by.trim_start_matches("/bin/sh -c ").into(),
                ]),
                ..Default::default()
            };
            let c = self.b.containers.clone();
            let (id, _) = c.create(None, &body)?;
            let result = async {
                let tar = std::fs::File::open(&tar_path)
                    .map_err(|e| Error::system(format!("{}: {e}", tar_path.display())))?;
                c.extract_to_dir(&id, "/", ExtractOptions::default(), tar)
                    .await?;
                self.commit(&id, st, by).await
            }
            .await;
            let _ = c.remove(&id, true, true);
            st.image = result?;
            Ok(())
        }
        .await;
        let _ = std::fs::remove_file(&tar_path);
        result
    }
}

/// `RUN`'s "created by": its command, after the build args in force, so
/// that another value of one is another step for the cache (dockerd's form).
fn run_history(args: &HashMap<String, String>, cmd: &[String]) -> String {
    let mut pairs: Vec<String> = args.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.sort();
    let cmd = cmd.join(" ");
    if pairs.is_empty() {
        cmd
    } else {
        format!("|{} {} {cmd}", pairs.len(), pairs.join(" "))
    }
}

fn nop(text: &str) -> String {
    format!("/bin/sh -c #(nop) {text}")
}

fn env_has(config: &Map<String, Value>, key: &str) -> bool {
    config
        .get("Env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|e| e.as_str().and_then(|e| e.split_once('=')).map(|(k, _)| k) == Some(key))
}

/// The name a `FROM … AS name` gives its stage.
fn stage_name(s: &Instruction) -> Option<String> {
    let words: Vec<&str> = s.args.split_whitespace().collect();
    match words.as_slice() {
        [_, as_word, name] if as_word.eq_ignore_ascii_case("as") => Some(name.to_string()),
        _ => None,
    }
}

/// The name of the stage that ends where step `i` (a FROM) begins.
fn previous_name(steps: &[Instruction], i: usize) -> Option<String> {
    steps[..i]
        .iter()
        .rev()
        .find(|s| s.keyword == "FROM")
        .and_then(stage_name)
}

fn numeric_owner(spec: &str) -> Option<(u64, u64)> {
    let (u, g) = spec.split_once(':').unwrap_or((spec, spec));
    Some((u.parse().ok()?, g.parse().ok()?))
}

fn is_remote_or_archive(src: &str) -> bool {
    let lower = src.to_ascii_lowercase();
    lower.starts_with("http://")
        || lower.starts_with("https://")
        || lower.starts_with("git@")
        || [
            ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst",
        ]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::system(format!("build step failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_targets_and_remote_sources() {
        assert_eq!(numeric_owner("10:20"), Some((10, 20)));
        assert_eq!(numeric_owner("7"), Some((7, 7)));
        assert_eq!(numeric_owner("app:app"), None);
        assert!(is_remote_or_archive("https://x/y"));
        assert!(is_remote_or_archive("rootfs.tar.gz"));
        assert!(!is_remote_or_archive("main.go"));
        let steps = dockerfile::parse("FROM a AS one\nRUN x\nFROM b as two\n").unwrap();
        assert_eq!(stage_name(&steps[0]).as_deref(), Some("one"));
        assert_eq!(previous_name(&steps, 2).as_deref(), Some("one"));
        assert_eq!(stage_name(&steps[1]), None);
    }
}
