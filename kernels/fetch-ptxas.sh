#!/bin/sh
# Fetches ptxas from CUDA 11.8 (Debian bookworm non-free, package nvidia-cuda-toolkit), the newest
# toolchain that still assembles sm_70; nvcc 13 has dropped it. With it, the build turns the
# clang-made PTX into sm_70 SASS too (kernels/CMakeLists.txt looks in the cache below).
# The package comes through apt with its own signature checks, from a temporary source list kept in
# the cache: the host's apt configuration is not touched. Only ptxas is kept.
#
# usage: fetch-ptxas.sh     prints the path of ptxas
set -eu
cache=${XDG_CACHE_HOME:-$HOME/.cache}/cubuild-fixtures/ptxas-11.8
mirror=${CUBUILD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
if [ -x "$cache/ptxas" ]; then
        echo "$cache/ptxas"
        exit 0
fi
command -v apt-get >/dev/null || { echo "fetch-ptxas: needs apt-get" >&2; exit 1; }
apt=$cache/apt
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/deb"
echo "deb $mirror bookworm non-free" > "$apt/sources.list"
set -- -o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null \
        -o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache" -o Debug::NoLocking=1 \
        -o APT::Sandbox::User=root
apt-get "$@" -qq update >&2
(cd "$apt/deb" && apt-get "$@" -qq download nvidia-cuda-toolkit=11.8.89~11.8.0-5~deb12u1 >&2)
tmp=$(mktemp -d "$cache/x.XXXXXX")
dpkg-deb --fsys-tarfile "$apt"/deb/nvidia-cuda-toolkit_*.deb | tar -x -C "$tmp" ./usr/bin/ptxas
mv "$tmp/usr/bin/ptxas" "$cache/ptxas"
rm -rf "$tmp" "$apt"
"$cache/ptxas" --version | tail -n1 >&2
echo "$cache/ptxas"
