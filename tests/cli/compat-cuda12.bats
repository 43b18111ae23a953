#!/usr/bin/env bats
# The static report on a CUDA 12 image made from PyPI's nvidia-cuda-runtime-cu12 wheel, laid out as
# pip installs it, on the bullseye fixture: the runtime's version comes from pip's metadata (the
# library itself is named by its soname only), the driver floor from CUDA 12's minor-version
# compatibility.

load helpers

setup_file() {
        cb_setup_store
        cb_load_base bullseye debian:bullseye
        whl=$("$CUBUILD_SOURCE_DIR/tests/fixtures/cuda12-wheel.sh") || skip "no CUDA 12 runtime wheel (PyPI unreachable?)"
        mkdir -p "$CB_TMP/ctx/site"
        python3 -c "import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" "$whl" "$CB_TMP/ctx/site"
        cat >"$CB_TMP/ctx/Dockerfile" <<'DF'
FROM debian:bullseye
COPY site/ /usr/local/lib/python3.9/dist-packages/
ENV CUDA_VERSION=12.4.1 NVIDIA_REQUIRE_CUDA="cuda>=11.8" \
    LD_LIBRARY_PATH=/usr/local/lib/python3.9/dist-packages/nvidia/cuda_runtime/lib
DF
}

teardown_file() {
        cb_teardown_store
}

@test "a CUDA 12.4 runtime from pip: version from its dist-info, driver >= 525.60.13" {
        run cb build -t cu12:1 --metadata-file "$CB_TMP/meta.json" "$CB_TMP/ctx"
        [ "$status" -eq 0 ]
        [[ "$output" == *"compat: CUDA runtime 12.4 (nvidia_cuda_runtime_cu12-12.4.127.dist-info), CUDA_VERSION 12.4.1"* ]]
        [[ "$output" == *"compat: driver >= 525.60.13 (CUDA 12.x minor-version compatibility); >= 550.54.14 for all of CUDA 12.4"* ]]
        [[ "$output" == *"compat: no CUDA code in the image's ELF files"* ]]
        # NVIDIA_REQUIRE_CUDA admits 11.x drivers that cannot load a CUDA 12 runtime
        [[ "$output" == *"warning: CudaRequireMismatch: NVIDIA_REQUIRE_CUDA says cuda>=11.8"* ]]
        [ "$(jq -r '.verify.static.libraries[] | select(.soname_only == false) | .version' "$CB_TMP/meta.json")" = "12.4.127" ]
        [ "$(jq -r .verify.static.driver.min "$CB_TMP/meta.json")" = "525.60.13" ]
        run cb compat --require-driver 520 cu12:1
        [ "$status" -eq 3 ]
        [[ "$output" == *"--require-driver 520: the image needs driver >= 525.60.13 for its CUDA 12.x runtime"* ]]
        run cb compat --require-driver 535.104.05 --require-arch sm_70,sm_90 cu12:1
        [ "$status" -eq 0 ]
}

@test "compat takes an OCI layout, an oci-archive and a registry reference, without building" {
        load "$CUBUILD_SOURCE_DIR/tests/fixtures/registry.bash"
        run cb build -q -t cu12:2 "$CB_TMP/ctx"
        [ "$status" -eq 0 ]
        cb save --format oci-dir -o "$CB_TMP/layout" cu12:2
        cb save --format oci-archive -o "$CB_TMP/cu12.tar" cu12:2
        for src in "$CB_TMP/layout" "$CB_TMP/cu12.tar"; do
                run "$CUBUILD" --root "$CB_TMP/fresh-$(basename "$src")" compat "$src"
                [ "$status" -eq 0 ]
                [[ "$output" == *"compat: CUDA runtime 12.4 (nvidia_cuda_runtime_cu12-12.4.127.dist-info)"* ]]
        done
        registry_start plain
        cb --insecure-registry "$REGISTRY_HOST" push cu12:2 "$REGISTRY_HOST/compat/cu12:2"
        run "$CUBUILD" --root "$CB_TMP/fresh-registry" --insecure-registry "$REGISTRY_HOST" \
                compat --json "$REGISTRY_HOST/compat/cu12:2"
        registry_stop
        [ "$status" -eq 0 ]
        [ "$(echo "$output" | sed -n '/^{/,$p' | jq -r .cuda.runtime)" = "12.4" ]
}
