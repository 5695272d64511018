//! The libkrun backend (macOS, Hypervisor.framework). UNTESTED: written against libkrun's C
//! API but never run (no macOS machine in CI); the README says so.
//!
//! libkrun is loaded at run time (`libloading`), so building Berth does not need it. Its
//! `krun_start_enter` takes over the calling process until the VM exits, so the VM runs in a
//! child: `berth supervise` re-executes itself with `BERTH_KRUN_CHILD=1`, and that child calls
//! [`enter`]. libkrun listens on the Unix socket for vsock port 1024 itself: the host connects
//! to it without the hybrid-vsock `CONNECT` line ([`Backend::vsock_handshake`] is false).

use super::{Backend, VmSpec};
use anyhow::Context;
use std::ffi::{c_char, c_int, CString};
use std::path::PathBuf;
use std::process::{Child, Command};

const LIB_NAMES: &[&str] = &[
    "libkrun.dylib",
    "/opt/homebrew/lib/libkrun.dylib",
    "/usr/local/lib/libkrun.dylib",
];

pub struct Krun {
    run_dir: PathBuf,
    child: Option<Child>,
}

impl Krun {
    pub fn new(spec: &VmSpec) -> anyhow::Result<Krun> {
        // Fail early with the install hint when the library is missing.
        load()?;
        Ok(Krun {
            run_dir: spec.run_dir.clone(),
            child: None,
        })
    }
}

fn load() -> anyhow::Result<libloading::Library> {
    for name in LIB_NAMES {
        // SAFETY: loading libkrun runs its initialisers, which have no preconditions.
        if let Ok(lib) = unsafe { libloading::Library::new(name) } {
            return Ok(lib);
        }
    }
    anyhow::bail!("libkrun not found: install it with `brew tap slp/krun && brew install libkrun`")
}

impl Backend for Krun {
    fn describe(&self) -> String {
        "libkrun (hvf)".into()
    }

    fn start(&mut self, spec: &VmSpec) -> anyhow::Result<()> {
        let spec_file = self.run_dir.join("krun-spec.json");
        let json = serde_json::json!({
            "cpus": spec.cpus, "memory_mib": spec.memory_mib,
            "kernel": spec.kernel, "initrd": spec.initrd, "disk": spec.data_disk,
            "shares": spec.shares.iter().map(|s| (s.tag.clone(), s.path.clone())).collect::<Vec<_>>(),
            "console": spec.console_log, "vsock": self.vsock_socket(),
            "cmdline": spec.kernel_cmdline(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs()),
        });
        crate::settings::write_atomic(&spec_file, json.to_string().as_bytes())?;
        let child = Command::new(std::env::current_exe()?)
            .arg("supervise")
            .env("BERTH_KRUN_CHILD", &spec_file)
            .spawn()
            .context("cannot start the libkrun VM process")?;
        self.child = Some(child);
        Ok(())
    }

    fn vsock_socket(&self) -> PathBuf {
        self.run_dir.join("vsock.sock")
    }

    fn vsock_handshake(&self) -> bool {
        false
    }

    fn exited(&mut self) -> Option<String> {
        match self.child.as_mut()?.try_wait() {
            Ok(Some(s)) => Some(format!("the libkrun VM exited ({s})")),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    fn kill(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

type CtxFn = unsafe extern "C" fn() -> c_int;
type ConfigFn = unsafe extern "C" fn(u32, u8, u32) -> c_int;
type KernelFn =
    unsafe extern "C" fn(u32, *const c_char, u32, *const c_char, *const c_char) -> c_int;
type PathFn = unsafe extern "C" fn(u32, *const c_char) -> c_int;
type DiskFn = unsafe extern "C" fn(u32, *const c_char, *const c_char, bool) -> c_int;
type FsFn = unsafe extern "C" fn(u32, *const c_char, *const c_char) -> c_int;
type PortFn = unsafe extern "C" fn(u32, u32, *const c_char, bool) -> c_int;
type EnterFn = unsafe extern "C" fn(u32) -> c_int;

/// In the VM child: configures libkrun from the spec file and runs the VM (never returns on
/// success: libkrun exits the process when the guest powers off).
pub fn enter(spec_file: &std::path::Path) -> anyhow::Result<()> {
    let spec: serde_json::Value = serde_json::from_slice(&std::fs::read(spec_file)?)?;
    let s = |k: &str| CString::new(spec[k].as_str().unwrap_or_default()).unwrap_or_default();
    let lib = load()?;
    // SAFETY: the symbols have the C signatures of libkrun.h; strings outlive the calls.
    unsafe {
        let create: libloading::Symbol<CtxFn> = lib.get(b"krun_create_ctx")?;
        let ctx = create();
        anyhow::ensure!(ctx >= 0, "krun_create_ctx failed ({ctx})");
        let ctx = ctx as u32;
        let check = |name: &str, rc: c_int| -> anyhow::Result<()> {
            anyhow::ensure!(rc >= 0, "{name} failed ({rc})");
            Ok(())
        };
        let config: libloading::Symbol<ConfigFn> = lib.get(b"krun_set_vm_config")?;
        check(
            "krun_set_vm_config",
            config(
                ctx,
                spec["cpus"].as_u64().unwrap_or(2) as u8,
                spec["memory_mib"].as_u64().unwrap_or(2048) as u32,
            ),
        )?;
        let kernel: libloading::Symbol<KernelFn> = lib.get(b"krun_set_kernel")?;
        // Format 0 is a raw kernel image; aarch64 hosts need the guest image built as Image.
        check(
            "krun_set_kernel",
            kernel(
                ctx,
                s("kernel").as_ptr(),
                0,
                s("initrd").as_ptr(),
                s("cmdline").as_ptr(),
            ),
        )?;
        let disk: libloading::Symbol<DiskFn> = lib.get(b"krun_add_disk")?;
        check(
            "krun_add_disk",
            disk(ctx, c"data".as_ptr(), s("disk").as_ptr(), false),
        )?;
        let fs: libloading::Symbol<FsFn> = lib.get(b"krun_add_virtiofs")?;
        for pair in spec["shares"].as_array().into_iter().flatten() {
            let tag = CString::new(pair[0].as_str().unwrap_or_default())?;
            let path = CString::new(pair[1].as_str().unwrap_or_default())?;
            check("krun_add_virtiofs", fs(ctx, tag.as_ptr(), path.as_ptr()))?;
        }
        let port: libloading::Symbol<PortFn> = lib.get(b"krun_add_vsock_port2")?;
        check(
            "krun_add_vsock_port2",
            port(
                ctx,
                berth_common::vmlink::AGENT_VSOCK_PORT,
                s("vsock").as_ptr(),
                true,
            ),
        )?;
        let console: libloading::Symbol<PathFn> = lib.get(b"krun_set_console_output")?;
        check(
            "krun_set_console_output",
            console(ctx, s("console").as_ptr()),
        )?;
        let start: libloading::Symbol<EnterFn> = lib.get(b"krun_start_enter")?;
        let rc = start(ctx);
        anyhow::bail!("krun_start_enter failed ({rc})")
    }
}
