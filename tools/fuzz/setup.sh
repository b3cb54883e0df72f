#!/usr/bin/env bash
# Install what the fuzz targets need (clang with libFuzzer and the sanitizer runtimes,
# llvm-profdata/llvm-cov for coverage).  Idempotent: quick when everything is there.
#
#   tools/fuzz/setup.sh      # as root (apt-get); prints the clang it found or installed
#
# Debian 12 ships clang 14; `clang` (the default version) is tried when clang-14 is gone.
set -euo pipefail

die() { echo "fuzz/setup.sh: error: $*" >&2; exit 1; }

PKGS=(clang-14 libclang-rt-14-dev llvm-14)

have_all() {
    command -v clang-14 >/dev/null && command -v llvm-profdata-14 >/dev/null &&
        [[ -n "$(clang-14 -print-file-name=libclang_rt.fuzzer-x86_64.a 2>/dev/null |
                 grep -v '^libclang_rt')" ]]
}

if ! have_all; then
    [[ $(id -u) -eq 0 ]] || die "clang-14/libFuzzer missing and not root: apt-get install ${PKGS[*]}"
    command -v apt-get >/dev/null || die "apt-get not found: install clang with libFuzzer by hand"
    export DEBIAN_FRONTEND=noninteractive
    if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
        apt-get update -qq || die "apt-get update failed"
    fi
    apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null; } ||
        die "apt-get install ${PKGS[*]} failed"
    have_all || die "installed ${PKGS[*]} but the libFuzzer runtime is still missing"
fi
command -v clang-14
