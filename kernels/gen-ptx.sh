#!/bin/sh
# Regenerates kernels.sm70.ptx, the committed PTX used where no clang with the NVPTX back end is
# installed. The build makes the same file from kernels.cu whenever such a clang exists.
# usage: kernels/gen-ptx.sh [CLANG]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
clang=${1:-clang}
empty=$(mktemp -d)
trap 'rm -rf "$empty"' EXIT
# An empty --cuda-path keeps clang from reading an installed CUDA's version, which would raise the
# PTX ISA it emits; with none, it picks the lowest ISA for the target (6.0 for sm_70).
"$clang" --cuda-device-only -nocudainc -nocudalib --cuda-path="$empty" --cuda-gpu-arch=sm_70 -S -O2 \
        -o "$here/kernels.sm70.ptx" "$here/kernels.cu"
grep -E '^\.(version|target)' "$here/kernels.sm70.ptx"
