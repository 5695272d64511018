//! PID 1 in the VM. The sequence: console, leave the initramfs (see
//! `rootfs`), fork a reaper (PID 1 stays a plain reaper of orphans, so the
//! exit statuses of the init's own children are never stolen), then in the
//! child: mounts, clock, modules, cgroups, network, data disk, shares,
//! daemon.json, berthd, and the agent on vsock.

mod berthd;
mod cmdline;
mod disk;
mod modules;
mod net;
mod ops;
mod rootfs;
mod sys;

use anyhow::Context as _;
use berth_common::vmlink;
use nix::mount::MsFlags;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use sys::{MountSpec, Sys};

const FW_CFG_DAEMON_JSON: &str = "/sys/firmware/qemu_fw_cfg/by_name/opt/berth/daemon.json/raw";

pub fn run_as_pid1() -> ! {
    console();
    if std::env::var_os(rootfs::SWITCHED).is_none() {
        let Err(err) = rootfs::switch();
        // Going on in the initramfs still gives a debuggable VM; containers
        // will fail to start (pivot_root).
        eprintln!("berth-vm-init: cannot leave the initramfs: {err}");
    }
    // SAFETY: still single-threaded here; the child goes on normally.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { child }) => reap(child),
        Ok(nix::unistd::ForkResult::Child) => main_process(),
        Err(e) => {
            eprintln!("berth-vm-init: fork failed ({e}); running without a reaper");
            main_process()
        }
    }
}

/// The kernel may start init without stdio (no /dev/console in the
/// archive): mount devtmpfs and point 0, 1 and 2 at the console.
fn console() {
    let _ = std::fs::create_dir_all("/dev");
    let _ = nix::mount::mount(
        Some("devtmpfs"),
        "/dev",
        Some("devtmpfs"),
        MsFlags::MS_NOSUID,
        Some("mode=0755"),
    );
    if let Ok(fd) = nix::fcntl::open(
        "/dev/console",
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY,
        nix::sys::stat::Mode::empty(),
    ) {
        for target in 0..3 {
            let _ = nix::unistd::dup2(fd, target);
        }
        if fd > 2 {
            let _ = nix::unistd::close(fd);
        }
    }
}

