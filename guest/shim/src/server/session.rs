//! An attach or exec stream on one connection: output frames out, stdin
//! in, and the exit frame at the end.

use std::rc::Rc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::watch;

use super::feed::Feed;
use super::proc::Proc;
use berth_shim::protocol::{header, ExitInfo, EXIT};

/// `init_exit` is the container's exit for attach sessions (published once
/// it is on disk); exec sessions end when their own process does.
/// `rx` is the process's output, subscribed before the process could write
/// any (before the response that lets berthd start it).
pub async fn run(
    proc: Rc<Proc>,
    conn: UnixStream,
    stdin: bool,
    mut rx: Feed,
    init_exit: Option<watch::Receiver<Option<ExitInfo>>>,
) {
    let (mut rd, mut wr) = conn.into_split();
    if stdin {
        let p = proc.clone();
        tokio::task::spawn_local(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if p.write_stdin(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            }
            if p.stdin_once {
                p.close_stdin();
            }
        });
    }
    let end = async {
        match init_exit {
            Some(mut exit) => match exit.wait_for(|e| e.is_some()).await {
                Ok(e) => e.as_ref().map(|e| e.code).unwrap_or(-1),
                Err(_) => -1,
            },
            None => proc.finished().await,
        }
    };
    tokio::pin!(end);
    let code = loop {
        tokio::select! {
            biased;
            frame = rx.recv() => match frame {
                Some((stream, data)) => {
                    if write_frame(&mut wr, stream, &data).await.is_err() {
                        return;
                    }
                }
                None => return,
            },
            code = &mut end => break code,
        }
    };
    while let Some((stream, data)) = rx.try_recv() {
        if write_frame(&mut wr, stream, &data).await.is_err() {
            return;
        }
    }
    let _ = write_frame(&mut wr, EXIT, &code.to_be_bytes()).await;
    let _ = wr.shutdown().await;
}

async fn write_frame(
    w: &mut tokio::net::unix::OwnedWriteHalf,
    stream: u8,
    data: &[u8],
) -> std::io::Result<()> {
    w.write_all(&header(stream, data.len())).await?;
    w.write_all(data).await
}
