//! Layer decompression chosen by the stream's first bytes rather than by its media type:
//! registries and `docker save` archives label layers inconsistently (a `.tar` media type
//! on gzip data, `tar.gzip` on plain tar), and docker sniffs too.
//!
//! gzip goes through flate2 (on the pure-Rust zlib-rs backend) as a multi-member
//! stream, since some layer writers concatenate members; zstd through `ruzstd`, a
//! pure-Rust decoder, so that the guest's berthd builds without a C toolchain — zstd
//! layers are rare enough that its speed relative to libzstd does not decide pull times.

use std::io::{self, BufRead, BufReader, Read};

use flate2::read::MultiGzDecoder;
use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b, 0x08];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
/// Skippable frames: magic 0x184D2A5? (little-endian), then a 4-byte length.
const ZSTD_SKIPPABLE_MASK: u32 = 0xFFFF_FFF0;
const ZSTD_SKIPPABLE_START: u32 = 0x184D_2A50;
const XZ_MAGIC: &[u8] = &[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
/// Enough bytes for every check in `detect` and `refuse_unsupported`.
const SNIFF_LEN: usize = 10;
/// klauspost/compress's default limit (what containerd and dockerd decode with): zstd
/// frames may ask for windows up to 3.75 TiB, and the window is allocated up front.
const ZSTD_MAX_WINDOW: u64 = 1 << 29;

/// Which decompressor the stream starting with `first_bytes` needs. Fewer bytes than a
/// magic number's length never match it.
pub fn detect(first_bytes: &[u8]) -> Compression {
    if first_bytes.starts_with(GZIP_MAGIC) {
        return Compression::Gzip;
    }
    if first_bytes.starts_with(ZSTD_MAGIC) {
        return Compression::Zstd;
    }
    // A skippable frame header is 8 bytes; require all of them, as docker does.
    if first_bytes.len() >= 8 {
        let magic = u32::from_le_bytes(first_bytes[..4].try_into().unwrap_or_default());
        if magic & ZSTD_SKIPPABLE_MASK == ZSTD_SKIPPABLE_START {
            return Compression::Zstd;
        }
    }
    Compression::None
}

/// The decompressed stream of `r`: gzip, zstd or, for anything else, `r` unchanged
/// (a plain tar). xz and bzip2, which docker accepts for `docker load`/`import` but
/// registries never serve as layers, are refused with a clear error rather than handed
/// to the tar reader as garbage.
pub fn decompress<'a, R: Read + 'a>(r: R) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match open(r)? {
        Opened::Plain(r) => Box::new(r),
        Opened::Packed(r) => r,
    })
}

/// [`decompress`], telling a plain stream (`r` itself after the bytes read to
/// sniff it) from a decompressing one.
pub enum Opened<'a, R> {
    Plain(io::Chain<io::Cursor<Vec<u8>>, R>),
    Packed(Box<dyn Read + 'a>),
}

pub fn open<'a, R: Read + 'a>(mut r: R) -> io::Result<Opened<'a, R>> {
    let mut head = [0u8; SNIFF_LEN];
    let n = read_up_to(&mut r, &mut head)?;
    let head = &head[..n];
    refuse_unsupported(head)?;
    let whole = io::Cursor::new(head.to_vec()).chain(r);
    Ok(match detect(head) {
        Compression::Gzip => Opened::Packed(Box::new(MultiGzDecoder::new(whole))),
        Compression::Zstd => Opened::Packed(Box::new(ZstdReader::new(whole))),
        Compression::None => Opened::Plain(whole),
    })
}

/// Reads until `buf` is full or the stream ends; how many bytes came.
pub fn read_up_to(r: &mut (impl Read + ?Sized), buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn refuse_unsupported(head: &[u8]) -> io::Result<()> {
    // "BZh" + block size digit + the block (or end-of-stream) magic: the three-byte
    // prefix alone could be the start of a tar entry's name.
    let bzip2 = head.len() >= 10
        && head.starts_with(b"BZh")
        && (b'1'..=b'9').contains(&head[3])
        && (head[4..10] == [0x31, 0x41, 0x59, 0x26, 0x53, 0x59]
            || head[4..10] == [0x17, 0x72, 0x45, 0x38, 0x50, 0x90]);
    let what = if head.starts_with(XZ_MAGIC) {
        "xz"
    } else if bzip2 {
        "bzip2"
    } else {
        return Ok(());
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{what}-compressed layers are not supported (only gzip, zstd and plain tar)"),
    ))
}

