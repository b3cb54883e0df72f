#!/usr/bin/env bash
# Prepare everything the QEMU kernel harness needs (run as root; idempotent).
#
#   tools/qemu/setup.sh            # install/refresh; quick (~1-2 s) when already done
#   tools/qemu/setup.sh --update   # also run `apt-get update` first (pick up a new kernel ABI)
#
# What it does:
#   1. apt-get installs the host tools (qemu, busybox-static, kmod, stress-ng, bpftool, Kbuild deps).
#   2. Resolves, AT RUN TIME, which kernel Debian's `linux-image-amd64` metapackage points to
#      (linux-image-6.1.0-NN-amd64: the ABI number NN changes with every security update, so it
#      is never hard-coded), downloads that .deb with `apt-get download` and unpacks it with
#      `dpkg-deb -x` into the cache (it is NOT installed: the host keeps running its own kernel).
#   3. Installs the matching linux-headers-<release> so Kbuild can build modules for it.
#   4. Runs depmod on the unpacked tree (the .deb ships no modules.dep: postinst normally makes it).
#   5. Builds the initramfs (tools/qemu/build-initramfs.sh).
#   6. Writes <cache>/env.json and <cache>/env.sh with the resolved paths for harness.py.
#
# Cache directory: $RMT_QEMU_CACHE, default <repo>/build/qemu (not committed).
set -euo pipefail

die() { echo "setup.sh: error: $*" >&2; exit 1; }
log() { echo "setup.sh: $*" >&2; }

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${RMT_QEMU_CACHE:-$REPO/build/qemu}"
UPDATE=0
for arg in "$@"; do
    case "$arg" in
        --update) UPDATE=1 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) die "unknown argument '$arg' (try --help)" ;;
    esac
done

[[ $(id -u) -eq 0 ]] || die "must run as root (it uses apt-get and dpkg)"
command -v apt-get >/dev/null || die "apt-get not found: this harness needs a Debian 12 host"

# Tools the harness and the smoke tests use on the host (and, through the 9p-shared root, in the
# guest). --no-install-recommends keeps qemu from pulling the whole GTK stack on a fresh machine.
# (linux-headers-<release>, installed below, pulls in the gcc that Debian built the kernel with.)
HOST_PKGS=(qemu-system-x86 busybox-static kmod cpio gzip zstd xz-utils stress-ng bpftool
           util-linux procps make python3 linux-headers-amd64
           strace        # strace: tests/test_rmtctl_crash.py kills rmtctl at each write with it
           numactl)      # numactl: casestudies/kernel_traces.py --topology binds memory and CPUs to nodes

export DEBIAN_FRONTEND=noninteractive

missing_pkgs() {
    local p st
    for p in "$@"; do
        st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
        [[ "$st" == installed ]] || echo "$p"
    done
}

# (Lists may be stored compressed, e.g. *_Packages.lz4.)
apt_lists_empty() { ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; }

if (( UPDATE )) || apt_lists_empty; then
    log "apt-get update"
    apt-get update -qq || die "apt-get update failed (no access to the Debian mirror?)"
fi

