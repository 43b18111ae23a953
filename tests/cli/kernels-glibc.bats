#!/usr/bin/env bats
# The verifier must run inside images whose glibc is older than the build machine's (bullseye and
# ubuntu20.04: glibc 2.31). kernels/build-verifier.sh builds it inside a bullseye rootfs; here we
# check its symbol versions with objdump -T and run it in a bullseye rootfs with chroot, where it
# must report "no GPU" cleanly (exit 4). Needs root and, the first time, Debian's mirror.
bats_require_minimum_version 1.5.0

setup_file() {
        [ "$(id -u)" -eq 0 ] || return 0
        command -v mmdebstrap >/dev/null || return 0
        cmake --build "$CUBUILD_BUILD_DIR" --target verify-glibc231 >&3 2>&1 || true
        # The bullseye base of tests/fixtures (its rootfs tarball), unpacked once for this file;
        # without it, the bullseye rootfs build-verifier.sh made and cached.
        export KV_ROOT=
        fix="$CUBUILD_SOURCE_DIR/tests/fixtures/bases.sh"
        if [ -x "$fix" ]; then
                tar_path="$("$fix" bullseye 2>/dev/null | awk '$1 == "bullseye" {print $3}')" || tar_path=
                if [ -n "$tar_path" ] && [ -f "$tar_path" ]; then
                        KV_ROOT="$BATS_FILE_TMPDIR/bullseye"
                        mkdir -p "$KV_ROOT"
                        tar -xpf "$tar_path" -C "$KV_ROOT" --numeric-owner || KV_ROOT=
                fi
        fi
        if [ -z "$KV_ROOT" ]; then
                # a copy: the tests write into the rootfs (the report, mount points)
                cached="$("$CUBUILD_SOURCE_DIR/kernels/build-verifier.sh" --rootfs 2>/dev/null)" || cached=
                if [ -n "$cached" ]; then
                        KV_ROOT="$BATS_FILE_TMPDIR/bullseye"
                        cp -a "$cached" "$KV_ROOT" || KV_ROOT=
                fi
        fi
}

setup() {
        [ "$(id -u)" -eq 0 ] || skip "needs root (chroot, mmdebstrap)"
        command -v mmdebstrap >/dev/null || skip "mmdebstrap not installed"
        command -v objdump >/dev/null || skip "objdump not installed"
        BIN="$CUBUILD_BUILD_DIR/kernels/cubuild-verify.glibc231"
        [ -x "$BIN" ] || skip "cubuild-verify.glibc231 was not built (mmdebstrap bullseye failed?)"
        ROOT="${KV_ROOT:-}"
        [ -n "$ROOT" ] && [ -x "$ROOT/bin/sh" ] || skip "no bullseye rootfs"
        DEST="/tmp/kv-glibc-$$"
}

teardown() {
        [ -n "${ROOT:-}" ] && rm -rf "$ROOT$DEST"
        true
}

@test "the verifier asks for no glibc symbol version above 2.31" {
        max="$(objdump -T "$BIN" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n1)"
        echo "highest GLIBC symbol version: $max"
        [ -n "$max" ]
        [ "$(printf '%s\n2.31\n' "$max" | sort -V | tail -n1)" = 2.31 ]
}

@test "the verifier runs in a bullseye rootfs and reports no GPU there, exit 4" {
        run chroot "$ROOT" /lib/x86_64-linux-gnu/libc.so.6
        [[ "$output" == *"release version 2.31"* ]]
        mkdir -p "$ROOT$DEST"
        cp "$BIN" "$ROOT$DEST/verify"
        run --separate-stderr chroot "$ROOT" "$DEST/verify" --report "$DEST/report.json" --python none
        echo "$stderr"
        [ "$status" -eq 4 ]
        [[ "$stderr" == "cubuild-verify: no GPU: cannot load the CUDA driver libcuda.so.1"* ]]
        jq -e '.result == "no-gpu" and .gpu == null and (.checks | length) == 0' "$ROOT$DEST/report.json"
}

