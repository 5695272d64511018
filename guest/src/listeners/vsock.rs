//! `vsock://` listener, used only inside Berth's VM: the host reaches berthd
//! through it. Never bound on a host machine.

use anyhow::Context;
use tokio_vsock::{VsockAddr, VsockListener, VMADDR_CID_ANY};

pub fn bind(cid: Option<u32>, port: u32) -> anyhow::Result<VsockListener> {
    VsockListener::bind(VsockAddr::new(cid.unwrap_or(VMADDR_CID_ANY), port))
        .with_context(|| format!("cannot listen on vsock port {port}"))
}
