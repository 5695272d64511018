#!/usr/bin/env bash
# Builds Berth's VM guest from Debian packages and the workspace's binaries:
#   OUT/vmlinuz         Debian's 6.1 cloud kernel (the newest the archive has)
#   OUT/initramfs.img   berth-vm-init as /init, berthd, berth-container-init, the kernel
#                       modules the guest needs, iptables (nft), e2fsprogs, busybox,
#                       their libraries, CA certificates (cpio newc, zstd)
#   OUT/manifest.json   {"version", "kernel", "berthd_sha256", "inputs_sha256", ...}
# Usage: bash vm-images/build.sh [OUT_DIR]      (default vm-images/out)
# Env:   BERTH_VM_PROFILE=debug|release (default debug: the tests' build; release for a
#          shipped image and for benchmarks), the cargo profile of berthd and berth-vm-init
#        BERTHD=path/to/berthd (default target/PROFILE/berthd, built if missing)
# A second run with the same inputs only checks and says "up to date".
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/vm-images/out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
CACHE=$OUT/cache
mkdir -p "$CACHE"
TARGET_DIR=$(cd "$ROOT" && realpath -m "${CARGO_TARGET_DIR:-target}")
BERTHD_SET=${BERTHD:+1}
PROFILE=${BERTH_VM_PROFILE:-debug}
case "$PROFILE" in
  debug) CARGO_PROFILE_FLAG=() ;;
  release) CARGO_PROFILE_FLAG=(--release) ;;
  *) echo "vm-images: BERTH_VM_PROFILE must be debug or release, not $PROFILE" >&2; exit 1 ;;
