#!/bin/sh
# Runs the verifier on the GPU machine in five small images, with the GPU injected as the builder's
# sandbox does it: the plan from cubuild-gpu-plan, applied with bind mounts in a private mount
# namespace (unshare -m) and chroot; then checks that no driver file stayed in any image.
#
# usage (as root, on the GPU machine): run.sh CARRY_DIR [OUT_DIR]
#   CARRY_DIR holds what prepare.sh gathered; reports and the log go to OUT_DIR (default $OUT).
set -eu
C=$(cd "$1" && pwd)
OUT=${2:-${OUT:?}}
W=/tmp/kv-evidence
LOG=$OUT/log.txt
rm -rf "$W"
mkdir -p "$W" "$OUT"
: > "$LOG"

say() { printf '%s\n' "$*" | tee -a "$LOG"; }
run_logged() { say "\$ $*"; "$@" >> "$LOG" 2>&1; }

say "# $(date -u +%FT%TZ) on $(uname -n): $(. /etc/os-release && echo "$PRETTY_NAME"), $(ldd --version | head -n1)"
nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv >> "$LOG" 2>&1 || true

# The image config's NVIDIA_* values; the builder reads them from the image, here they are fixed.
# KV_PLAN_ARGS (say --driver-root DIR) lets a machine without a GPU rehearse this with a fake driver.
say "\$ cubuild-gpu-plan ${KV_PLAN_ARGS:-}--visible-devices all --capabilities compute,utility > plan.json"
# shellcheck disable=SC2086
"$C/cubuild-gpu-plan" ${KV_PLAN_ARGS:-} --visible-devices all --capabilities compute,utility > "$OUT/plan.json"
# shellcheck disable=SC2086
"$C/cubuild-gpu-plan" ${KV_PLAN_ARGS:-} --visible-devices all --capabilities compute,utility --lines > "$W/plan.txt"
say "# plan: $(wc -l < "$W/plan.txt") mounts: $(cut -d' ' -f1 "$W/plan.txt" | sort | uniq -c | tr -s ' \n' ' ')"

# Applies the plan to rootfs $1 and runs the verifier there (kernels/gpu-inject.sh), copies the report
# to $OUT/$2.json. $3...: the verifier's environment.
verify_in() {
        R=$1 name=$2
        shift 2
        say ""
        say "## $name"
        say "\$ gpu-inject.sh $( [ "${INJECT:-yes}" = yes ] && echo plan.txt || echo /dev/null) $R cubuild-verify $*"
        set +e
        plan=$W/plan.txt
        [ "${INJECT:-yes}" = yes ] || plan=/dev/null
        sh "$C/gpu-inject.sh" "$plan" "$R" "$C/cubuild-verify" "$@" >> "$LOG" 2>&1
        rc=$?
        set -e
        say "exit status: $rc"
        cp "$R/.cubuild/report.json" "$OUT/$name.json" 2>/dev/null || say "(no report)"
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))
print("result:", r["result"]); print("summary:", r["summary"])
for c in r["checks"]: print("  %-12s %-4s %9.1f ms  %s" % (c["name"], c["result"], c["ms"] or 0, c["detail"]))' "$OUT/$name.json" | tee -a "$LOG" || true
        # Nothing of the driver stays in the image once the namespace is gone.
        left=$(find "${CHECK:-$R}" -xdev \( -name 'libcuda.so*' -o -name 'libnvidia-*' -o -name 'nvidia-smi' -o -name 'nvidia[0-9]*' -o -name nvidiactl \) -print 2>/dev/null | grep -v '^$' | wc -l)
        say "driver files left in the image after the run: $left"
        rm -f "$R/.cubuild/verify"
}

say "\$ tar -xJf bullseye-minbase.tar.xz -C base"
mkdir "$W/base"
tar -xJf "$C/bullseye-minbase.tar.xz" -C "$W/base"
say "# base: $(cat "$W/base/etc/debian_version"), $(chroot "$W/base" /lib/x86_64-linux-gnu/libc.so.6 | head -n1)"
PATHS=PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LDP=LD_LIBRARY_PATH=/usr/local/nvidia/lib:/usr/local/nvidia/lib64

