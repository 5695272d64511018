//! Real runs: root, a busybox rootfs, the spec from `spec::build` with
//! docker's default seccomp profile. Skipped (with the reason printed) when
//! not root or when /bin/busybox (Debian busybox-static) is missing.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bollard_stubs::models::{ContainerCreateBody, HostConfig};
use nix::fcntl::OFlag;

use super::*;
use crate::containers::seccomp::{kernel_version, Profile};
use crate::containers::spec::{self, EtcFiles, SpecInput};

/// One container at a time: the timings stay meaningful, and the tests do
/// not clone while another test thread is inside libcontainer.
pub(crate) static SERIAL: Mutex<()> = Mutex::new(());

const CGROUP_PARENT: &str = "berth-test";
const SIGKILL: i32 = nix::sys::signal::Signal::SIGKILL as i32;

pub(crate) fn skip_reason() -> Option<&'static str> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root");
    }
    if !Path::new("/bin/busybox").exists() {
        return Some("needs /bin/busybox (Debian busybox-static, scripts/deps.sh)");
    }
    // A parallel harness can deadlock libcontainer's clone3 child on a malloc
    // lock held by another test thread: fail loudly rather than hang.
    assert_eq!(
        std::env::var("RUST_TEST_THREADS").as_deref(),
        Ok("1"),
        "container runtime tests must run single-threaded: use `cargo test` in this workspace (.cargo/config.toml sets RUST_TEST_THREADS=1)"
    );
    None
}

macro_rules! require_root_and_busybox {
    () => {
        if let Some(reason) = skip_reason() {
            eprintln!("skipped: {reason}");
            return;
        }
    };
}

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "berth-runtime-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

/// Unmounts on drop, also when an assertion fails first (declare it after
/// the TempDir so that it drops before it).
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn new_id() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{:032x}{:032x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// busybox + a few applets + etc/passwd and etc/group, like FACTS' image.
fn make_rootfs(dir: &Path) {
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    std::fs::copy("/bin/busybox", dir.join("bin/busybox")).unwrap();
    for applet in ["sh", "echo", "cat", "true", "sleep", "ls", "id"] {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet)).unwrap();
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(dir.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
}

/// A bundle directory whose config.json is dockerd's spec for `cmd`.
fn make_bundle(bundle: &Path, rootfs: &Path, id: &str, cmd: &[&str]) {
    make_bundle_with(bundle, rootfs, id, cmd, None)
}

fn make_bundle_with(
    bundle: &Path,
    rootfs: &Path,
    id: &str,
    cmd: &[&str],
    host_config: Option<HostConfig>,
) {
    std::fs::create_dir_all(bundle).unwrap();
    let config = ContainerCreateBody {
        cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
        host_config,
        ..Default::default()
    };
    let image_config = serde_json::json!({
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    });
    let input = SpecInput {
        config: &config,
        image_config: &image_config,
        rootfs,
        hostname: &id[..12],
        etc_files: EtcFiles::default(),
        cgroups_path: format!("/{CGROUP_PARENT}/{id}"),
        netns: None,
        seccomp: None,
        default_ulimits: &[],
        cgroup_v2: Path::new("/sys/fs/cgroup/cgroup.controllers").exists(),
        bounding_set: spec::host_bounding_set,
        init: None,
    };
    let mut spec = spec::build(&input).unwrap();

    // The seccomp profile depends on the container's capabilities (moby:
    // the bounding set), which the spec has just decided.
    let caps = spec::bounding_caps(&spec);
    assert!(caps.iter().any(|c| c == "CAP_CHOWN"), "{caps:?}");
    let seccomp = Profile::default_profile()
        .to_oci(&caps, std::env::consts::ARCH, kernel_version())
        .unwrap();
    spec.linux_mut()
        .as_mut()
        .unwrap()
        .set_seccomp(Some(seccomp));

    write_config(bundle, &spec).unwrap();
}

fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap()
}

fn read_all(fd: OwnedFd) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        std::fs::File::from(fd).read_to_string(&mut s).unwrap();
        s
    })
}

struct Outcome {
    stdout: String,
    stderr: String,
    exit: Exit,
}

/// create_and_start + wait + delete, reading both streams to EOF.
fn run(id: &str, bundle: &Path, state_root: &Path) -> Outcome {
    let (out_r, out_w) = pipe();
    let (err_r, err_w) = pipe();
    let stdout = read_all(out_r);
    let stderr = read_all(err_r);
    let r = create_and_start(
        id,
        bundle,
        state_root,
        ProcessIo::Pipes(Stdio {
            stdin: None,
            stdout: out_w,
            stderr: err_w,
        }),
    );
    let pid = match r {
        Ok(pid) => pid,
        // The container's init reports its errors on its stderr as well.
        Err(e) => panic!("{e}\nstderr: {}", stderr.join().unwrap()),
    };
    let exit = wait(pid).unwrap();
    delete(id, state_root, false).unwrap();
    Outcome {
        // EOF here also proves that the caller kept no copy of the write ends.
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
        exit,
    }
}

