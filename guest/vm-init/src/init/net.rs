//! The guest's network on QEMU user networking: lo, and eth0 with the fixed
//! slirp addresses (QEMU hands the same ones to every guest).

use futures::TryStreamExt;
use rtnetlink::{Handle, LinkUnspec, RouteMessageBuilder};
use std::net::{IpAddr, Ipv4Addr};

pub const GUEST_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
pub const PREFIX: u8 = 24;
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
pub const RESOLVER: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);

/// `/etc/resolv.conf` for the guest (containers get theirs from berthd,
/// which reads this one).
pub fn resolv_conf() -> String {
    format!("nameserver {RESOLVER}\n")
}

pub async fn configure(eth: &str) -> anyhow::Result<()> {
    let (conn, handle, _) = rtnetlink::new_connection()?;
    let conn = tokio::spawn(conn);
    let result = async {
        up(&handle, "lo").await?;
        let idx = index(&handle, eth).await?;
        match handle
            .address()
            .add(idx, IpAddr::V4(GUEST_ADDR), PREFIX)
            .execute()
            .await
        {
            Err(rtnetlink::Error::NetlinkError(m))
                if m.code.map(|c| -c.get()) == Some(nix::libc::EEXIST) => {}
            r => r?,
        }
        up(&handle, eth).await?;
        let route = RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(GATEWAY)
            .output_interface(idx)
            .build();
        match handle.route().add(route).execute().await {
            Err(rtnetlink::Error::NetlinkError(m))
                if m.code.map(|c| -c.get()) == Some(nix::libc::EEXIST) => {}
            r => r?,
        }
        anyhow::Ok(())
    }
    .await;
    conn.abort();
    result
}

async fn index(handle: &Handle, name: &str) -> anyhow::Result<u32> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(l)) => Ok(l.header.index),
        _ => anyhow::bail!(
            "no network interface {name} (is virtio_net loaded and the NIC attached?)"
        ),
    }
}

async fn up(handle: &Handle, name: &str) -> anyhow::Result<()> {
    let idx = index(handle, name).await?;
    handle
        .link()
        .set(LinkUnspec::new_with_index(idx).up().build())
        .execute()
        .await?;
    Ok(())
}
