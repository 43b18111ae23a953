#!/usr/bin/env bats
# The static CUDA compatibility report: `cubuild compat` on the CUDA 11.8 runtime fixture, and on
# images built from it with a library nvcc made for sm_80 and sm_120 only and with a torch built for
# CUDA 12.1 (a version.py as pip installs it); --require-arch and --require-driver on build and compat.

load helpers

setup_file() {
        cb_setup_store
        cb_load_base cuda-11.8.0-runtime nvidia/cuda:11.8.0-runtime-ubuntu22.04
}

teardown_file() {
        cb_teardown_store
}

@test "compat on the CUDA 11.8 fixture: versions, driver, GPUs, and a small fraction read" {
        run cb compat nvidia/cuda:11.8.0-runtime-ubuntu22.04
        [ "$status" -eq 0 ]
        [[ "$output" == *"compat: CUDA runtime 11.8 (libcudart.so.11.8.89), CUDA_VERSION 11.8.0, cuBLAS 11.11.3.6"* ]]
        [[ "$output" == *"compat: driver >= 450.80.02 (CUDA 11.x minor-version compatibility); >= 520.61.05 for all of CUDA 11.8"* ]]
        [[ "$output" == *"compat: runs on Maxwell, Pascal, Volta, Turing, Ampere, Ada, Hopper"* ]]
        [[ "$output" == *"compat: through PTX JIT: Blackwell"* ]]
        run cb compat --json nvidia/cuda:11.8.0-runtime-ubuntu22.04
        [ "$status" -eq 0 ]
        echo "$output" >"$CB_TMP/static.json"
        [ "$(jq -r .schema "$CB_TMP/static.json")" = "cubuild.compat/v1" ]
        [ "$(jq -r .cuda.runtime "$CB_TMP/static.json")" = "11.8" ]
        [ "$(jq -r '.gpus[] | select(.arch == "sm_90") | .verdict' "$CB_TMP/static.json")" = "native" ]
        [ "$(jq -r '.gpus[] | select(.arch == "sm_120") | .verdict' "$CB_TMP/static.json")" = "jit" ]
        # cuBLAS and cuBLASLt carry the CUDA code, sm_35..sm_90 SASS and PTX 7.8
        [ "$(jq -r '[.cuda_files[].path | split("/") | last] | sort | join(" ")' "$CB_TMP/static.json")" = \
                "libcublas.so.11.11.3.6 libcublasLt.so.11.11.3.6" ]
        [ "$(jq -r '.cuda_files[0].sass | join(",")' "$CB_TMP/static.json")" = \
                "sm_35,sm_50,sm_60,sm_61,sm_70,sm_75,sm_80,sm_86,sm_90" ]
        [ "$(jq -r '.cuda_files[0].ptx[0].version' "$CB_TMP/static.json")" = "7.8" ]
        # headers only: under 1% of the image's bytes
        jq -e '.scan.bytes_read * 100 < .scan.image_bytes' "$CB_TMP/static.json"
        [ "$(jq -r '.findings | length' "$CB_TMP/static.json")" = 0 ]
}

@test "compat --require-driver and --require-arch turn gaps into exit status 3 with one line" {
        run cb compat --require-driver 440 nvidia/cuda:11.8.0-runtime-ubuntu22.04
        [ "$status" -eq 3 ]
        [[ "$output" == *"cubuild: compat: --require-driver 440: the image needs driver >= 450.80.02 for its CUDA 11.x runtime"* ]]
        run cb compat --require-driver 470 --require-arch sm_70,sm_90 nvidia/cuda:11.8.0-runtime-ubuntu22.04
        [ "$status" -eq 0 ]
        # Blackwell only through PTX 7.8: the JIT needs CUDA 11.8's driver
        run cb compat --require-driver 470 --require-arch sm_120 nvidia/cuda:11.8.0-runtime-ubuntu22.04
        [ "$status" -eq 3 ]
        [[ "$output" == *"has only PTX 7.8 for sm_120, whose JIT needs driver >= 520.61.05"* ]]
        run cb compat --require-arch volta nvidia/cuda:11.8.0-runtime-ubuntu22.04
        [ "$status" -eq 2 ]
}