/// Nothing of the container is left: no cgroup in any hierarchy, no mount
/// under the test's directory, no runtime state.
fn assert_clean(id: &str, tmp: &Path, state_root: &Path) {
    let mut leftovers = Vec::new();
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap() {
        let dir = hierarchy.unwrap().path().join(CGROUP_PARENT).join(id);
        if dir.exists() {
            leftovers.push(dir);
        }
    }
    assert!(leftovers.is_empty(), "cgroups left: {leftovers:?}");
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let tmp = tmp.to_str().unwrap();
    let mounts: Vec<&str> = mountinfo.lines().filter(|l| l.contains(tmp)).collect();
    assert!(mounts.is_empty(), "mounts left: {mounts:?}");
    assert!(
        !state_root.join(id).exists(),
        "runtime state left in {}",
        state_root.join(id).display()
    );
}

/// The per-test cgroup parent is created by the runtime and, like
/// `/docker` under dockerd, not removed by it.
fn remove_cgroup_parent() {
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap() {
        let _ = std::fs::remove_dir(hierarchy.unwrap().path().join(CGROUP_PARENT));
    }
}

#[test]
fn runs_a_bundle_with_piped_output_and_exit_status() {
    require_root_and_busybox!();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = TempDir::new();
    let rootfs = tmp.0.join("rootfs");
    make_rootfs(&rootfs);
    let id = new_id();
    let bundle = tmp.0.join("bundle");
    make_bundle(
        &bundle,
        &rootfs,
        &id,
        &["sh", "-c", "echo hello; echo oops >&2; exit 3"],
    );
    let state_root = tmp.0.join("state");

    let out = run(&id, &bundle, &state_root);
    assert_eq!(out.stdout, "hello\n");
    assert_eq!(out.stderr, "oops\n");
    assert_eq!(out.exit, Exit::Code(3));
    assert_eq!(out.exit.docker_code(), 3);
    assert_clean(&id, &tmp.0, &state_root);
    remove_cgroup_parent();
}

#[test]
fn runs_from_an_overlay_mount() {
    require_root_and_busybox!();
    use nix::mount::{mount, umount2, MntFlags, MsFlags};
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = TempDir::new();
    let lower = tmp.0.join("lower");
    make_rootfs(&lower);
    let (upper, work, merged) = (
        tmp.0.join("upper"),
        tmp.0.join("work"),
        tmp.0.join("merged"),
    );
    for d in [&upper, &work, &merged] {
        std::fs::create_dir(d).unwrap();
    }
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        upper.display(),
        work.display()
    );
    // nix's `mount` feature comes with libcontainer (same nix 0.29).
    mount(
        Some("overlay"),
        &merged,
        Some("overlay"),
        MsFlags::empty(),
        Some(options.as_str()),
    )
    .unwrap();
    let mounted = Unmount(merged.clone());

    let id = new_id();
    let bundle = tmp.0.join("bundle");
    make_bundle(
        &bundle,
        &merged,
        &id,
        &["sh", "-c", "echo written > /tmp/file; cat /tmp/file; id -u"],
    );
    let state_root = tmp.0.join("state");
    let out = run(&id, &bundle, &state_root);
    umount2(&merged, MntFlags::empty()).unwrap();
    std::mem::forget(mounted);

    assert_eq!(out.stdout, "written\n0\n");
    assert_eq!(out.stderr, "");
    assert_eq!(out.exit, Exit::Code(0));
    // The write went to the container's upper layer, not the image.
    assert_eq!(
        std::fs::read_to_string(upper.join("tmp/file")).unwrap(),
        "written\n"
    );
    assert!(!lower.join("tmp/file").exists());
    assert_clean(&id, &tmp.0, &state_root);
    remove_cgroup_parent();
}

