#!/usr/bin/env bash
# The main job: build examples/golden/Dockerfile into the local store and print the image digest.
# The CUDA base (the stand-in for nvidia/cuda:11.8.0-runtime-ubuntu20.04) comes from the fixtures
# and is loaded into the local store first: no registry is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCUBUILD_SANITIZE=OFF -DCUBUILD_WERROR=OFF >/dev/null
cmake --build build -j"$(nproc)" --target cubuild >/dev/null
. tests/fixtures/lib.sh
base=$(fixture_oci cuda-11.8.0-runtime)
cubuild=build/builder/cubuild
$cubuild load -t nvidia/cuda:11.8.0-runtime-ubuntu20.04 "$base:cuda-11.8.0-runtime" >/dev/null
# pip inside RUN reaches PyPI through this network's TLS-inspecting proxy: the host's CA bundle comes
# in as a build secret and never lands in a layer.
$cubuild build -f examples/golden/Dockerfile -t ai-platform/pytorch-cuda:golden \
        --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt examples/golden
