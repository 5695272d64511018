//! `berth-container-init`, mounted as `/sbin/docker-init` in containers run
//! with `--init`; the library has the behaviour.

// Images without glibc (busybox, alpine) can only run a statically linked
// init: scripts/build-init.sh builds it so, and nothing else should.
#[cfg(not(target_feature = "crt-static"))]
compile_error!(
    "berth-container-init must be linked statically: build it with scripts/build-init.sh \
     (RUSTFLAGS=\"-C target-feature=+crt-static\")"
);

fn main() {
    std::process::exit(berth_container_init::main(std::env::args_os()));
}
