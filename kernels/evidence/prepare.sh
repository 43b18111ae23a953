#!/bin/sh
# Gathers, on the build machine, what kernels/evidence/run.sh needs on the GPU machine (which has no
# network): the verifier built for glibc 2.31, cubuild-gpu-plan, a small bullseye rootfs, CUDA 11.8's
# runtime from its PyPI wheel, and two stand-ins for failures the H100 cannot produce itself.
#
# usage: prepare.sh BUILD_DIR OUT_DIR
#   BUILD_DIR: a configured cubuild build tree (cmake --build BUILD_DIR --target verify-glibc231 is run)
set -eu
build=$(cd "$1" && pwd)
out=$2
src=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"

# sm_70 SASS needs CUDA 11.8's ptxas; reconfigure so the build finds it.
"$src/kernels/fetch-ptxas.sh" >/dev/null
cmake "$build" >/dev/null
cmake --build "$build" --target verify-glibc231 >&2
cp "$build/kernels/cubuild-verify.glibc231" "$out/cubuild-verify"
# The plan tool needs only libc; built here without sanitizers (the GPU machine's glibc is newer).
cc -std=gnu11 -O2 -D_GNU_SOURCE -o "$out/cubuild-gpu-plan" "$src/kernels/gpu-plan.c" "$src/kernels/gpu.c" \
        "$src/kernels/json.c" "$src/kernels/ldcache.c" "$src/kernels/elf.c" "$src/kernels/file.c" -lm

if [ ! -s "$out/bullseye-minbase.tar.xz" ]; then
        mmdebstrap --quiet --variant=minbase \
                --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
                --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
                bullseye "$out/bullseye-minbase.tar.xz" "${CUBUILD_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
fi
if ! ls "$out"/nvidia_cuda_runtime_cu11-11.8.89-*.whl >/dev/null 2>&1; then
        python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux1_x86_64 \
                --python-version 3.9 -d "$out" nvidia-cuda-runtime-cu11==11.8.89
fi

# Stand-in: a CUDA 14.0 runtime, newer than driver 580's CUDA 13.0. Like the real libcudart, its calls
# fail with cudaErrorInsufficientDriver; built in bullseye so it loads there.
root=$("$src/kernels/build-verifier.sh" --rootfs)
tmp=$(mktemp -d "$root/tmp/kv-standin.XXXXXX")
cp "$src/tests/unit/kernels/fake_cudart.c" "$tmp/"
chroot "$root" /bin/sh -c "cd '${tmp#"$root"}' && gcc -O2 -shared -fPIC -DFAKE_CUDART_VERSION=14000 \
        -Wl,-soname,libcudart.so.14 -o libcudart.so.14.0.0 fake_cudart.c"
cp "$tmp/libcudart.so.14.0.0" "$out/standin-libcudart.so.14"
rm -rf "$tmp"

# Stand-in: what torch 2.0.1+cu117 reports (its wheels carry SASS for sm_37..sm_86 and no PTX), to show
# the verifier's verdict on a torch without the GPU's architecture.
mkdir -p "$out/standin-torch/torch"
cat > "$out/standin-torch/torch/__init__.py" <<'PY'
# Stand-in for torch 2.0.1+cu117, reporting what that wheel reports; it computes nothing.
__version__ = "2.0.1+cu117"


class version:
    cuda = "11.7"


class cuda:
    @staticmethod
    def is_available():
        return True

    @staticmethod
    def get_arch_list():
        return ["sm_37", "sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86"]

    @staticmethod
    def get_device_capability(i=0):
        return (9, 0)

    @staticmethod
    def get_device_name(i=0):
        return "stand-in"
PY
cp "$src/kernels/evidence/run.sh" "$src/kernels/gpu-inject.sh" "$out/"
du -sh "$out"
