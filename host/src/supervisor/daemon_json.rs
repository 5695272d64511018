//! Following `<home>/daemon.json` while the VM runs: the guest got the file at boot (QEMU's
//! fw_cfg); a later change (the desktop app's settings editor, or by hand) is validated with
//! berthd's own config code and sent over the control stream, where the agent writes it and
//! makes berthd reload. Keys that need a restart keep their running value until the next boot
//! (berthd says so in its log).

use crate::forward::control::Control;
use berth_common::vmlink::Request;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often the file is looked at.
const POLL: Duration = Duration::from_secs(2);

/// `booted`: the content the guest booted with (`None`: no file, the guest uses `{}`).
pub async fn follow(
    path: PathBuf,
    booted: Option<String>,
    control: watch::Receiver<Option<Arc<Control>>>,
) {
    let mut applied = booted;
    let mut refused: Option<String> = None;
    loop {
        tokio::time::sleep(POLL).await;
        let now = std::fs::read_to_string(&path).ok();
        if now == applied || now.is_none() || now == refused {
            continue;
        }
        let content = now.expect("checked above");
        if let Err(e) = berth_common::daemon_config::validate_text(&content) {
            tracing::warn!(
                "{} changed but is not valid, not applied: {e}",
                path.display()
            );
            refused = Some(content);
            continue;
        }
        let Some(c) = control.borrow().clone() else {
            continue; // no session now: tried again on the next poll
        };
        let request = Request::DaemonJson {
            content: content.clone(),
        };
        match c.request(request, Duration::from_secs(30)).await {
            Ok(()) => {
                tracing::info!(
                    "{} changed: sent to the guest, berthd reloads it",
                    path.display()
                );
                applied = Some(content);
            }
            Err(e) => {
                tracing::warn!("{} changed but the guest refused it: {e}", path.display());
                refused = Some(content);
            }
        }
    }
}
