#!/usr/bin/env bash
# Build the guest initramfs: busybox-static + the Debian kernel's own modules for 9p over virtio
# (and zram), + tools/qemu/init.sh as /init.
#
#   build-initramfs.sh <unpacked-kernel-dir> <kernel-release> <output.cpio.gz>
#
# Module load order comes from the kernel's modules.dep (through `modprobe --show-depends`), never
# from a hand-written list: which drivers are built-in (=y) and which are modules (=m) is a
# property of Debian's config and may change between releases. Built-in ones are skipped.
set -euo pipefail

die() { echo "build-initramfs.sh: error: $*" >&2; exit 1; }

[[ $# -eq 3 ]] || die "usage: $0 <unpacked-kernel-dir> <kernel-release> <output.cpio.gz>"
KDIR="$1"; REL="$2"; OUT="$3"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODDIR="$KDIR/lib/modules/$REL"
BUSYBOX=/bin/busybox

[[ -s "$MODDIR/modules.dep" ]] || die "$MODDIR/modules.dep missing (run depmod -b $KDIR $REL)"
[[ -x "$BUSYBOX" ]] || die "$BUSYBOX missing (apt-get install busybox-static)"
# A dynamically linked busybox would need the host's libc in the initramfs.
if file -L "$BUSYBOX" 2>/dev/null | grep -q 'dynamically linked'; then
    die "$BUSYBOX is dynamically linked; install busybox-static"
fi
command -v cpio >/dev/null || die "cpio missing (apt-get install cpio)"

# Groups of modules, each loaded by init as a unit (its dependencies first):
#   boot : needed to reach the host root: virtio PCI transport, 9p fs + its virtio transport,
#          virtio-rng so the guest's entropy pool initialises quickly under TCG, and overlay
#          (the chroot's /tmp is a tmpfs overlaid on the host's read-only /tmp).
#   blk  : virtio-blk, for the scratch disk harness.py attaches with disk_mb= (/dev/vda).
#   zram : compressed RAM swap for memory-pressure tests (load with rmt.load=zram, or run
#          `modprobe zram` inside the chroot, which sees the same modules through a bind mount).
declare -A MODGROUPS=(
    [boot]="virtio_pci 9pnet_virtio 9p virtio_rng overlay"
    [zram]="zram"
    [blk]="virtio_blk"
)

# Inputs change rarely; skip the rebuild when the output is newer than everything it is made of.
if [[ -s "$OUT" && "$OUT" -nt "$HERE/init.sh" && "$OUT" -nt "$0" && "$OUT" -nt "$MODDIR/modules.dep" \
      && "$OUT" -nt "$BUSYBOX" ]]; then
    exit 0
fi

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/rmt-initramfs.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT

mkdir -p "$STAGE"/{bin,sbin,dev,proc,sys,tmp,run,newroot,etc/rmt,lib/modules/"$REL"}
cp "$BUSYBOX" "$STAGE/bin/busybox"
# /init is itself a busybox sh script; applet symlinks are created at boot (busybox --install).
install -m 0755 "$HERE/init.sh" "$STAGE/init"

for group in "${!MODGROUPS[@]}"; do
    list="$STAGE/etc/rmt/$group.modules"
    : > "$list"
    for mod in ${MODGROUPS[$group]}; do
        # Lines look like "insmod /path/x.ko [params]" or "builtin x" (built into vmlinuz).
        out=$(modprobe -d "$KDIR" -S "$REL" --show-depends "$mod" 2>&1) \
            || die "module '$mod' not found for $REL: $out"
        while read -r kind path _; do
            [[ "$kind" == insmod ]] || continue
            rel="${path#"$MODDIR"/}"
            dst="$STAGE/lib/modules/$REL/$rel"
            dst="${dst%.xz}"; dst="${dst%.zst}"; dst="${dst%.gz}"
            if [[ ! -f "$dst" ]]; then
                mkdir -p "$(dirname "$dst")"
                # busybox insmod cannot read compressed modules: decompress at build time.
                case "$path" in
                    *.ko.xz)  xz -dc "$path" > "$dst" ;;
                    *.ko.zst) zstd -qdc "$path" > "$dst" ;;
                    *.ko.gz)  gzip -dc "$path" > "$dst" ;;
                    *.ko)     cp "$path" "$dst" ;;
                    *) die "unexpected module file $path" ;;
                esac
            fi
            relko="${dst#"$STAGE"/}"
            grep -qxF "/$relko" "$list" || echo "/$relko" >> "$list"
        done <<< "$out"
    done
done

mkdir -p "$(dirname "$OUT")"
(cd "$STAGE" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet -R 0:0) \
    | gzip -6 > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "build-initramfs.sh: wrote $OUT ($(du -h "$OUT" | cut -f1))" >&2