@test "every build prints the report, stores it with the verification report and in --metadata-file" {
        lib=${CUBUILD_BUILD_DIR:-}/tests/unit/kernels/cu/libsass80_sass120_z.so
        [ -f "$lib" ] || skip "no nvcc-made test library ($lib): nvcc was not found at configure time"
        mkdir -p "$CB_TMP/ctx/torch"
        cp "$lib" "$CB_TMP/ctx/"
        printf "__version__ = '2.1.0+cu121'\ndebug = False\ncuda: Optional[str] = '12.1'\n" >"$CB_TMP/ctx/torch/version.py"
        cat >"$CB_TMP/ctx/Dockerfile" <<'EOF'
FROM nvidia/cuda:11.8.0-runtime-ubuntu22.04
COPY libsass80_sass120_z.so /opt/app/lib/
COPY torch/version.py /usr/local/lib/python3.10/dist-packages/torch/version.py
EOF
        run cb build -t app:1 --metadata-file "$CB_TMP/meta.json" "$CB_TMP/ctx"
        [ "$status" -eq 0 ]
        [[ "$output" == *"compat: CUDA runtime 11.8"*"torch 2.1.0+cu121 (CUDA 12.1)"* ]]
        [[ "$output" == *"compat: runs on Ampere, Ada"* ]]
        [[ "$output" == *"compat: not on "*"libsass80_sass120_z.so has no sm_"* ]]
        [[ "$output" == *"error: CudaTorchMismatch: torch 2.1.0+cu121 is built for CUDA 12.1, the image's CUDA_VERSION is 11.8.0"* ]]
        [ "$(jq -r '.verify.static.gpus[] | select(.arch == "sm_90") | .verdict' "$CB_TMP/meta.json")" = "none" ]
        [ "$(jq -r '.verify.static.gpus[] | select(.arch == "sm_90") | .reason' "$CB_TMP/meta.json")" = \
                "libsass80_sass120_z.so has no sm_90 code and no PTX for it (it has sm_80, sm_120)" ]
        [ "$(jq -r '.verify.static.findings[0].name' "$CB_TMP/meta.json")" = "CudaTorchMismatch" ]
        # the stored verification report (the image's referrer) carries the static section
        d=$(cb inspect app:1 | jq -r .digest)
        idx=$(jq -r --arg n "docker.io/library/app:sha256-${d#sha256:}" \
                '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $n) | .digest' "$CB_ROOT/index.json")
        art=$(jq -r '.manifests[0].digest' "$CB_ROOT/blobs/sha256/${idx#sha256:}")
        rep=$(jq -r '.layers[0].digest' "$CB_ROOT/blobs/sha256/${art#sha256:}")
        [ "$(jq -r .static.cuda.runtime "$CB_ROOT/blobs/sha256/${rep#sha256:}")" = "11.8" ]

        # the same gap as a build requirement: exit status 3, one line naming the file
        run cb build -t app:2 --require-arch sm_80,sm_90 "$CB_TMP/ctx"
        [ "$status" -eq 3 ]
        [[ "$output" == *"cubuild: compat: --require-arch sm_90: /opt/app/lib/libsass80_sass120_z.so: no sm_90 code and no PTX for it"* ]]
        run cb build -t app:3 --require-arch sm_86,sm_120 --require-driver 535 "$CB_TMP/ctx"
        [ "$status" -eq 0 ]
        run cb build --require-driver latest "$CB_TMP/ctx"
        [ "$status" -eq 2 ]
        # cubuild check names the same mismatch from the Dockerfile text alone
        printf 'FROM nvidia/cuda:11.8.0-runtime-ubuntu22.04\nRUN pip install torch==2.1.0+cu121\n' >"$CB_TMP/Dockerfile.check"
        run cb check -f "$CB_TMP/Dockerfile.check" "$CB_TMP/ctx"
        [[ "$output" == *"CudaTorchMismatch"* ]]
}

@test "a rebuild of the same layers reuses the static report; other layers or options are scanned" {
        mkdir -p "$CB_TMP/memo"
        echo x >"$CB_TMP/memo/f"
        printf 'FROM nvidia/cuda:11.8.0-runtime-ubuntu22.04\nCOPY f /f\n' >"$CB_TMP/memo/Dockerfile"
        mkdir -p "$CB_ROOT/cache/compat"
        ls "$CB_ROOT/cache/compat" >"$CB_TMP/memo-before"
        run cb build --metadata-file "$CB_TMP/m1.json" -t memo:1 "$CB_TMP/memo"
        [ "$status" -eq 0 ]
        [[ "$output" == *"compat: CUDA runtime 11.8"* ]]
        # the build left new reports: this image's has the most files (a scan also remembers the layers
        # below a top layer it only counts)
        new=$(ls "$CB_ROOT/cache/compat" | grep -v -x -F -f "$CB_TMP/memo-before" || true)
        [ -n "$new" ]
        new=$(for m in $new; do echo "$(jq .static.scan.regular_files "$CB_ROOT/cache/compat/$m") $m"; done |
                sort -n | tail -1 | cut -d' ' -f2)
        mf="$CB_ROOT/cache/compat/$new"
        [ -f "$mf" ]
        n=$(ls "$CB_ROOT/cache/compat" | wc -l)
        # the report now comes from the memo: a marker put into it shows up, and no new report is made
        jq -c '.summary = "compat: from the memo\n"' "$mf" >"$mf.new" && mv "$mf.new" "$mf"
        run cb build --metadata-file "$CB_TMP/m2.json" -t memo:1 "$CB_TMP/memo"
        [ "$status" -eq 0 ]
        [[ "$output" == *"compat: from the memo"* ]]
        [ "$(ls "$CB_ROOT/cache/compat" | wc -l)" -eq "$n" ]
        [ "$(jq -S -c .verify.static "$CB_TMP/m1.json")" = "$(jq -S -c .verify.static "$CB_TMP/m2.json")" ]
        # another requirement, another file: scanned again
        run cb build --require-driver 535 -t memo:2 "$CB_TMP/memo"
        [ "$status" -eq 0 ]
        [[ "$output" != *"compat: from the memo"* ]]
        echo y >"$CB_TMP/memo/f"
        run cb build -t memo:3 "$CB_TMP/memo"
        [ "$status" -eq 0 ]
        [[ "$output" != *"compat: from the memo"* ]]
        # one report each at least (a scan also remembers the layers below a top layer it only counts)
        [ "$(ls "$CB_ROOT/cache/compat" | wc -l)" -ge $((n + 2)) ]
}

@test "every finding name of the static report is a rule name of cubuild check" {
        names=$(grep -ohE 'add_finding\(c, "[A-Za-z]+"' "$CUBUILD_SOURCE_DIR/kernels/compat.c" | grep -oE '"[A-Za-z]+"' | tr -d '"' | sort -u)
        [ -n "$names" ]
        rules=$("$CUBUILD" check --list-rules | awk '{print $1}')
        for n in $names; do
                grep -qx "$n" <<<"$rules" || { echo "'$n' is not in cubuild check --list-rules" >&2; return 1; }
        done
}
