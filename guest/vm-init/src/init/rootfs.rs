//! Leaving the initramfs: the kernel's rootfs cannot be pivot_root'ed away
//! from, and container runtimes pivot_root into each container. So PID 1
//! first moves the image's files into a tmpfs, makes that the root and
//! execs itself again there (like switch_root, without a disk).

use nix::mount::MsFlags;
use std::convert::Infallible;
use std::ffi::CString;
use std::io;
use std::path::Path;

/// Set in the environment of the re-executed init.
pub const SWITCHED: &str = "BERTH_ROOT_SWITCHED";
const NEW_ROOT: &str = "/newroot";
/// Mount points of the old root that move (or stay) rather than copy.
const KEEP: [&str; 4] = ["newroot", "dev", "proc", "sys"];

pub fn switch() -> io::Result<Infallible> {
    std::fs::create_dir_all(NEW_ROOT)?;
    nix::mount::mount(
        Some("rootfs"),
        NEW_ROOT,
        Some("tmpfs"),
        MsFlags::empty(),
        Some("mode=0755"),
    )?;
    let mut entries = Vec::new();
    for entry in std::fs::read_dir("/")? {
        let entry = entry?;
        if !KEEP.iter().any(|k| entry.file_name() == *k) {
            entries.push((
                Path::new("/").join(entry.file_name()),
                entry.file_type()?.is_dir(),
            ));
        }
    }
    // One copy of everything (busybox cp -a keeps modes, links and device
    // nodes), then the old files go: busybox itself is among them.
    let status = std::process::Command::new("/bin/busybox")
        .args(["cp", "-a"])
        .args(entries.iter().map(|(p, _)| p))
        .arg(format!("{NEW_ROOT}/"))
        .status()?;
    if !status.success() {
        return Err(io::Error::other(format!(
            "copying the initramfs to the new root failed: {status}"
        )));
    }
    // The rootfs stays mounted underneath: free the memory of its copy.
    for (path, is_dir) in &entries {
        let _ = if *is_dir {
            std::fs::remove_dir_all(path)
        } else {
            std::fs::remove_file(path)
        };
    }
    for dir in ["dev", "proc", "sys"] {
        std::fs::create_dir_all(Path::new(NEW_ROOT).join(dir))?;
    }
    nix::mount::mount(
        Some("/dev"),
        &Path::new(NEW_ROOT).join("dev"),
        None::<&str>,
        MsFlags::MS_MOVE,
        None::<&str>,
    )?;
    nix::unistd::chdir(NEW_ROOT)?;
    nix::mount::mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)?;
    nix::unistd::chroot(".")?;
    nix::unistd::chdir("/")?;
    let init = CString::new("/init").unwrap();
    let mut env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend(v.into_encoded_bytes());
            CString::new(kv).ok()
        })
        .collect();
    env.push(CString::new(format!("{SWITCHED}=1")).unwrap());
    let args = [init.clone()];
    nix::unistd::execve(&init, &args, &env)?;
    unreachable!("execve returned without an error")
}
