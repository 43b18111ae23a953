#!/bin/sh
# On the GPU machine: an image holding torch, built by cubuild from the machine's own root
# (Python 3.12, torch 2.11+cu130 in /opt/torch/.venv), then verified through `cubuild build`.
# The driver's files and the CUDA toolkit stay out of the image: the build injects the driver.
# usage: sh builder-torch.sh CARRY_DIR OUT_DIR
set -u
c=$(cd "$1" && pwd)
out=$2
mkdir -p "$out"
export LD_LIBRARY_PATH="$c/lib" CUBUILD_VERIFIER="$c/cubuild-verify.glibc231"
store=/tmp/cubuild-torch-store
rm -rf "$store" /tmp/cubuild-torch && mkdir -p /tmp/cubuild-torch
cb() { "$c/cubuild" --root "$store" "$@"; }
say() { printf '\n$ %s\n' "$*"; }
say "tar the machine's root without /proc /sys /dev /tmp, the CUDA toolkit and the driver's files"
start=$(date +%s)
tar -C / -cf /tmp/cubuild-torch/root.tar --one-file-system \
        --exclude=./proc --exclude=./sys --exclude=./dev --exclude=./tmp --exclude=./run --exclude=./work \
        --exclude=./root --exclude=./var/cache --exclude=./usr/share/doc --exclude=./usr/share/man \
        --exclude='./usr/local/cuda*' --exclude=./usr/local/nvidia \
        --exclude='*/libcuda.so*' --exclude='*/libnvidia-*' --exclude='*/libcudadebugger*' \
        ./bin ./sbin ./lib ./lib64 ./usr ./etc ./opt ./var 2>/dev/null
ls -l /tmp/cubuild-torch/root.tar; echo "tar: $(($(date +%s) - start)) s"
say "cubuild import root.tar machine-root:torch"
start=$(date +%s)
cb import /tmp/cubuild-torch/root.tar machine-root:torch; echo "exit status: $?; $(($(date +%s) - start)) s"
mkdir -p /tmp/cubuild-torch/ctx
cat >/tmp/cubuild-torch/ctx/Dockerfile <<'DF'
FROM machine-root:torch
ENV PATH=/opt/torch/.venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    LD_LIBRARY_PATH=/usr/local/nvidia/lib:/usr/local/nvidia/lib64
RUN python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
DF
say "cubuild build --verify require --verify-report builder-torch.json -t torch-image:1 ctx"
start=$(date +%s)
cb build --verify require --verify-report "$out/builder-torch.json" -t torch-image:1 /tmp/cubuild-torch/ctx
echo "exit status: $?; $(($(date +%s) - start)) s"