/// PID 1's life: collect every orphan; when the main process ends, so does
/// the VM.
fn reap(main: nix::unistd::Pid) -> ! {
    use nix::sys::wait::{waitpid, WaitStatus};
    loop {
        match waitpid(None, None) {
            Ok(status) if status.pid() == Some(main) => {
                eprintln!("berth-vm-init: the init process ended ({status:?}); powering off");
                ops::power_off();
                loop {
                    std::thread::sleep(Duration::from_secs(60));
                }
            }
            Ok(WaitStatus::StillAlive) | Ok(_) => {}
            Err(nix::errno::Errno::ECHILD) => std::thread::sleep(Duration::from_millis(500)),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn main_process() -> ! {
    // The kernel starts init with no PATH; everything it runs needs one.
    // SAFETY: no other thread exists yet.
    unsafe {
        std::env::set_var(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
    };
    crate::init_logging();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth-vm-init: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let handle = rt.handle().clone();
    if let Err(e) = rt.block_on(boot(handle)) {
        tracing::error!("boot failed: {e:#}");
    }
    // boot() only returns on a failure that leaves nothing to serve.
    std::process::exit(1);
}

async fn boot(runtime: tokio::runtime::Handle) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let sys = sys::Linux;
    for e in sys::mount_all(&sys, &sys::base_mounts()) {
        tracing::warn!("{e}");
    }
    devices();
    let _ = nix::unistd::sethostname("berth");

    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let (cfg, problems) = cmdline::parse(&cmdline);
    for p in problems {
        tracing::warn!("kernel command line: {p}");
    }
    if let Some(secs) = cfg.time {
        if let Err(e) = ops::set_clock(secs.saturating_mul(1_000_000_000)) {
            tracing::warn!("setting the clock: {e}");
        }
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        uptime = uptime(),
        "berth-vm-init starting"
    );

    let (loaded, failed) = modules::load_all(Path::new(modules::LIST));
    for f in &failed {
        tracing::warn!("module {f}");
    }
    tracing::info!(loaded, failed = failed.len(), "kernel modules loaded");

    match sys::enable_controllers(&sys, Path::new("/sys/fs/cgroup")) {
        Ok(c) => tracing::info!("cgroup controllers enabled: {c}"),
        Err(e) => tracing::warn!("enabling cgroup controllers: {e}"),
    }
    let _ = std::fs::write("/proc/sys/net/ipv4/ip_forward", "1");

    if let Err(e) = net::configure("eth0").await {
        tracing::warn!("network: {e:#}");
    }
    let _ =
        crate::fsutil::write_atomic(Path::new("/etc/resolv.conf"), net::resolv_conf().as_bytes());
    let _ = std::fs::write("/etc/hosts", "127.0.0.1 localhost berth\n::1 localhost\n");

    data_disk(&sys, cfg.data.as_deref()).await;
    let mut unmount = Vec::new();
    for (tag, path) in &cfg.shares {
        let m = MountSpec::new(
            tag,
            &path.to_string_lossy(),
            "virtiofs",
            MsFlags::empty(),
            None,
        );
        match sys.mkdir_p(path).and_then(|_| sys.mount(&m)) {
            Ok(()) => {
                tracing::info!("shared folder {tag} mounted at {}", path.display());
                unmount.push(path.clone());
            }
            Err(e) => tracing::warn!("shared folder {tag}: {e}"),
        }
    }

    daemon_json();
    for dir in ["/run/berth/exec", "/var/log", "/var/run/berth"] {
        let _ = std::fs::create_dir_all(dir);
    }

    let supervisor = berthd::Supervisor::new(berthd::args(cfg.debug_tcp));
    tokio::spawn(supervisor.clone().run());
    tracing::info!(
        uptime = uptime(),
        "boot done in {:?}; berthd starting",
        t0.elapsed()
    );

    let stop_watching = tokio_util::sync::CancellationToken::new();
    let ops = Arc::new(ops::VmOps {
        supervisor,
        unmount,
        runtime,
        stop_watching: stop_watching.clone(),
    });
    let agent = crate::agent::Agent::start(
        PathBuf::from(vmlink::GUEST_DOCKER_SOCKET),
        ops,
        stop_watching,
    );
    serve_vsock(agent).await
}

/// Seconds since the kernel started, for boot timings in the console log
/// (the wall clock jumps when it is set from the host).
fn uptime() -> String {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(|u| format!("{u}s")))
        .unwrap_or_default()
}

/// /dev entries devtmpfs does not make.
fn devices() {
    // With a private devpts instance, ptys must come from its own ptmx.
    let _ = std::fs::remove_file("/dev/ptmx");
    let _ = std::os::unix::fs::symlink("pts/ptmx", "/dev/ptmx");
    for (link, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        let _ = std::os::unix::fs::symlink(target, link);
    }
}

/// Formats (first boot), mounts and grows the data disk at /var/lib/berth.
/// Without a disk berthd still runs, on memory: said loudly.
async fn data_disk(sys: &dyn Sys, device: Option<&Path>) {
    let target = ops::DATA_ROOT;
    let _ = sys.mkdir_p(Path::new(target));
    let result = match device {
        Some(dev) => prepare_disk(sys, dev, target).await,
        None => Err(anyhow::anyhow!("no berth.data= on the kernel command line")),
    };
    if let Err(e) = result {
        tracing::error!(
            "data disk: {e:#}; images and containers live in memory and are lost at shutdown"
        );
        let m = MountSpec::new(
            "tmpfs",
            target,
            "tmpfs",
            MsFlags::empty(),
            Some("mode=0711"),
        );
        let _ = sys.mount(&m);
    }
}

async fn prepare_disk(sys: &dyn Sys, dev: &Path, target: &str) -> anyhow::Result<()> {
    // The device node appears once virtio_blk has probed the disk.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dev.exists() {
        if Instant::now() > deadline {
            anyhow::bail!("{} did not appear", dev.display());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let fs = disk::read_superblock(dev).with_context(|| format!("reading {}", dev.display()))?;
    let size = disk::device_size(dev).unwrap_or(0);
    let plan = disk::plan(fs, size);
    if let disk::Plan::Shrunk { fs_bytes } = plan {
        anyhow::bail!(
            "{} ({size} bytes) is smaller than its filesystem ({fs_bytes} bytes): the disk file \
             was shrunk; give it back its size (truncate -s {fs_bytes} data.img) to keep its data",
            dev.display()
        );
    }
    if plan == disk::Plan::Format {
        tracing::info!(
            "data disk {} is blank: making an ext4 filesystem",
            dev.display()
        );
        run(
            "mkfs.ext4",
            &[
                "-q",
                "-F",
                "-L",
                "berth-data",
                "-E",
                "lazy_itable_init=1,lazy_journal_init=1",
                &dev.to_string_lossy(),
            ],
        )
        .await?;
    }
    sys.mount(&MountSpec::new(
        &dev.to_string_lossy(),
        target,
        "ext4",
        MsFlags::MS_NOATIME,
        None,
    ))?;
    if plan == disk::Plan::Grow {
        tracing::info!("data disk grew to {size} bytes: resizing the filesystem");
        if let Err(e) = run("resize2fs", &[&dev.to_string_lossy()]).await {
            tracing::warn!("growing the data disk: {e:#}");
        }
    }
    tracing::info!("data disk {} mounted on {target}", dev.display());
    Ok(())
}

async fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        anyhow::bail!(
            "{program} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The host's daemon.json comes through fw_cfg; without one berthd gets `{}`.
fn daemon_json() {
    let content = match std::fs::read(FW_CFG_DAEMON_JSON) {
        Ok(c) => {
            tracing::info!("daemon.json from the host ({} bytes)", c.len());
            c
        }
        Err(_) => b"{}".to_vec(),
    };
    if let Err(e) = crate::fsutil::write_atomic(Path::new(berthd::CONFIG), &content) {
        tracing::error!("writing {}: {e}", berthd::CONFIG);
    }
}

async fn serve_vsock(agent: Arc<crate::agent::Agent>) -> anyhow::Result<()> {
    let addr = tokio_vsock::VsockAddr::new(tokio_vsock::VMADDR_CID_ANY, vmlink::AGENT_VSOCK_PORT);
    let listener = loop {
        match tokio_vsock::VsockListener::bind(addr) {
            Ok(l) => break l,
            Err(e) => {
                // No vsock device (yet): berthd still runs; keep trying.
                tracing::warn!(
                    "agent: vsock port {} unavailable: {e}",
                    vmlink::AGENT_VSOCK_PORT
                );
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    };
    tracing::info!("agent listening on vsock port {}", vmlink::AGENT_VSOCK_PORT);
    // Bound before the host can have a session: the host opens stream connections only then.
    let streams =
        tokio_vsock::VsockAddr::new(tokio_vsock::VMADDR_CID_ANY, vmlink::STREAM_VSOCK_PORT);
    match tokio_vsock::VsockListener::bind(streams) {
        Ok(l) => {
            let agent = agent.clone();
            tokio::spawn(async move {
                crate::agent::serve_streams(|| async { l.accept().await.map(|(s, _)| s) }, agent)
                    .await
            });
        }
        // The host falls back to the session's streams.
        Err(e) => tracing::warn!("agent: vsock port {}: {e}", vmlink::STREAM_VSOCK_PORT),
    }
    tokio::spawn(crate::agent::probe::serve_vsock());
    crate::agent::serve(|| async { listener.accept().await.map(|(s, _)| s) }, agent).await;
    Ok(())
}
