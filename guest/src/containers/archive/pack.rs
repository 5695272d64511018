//! The tar `GET /containers/{id}/archive` answers with: the resolved path
//! (a file, a symlink as a link, or a directory with everything below it,
//! volumes included) with its first name replaced by the name the client
//! asked for, as moby's `TarResourceRebase` writes it.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;

use rustix::fs::{self as rfs, FileType, Stat};
use tar::{EntryType, Header};

use super::fs::{ContainerFs, Leaf};

/// Writes the tree at `leaf` (container path `path`) to `out`, its entries
/// named `rebase`, `rebase/child`, … (a directory's own entry ends in `/`).
pub fn write_tree<W: Write>(
    fs: &ContainerFs,
    leaf: Leaf,
    path: Vec<Vec<u8>>,
    rebase: &str,
    out: W,
) -> io::Result<W> {
    let mut p = Packer {
        fs,
        b: tar::Builder::new(out),
        links: HashMap::new(),
    };
    p.entry(leaf, path, rebase.as_bytes().to_vec())?;
    p.b.into_inner()
}

struct Packer<'a, W: Write> {
    fs: &'a ContainerFs,
    b: tar::Builder<W>,
    /// (device, inode) of files with several links → the name written first,
    /// so later names become hard links to it as in docker's archives.
    links: HashMap<(u64, u64), Vec<u8>>,
}

