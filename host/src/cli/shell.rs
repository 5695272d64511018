//! `berth shell`: a debug shell in the guest (not in a container), through a
//! framed `exec` stream: keys and window resizes go in, output and the exit
//! code come back, and `berth shell` exits with that code.

use berth_common::vmlink::{self, ExecFrame, Header, Reply};
use std::io::IsTerminal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub fn run(command: Vec<String>) -> anyhow::Result<i32> {
    let (home, _settings) = super::load()?;
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let (rows, cols) = if tty { window_size() } else { (None, None) };
    let argv = if command.is_empty() {
        vec!["/bin/sh".to_string()]
    } else {
        command
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        let path = home.agent_socket();
        let mut s = tokio::net::UnixStream::connect(&path).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot reach Berth's supervisor at {} ({e}): is Berth running? (`berth start`)",
                path.display()
            )
        })?;
        vmlink::write_json_line(
            &mut s,
            &Header::Exec {
                argv,
                tty,
                rows,
                cols,
                framed: true,
            },
        )
        .await?;
        let reply: Reply = vmlink::read_json_line(&mut s).await?;
        anyhow::ensure!(
            reply.ok,
            "the guest refused: {}",
            reply.message.unwrap_or_default()
        );
        let _raw = if tty { Some(RawMode::enter()?) } else { None };
        let (mut r, mut w) = s.into_split();
        let to_guest = tokio::spawn(async move {
            let mut stdin = tokio::io::stdin();
            let mut resized =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok();
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                let frame = tokio::select! {
                    n = stdin.read(&mut buf) => match n {
                        Ok(0) | Err(_) => ExecFrame::Eof,
                        Ok(n) => ExecFrame::Data(buf[..n].to_vec()),
                    },
                    Some(()) = async { resized.as_mut()?.recv().await }, if tty => {
                        match window_size() {
                            (Some(rows), Some(cols)) => ExecFrame::Resize { rows, cols },
                            _ => continue,
                        }
                    }
                };
                let eof = frame == ExecFrame::Eof;
                if frame.write(&mut w).await.is_err() || eof {
                    break;
                }
            }
        });
        let mut stdout = tokio::io::stdout();
        let mut code = None;
        while let Some(frame) = ExecFrame::read(&mut r).await? {
            match frame {
                ExecFrame::Data(d) => {
                    stdout.write_all(&d).await?;
                    stdout.flush().await?;
                }
                ExecFrame::Exit(c) => code = Some(c),
                ExecFrame::Resize { .. } | ExecFrame::Eof => {}
            }
        }
        to_guest.abort();
        // A stream cut before the exit code: the link or the guest went away.
        Ok(code.unwrap_or(255))
    });
    // Without waiting for the read of stdin still pending on its thread.
    rt.shutdown_background();
    result
}

fn window_size() -> (Option<u16>, Option<u16>) {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ fills a winsize.
    if unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_row > 0 {
        (Some(ws.ws_row), Some(ws.ws_col))
    } else {
        (None, None)
    }
}

/// The terminal in raw mode while it lives: keys go to the guest's shell as typed.
struct RawMode(libc::termios);

impl RawMode {
    fn enter() -> anyhow::Result<RawMode> {
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd 0 is a terminal (checked by the caller); t is a valid termios.
        unsafe {
            if libc::tcgetattr(0, &mut t) != 0 {
                return Err(std::io::Error::last_os_error().into());
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            if libc::tcsetattr(0, libc::TCSANOW, &t) != 0 {
                return Err(std::io::Error::last_os_error().into());
            }
            Ok(RawMode(saved))
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in enter().
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &self.0) };
    }
}