esac
BERTHD=$(realpath -m "${BERTHD:-$TARGET_DIR/$PROFILE/berthd}")
KERNEL_SERIES=6.1
# Everything in the archive gets this time stamp: same inputs, same bytes.
EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
say() { echo "vm-images: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }
start=$(date +%s%N)

# --- build tools and the guest's user-space packages (only what is missing) ---
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
# busybox-static: the guest's shell and coreutils; kmod: depmod/modprobe to resolve module
# dependencies; the rest are copied into the guest with their libraries.
PKGS=(cpio busybox-static kmod zstd e2fsprogs iptables libseccomp2 ca-certificates)
missing=()
for p in "${PKGS[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- the workspace's binaries ---
if [ ! -x "$BERTHD" ]; then
  [ -z "$BERTHD_SET" ] || die "BERTHD=$BERTHD is not an executable"
  say "building berthd"
  (cd "$ROOT" && cargo build --quiet --locked "${CARGO_PROFILE_FLAG[@]}" -p berthd)
fi
say "building berth-vm-init"
(cd "$ROOT" && cargo build --quiet --locked "${CARGO_PROFILE_FLAG[@]}" -p berth-vm-init)
VM_INIT=$TARGET_DIR/$PROFILE/berth-vm-init
CONTAINER_INIT=$(dirname "$BERTHD")/berth-container-init
if [ ! -x "$CONTAINER_INIT" ]; then
  say "building berth-container-init"
  CONTAINER_INIT=$(cd "$ROOT" && realpath "$(bash scripts/build-init.sh)")
fi
SHIM=$(dirname "$BERTHD")/berth-shim
if [ ! -x "$SHIM" ]; then
  say "building berth-shim"
  SHIM=$(cd "$ROOT" && realpath "$(bash scripts/build-shim.sh)")
fi

# --- the kernel: the newest 6.1 cloud image the archive offers, cached ---
pick_kernel() {
  apt-cache search --names-only "^linux-image-${KERNEL_SERIES//./\\.}\.[0-9]+-[0-9]+-cloud-amd64\$" \
    | awk '{print $1}' | sort -V | tail -1
}
KPKG=$(pick_kernel)
if [ -z "$KPKG" ]; then
  apt-get update -qq
  KPKG=$(pick_kernel)
fi
[ -n "$KPKG" ] || die "no linux-image-${KERNEL_SERIES}.*-cloud-amd64 package in the apt sources"
KVER=${KPKG#linux-image-}
KDIR=$CACHE/kernel-$KVER
if [ ! -f "$KDIR/.done" ]; then
  say "downloading $KPKG"
  rm -rf "$KDIR" "$CACHE"/linux-image-*.deb
  (cd "$CACHE" && apt-get download -qq "$KPKG" 2>/dev/null) || die "apt-get download $KPKG failed"
  mkdir -p "$KDIR"
  dpkg-deb -x "$CACHE"/"$KPKG"_*.deb "$KDIR"
  # The package leaves modules.dep to its postinst: make it here.
  depmod -b "$KDIR" "$KVER"
  touch "$KDIR/.done"
fi
KDEB=$(ls "$CACHE"/"$KPKG"_*.deb)

# --- up to date? The inputs: this recipe, the binaries, the kernel, the packages copied in ---
pkg_versions=$(dpkg-query -W -f='${Package}=${Version}\n' busybox-static e2fsprogs iptables libseccomp2 ca-certificates libc6 libgcc-s1 2>/dev/null)
inputs=$( { sha256sum "$0" "$ROOT/vm-images/modules.txt" "$BERTHD" "$VM_INIT" "$CONTAINER_INIT" "$SHIM" "$KDEB" | awk '{print $1}'; echo "$pkg_versions"; } | sha256sum | awk '{print $1}')
if [ -f "$OUT/manifest.json" ] && [ -f "$OUT/vmlinuz" ] && [ -f "$OUT/initramfs.img" ] \
   && grep -q "\"inputs_sha256\": \"$inputs\"" "$OUT/manifest.json"; then
  say "up to date ($OUT)"
  exit 0
fi

# --- the initramfs tree ---
STAGE=$(mktemp -d "$CACHE/stage.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
cd "$STAGE"
mkdir -p bin sbin usr/bin usr/sbin usr/libexec/berth lib lib64 etc/berth etc/ssl/certs \
  dev proc sys run tmp root var/lib/berth var/log "lib/modules/$KVER"
ln -s ../run var/run
chmod 1777 tmp
chmod 0700 root

install -m 0755 "$VM_INIT" init
strip --strip-debug init
install -m 0755 "$BERTHD" usr/bin/berthd
strip --strip-debug usr/bin/berthd
install -m 0755 "$SHIM" usr/bin/berth-shim
install -m 0755 "$CONTAINER_INIT" usr/libexec/berth/berth-container-init

# busybox first, every applet a link to it; real tools copied after replace their links.
install -m 0755 /bin/busybox bin/busybox
for applet in $(/bin/busybox --list-full); do
  case "$applet" in bin/busybox|*/init|*/linuxrc) continue ;; esac
  mkdir -p "$(dirname "$applet")"
  [ -e "$applet" ] || ln -s /bin/busybox "$applet"
done

copy_bin() { # path-on-this-machine [path-in-guest]
  local src=$1 dst=${2:-$1}
  mkdir -p "$(dirname ".$dst")"
  rm -f ".$dst"
  cp -L "$src" ".$dst"
}
# iptables (nft flavour): one multi-call binary behind the usual names.
XT=$(readlink -f /usr/sbin/xtables-nft-multi)
copy_bin "$XT" /usr/sbin/xtables-nft-multi
for n in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
  rm -f "usr/sbin/$n" "sbin/$n"
  ln -s xtables-nft-multi "usr/sbin/$n"
done
for t in mkfs.ext4 resize2fs e2fsck; do copy_bin "$(command -v $t || echo /sbin/$t)" "/usr/sbin/$t"; done
rm -f sbin/mkfs.ext4 sbin/resize2fs sbin/e2fsck
# iptables loads its extensions at run time.
XTLIB=$(dirname "$(dpkg -L iptables | grep -m1 '/xtables/libxt_')")
mkdir -p ".$XTLIB" && cp -a "$XTLIB"/. ".$XTLIB"/

# Shared libraries: what ldd lists for every dynamic binary in the tree.
copy_libs() {
  # Static binaries have no libraries: ldd fails on them, which is fine.
  { ldd "$1" 2>/dev/null || true; } | { grep -oE '/[^ ]+\.so[^ ]*' || true; } | while read -r lib; do
    [ -e ".$lib" ] && continue
    mkdir -p "$(dirname ".$lib")"
    cp -L "$lib" ".$lib"
  done
}
while read -r f; do copy_libs "$f"; done < <(find . -type f -perm -u+x; find ".$XTLIB" -name '*.so')
# glibc loads these by name (NSS, iconv are not needed: no users or hosts resolved by name).
mkdir -p lib64 && [ -e lib64/ld-linux-x86-64.so.2 ] || cp -L /lib64/ld-linux-x86-64.so.2 lib64/

cp -L /etc/ssl/certs/ca-certificates.crt etc/ssl/certs/
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > etc/passwd
printf 'root:x:0:\ntty:x:5:\ndocker:x:999:\nnogroup:x:65534:\n' > etc/group
printf 'hosts: files dns\n' > etc/nsswitch.conf
echo berth > etc/hostname

# Kernel modules: the ones listed in modules.txt plus what they depend on, in load order.
: > etc/berth/modules.load
while read -r name _; do
  case "$name" in ''|'#'*) continue ;; esac
  modprobe -d "$KDIR" -S "$KVER" --show-depends "$name" 2>/dev/null | while read -r kind path _; do
    [ "$kind" = insmod ] || continue   # "builtin X": nothing to load
    rel=${path#"$KDIR"}
    if [ ! -e ".$rel" ]; then
      mkdir -p "$(dirname ".$rel")"
      cp "$path" ".$rel"
    fi
    grep -qxF "$rel" etc/berth/modules.load || echo "$rel" >> etc/berth/modules.load
  done || die "module $name not found in $KVER"
done < "$ROOT/vm-images/modules.txt"
cp "$KDIR/lib/modules/$KVER"/modules.{order,builtin,builtin.modinfo} "lib/modules/$KVER/"
depmod -b "$STAGE" "$KVER"
nmods=$(wc -l < etc/berth/modules.load)

# --- archive ---
find . -exec touch -h -d "@$EPOCH" {} +
find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort \
  | cpio --quiet -o -H newc -R 0:0 --reproducible \
  | zstd -q -T0 -12 > "$OUT/initramfs.img.tmp"
cd "$OUT"
install -m 0644 "$KDIR/boot/vmlinuz-$KVER" vmlinuz.tmp
berthd_sha=$(sha256sum "$STAGE/usr/bin/berthd" | awk '{print $1}')
initrd_sha=$(sha256sum initramfs.img.tmp | awk '{print $1}')
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)
cat > manifest.json.tmp <<EOF
{
  "version": "$version+${initrd_sha:0:12}",
  "kernel": "$KVER",
  "kernel_package": "$(basename "$KDEB")",
  "berthd_sha256": "$berthd_sha",
  "initramfs_sha256": "$initrd_sha",
  "modules": $nmods,
  "inputs_sha256": "$inputs"
}
EOF
sync initramfs.img.tmp vmlinuz.tmp manifest.json.tmp
mv initramfs.img.tmp initramfs.img
mv vmlinuz.tmp vmlinuz
mv manifest.json.tmp manifest.json
size=$(du -h initramfs.img | cut -f1)
say "built $OUT (kernel $KVER, initramfs $size, $nmods modules) in $(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN{printf "%.1f", (b-a)/1e9}')s"