@test "a program linked on this host would not run there (why the verifier is built in bullseye)" {
        ldd --version | head -n1 | grep -qE '2\.(3[4-9]|[4-9][0-9])' || skip "host glibc older than 2.34"
        command -v cc >/dev/null || skip "no C compiler"
        mkdir -p "$ROOT$DEST"
        printf 'int main(void) { return 0; }\n' > "$ROOT$DEST/hello.c"
        cc -o "$ROOT$DEST/hello" "$ROOT$DEST/hello.c"
        run -1 chroot "$ROOT" "$DEST/hello"
        [[ "$output" == *"GLIBC_2.34"*"not found"* ]]
}

# The builder's path without the builder: the plan of a fake driver root (a stand-in libcuda.so.1 that
# runs the kernels on the CPU, built in bullseye), applied by gpu-inject.sh with bind mounts in a
# private mount namespace, the verifier run in the bullseye rootfs with chroot; afterwards no driver
# file is left in the rootfs.
@test "the verifier passes in bullseye with a stand-in driver injected per the plan" {
        command -v unshare >/dev/null || skip "no unshare"
        gccroot="$("$CUBUILD_SOURCE_DIR/kernels/build-verifier.sh" --rootfs)"
        work="$gccroot/tmp/kv-fake-$$"
        mkdir -p "$work"
        cp "$CUBUILD_SOURCE_DIR/tests/unit/kernels/fake_cuda.c" "$CUBUILD_SOURCE_DIR/tests/unit/kernels/fake_lib.c" "$work/"
        chroot "$gccroot" /bin/sh -c "cd /tmp/kv-fake-$$ && gcc -O2 -shared -fPIC -Wl,-soname,libcuda.so.1 -o libcuda.so.580.1 fake_cuda.c && gcc -O2 -shared -fPIC -Wl,-soname,libnvidia-ml.so.1 -o libnvidia-ml.so.580.1 fake_lib.c"
        drv="$BATS_TEST_TMPDIR/driver"
        mkdir -p "$drv/dev" "$drv/usr/lib64"
        mv "$work"/*.so.580.1 "$drv/usr/lib64/"
        rm -rf "$work"
        ln -s libcuda.so.580.1 "$drv/usr/lib64/libcuda.so.1"
        ln -s libnvidia-ml.so.580.1 "$drv/usr/lib64/libnvidia-ml.so.1"
        touch "$drv/dev/nvidiactl" "$drv/dev/nvidia-uvm" "$drv/dev/nvidia0"
        "$CUBUILD_BUILD_DIR/kernels/cubuild-gpu-plan" --driver-root "$drv" --dev-root "$drv" --proc-root "$drv/none" \
                --visible-devices all --capabilities compute,utility --lines > "$BATS_TEST_TMPDIR/plan"
        cat "$BATS_TEST_TMPDIR/plan"
        grep -q "^library $drv/usr/lib64/libcuda.so.580.1 /usr/local/nvidia/lib64/libcuda.so.1\$" "$BATS_TEST_TMPDIR/plan"

        run -0 "$CUBUILD_SOURCE_DIR/kernels/gpu-inject.sh" "$BATS_TEST_TMPDIR/plan" "$ROOT" "$BIN" \
                PATH=/usr/bin:/bin LD_LIBRARY_PATH=/usr/local/nvidia/lib64
        echo "$output"
        [[ "$output" == "cubuild-verify: pass: Fake GPU (sm_90)"* ]]
        jq -e '.result == "pass" and .image.glibc == "2.31" and
               .gpu.driver_library == "/usr/local/nvidia/lib64/libcuda.so.1" and
               ([.checks[] | select(.result == "pass") | .name] | index("sgemm") != null)' "$ROOT/.cubuild/report.json"
        # the mounts went with the namespace: nothing of the driver is left in the rootfs
        [ -z "$(find "$ROOT" -xdev \( -name 'libcuda.so*' -o -name 'libnvidia-*' -o -name nvidiactl \) -print)" ]
        [ -z "$(ls -A "$ROOT/usr/local/nvidia/lib64")" ]
}
