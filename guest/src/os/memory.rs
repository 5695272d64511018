//! How berthd's allocator treats the big, short-lived buffers of a streamed
//! body (docker cp, load, import: the server's read buffers, held while the
//! unpacking thread writes them out).
//!
//! glibc's defaults hand such buffers back to the kernel as soon as they are
//! freed (an unmapped chunk, or an arena's top trimmed past 2× the last one),
//! so the next read lands in fresh pages: a 256 MiB docker cp took ~9,800
//! page faults, each zeroing a page, about a sixth of berthd's CPU for it,
//! and far dearer inside an emulated VM. Keeping a few MiB in the arenas
//! makes the buffers reusable; [`release_free`] returns them once a big body
//! is done, so that an idle berthd stays small.

/// Buffers below this come from the arenas (glibc's starting threshold is
/// 128 KiB; the server's read buffers grow to ~400 KiB).
const MMAP_THRESHOLD: usize = 4 << 20;
/// Free memory an arena keeps at its top before trimming.
const TRIM_THRESHOLD: usize = 8 << 20;

/// Sets the thresholds; call it before any thread starts.
pub fn keep_io_buffers() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes glibc's tunables; it is called before
    // other threads exist.
    unsafe {
        use nix::libc::{mallopt, M_MMAP_THRESHOLD, M_TRIM_THRESHOLD};
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD as i32);
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD as i32);
    }
}

/// Gives the free pages of every arena back to the kernel.
pub fn release_free() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim is thread-safe and only releases free memory.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}
