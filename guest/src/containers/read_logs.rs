//! `docker logs`: the container's log files read back in the wire format
//! (8-byte frames, or raw bytes for a TTY), followed while it runs.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;

use super::logs::{self, Entry, LogConfig, ReadOptions, Stream};
use super::service::Containers;
use super::shim::protocol::{header, STDERR, STDOUT};
use crate::api::images::BodyStream;
use crate::errdefs::{Error, Result};

const POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub follow: bool,
    pub timestamps: bool,
    pub since: Option<String>,
    pub until: Option<String>,
    pub tail: Option<String>,
}

impl Containers {
    pub async fn logs(
        self: &Arc<Self>,
        what: &str,
        opts: LogsOptions,
    ) -> Result<(bool, BodyStream)> {
        let c = self.store.get(what)?;
        let tty = c.config["Tty"].as_bool().unwrap_or(false);
        let cfg = LogConfig::from_host_config(&c.id, &self.store.dir(&c.id), &self.log_config(&c))
            .map_err(Error::invalid)?;
        if cfg.driver == logs::Driver::None {
            return Err(Error::invalid(
                "configured logging driver does not support reading",
            ));
        }
        let time = |v: &Option<String>| -> Result<Option<(i64, u32)>> {
            v.as_deref()
                .map(|s| logs::parse_time_param(s).map_err(Error::invalid))
                .transpose()
        };
        let read = ReadOptions {
            stdout: opts.stdout,
            stderr: opts.stderr,
            since: time(&opts.since)?,
            until: time(&opts.until)?,
            tail: match opts.tail.as_deref() {
                None | Some("") | Some("all") => None,
                Some(n) => n
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .map(|n| n as usize),
            },
        };
        let stamps = opts.timestamps;
        let encode = move |entries: Vec<Entry>| -> std::io::Result<Bytes> {
            let mut out = Vec::new();
            for e in entries {
                let mut payload = Vec::with_capacity(e.line.len() + 32);
                if stamps {
                    payload.extend_from_slice(logs::format_timestamp(e.unix).as_bytes());
                    payload.push(b' ');
                }
                payload.extend_from_slice(&e.line);
                if !tty {
                    let tag = if e.stream == Stream::Stderr {
                        STDERR
                    } else {
                        STDOUT
                    };
                    out.extend_from_slice(&header(tag, payload.len()));
                }
                out.extend_from_slice(&payload);
            }
            Ok(Bytes::from(out))
        };
        let follow = opts.follow && read.until.is_none();
        if !follow {
            let entries =
                crate::task::blocking(move || logs::read(&cfg, &read).map_err(Error::from)).await?;
            let body = encode(entries);
            return Ok((tty, futures_util::stream::once(async move { body }).boxed()));
        }
        let live = self.live(&c.id);
        let exits = live.exits.subscribe();
        let (entries, follower) =
            crate::task::blocking(move || logs::read_and_follow(&cfg, &read).map_err(Error::from))
                .await?;
        let first = encode(entries);
        let me = self.clone();
        let id = c.id.clone();
        let rest = futures_util::stream::unfold(
            (Some(follower), exits, false),
            move |(follower, mut exits, last)| {
                let (me, id) = (me.clone(), id.clone());
                async move {
                    let mut follower = follower?;
                    if last {
                        return None;
                    }
                    // Poll until there is something or the container stops.
                    loop {
                        let running = me
                            .store
                            .get(&id)
                            .map(|c| c.state.running || c.state.restarting)
                            .unwrap_or(false);
                        let (f, got) = tokio::task::spawn_blocking(move || {
                            let got = follower.poll(&read);
                            (follower, got)
                        })
                        .await
                        .ok()?;
                        follower = f;
                        let entries = got.ok()?;
                        let done = !running || follower.is_done();
                        if !entries.is_empty() || done {
                            return Some((encode(entries), (Some(follower), exits, done)));
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(POLL) => {}
                            _ = exits.changed() => {}
                        }
                    }
                }
            },
        );
        Ok((
            tty,
            futures_util::stream::once(async move { first })
                .chain(rest)
                .boxed(),
        ))
    }
}
