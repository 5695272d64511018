//! [`NetOps`] on Linux, over rtnetlink. Each call runs on its own short
//! thread with a current-thread runtime: netlink sockets act in the
//! namespace of the thread that opens them.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use futures_util::TryStreamExt;
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};

use super::{netns, Endpoint, NetOps};

pub struct Linux;

fn nl(e: rtnetlink::Error) -> io::Error {
    match e {
        rtnetlink::Error::NetlinkError(m) => match m.code {
            Some(code) => io::Error::from_raw_os_error(-code.get()),
            None => io::Error::other("netlink error"),
        },
        other => io::Error::other(other.to_string()),
    }
}

/// Runs `f` with a netlink handle in `ns` (the daemon's namespace for None).
fn with_handle<T, F, Fut>(ns: Option<PathBuf>, f: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce(Handle) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = io::Result<T>>,
{
    netns::in_netns(ns, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let (conn, handle, _) = rtnetlink::new_connection()?;
            tokio::spawn(conn);
            f(handle).await
        })
    })
}

async fn index(handle: &Handle, name: &str) -> io::Result<Option<u32>> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(l)) => Ok(Some(l.header.index)),
        Ok(None) => Ok(None),
        Err(rtnetlink::Error::NetlinkError(m))
            if m.code.map(|c| -c.get()) == Some(nix::libc::ENODEV) =>
        {
            Ok(None)
        }
        Err(e) => Err(nl(e)),
    }
}

async fn must_index(handle: &Handle, name: &str) -> io::Result<u32> {
    index(handle, name)
        .await?
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no link named {name}")))
}

async fn add_addr(handle: &Handle, idx: u32, addr: Ipv4Addr, prefix: u8) -> io::Result<()> {
    match handle
        .address()
        .add(idx, IpAddr::V4(addr), prefix)
        .execute()
        .await
    {
        Err(rtnetlink::Error::NetlinkError(m))
            if m.code.map(|c| -c.get()) == Some(nix::libc::EEXIST) =>
        {
            Ok(())
        }
        r => r.map_err(nl),
    }
}

impl NetOps for Linux {
    fn ensure_bridge(&self, name: &str, gateway: Ipv4Addr, prefix: u8, mtu: u32) -> io::Result<()> {
        let name = name.to_string();
        with_handle(None, move |h| async move {
            if index(&h, &name).await?.is_none() {
                h.link()
                    .add(LinkBridge::new(&name).mtu(mtu).build())
                    .execute()
                    .await
                    .map_err(nl)?;
            }
            let idx = must_index(&h, &name).await?;
            add_addr(&h, idx, gateway, prefix).await?;
            h.link()
                .set(LinkUnspec::new_with_index(idx).up().build())
                .execute()
                .await
                .map_err(nl)
        })
    }

    fn delete_link(&self, name: &str) -> io::Result<()> {
        let name = name.to_string();
        with_handle(None, move |h| async move {
            match index(&h, &name).await? {
                Some(idx) => h.link().del(idx).execute().await.map_err(nl),
                None => Ok(()),
            }
        })
    }

    fn link_exists(&self, name: &str) -> bool {
        let name = name.to_string();
        with_handle(None, move |h| async move { index(&h, &name).await })
            .ok()
            .flatten()
            .is_some()
    }

    fn create_netns(&self, path: &Path) -> io::Result<()> {
        netns::create(path)?;
        let up = with_handle(Some(path.to_path_buf()), |h| async move {
            let lo = must_index(&h, "lo").await?;
            h.link()
                .set(LinkUnspec::new_with_index(lo).up().build())
                .execute()
                .await
                .map_err(nl)
        });
        if up.is_err() {
            let _ = netns::delete(path);
        }
        up
    }

    fn delete_netns(&self, path: &Path) -> io::Result<()> {
        netns::delete(path)
    }

    fn connect(&self, ep: &Endpoint) -> io::Result<()> {
        // The peer gets a unique temporary name in the daemon's namespace,
        // then its real one inside the container's.
        let peer = format!("{}p", ep.host_if);
        let ns_file = std::fs::File::open(&ep.netns)?;
        let (host_if, bridge, mtu) = (ep.host_if.clone(), ep.bridge.clone(), ep.mtu);
        let peer2 = peer.clone();
        let fd = ns_file.as_raw_fd();
        let moved = with_handle(None, move |h| async move {
            h.link()
                .add(LinkVeth::new(&host_if, &peer2).mtu(mtu).build())
                .execute()
                .await
                .map_err(nl)?;
            let br = must_index(&h, &bridge).await?;
            let host = must_index(&h, &host_if).await?;
            h.link()
                .set(LinkUnspec::new_with_index(host).controller(br).up().build())
                .execute()
                .await
                .map_err(nl)?;
            let p = must_index(&h, &peer2).await?;
            h.link()
                .set(LinkUnspec::new_with_index(p).setns_by_fd(fd).build())
                .execute()
                .await
                .map_err(nl)
        });
        drop(ns_file);
        if let Err(e) = moved {
            let _ = self.delete_link(&ep.host_if);
            return Err(e);
        }
        let ep2 = ep.clone();
        let inside = with_handle(Some(ep.netns.clone()), move |h| async move {
            let idx = must_index(&h, &peer).await?;
            h.link()
                .set(
                    // The veth's MTU reaches only its host end: the peer's is set here.
                    LinkUnspec::new_with_index(idx)
                        .name(ep2.ifname.clone())
                        .address(ep2.mac.to_vec())
                        .mtu(ep2.mtu)
                        .build(),
                )
                .execute()
                .await
                .map_err(nl)?;
            add_addr(&h, idx, ep2.addr, ep2.prefix).await?;
            h.link()
                .set(LinkUnspec::new_with_index(idx).up().build())
                .execute()
                .await
                .map_err(nl)?;
            if let Some(gw) = ep2.gateway {
                let route = RouteMessageBuilder::<Ipv4Addr>::new()
                    .gateway(gw)
                    .output_interface(idx)
                    .build();
                h.route().add(route).execute().await.map_err(nl)?;
            }
            Ok(())
        });
        if inside.is_err() {
            let _ = self.delete_link(&ep.host_if);
        }
        inside
    }
}
