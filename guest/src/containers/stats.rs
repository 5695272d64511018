//! `docker stats`: samples of the container's cgroups, once or every second.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use serde_json::Value;

use super::service::Containers;
use crate::errdefs::Result;
use crate::os::cgroups::{online_cpus, stats_json, system_cpu_usage_ns, Sample};

impl Containers {
    pub fn stats(
        self: &Arc<Self>,
        what: &str,
        stream: bool,
        one_shot: bool,
    ) -> Result<BoxStream<'static, Value>> {
        let c = self.store.get(what)?;
        let cgroup = self.cgroup(&c)?;
        let v2 = cgroup.is_v2();
        let name = c.name.clone();
        let id = c.id.clone();
        let me = self.clone();
        let sample = move || -> Option<Sample> {
            let running = me.store.get(&id).map(|c| c.state.running).unwrap_or(false);
            let raw = if running {
                cgroup.stats().ok()?
            } else {
                Default::default()
            };
            Some(Sample {
                raw,
                system_ns: system_cpu_usage_ns().unwrap_or(0),
                read: crate::timefmt::now_rfc3339(),
            })
        };
        let cpus = online_cpus();
        let id = c.id.clone();
        let first =
            move |prev: Option<&Sample>, cur: &Sample| stats_json(&id, &name, cur, prev, cpus, v2);
        if !stream {
            // Without one-shot, dockerd takes two samples a second apart so
            // that the CPU percentage has a base.
            return Ok(futures_util::stream::once(async move {
                let a = sample();
                if one_shot {
                    return a.map(|s| first(None, &s)).unwrap_or(Value::Null);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                let b = sample();
                match (a, b) {
                    (Some(a), Some(b)) => first(Some(&a), &b),
                    (_, Some(b)) => first(None, &b),
                    _ => Value::Null,
                }
            })
            .boxed());
        }
        let state = (None::<Sample>, sample, first);
        Ok(
            futures_util::stream::unfold(state, |(prev, sample, render)| async move {
                if prev.is_some() {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                let cur = sample()?;
                let v = render(prev.as_ref(), &cur);
                Some((v, (Some(cur), sample, render)))
            })
            .boxed(),
        )
    }
}
