#!/bin/sh
# On the build machine: what run.sh needs on the GPU machine to check the static report's sm_90
# verdicts against the GPU (no network there, no libarchive).
#
# usage: prepare.sh BUILD_DIR TEST_BUILD_DIR VERIFIER KV_CARRY_DIR OUT_DIR
#   BUILD_DIR       a build without sanitizers (cubuild, kernels/cubuild-compat-scan)
#   TEST_BUILD_DIR  a build with the unit tests: tests/unit/kernels/cu/ holds the nvcc-made libraries
#   VERIFIER        cubuild-verify built in bullseye (kernels/build-verifier.sh, glibc 2.31)
#   KV_CARRY_DIR    the directory kernels/evidence/prepare.sh filled (bullseye minbase, CUDA 11.8 wheel)
set -eu
build=$(cd "$1" && pwd)
tests=$(cd "$2" && pwd)
kv=$(cd "$4" && pwd)
out=$5
src=$(cd "$(dirname "$0")/../../.." && pwd)
mkdir -p "$out/lib" "$out/cu" "$out/ctx-pass"
cp "$build/builder/cubuild" "$build/kernels/cubuild-compat-scan" "$out/"
cp "$3" "$out/cubuild-verify.glibc231"
for l in libarchive.so.13 libyaml-0.so.2 libjansson.so.4; do cp -L "/lib/x86_64-linux-gnu/$l" "$out/lib/"; done
cp "$kv/bullseye-minbase.tar.xz" "$out/"
cp "$tests"/tests/unit/kernels/cu/*.so "$out/cu/"
cc -O2 -o "$out/launch" "$src/kernels/evidence/compat/launch.c" -ldl
tmp=$(mktemp -d)
python3 -c "import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" \
        "$kv"/nvidia_cuda_runtime_cu11-11.8.89-*.whl "$tmp"
cp "$tmp/nvidia/cuda_runtime/lib/libcudart.so.11.0" "$out/ctx-pass/"
rm -rf "$tmp"
cp "$src/kernels/evidence/compat/run.sh" "$out/"
du -sh "$out"
