//! `berth logs`: the guest's console (its init and berthd write there).

use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Duration;

pub fn run(follow: bool) -> anyhow::Result<()> {
    let (home, _settings) = super::load()?;
    let path = home.console_log();
    let mut f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => anyhow::bail!(
            "no guest console log at {} ({e}): has Berth been started?",
            path.display()
        ),
    };
    let mut out = std::io::stdout().lock();
    let mut buf = vec![0u8; 64 * 1024];
    let mut pos = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n > 0 {
            pos += n as u64;
            out.write_all(&buf[..n])?;
            continue;
        }
        if !follow {
            return Ok(());
        }
        out.flush()?;
        std::thread::sleep(Duration::from_millis(200));
        // A new boot starts a new log: read it from its start.
        if std::fs::metadata(&path)
            .map(|m| m.len() < pos)
            .unwrap_or(false)
        {
            f = std::fs::File::open(&path)?;
            pos = 0;
            f.seek(SeekFrom::Start(0))?;
        }
    }
}
