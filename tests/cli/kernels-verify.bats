#!/usr/bin/env bats
# cubuild-verify and cubuild-gpu-plan on this machine, which has no GPU: the clean "no GPU" path,
# the report file, usage errors. The GPU paths are in tests/unit/kernels/test_verify.c (stand-in
# driver) and kernels/evidence/ (the H100).
bats_require_minimum_version 1.5.0

setup() {
        VERIFY="$CUBUILD_BUILD_DIR/kernels/cubuild-verify"
        PLAN="$CUBUILD_BUILD_DIR/kernels/cubuild-gpu-plan"
        [ -x "$VERIFY" ] || skip "cubuild-verify not built at $VERIFY"
        TMP="$(mktemp -d)"
}

teardown() {
        rm -rf "$TMP"
}

host_has_driver() {
        ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1 ' || [ -e /dev/nvidiactl ]
}

@test "verify --help prints usage and the exit codes" {
        run "$VERIFY" --help
        [ "$status" -eq 0 ]
        [[ "$output" == *"usage: cubuild-verify"* ]]
        [[ "$output" == *"3 verification failed, 4 no GPU"* ]]
}

@test "verify without a GPU exits 4 with a no-gpu report on stdout" {
        host_has_driver && skip "this machine has an NVIDIA driver"
        run --separate-stderr "$VERIFY" --python none
        [ "$status" -eq 4 ]
        [ "$(jq -r .result <<<"$output")" = no-gpu ]
        [ "$(jq -r .gpu <<<"$output")" = null ]
        [ "$(jq -r .schema <<<"$output")" = cubuild.verify/v1 ]
        [[ "$(jq -r .summary <<<"$output")" == "no GPU: cannot load the CUDA driver libcuda.so.1"* ]]
        [[ "$stderr" == "cubuild-verify: no GPU: "* ]]
}

@test "verify --report writes the file and one summary line" {
        host_has_driver && skip "this machine has an NVIDIA driver"
        run "$VERIFY" --report "$TMP/report.json" --python none
        [ "$status" -eq 4 ]
        [ "${#lines[@]}" -eq 1 ]
        [[ "$output" == "cubuild-verify: no GPU: "* ]]
        jq -e '.result == "no-gpu" and (.verifier.kernel_images[0].ptx_isa == "6.0")' "$TMP/report.json"
        [ ! -e "$TMP/report.json.tmp."* ]
}

@test "verify fails with 1 when the report cannot be written" {
        run "$VERIFY" --report "$TMP/no/such/dir/report.json" --python none
        [ "$status" -eq 1 ]
        [[ "$output" == *"No such file or directory"* ]]
}

@test "verify rejects unknown flags and stray arguments with 2" {
        run "$VERIFY" --bogus
        [ "$status" -eq 2 ]
        [[ "$output" == *"see 'cubuild-verify --help'"* ]]
        run "$VERIFY" extra
        [ "$status" -eq 2 ]
        [[ "$output" == *"unexpected argument 'extra'"* ]]
}

@test "gpu-plan without a driver exits 4 naming what is missing" {
        [ -e /dev/nvidiactl ] && skip "this machine has NVIDIA device nodes"
        run "$PLAN" --dev-root "$TMP" --proc-root "$TMP"
        [ "$status" -eq 4 ]
        [[ "$output" == *"no NVIDIA GPU found"* ]]
}

@test "gpu-plan prints the plan of a fake driver root as JSON" {
        mkdir -p "$TMP/dev" "$TMP/usr/lib64"
        touch "$TMP/dev/nvidiactl" "$TMP/dev/nvidia-uvm" "$TMP/dev/nvidia0"
        # any shared object stands in for the driver's libraries: the plan reads names, not symbols
        so="$(ldconfig -p | awk '/libz\.so\.1 .*x86-64/ {print $NF; exit}')"
        [ -n "$so" ] || skip "no libz.so.1 to stand in for driver libraries"
        cp "$so" "$TMP/usr/lib64/libcuda.so.580.1"
        cp "$so" "$TMP/usr/lib64/libnvidia-ml.so.580.1"
        ln -s libcuda.so.580.1 "$TMP/usr/lib64/libcuda.so.1"
        ln -s libnvidia-ml.so.580.1 "$TMP/usr/lib64/libnvidia-ml.so.1"
        run --separate-stderr "$PLAN" --driver-root "$TMP" --dev-root "$TMP" --proc-root "$TMP/none" \
                --visible-devices all --capabilities compute,utility
        [ "$status" -eq 0 ]
        [ "$(jq -r .driver_version <<<"$output")" = 580.1 ]
        [ "$(jq -r '[.mounts[] | select(.kind == "device") | .container] | join(" ")' <<<"$output")" = \
          "/dev/nvidiactl /dev/nvidia-uvm /dev/nvidia0" ]
        [ "$(jq -r '.mounts[] | select(.container == "/usr/local/nvidia/lib64/libcuda.so.1") | .host' <<<"$output")" = \
          "$TMP/usr/lib64/libcuda.so.580.1" ]
}