impl<W: Write> Packer<'_, W> {
    fn entry(&mut self, leaf: Leaf, path: Vec<Vec<u8>>, name: Vec<u8>) -> io::Result<()> {
        let st = leaf.lstat()?;
        let kind = FileType::from_raw_mode(st.st_mode);
        let mut h = header_for(&st);
        match kind {
            FileType::Directory => {
                h.set_entry_type(EntryType::Directory);
                let mut dir_name = name.clone();
                if !dir_name.ends_with(b"/") {
                    dir_name.push(b'/');
                }
                self.append(h, &dir_name, None, io::empty())?;
                let dir = leaf.open_dir()?;
                drop(leaf);
                let mut children: Vec<Vec<u8>> = rfs::Dir::read_from(&dir)?
                    .filter_map(|e| e.ok().map(|e| e.file_name().to_bytes().to_vec()))
                    .filter(|n| n != b"." && n != b"..")
                    .collect();
                // filepath.Walk's order, so archives compare equal to docker's.
                children.sort();
                for child in children {
                    let mut cpath = path.clone();
                    cpath.push(child.clone());
                    let cleaf = match self.fs.mount_at(&cpath) {
                        Some(m) => {
                            let (fd, is_dir) = self.fs.mount_root(m)?;
                            Leaf::Open { fd, is_dir }
                        }
                        None => Leaf::Entry {
                            dir: dir.try_clone()?,
                            name: child.clone(),
                        },
                    };
                    let mut cname = name.clone();
                    cname.push(b'/');
                    cname.extend_from_slice(&child);
                    match self.entry(cleaf, cpath, cname) {
                        // Gone since the directory was read: a live container's churn.
                        Err(e)
                            if e.raw_os_error()
                                == Some(rustix::io::Errno::NOENT.raw_os_error()) => {}
                        r => r?,
                    }
                }
            }
            FileType::RegularFile => {
                let key = (st.st_dev, st.st_ino);
                if st.st_nlink > 1 {
                    if let Some(first) = self.links.get(&key).cloned() {
                        h.set_entry_type(EntryType::Link);
                        h.set_size(0);
                        return self.append(h, &name, Some(&first), io::empty());
                    }
                    self.links.insert(key, name.clone());
                }
                h.set_entry_type(EntryType::Regular);
                let file = leaf.open_file()?;
                let size = st.st_size.max(0) as u64;
                h.set_size(size);
                if let Some(cap) = capability(&file) {
                    self.pax(&[("SCHILY.xattr.security.capability", &cap)])?;
                }
                // Exactly the size in the header, whatever a running container
                // does to the file meanwhile: a tar with a wrong size is corrupt.
                let data = file.take(size).chain(io::repeat(0)).take(size);
                self.append(h, &name, None, data)?;
            }
            FileType::Symlink => {
                h.set_entry_type(EntryType::Symlink);
                let target = leaf.readlink()?;
                self.append(h, &name, Some(&target), io::empty())?;
            }
            FileType::CharacterDevice | FileType::BlockDevice => {
                h.set_entry_type(if kind == FileType::CharacterDevice {
                    EntryType::Char
                } else {
                    EntryType::Block
                });
                h.set_device_major(rfs::major(st.st_rdev))?;
                h.set_device_minor(rfs::minor(st.st_rdev))?;
                self.append(h, &name, None, io::empty())?;
            }
            FileType::Fifo => {
                h.set_entry_type(EntryType::Fifo);
                self.append(h, &name, None, io::empty())?;
            }
            // Sockets are left out, as docker leaves them out.
            _ => {}
        }
        Ok(())
    }

    /// Appends `h` under the raw `name` (and `link`): the tar crate's own path
    /// setters would drop the `./` that `docker cp c:/dir/. x` relies on.
    /// Names past the header's 100 bytes go in GNU long-name records.
    fn append(
        &mut self,
        mut h: Header,
        name: &[u8],
        link: Option<&[u8]>,
        data: impl Read,
    ) -> io::Result<()> {
        if name.len() > 100 {
            self.long_record(b'L', name)?;
        }
        copy_truncated(&mut h.as_old_mut().name, name);
        if let Some(link) = link {
            if link.len() > 100 {
                self.long_record(b'K', link)?;
            }
            copy_truncated(&mut h.as_old_mut().linkname, link);
        }
        h.set_cksum();
        self.b.append(&h, data)
    }

    fn long_record(&mut self, kind: u8, value: &[u8]) -> io::Result<()> {
        let mut h = Header::new_gnu();
        copy_truncated(&mut h.as_old_mut().name, b"././@LongLink");
        h.set_mode(0o644);
        h.set_entry_type(EntryType::new(kind));
        h.set_size(value.len() as u64 + 1);
        h.set_cksum();
        self.b.append(&h, value.chain(&[0u8][..]))
    }

    /// A PAX extended header for the next entry.
    fn pax(&mut self, records: &[(&str, &[u8])]) -> io::Result<()> {
        let mut body = Vec::new();
        for (key, value) in records {
            // "<len> <key>=<value>\n", the length counting its own digits.
            let rest = key.len() + value.len() + 3;
            let mut len = rest + 1;
            while len != rest + len.to_string().len() {
                len = rest + len.to_string().len();
            }
            body.extend_from_slice(format!("{len} {key}=").as_bytes());
            body.extend_from_slice(value);
            body.push(b'\n');
        }
        let mut h = Header::new_ustar();
        copy_truncated(&mut h.as_old_mut().name, b"PaxHeaders/entry");
        h.set_mode(0o644);
        h.set_entry_type(EntryType::XHeader);
        h.set_size(body.len() as u64);
        h.set_cksum();
        self.b.append(&h, body.as_slice())
    }
}

fn header_for(st: &Stat) -> Header {
    let mut h = Header::new_gnu();
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(st.st_uid as u64);
    h.set_gid(st.st_gid as u64);
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

fn copy_truncated(slot: &mut [u8], value: &[u8]) {
    slot.fill(0);
    let n = value.len().min(slot.len());
    slot[..n].copy_from_slice(&value[..n]);
}

/// The file's `security.capability`, the one xattr docker archives.
fn capability(file: &std::fs::File) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    let n = rfs::fgetxattr(file.as_fd(), "security.capability", &mut buf[..]).ok()?;
    buf.truncate(n);
    Some(buf)
}

const CHUNK: usize = 64 * 1024;

/// A `Write` whose bytes become the chunks of the response body; a client
/// that went away turns into a broken pipe, which ends the walk.
pub struct ChunkSender {
    tx: tokio::sync::mpsc::Sender<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
}

impl ChunkSender {
    pub fn new(tx: tokio::sync::mpsc::Sender<io::Result<Vec<u8>>>) -> Self {
        ChunkSender {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    pub fn flush_now(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChunkSender {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush_now()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_now()
    }
}
