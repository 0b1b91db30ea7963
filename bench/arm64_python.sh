#!/usr/bin/env bash
# Debian's arm64 Python 3.11 in a folder, run under qemu: the interpreter with which
# `python -m bench.cold_start_asset --arch arm64` measures the arm64 asset once (no test needs it).
#   bench/arm64_python.sh DIR   ->  prints the --python command to pass
# Nothing is installed for arm64: the packages are downloaded with a private apt state and unpacked
# into DIR; the standard library is precompiled (by this machine's Python 3.11, same bytecode), as
# Lambda's is. Needs root for apt (qemu-user-static is installed from Debian if missing).
set -euo pipefail
root="$(realpath -m "${1:?usage: bench/arm64_python.sh DIR}")"
command -v qemu-aarch64-static >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static >/dev/null
state="$(mktemp -d)"
trap 'rm -rf "$state"' EXIT
mkdir -p "$state/lists/partial" "$state/archives/partial" "$state/debs" "$root"
touch "$state/status"
apt=(apt-get -qq -o APT::Sandbox::User=root -o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o "Dir::State::Lists=$state/lists"
     -o "Dir::Cache::archives=$state/archives" -o "Dir::State::status=$state/status"
     -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=)
"${apt[@]}" update
(cd "$state/debs" && "${apt[@]}" download python3.11-minimal libpython3.11-minimal libpython3.11-stdlib \
    libc6 zlib1g libexpat1 libffi8 libssl3 libbz2-1.0 liblzma5 libuuid1 2>/dev/null)
for deb in "$state"/debs/*.deb; do dpkg-deb -x "$deb" "$root"; done
python3.11 -m compileall -q "$root/usr/lib/python3.11" >/dev/null || true  # a few test files do not compile
echo "env QEMU_LD_PREFIX=$root qemu-aarch64-static $root/usr/bin/python3.11"
