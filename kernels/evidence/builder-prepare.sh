#!/bin/sh
# Gathers, on the build machine, what builder-run.sh needs on the GPU machine (no network, no
# libarchive there): cubuild built without sanitizers, the glibc-2.31 verifier, libarchive, a small
# bullseye rootfs, CUDA 11.8's runtime library and the CUDA 14 stand-in (from prepare.sh's carry dir).
#
# usage: builder-prepare.sh BUILD_DIR KV_CARRY_DIR OUT_DIR
#   BUILD_DIR: a build tree configured with -DCUBUILD_VERIFY_GLIBC231=ON, built
#   KV_CARRY_DIR: the directory prepare.sh filled
set -eu
build=$(cd "$1" && pwd)
kv=$(cd "$2" && pwd)
out=$3
src=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out/lib" "$out/ctx-pass" "$out/ctx-broken"
cp "$build/builder/cubuild" "$build/kernels/cubuild-verify.glibc231" "$out/"
for l in libarchive.so.13 libyaml-0.so.2 libjansson.so.4; do cp -L "/lib/x86_64-linux-gnu/$l" "$out/lib/"; done
cp "$kv/bullseye-minbase.tar.xz" "$out/"
tmp=$(mktemp -d)
python3 -c "import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" \
        "$kv"/nvidia_cuda_runtime_cu11-11.8.89-*.whl "$tmp"
cp "$tmp/nvidia/cuda_runtime/lib/libcudart.so.11.0" "$out/ctx-pass/"
cp "$tmp/nvidia/cuda_runtime/lib/libcudart.so.11.0" "$out/ctx-broken/"
cp "$kv/standin-libcudart.so.14" "$out/ctx-broken/libcudart.so.14"
rm -rf "$tmp"
cp "$src/kernels/evidence/builder-run.sh" "$src/kernels/evidence/builder-torch.sh" "$out/"
du -sh "$out"