# 0. no GPU injected: the verifier must say so cleanly (exit 4)
cp -a "$W/base" "$W/nogpu"
INJECT=no verify_in "$W/nogpu" nogpu "$PATHS" "$LDP"

# 1. passing image: bullseye + CUDA 11.8's runtime as pip installs it (nvidia-cuda-runtime-cu11)
cp -a "$W/base" "$W/pass"
site=$W/pass/usr/local/lib/python3.9/dist-packages
mkdir -p "$site"
run_logged python3 -m zipfile -e "$C"/nvidia_cuda_runtime_cu11-11.8.89-*.whl "$site"
verify_in "$W/pass" pass "$PATHS" "$LDP"

# 2. broken image: a CUDA 14.0 runtime (stand-in) on driver 580 (CUDA 13.0)
cp -a "$W/base" "$W/broken-runtime"
mkdir -p "$W/broken-runtime/usr/local/cuda/lib64"
cp "$C/standin-libcudart.so.14" "$W/broken-runtime/usr/local/cuda/lib64/libcudart.so.14"
verify_in "$W/broken-runtime" broken-runtime "$PATHS" "$LDP"

# 3. bullseye + the GPU machine's own CUDA 13 runtime and cuBLAS
cp -a "$W/base" "$W/cublas"
mkdir -p "$W/cublas/usr/local/cuda/lib64"
run_logged cp -a /usr/local/cuda/lib64/libcudart.so.13 /usr/local/cuda/lib64/libcudart.so.13.0.96 \
        /usr/local/cuda/lib64/libcublas.so.13 /usr/local/cuda/lib64/libcublas.so.13.1.0.3 \
        /usr/local/cuda/lib64/libcublasLt.so.13 /usr/local/cuda/lib64/libcublasLt.so.13.1.0.3 "$W/cublas/usr/local/cuda/lib64/" || \
        cp -aL /usr/local/cuda/lib64/libcudart.so.13 /usr/local/cuda/lib64/libcublas.so.13 /usr/local/cuda/lib64/libcublasLt.so.13 "$W/cublas/usr/local/cuda/lib64/"
verify_in "$W/cublas" cublas "$PATHS" "$LDP"

# 4. torch: an image assembled from the GPU machine's own root (its Python and /opt/torch venv with
# torch 2.11+cu130), as an overlay whose writes go to a tmpfs, so the machine's files stay untouched.
mkdir -p "$W/ovl"
mount -t tmpfs tmpfs "$W/ovl"
mkdir -p "$W/ovl/up" "$W/ovl/work" "$W/torch"
if run_logged mount -t overlay overlay -o "lowerdir=/,upperdir=$W/ovl/up,workdir=$W/ovl/work" "$W/torch"; then
        say "# torch image: $(ls -d "$W"/torch/opt/torch/.venv/lib/python3*/site-packages/torch 2>&1)"
        say "# the driver directory as the image sees it: $(ls "$W/torch/usr/local/nvidia/lib64" 2>&1 | wc -l) entries"
        CHECK=$W/ovl/up verify_in "$W/torch" torch "PATH=/opt/torch/.venv/bin:/usr/local/nvidia/bin:/usr/bin:/bin" "$LDP"

        # 5. broken torch: the same image with a stand-in torch 2.0.1+cu117 (no sm_90) on the path
        mkdir -p "$W/torch/opt/standin-torch"
        cp -r "$C/standin-torch/torch" "$W/torch/opt/standin-torch/"
        CHECK=$W/ovl/up verify_in "$W/torch" broken-torch "PATH=/usr/local/nvidia/bin:/usr/bin:/bin" "PYTHONPATH=/opt/standin-torch" "$LDP"
        umount "$W/torch"
fi
umount "$W/ovl"
say ""
say "# done $(date -u +%FT%TZ)"
