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
    for entry in std::fs::read_dir("/")? {
        let entry = entry?;
        let name = entry.file_name();
        if KEEP.iter().any(|k| name == *k) {
            continue;
        }
        let from = Path::new("/").join(&name);
        // busybox cp -a keeps modes, links and device nodes.
        let status = std::process::Command::new("/bin/busybox")
            .args(["cp", "-a"])
            .arg(&from)
            .arg(format!("{NEW_ROOT}/"))
            .status()?;
        if !status.success() {
            return Err(io::Error::other(format!(
                "copying {} to the new root failed: {status}",
                from.display()
            )));
        }
        // Free the memory of the old copy as we go.
        let _ = if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(&from)
        } else {
            std::fs::remove_file(&from)
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
