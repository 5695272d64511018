//! The persistent data disk: an ext4 filesystem made on first boot, grown
//! when the host made the disk file bigger.

use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// What the superblock says about an ext4 filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ext4 {
    pub size_bytes: u64,
}

const SUPERBLOCK_OFFSET: u64 = 1024;
const SUPERBLOCK_LEN: usize = 1024;
const EXT4_MAGIC: u16 = 0xEF53;
const INCOMPAT_64BIT: u32 = 0x80;

/// Reads an ext2/3/4 superblock (1024 bytes at offset 1024); `None` when the
/// bytes are not one (a blank disk).
pub fn parse_superblock(sb: &[u8]) -> Option<Ext4> {
    if sb.len() < SUPERBLOCK_LEN {
        return None;
    }
    let u16_at = |o: usize| u16::from_le_bytes([sb[o], sb[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes(sb[o..o + 4].try_into().unwrap());
    if u16_at(0x38) != EXT4_MAGIC {
        return None;
    }
    let log_block = u32_at(0x18);
    if log_block > 6 {
        return None;
    }
    let block_size = 1024u64 << log_block;
    let mut blocks = u64::from(u32_at(0x04));
    if u32_at(0x60) & INCOMPAT_64BIT != 0 {
        blocks |= u64::from(u32_at(0x150)) << 32;
    }
    Some(Ext4 {
        size_bytes: blocks * block_size,
    })
}

pub fn read_superblock(device: &Path) -> io::Result<Option<Ext4>> {
    let mut f = std::fs::File::open(device)?;
    f.seek(SeekFrom::Start(SUPERBLOCK_OFFSET))?;
    let mut sb = vec![0u8; SUPERBLOCK_LEN];
    f.read_exact(&mut sb)?;
    Ok(parse_superblock(&sb))
}

/// The size of a block device, from sysfs (`/sys/class/block/NAME/size`,
/// in 512-byte sectors).
pub fn device_size(device: &Path) -> io::Result<u64> {
    let name = device
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no device name"))?;
    let text = std::fs::read_to_string(Path::new("/sys/class/block").join(name).join("size"))?;
    text.trim()
        .parse::<u64>()
        .map(|s| s * 512)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// What to do with the disk before and after mounting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// No filesystem yet: make one.
    Format,
    /// The disk grew since the filesystem was made: grow it (online, after mounting).
    Grow,
    Mount,
    /// The disk file is smaller than its filesystem (someone truncated it):
    /// mounting would fail or lose data.
    Shrunk {
        fs_bytes: u64,
    },
}

/// Growing is worth it only past a margin: ext4 rounds its size down to a
/// block group, so a few megabytes of slack are normal.
const GROW_MARGIN: u64 = 64 << 20;

pub fn plan(fs: Option<Ext4>, device_bytes: u64) -> Plan {
    match fs {
        None => Plan::Format,
        Some(fs) if device_bytes > fs.size_bytes + GROW_MARGIN => Plan::Grow,
        Some(fs) if device_bytes < fs.size_bytes => Plan::Shrunk {
            fs_bytes: fs.size_bytes,
        },
        Some(_) => Plan::Mount,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn superblock(blocks_lo: u32, log_block: u32, blocks_hi: Option<u32>) -> Vec<u8> {
        let mut sb = vec![0u8; SUPERBLOCK_LEN];
        sb[0x04..0x08].copy_from_slice(&blocks_lo.to_le_bytes());
        sb[0x18..0x1c].copy_from_slice(&log_block.to_le_bytes());
        sb[0x38..0x3a].copy_from_slice(&EXT4_MAGIC.to_le_bytes());
        if let Some(hi) = blocks_hi {
            sb[0x60..0x64].copy_from_slice(&INCOMPAT_64BIT.to_le_bytes());
            sb[0x150..0x154].copy_from_slice(&hi.to_le_bytes());
        }
        sb
    }

    #[test]
    fn reads_the_filesystem_size() {
        // 4 KiB blocks (log 2), 262144 blocks = 1 GiB.
        assert_eq!(
            parse_superblock(&superblock(262_144, 2, None)),
            Some(Ext4 {
                size_bytes: 1 << 30
            })
        );
        // 64-bit: the high word counts.
        assert_eq!(
            parse_superblock(&superblock(0, 2, Some(1))),
            Some(Ext4 {
                size_bytes: (1u64 << 32) * 4096
            })
        );
    }

    #[test]
    fn a_blank_disk_has_no_filesystem() {
        assert_eq!(parse_superblock(&[0u8; SUPERBLOCK_LEN]), None);
        assert_eq!(parse_superblock(&[0u8; 10]), None);
        let mut bad = superblock(1, 40, None);
        assert_eq!(parse_superblock(&bad), None);
        bad[0x38] = 0;
        assert_eq!(parse_superblock(&bad), None);
    }

    #[test]
    fn plans_format_grow_or_mount() {
        let gib = 1u64 << 30;
        assert_eq!(plan(None, gib), Plan::Format);
        let fs = Some(Ext4 { size_bytes: gib });
        assert_eq!(plan(fs, gib), Plan::Mount);
        assert_eq!(plan(fs, gib + (1 << 20)), Plan::Mount);
        assert_eq!(plan(fs, 2 * gib), Plan::Grow);
        assert_eq!(plan(fs, gib / 2), Plan::Shrunk { fs_bytes: gib });
    }

    #[test]
    fn reads_a_superblock_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("disk.img");
        let mut bytes = vec![0u8; 4096];
        bytes[1024..2048].copy_from_slice(&superblock(1024, 0, None));
        std::fs::write(&img, &bytes).unwrap();
        assert_eq!(
            read_superblock(&img).unwrap(),
            Some(Ext4 {
                size_bytes: 1 << 20
            })
        );
    }
}