#[test]
fn kill_and_forced_delete() {
    require_root_and_busybox!();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = TempDir::new();
    let rootfs = tmp.0.join("rootfs");
    make_rootfs(&rootfs);
    let state_root = tmp.0.join("state");

    // kill: PID 1 of a pid namespace ignores signals it has no handler
    // for (SIGTERM to `sleep` is dropped), SIGKILL always works.
    let id = new_id();
    let bundle = tmp.0.join("bundle-kill");
    make_bundle(&bundle, &rootfs, &id, &["sleep", "60"]);
    let (out_r, out_w) = pipe();
    let (err_r, err_w) = pipe();
    let stdio = ProcessIo::Pipes(Stdio {
        stdin: None,
        stdout: out_w,
        stderr: err_w,
    });
    let pid = create_and_start(&id, &bundle, &state_root, stdio).unwrap();
    // A running container cannot be deleted without force.
    assert!(delete(&id, &state_root, false).is_err());
    assert!(matches!(
        kill(&id, &state_root, 0x7fff),
        Err(Error::InvalidSignal(_))
    ));
    kill(&id, &state_root, SIGKILL).unwrap();
    assert_eq!(wait(pid).unwrap(), Exit::Signal(SIGKILL));
    assert_eq!(Exit::Signal(SIGKILL).docker_code(), 137);
    delete(&id, &state_root, false).unwrap();
    drop((out_r, err_r));
    assert_clean(&id, &tmp.0, &state_root);
    // Gone: deleting again is fine, killing is "not found".
    delete(&id, &state_root, false).unwrap();
    assert!(matches!(
        kill(&id, &state_root, SIGKILL),
        Err(Error::NotFound(_))
    ));

    // delete(force) of a running container kills it.
    let id = new_id();
    let bundle = tmp.0.join("bundle-force");
    make_bundle(&bundle, &rootfs, &id, &["sleep", "60"]);
    let (out_r, out_w) = pipe();
    let (err_r, err_w) = pipe();
    let stdio = ProcessIo::Pipes(Stdio {
        stdin: None,
        stdout: out_w,
        stderr: err_w,
    });
    let pid = create_and_start(&id, &bundle, &state_root, stdio).unwrap();
    delete(&id, &state_root, true).unwrap();
    assert_eq!(wait(pid).unwrap(), Exit::Signal(SIGKILL));
    drop((out_r, err_r));
    assert_clean(&id, &tmp.0, &state_root);
    remove_cgroup_parent();
}

#[test]
fn a_failed_create_leaves_nothing() {
    require_root_and_busybox!();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = TempDir::new();
    let rootfs = tmp.0.join("rootfs");
    make_rootfs(&rootfs);
    let id = new_id();
    let bundle = tmp.0.join("bundle");
    make_bundle(&bundle, &rootfs, &id, &["/no/such/binary"]);
    let state_root = tmp.0.join("state");
    let (_out_r, out_w) = pipe();
    let (_err_r, err_w) = pipe();
    let err = create_and_start(
        &id,
        &bundle,
        &state_root,
        ProcessIo::Pipes(Stdio {
            stdin: None,
            stdout: out_w,
            stderr: err_w,
        }),
    )
    .unwrap_err();
    eprintln!("expected error: {err}");
    assert_clean(&id, &tmp.0, &state_root);
    remove_cgroup_parent();
}

#[test]
fn timing_create_start_wait_delete() {
    require_root_and_busybox!();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = TempDir::new();
    let rootfs = tmp.0.join("rootfs");
    make_rootfs(&rootfs);
    let state_root = tmp.0.join("state");
    for (label, host_config) in [
        ("default (new netns)", None),
        (
            "--network host",
            Some(HostConfig {
                network_mode: Some("host".into()),
                ..Default::default()
            }),
        ),
    ] {
        time_runs(&tmp.0, &rootfs, &state_root, label, host_config);
    }
    remove_cgroup_parent();
}

fn time_runs(
    tmp: &Path,
    rootfs: &Path,
    state_root: &Path,
    label: &str,
    host_config: Option<HostConfig>,
) {
    const RUNS: usize = 20;
    let mut total = Vec::with_capacity(RUNS);
    let mut phases = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let id = new_id();
        let bundle = tmp.join(format!("bundle-{id}"));
        make_bundle_with(&bundle, rootfs, &id, &["true"], host_config.clone());
        let (out_r, out_w) = pipe();
        let (err_r, err_w) = pipe();
        let stdio = ProcessIo::Pipes(Stdio {
            stdin: None,
            stdout: out_w,
            stderr: err_w,
        });
        let t0 = Instant::now();
        let pid = create_and_start(&id, &bundle, state_root, stdio).unwrap();
        let t1 = Instant::now();
        let exit = wait(pid).unwrap();
        let t2 = Instant::now();
        delete(&id, state_root, false).unwrap();
        let t3 = Instant::now();
        assert_eq!(exit, Exit::Code(0));
        drop((out_r, err_r));
        total.push(t3 - t0);
        phases.push((t1 - t0, t2 - t1, t3 - t2));
        assert_clean(&id, tmp, state_root);
    }

    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let min = total.iter().min().copied().unwrap_or_default();
    let max = total.iter().max().copied().unwrap_or_default();
    println!(
        "runtime timing, {label}, {RUNS} runs of `true`: create+start+wait+delete median {:.1} ms \
         (min {:.1}, max {:.1}); phase medians: create+start {:.1} ms, wait {:.1} ms, delete {:.1} ms",
        ms(median(total.clone())),
        ms(min),
        ms(max),
        ms(median(phases.iter().map(|p| p.0).collect())),
        ms(median(phases.iter().map(|p| p.1).collect())),
        ms(median(phases.iter().map(|p| p.2).collect())),
    );
}
