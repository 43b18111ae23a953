#!/usr/bin/env bats
# The GPU verification policy on a machine without a GPU (CI's): auto skips with one clear line,
# require fails with exit status 3, skip skips; GPUs asked for in RUN are an error without a GPU.
# The GPU path itself is proven on an H100: kernels/evidence/builder/.

load helpers

setup_file() {
        cb_setup_store
        cb_load_base bookworm debian:bookworm
        mkdir -p "$CB_TMP/ctx"
        printf 'FROM debian:bookworm\nENV NVIDIA_VISIBLE_DEVICES=all\nRUN echo built >/built\n' >"$CB_TMP/ctx/Dockerfile"
        [ ! -e /dev/nvidiactl ] || skip "this machine has a GPU: the no-GPU policy cannot be shown here"
}

teardown_file() {
        cb_teardown_store
}

@test "--verify auto (the default) skips with one line and stores a report referring to the image" {
        run cb build -t ver:1 --verify-report "$CB_TMP/report.json" "$CB_TMP/ctx"
        [ "$status" -eq 0 ]
        [[ "$output" == *"verify: skipped: no GPU"* ]]
        [ "$(jq -r .result "$CB_TMP/report.json")" = "skipped" ]
        d=$(cb inspect ver:1 | jq -r .digest)
        # the referrers index (OCI 1.1 fallback tag) lists an artifact whose subject is the image
        idx=$(jq -r --arg n "docker.io/library/ver:sha256-${d#sha256:}" \
                '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $n) | .digest' "$CB_ROOT/index.json")
        [ -n "$idx" ]
        run ls "$CB_ROOT/blobs/sha256/${idx#sha256:}"
        [ "$status" -eq 0 ]
        art=$(jq -r '.manifests[0].digest' "$CB_ROOT/blobs/sha256/${idx#sha256:}")
        [ "$(jq -r .subject.digest "$CB_ROOT/blobs/sha256/${art#sha256:}")" = "$d" ]
        [ "$(jq -r .artifactType "$CB_ROOT/blobs/sha256/${art#sha256:}")" = "application/vnd.cubuild.verify.report.v1+json" ]
        # images does not list the referrers tag
        run cb images
        [[ "$output" != *"sha256-"* ]]
}

@test "--verify require without a GPU fails with exit status 3" {
        run cb build -t ver:2 --verify require "$CB_TMP/ctx"
        [ "$status" -eq 3 ]
        [[ "$output" == *"a GPU is required (--verify require), but no GPU"* ]]
}

@test "cubuild verify without a GPU says that the command requires one, and --verify auto skips" {
        cb build -q -t ver:4 --verify skip "$CB_TMP/ctx" >/dev/null
        run cb verify ver:4
        [ "$status" -eq 3 ]
        [[ "$output" == *"a GPU is required (cubuild verify requires one unless --verify auto), but no GPU"* ]]
        run cb verify --verify auto ver:4
        [ "$status" -eq 0 ]
        [[ "$output" == *"verify: skipped: no GPU"* ]]
}

@test "--verify skip says so" {
        run cb build -t ver:3 --verify skip "$CB_TMP/ctx"
        [ "$status" -eq 0 ]
        [[ "$output" == *"verify: skipped: --verify skip"* ]]
}

@test "RUN --device=nvidia.com/gpu=all without a GPU is a build error naming the line" {
        printf 'FROM debian:bookworm\nRUN --device=nvidia.com/gpu=all true\n' >"$CB_TMP/ctx/Dockerfile.gpu"
        run cb build -f "$CB_TMP/ctx/Dockerfile.gpu" "$CB_TMP/ctx"
        [ "$status" -eq 1 ]
        [[ "$output" == *"Dockerfile.gpu:2: RUN with GPUs"* ]]
        run cb build --gpus bogus "$CB_TMP/ctx"
        [ "$status" -eq 2 ]
}