/// A zstd stream of any number of frames, skippable frames included (ruzstd's own
/// reader stops after the first frame; zstd's format and its CLI allow concatenation).
struct ZstdReader<R: Read> {
    src: BufReader<R>,
    decoder: FrameDecoder,
    in_frame: bool,
}

impl<R: Read> ZstdReader<R> {
    fn new(src: R) -> Self {
        let mut decoder = FrameDecoder::new();
        decoder.set_max_window_size(ZSTD_MAX_WINDOW);
        ZstdReader {
            src: BufReader::new(src),
            decoder,
            in_frame: false,
        }
    }

    /// Reads the next frame header; false at the clean end of the stream.
    fn next_frame(&mut self) -> io::Result<bool> {
        loop {
            if self.src.fill_buf()?.is_empty() {
                return Ok(false);
            }
            match self.decoder.reset(&mut self.src) {
                Ok(()) => return Ok(true),
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let skipped = io::copy(
                        &mut (&mut self.src).take(u64::from(length)),
                        &mut io::sink(),
                    )?;
                    if skipped != u64::from(length) {
                        return Err(zstd_error("truncated skippable frame"));
                    }
                }
                Err(e) => return Err(zstd_error(e)),
            }
        }
    }
}

fn zstd_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {e}"))
}

impl<R: Read> Read for ZstdReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.in_frame {
                let d = &mut self.decoder;
                while d.can_collect() == 0 && !d.is_finished() {
                    d.decode_blocks(&mut self.src, BlockDecodingStrategy::UptoBlocks(1))
                        .map_err(zstd_error)?;
                }
                let n = d.read(buf)?;
                if n > 0 {
                    return Ok(n);
                }
                self.in_frame = false;
            }
            if !self.next_frame()? {
                return Ok(0);
            }
            self.in_frame = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// `zstd -19 --check` (the reference implementation) of `sample()`.
    const ZSTD_CLI_FRAME: &[u8] = &[
        0x28, 0xb5, 0x2f, 0xfd, 0x64, 0xa0, 0x72, 0x05, 0x03, 0x00, 0xf2, 0x83, 0x0b, 0x10, 0xc0,
        0x1d, 0x03, 0x66, 0x72, 0x60, 0xfc, 0xdb, 0x2c, 0x1b, 0x49, 0x29, 0x6c, 0x54, 0x4e, 0x0f,
        0xff, 0xff, 0xff, 0xbf, 0x6d, 0xdb, 0xb6, 0xdd, 0xb6, 0x6d, 0xdb, 0x92, 0x24, 0x49, 0x92,
        0xc7, 0x14, 0x32, 0xee, 0x12, 0x88, 0xd0, 0xd4, 0x43, 0x2c, 0x2c, 0xd7, 0x54, 0x0a, 0x33,
        0xa8, 0x20, 0xbe, 0x7e, 0x07, 0x90, 0xa3, 0xd2, 0xc5, 0x11, 0x7c, 0x82, 0xc0, 0xf8, 0xfd,
        0xff, 0xff, 0x37, 0xb0, 0xf0, 0xb9, 0x6a, 0xa4, 0xd7, 0xbd, 0x33, 0x8b, 0xe9, 0x72, 0x2c,
        0x55, 0x4e, 0xe9, 0xe4, 0x92, 0x44, 0x0e, 0xb9, 0xce, 0xdf, 0x5b, 0xb8, 0x38, 0x56, 0x94,
        0x02, 0x15, 0x43, 0xfb, 0xd4,
    ];

    fn sample() -> Vec<u8> {
        (0..2000)
            .flat_map(|i| format!("berth layer {}\n", i % 50).into_bytes())
            .collect()
    }

    /// Incompressible-ish bytes, so compressed streams span many reads and blocks.
    fn noise(len: usize) -> Vec<u8> {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        (0..len)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if i % 3 == 0 {
                    b'a'
                } else {
                    x as u8
                }
            })
            .collect()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
    }

    fn unpack(input: Vec<u8>) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        decompress(io::Cursor::new(input))?.read_to_end(&mut out)?;
        Ok(out)
    }

    /// Hands out at most 3 bytes per read, to exercise the sniffing loop.
    struct Trickle(io::Cursor<Vec<u8>>);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(3);
            self.0.read(&mut buf[..n])
        }
    }

    #[test]
    fn detects_by_magic() {
        assert_eq!(detect(&gzip(b"x")), Compression::Gzip);
        assert_eq!(detect(ZSTD_CLI_FRAME), Compression::Zstd);
        assert_eq!(
            detect(&[0x5e, 0x2a, 0x4d, 0x18, 0, 0, 0, 0]),
            Compression::Zstd
        );
        assert_eq!(detect(&[0x5e, 0x2a, 0x4d, 0x18]), Compression::None);
        assert_eq!(detect(&[0x1f, 0x8b]), Compression::None);
        assert_eq!(detect(b"etc/passwd\0\0\0"), Compression::None);
        assert_eq!(detect(b""), Compression::None);
    }

    #[test]
    fn gzip_single_and_multi_member() {
        let data = noise(300_000);
        assert_eq!(unpack(gzip(&data)).unwrap(), data);
        let mut two = gzip(&data[..1000]);
        two.extend(gzip(&data[1000..]));
        assert_eq!(unpack(two).unwrap(), data);
        let mut out = Vec::new();
        decompress(Trickle(io::Cursor::new(gzip(&data))))
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn zstd_from_the_reference_encoder() {
        assert_eq!(unpack(ZSTD_CLI_FRAME.to_vec()).unwrap(), sample());
    }

    #[test]
    fn zstd_multi_frame_and_skippable() {
        let data = noise(400_000);
        assert_eq!(unpack(zstd(&data)).unwrap(), data);
        // skippable frame, frame, skippable frame, frame: what zstd:chunked-style writers emit.
        let mut stream = vec![0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3];
        stream.extend(zstd(&data[..5000]));
        stream.extend([0x5f, 0x2a, 0x4d, 0x18, 0, 0, 0, 0]);
        stream.extend(ZSTD_CLI_FRAME);
        stream.extend(zstd(&data[5000..]));
        let mut want = data[..5000].to_vec();
        want.extend(sample());
        want.extend(&data[5000..]);
        assert_eq!(unpack(stream.clone()).unwrap(), want);
        let mut out = Vec::new();
        decompress(Trickle(io::Cursor::new(stream)))
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, want);
    }

    #[test]
    fn plain_passes_through() {
        let data = noise(70_000);
        assert_eq!(unpack(data.clone()).unwrap(), data);
        assert_eq!(unpack(b"abc".to_vec()).unwrap(), b"abc");
        assert_eq!(unpack(Vec::new()).unwrap(), b"");
        let mut out = Vec::new();
        decompress(Trickle(io::Cursor::new(data.clone())))
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn corrupt_and_truncated_streams_fail() {
        let data = noise(100_000);
        let mut gz = gzip(&data);
        gz.truncate(gz.len() / 2);
        assert!(unpack(gz).is_err());
        let mut zs = zstd(&data);
        zs.truncate(zs.len() / 2);
        assert!(unpack(zs).is_err());
        let mut bad = ZSTD_CLI_FRAME.to_vec();
        bad.extend(b"trailing garbage");
        assert!(unpack(bad).unwrap_err().to_string().starts_with("zstd:"));
        assert!(unpack(vec![0x50, 0x2a, 0x4d, 0x18, 9, 0, 0, 0, 1]).is_err());
    }

    #[test]
    fn refuses_xz_and_bzip2_by_name() {
        let xz = [
            0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x04, 0xe6, 0xd6, 0xb4, 0x46,
        ];
        let e = unpack(xz.to_vec()).err().unwrap();
        assert_eq!(
            e.to_string(),
            "xz-compressed layers are not supported (only gzip, zstd and plain tar)"
        );
        let bz = b"BZh91AY&SY\x00\x00".to_vec();
        assert!(unpack(bz)
            .err()
            .unwrap()
            .to_string()
            .starts_with("bzip2-compressed"));
        // Only the prefix: a tar whose first entry is named "BZh..." is still a tar.
        assert_eq!(
            unpack(b"BZh9-not-really".to_vec()).unwrap(),
            b"BZh9-not-really"
        );
    }
}
