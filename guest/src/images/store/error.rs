use std::io;

use crate::images::digest::Digest;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The message is complete ("No such image: …") so that the API can pass it on.
    #[error("{0}")]
    NotFound(String),
    #[error("content verification failed: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("size verification failed for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        digest: Digest,
        expected: u64,
        actual: u64,
    },
    #[error("ambiguous image ID prefix {0:?}: it matches more than one image")]
    Ambiguous(String),
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("{0}")]
    Corrupt(String),
}

/// For callers whose own errors are `io::Error` (a `fill` closure's helpers,
/// `put_blob`).
impl From<StoreError> for io::Error {
    fn from(e: StoreError) -> io::Error {
        match e {
            StoreError::Io(e) => e,
            StoreError::NotFound(m) => io::Error::new(io::ErrorKind::NotFound, m),
            other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
        }
    }
}
