#!/usr/bin/env bash
# The real programs `make kernel-prefetch-eval` runs in the guest (casestudies/kernel_prefetch_eval.py),
# installed on the host: the guest sees the host's root over 9p. Run as root; idempotent.
#
#   tools/qemu/prefetch-workloads-setup.sh
#
# ImageMagick (convert), ffmpeg, sqlite3 and xz: Debian's own packages, whatever versions the
# configured archive has (nothing pinned). dmsetup creates the dm-delay target in front of the
# swap disk (the dm-delay module itself comes with the guest kernel). The NumPy convolution
# uses the repo's virtualenv (make setup).
set -euo pipefail

die() { echo "prefetch-workloads-setup.sh: error: $*" >&2; exit 1; }

need=()
for pair in convert:imagemagick ffmpeg:ffmpeg sqlite3:sqlite3 xz:xz-utils dmsetup:dmsetup \
            blockdev:util-linux; do
    tool=${pair%%:*} pkg=${pair#*:}
    # /usr/bin/convert, not a wrapper of that name elsewhere on PATH: the eval runs that one
    if [[ $tool == convert ]]; then
        [[ -x /usr/bin/convert ]] || need+=("$pkg")
    else
        command -v "$tool" >/dev/null || need+=("$pkg")
    fi
done
if ((${#need[@]})); then
    [[ $(id -u) -eq 0 ]] || die "must run as root to install: ${need[*]}"
    command -v apt-get >/dev/null || die "apt-get not found: install ${need[*]} yourself"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${need[@]}" >/dev/null \
        || { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; } \
        || die "apt-get install ${need[*]} failed"
fi
for tool in /usr/bin/convert ffmpeg sqlite3 xz dmsetup blockdev; do
    command -v "$tool" >/dev/null || die "$tool still missing after the install"
done
echo "prefetch-workloads-setup.sh: convert, ffmpeg, sqlite3, xz, dmsetup present" >&2
