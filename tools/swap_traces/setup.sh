#!/usr/bin/env bash
# Install what tools/swap_traces/capture.py needs (run as root; idempotent, quick when done).
#
#   tools/swap_traces/setup.sh CMD...     # e.g. setup.sh valgrind gcc bzip2
#
# Each argument is a command; the Debian package providing it is installed with apt-get
# (versions resolved by apt at run time, nothing pinned) unless the command is already on
# PATH. capture.py calls this with the commands of the workloads it is about to trace.
set -euo pipefail

die() { echo "swap_traces/setup.sh: error: $*" >&2; exit 1; }

package_of() {
    case "$1" in
        convert) echo imagemagick ;;
        sqlite3) echo sqlite3 ;;
        xz) echo xz-utils ;;
        cc|gcc) echo gcc ;;
        git) echo git ;;
        grep) echo grep ;;
        sort) echo coreutils ;;
        *) echo "$1" ;;            # valgrind, ffmpeg, bzip2, gzip: package = command
    esac
}

missing=()
for cmd in "$@"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$(package_of "$cmd")")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
[[ $(id -u) -eq 0 ]] || die "missing ${missing[*]}: run as root to install them"
command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; then
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
fi
for cmd in "$@"; do
    command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' still not found after installing ${missing[*]}"
done
