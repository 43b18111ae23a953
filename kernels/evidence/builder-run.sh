#!/bin/sh
# On the GPU machine: the whole builder path. cubuild builds images there, runs the verifier in
# each built rootfs with the host GPU injected, and runs RUN steps with the GPU.
# usage: sh builder-run.sh CARRY_DIR OUT_DIR
set -u
c=$(cd "$1" && pwd)
out=$2
mkdir -p "$out"
export LD_LIBRARY_PATH="$c/lib" CUBUILD_VERIFIER="$c/cubuild-verify.glibc231"
store=/tmp/cubuild-evidence-store
rm -rf "$store" /tmp/cubuild-ev
mkdir -p /tmp/cubuild-ev
cb() { "$c/cubuild" --root "$store" "$@"; }
say() { printf '\n$ %s\n' "$*"; }
run() { say "$*"; "$@"; echo "exit status: $?"; }

echo "== machine"
nvidia-smi -L; uname -r; ldd --version | head -1
run cb --version
xz -dc "$c/bullseye-minbase.tar.xz" >/tmp/cubuild-ev/bullseye.tar
run cb import /tmp/cubuild-ev/bullseye.tar bullseye:minbase

# 1. a CUDA 11.8 runtime image (the nvidia/cuda stand-in's shape, small enough to carry)
cat >"$c/ctx-pass/Dockerfile" <<'DF'
FROM bullseye:minbase
COPY libcudart.so.11.0 /usr/local/cuda-11.8/targets/x86_64-linux/lib/
RUN ln -s cuda-11.8 /usr/local/cuda && ln -s libcudart.so.11.0 /usr/local/cuda/targets/x86_64-linux/lib/libcudart.so
ENV CUDA_VERSION=11.8.0 NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    LD_LIBRARY_PATH=/usr/local/cuda/targets/x86_64-linux/lib:/usr/local/nvidia/lib:/usr/local/nvidia/lib64
DF
echo "== 1. CUDA 11.8 runtime image: must pass"
run cb build --verify require --verify-report "$out/builder-pass.json" -t cuda-lite:11.8 "$c/ctx-pass"

# 2. broken: a CUDA runtime newer than the driver supports
cp "$c/ctx-pass/Dockerfile" "$c/ctx-broken/Dockerfile"
cat >>"$c/ctx-broken/Dockerfile" <<'DF'
RUN rm -f /usr/local/cuda/targets/x86_64-linux/lib/libcudart.so*
COPY libcudart.so.14 /usr/local/cuda/targets/x86_64-linux/lib/libcudart.so.14
DF
echo "== 2. broken image (CUDA 14 runtime stand-in): must fail with exit status 3"
run cb build --verify require --verify-report "$out/builder-broken.json" -t cuda-lite:broken "$c/ctx-broken"

# 3. the GPU machine's own CUDA runtime and cuBLAS in the image
mkdir -p /tmp/cubuild-ev/ctx-cublas
cp -P /usr/local/cuda/lib64/libcudart.so* /usr/local/cuda/lib64/libcublas.so* /usr/local/cuda/lib64/libcublasLt.so* \
        /tmp/cubuild-ev/ctx-cublas/ 2>/dev/null
printf 'FROM cuda-lite:11.8\nRUN rm -f /usr/local/cuda/targets/x86_64-linux/lib/libcudart.so*\nCOPY . /usr/local/cuda/targets/x86_64-linux/lib/\n' \
        >/tmp/cubuild-ev/ctx-cublas/Dockerfile
echo "== 3. image with the machine's CUDA 13 runtime and cuBLAS: must pass, cuBLAS checked"
run cb build --verify require --verify-report "$out/builder-cublas.json" -t cuda-cublas:13 /tmp/cubuild-ev/ctx-cublas

# 4. GPUs in RUN: the verifier itself runs as a build step (vector add + SGEMM on the GPU), and
# the step writes next to the injected driver files; none of them may reach the layer
mkdir -p /tmp/cubuild-ev/ctx-run
cp "$c/cubuild-verify.glibc231" /tmp/cubuild-ev/ctx-run/verify
cat >/tmp/cubuild-ev/ctx-run/Dockerfile <<'DF'
FROM cuda-lite:11.8
COPY verify /opt/verify
RUN --device=nvidia.com/gpu=all sh -c 'ls /dev/nvidia* && /opt/verify --report /gpu-report.json && touch /usr/local/nvidia/lib64/written-by-run; echo run-done'
DF
echo "== 4. RUN --device=nvidia.com/gpu=all: the GPU computes inside a build step"
run cb build --verify skip -t gpu-in-run:1 -o "type=oci,dest=/tmp/cubuild-ev/gpu-in-run" /tmp/cubuild-ev/ctx-run
say "jq -r .result,.summary /gpu-report.json from the image's last layer"
cd /tmp/cubuild-ev/gpu-in-run
m=$(sed 's/.*"digest":"sha256:\([0-9a-f]*\)".*/\1/' index.json)
last=$(tr ',' '\n' <"blobs/sha256/$m" | grep -o 'sha256:[0-9a-f]*' | tail -1 | cut -d: -f2)
tar -xzOf "blobs/sha256/$last" gpu-report.json | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["result"], "-", r["summary"])'
say "driver files in any layer of the image (expect none)"
n=0
for l in $(tr ',' '\n' <"blobs/sha256/$m" | grep -o 'sha256:[0-9a-f]*' | cut -d: -f2); do
        [ "$l" = "$m" ] && continue
        tar -tzf "blobs/sha256/$l" 2>/dev/null | grep -E 'libcuda\.so|libnvidia|nvidia-smi|dev/nvidia|written-by-run' && n=$((n + 1))
done
echo "layers with driver files: $n"
cd /
echo "== 5. --gpus all applies to every RUN"
printf 'FROM cuda-lite:11.8\nRUN ls -l /dev/nvidiactl /usr/local/nvidia/lib64/libcuda.so.1\n' >/tmp/cubuild-ev/Dockerfile.gpus
run cb build --verify skip --gpus all -f /tmp/cubuild-ev/Dockerfile.gpus /tmp/cubuild-ev
echo "== 6. without --gpus, RUN sees no GPU"
printf 'FROM cuda-lite:11.8\nRUN ls -l /dev/nvidiactl\n' >/tmp/cubuild-ev/Dockerfile.nogpu
run cb build --verify skip -f /tmp/cubuild-ev/Dockerfile.nogpu /tmp/cubuild-ev
say "cubuild images"
cb images
cp /tmp/cubuild-ev/gpu-in-run/index.json "$out/gpu-in-run-index.json" 2>/dev/null
exit 0
