//! Running blocking work (file I/O, unpacking, hashing) off the async threads.

use crate::errdefs::{Error, Result};

pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::system(format!("internal task failed: {e}")))?
}