mapfile -t missing < <(missing_pkgs "${HOST_PKGS[@]}")
if (( ${#missing[@]} )); then
    log "installing: ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
fi

# --- 2. resolve the kernel package behind the metapackage -------------------------------------
# `apt-cache depends linux-image-amd64` prints "  Depends: linux-image-6.1.0-NN-amd64".
IMAGE_PKG=$(apt-cache depends linux-image-amd64 2>/dev/null \
            | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
[[ -n "$IMAGE_PKG" ]] || die "could not resolve the package behind linux-image-amd64 (apt lists stale? try --update)"
RELEASE="${IMAGE_PKG#linux-image-}"                       # e.g. 6.1.0-56-amd64 (= uname -r)
IMAGE_VER=$(apt-cache show --no-all-versions "$IMAGE_PKG" | awk '/^Version:/ { print $2; exit }')
[[ -n "$IMAGE_VER" ]] || die "no version for $IMAGE_PKG in the apt lists"
HEADERS_PKG="linux-headers-$RELEASE"
log "kernel: $IMAGE_PKG $IMAGE_VER (release $RELEASE)"

# --- 3. matching headers (the metapackage normally already pulls the same ABI) ----------------
if [[ -n "$(missing_pkgs "$HEADERS_PKG")" ]]; then
    log "installing $HEADERS_PKG"
    apt-get install -y -qq --no-install-recommends "$HEADERS_PKG" >/dev/null \
        || die "apt-get install $HEADERS_PKG failed"
fi
HEADERS_DIR="/usr/src/linux-headers-$RELEASE"
[[ -f "$HEADERS_DIR/Makefile" ]] || die "$HEADERS_DIR/Makefile missing after installing $HEADERS_PKG"

# --- 2b. download + unpack the image (skipped when the same version is already unpacked) -----
KDIR="$CACHE/kernel"
STAMP="$KDIR/.unpacked"
WANT="$IMAGE_PKG $IMAGE_VER"
mkdir -p "$CACHE"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT" ]]; then
    log "downloading and unpacking $IMAGE_PKG $IMAGE_VER into $KDIR"
    dl="$CACHE/download"
    rm -rf "$dl" "$KDIR.new"
    mkdir -p "$dl" "$KDIR.new"
    # apt drops privileges to _apt for downloads; give it a directory it may write to, so it
    # does not warn about downloading unsandboxed.
    chown _apt "$dl" 2>/dev/null || true
    (cd "$dl" && apt-get download -qq "$IMAGE_PKG=$IMAGE_VER") || die "apt-get download $IMAGE_PKG failed"
    deb=$(compgen -G "$dl/${IMAGE_PKG}_*.deb" | head -n1) || true
    [[ -n "$deb" ]] || die "apt-get download produced no .deb in $dl"
    dpkg-deb -x "$deb" "$KDIR.new" || die "dpkg-deb -x $deb failed"
    rm -rf "$KDIR" && mv "$KDIR.new" "$KDIR" && rm -rf "$dl"
    echo "$WANT" > "$STAMP"
fi

VMLINUZ="$KDIR/boot/vmlinuz-$RELEASE"
MODDIR="$KDIR/lib/modules/$RELEASE"
[[ -f "$VMLINUZ" ]] || die "$VMLINUZ missing in the unpacked package"
[[ -d "$MODDIR/kernel" ]] || die "$MODDIR/kernel missing in the unpacked package"

# --- 4. depmod: the package has no modules.dep (its postinst would run depmod) ----------------
if [[ ! -s "$MODDIR/modules.dep" || "$MODDIR/modules.order" -nt "$MODDIR/modules.dep" ]]; then
    log "depmod for $RELEASE"
    depmod -b "$KDIR" "$RELEASE" || die "depmod -b $KDIR $RELEASE failed"
fi
# Let the guest's chroot `modprobe` and Kbuild-aware tools find the headers.
ln -sfn "$HEADERS_DIR" "$MODDIR/build"

# --- 5. initramfs -------------------------------------------------------------------------
INITRD="$CACHE/initramfs.cpio.gz"
"$HERE/build-initramfs.sh" "$KDIR" "$RELEASE" "$INITRD"

# --- 6. env files for harness.py and shell users ----------------------------------------------
python3 - "$CACHE/env.json" <<EOF || die "writing $CACHE/env.json failed"
import json, sys
env = {
    "kernel_release": "$RELEASE",
    "image_package": "$IMAGE_PKG",
    "image_version": "$IMAGE_VER",
    "vmlinuz": "$VMLINUZ",
    "modules_dir": "$MODDIR",
    "system_map": "$KDIR/boot/System.map-$RELEASE",
    "config": "$KDIR/boot/config-$RELEASE",
    "headers_dir": "$HEADERS_DIR",
    "initramfs": "$INITRD",
    "qemu": "$(command -v qemu-system-x86_64)",
}
with open(sys.argv[1] + ".tmp", "w") as f:
    json.dump(env, f, indent=2)
    f.write("\n")
import os; os.replace(sys.argv[1] + ".tmp", sys.argv[1])
EOF
cat > "$CACHE/env.sh" <<EOF
# generated by tools/qemu/setup.sh; source it from shell scripts
RMT_KREL='$RELEASE'
RMT_VMLINUZ='$VMLINUZ'
RMT_KMODDIR='$MODDIR'
RMT_KHEADERS='$HEADERS_DIR'
RMT_INITRD='$INITRD'
EOF
log "ready: $CACHE/env.json (kernel $RELEASE)"
