//! Blobs by digest: written to `tmp/`, verified, then renamed into
//! `image/content/sha256/`, so a blob under its digest's name is always whole.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use super::util::sync_dir;
use super::{Store, StoreError};
use crate::images::digest::{Digest, Hasher, HashingWriter};

impl Store {
    /// Whether the blob is present; its content is checked only when read.
    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.paths.content.join(d.hex())
    }

    /// A writer whose bytes become the blob `expected` on [`BlobWriter::commit`]
    /// if, and only if, they hash to it (and have `expected_size`, if given).
    pub fn blob_writer(
        &self,
        expected: &Digest,
        expected_size: Option<u64>,
    ) -> io::Result<BlobWriter> {
        let tmp = self.paths.temp_name("blob");
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)?;
        Ok(BlobWriter {
            out: HashingWriter {
                inner: file,
                hasher: Hasher::default(),
            },
            tmp,
            dest: self.blob_path(expected),
            expected: expected.clone(),
            expected_size,
            committed: false,
        })
    }

    /// Stores small documents (manifests, configs). Always rewrites, which
    /// also repairs a blob that went bad on disk.
    pub fn put_blob(&self, bytes: &[u8]) -> io::Result<Digest> {
        let d = Digest::of(bytes);
        let mut w = self.blob_writer(&d, Some(bytes.len() as u64))?;
        w.write_all(bytes)?;
        w.commit()?;
        Ok(d)
    }

    /// Reads a whole blob and checks it against its digest: manifests and
    /// configs are trusted only if they are what their name says.
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>, StoreError> {
        let bytes = match fs::read(self.blob_path(d)) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound(format!(
                    "blob {d} not found in the content store"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let actual = Digest::of(&bytes);
        if actual != *d {
            return Err(StoreError::DigestMismatch {
                expected: d.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Deletes a blob. The unlink is made durable so that metadata written
    /// afterwards never outlives it across a crash in the wrong order.
    pub(super) fn remove_blob(&self, d: &Digest) -> io::Result<bool> {
        match fs::remove_file(self.blob_path(d)) {
            Ok(()) => {
                sync_dir(&self.paths.content)?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// A blob being written. Dropping it without [`commit`](BlobWriter::commit)
/// (an aborted download) deletes what was written.
pub struct BlobWriter {
    out: HashingWriter<File>,
    tmp: PathBuf,
    dest: PathBuf,
    expected: Digest,
    expected_size: Option<u64>,
    committed: bool,
}

impl BlobWriter {
    /// Verifies size and digest, makes the bytes durable and moves them under
    /// their digest's name. On any error nothing is left behind.
    pub fn commit(mut self) -> Result<(), StoreError> {
        self.out.flush()?;
        let actual_size = self.out.hasher.len();
        if let Some(expected) = self.expected_size {
            if actual_size != expected {
                return Err(StoreError::SizeMismatch {
                    digest: self.expected.clone(),
                    expected,
                    actual: actual_size,
                });
            }
        }
        let actual = std::mem::take(&mut self.out.hasher).finish();
        if actual != self.expected {
            return Err(StoreError::DigestMismatch {
                expected: self.expected.clone(),
                actual,
            });
        }
        self.out.inner.sync_all()?;
        fs::rename(&self.tmp, &self.dest)?;
        self.committed = true;
        if let Some(dir) = self.dest.parent() {
            sync_dir(dir)?;
        }
        Ok(())
    }

    /// Bytes written so far.
    #[cfg(test)]
    pub fn written(&self) -> u64 {
        self.out.hasher.len()
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Refuse early rather than store a registry's runaway stream in full.
        if let Some(max) = self.expected_size {
            if self.out.hasher.len() + buf.len() as u64 > max {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "blob {} is larger than the expected {max} bytes",
                        self.expected
                    ),
                ));
            }
        }
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}
