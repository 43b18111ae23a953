#!/usr/bin/env bats
# `cubuild check`: the CLI (builder/) over parser/'s df_parse + df_check. Contract:
#   cubuild check [-f Dockerfile] [--strict] [--format json] [--list-rules] [CONTEXT]
#   stdout: FILE:LINE: rule-name: message per finding; exit 0 without errors (and without warnings
#   under --strict), 1 otherwise, 2 on a usage error.

setup() {
        if ! "$CUBUILD" check --help >/dev/null 2>&1; then
                skip "cubuild check not wired yet ('$CUBUILD check --help' fails)"
        fi
        ctx="$BATS_TEST_TMPDIR/ctx"
        mkdir -p "$ctx"
}

write() {
        cat > "$ctx/${1:-Dockerfile}"
}

@test "check: a clean Dockerfile exits 0 and prints no finding" {
        write <<'X'
FROM nvidia/cuda:12.4.1-runtime-ubuntu22.04
RUN apt-get update && apt-get install -y --no-install-recommends python3 && rm -rf /var/lib/apt/lists/*
USER 1000
CMD ["python3"]
X
        run "$CUBUILD" check "$ctx"
        [ "$status" -eq 0 ]
        [ -z "$(printf '%s\n' "$output" | grep -E '^[^ ]+:[0-9]+: [A-Za-z]+: ')" ]
}

@test "check: seed A reports the missing nvidia/cuda tag as an error with FILE:LINE: rule: message" {
        cp "$CUBUILD_SOURCE_DIR/tests/fixtures/dockerfile/seed-a-cuda-runtime/Dockerfile" "$ctx/Dockerfile"
        run "$CUBUILD" check "$ctx"
        [ "$status" -eq 1 ]
        [[ "$output" == *"Dockerfile:1: CudaTagInvalid: tag '11.8-runtime-ubuntu20.04' does not exist"* ]]
        [[ "$output" == *"11.8.0-runtime-ubuntu20.04"* ]]
        [[ "$output" == *"Dockerfile:2: AptNoInstallRecommends: "* ]]
}

@test "check: warnings alone exit 0, and 1 under --strict" {
        write <<'X'
FROM python:3.11-slim
USER 1000
CMD python3 app.py
X
        run "$CUBUILD" check "$ctx"
        [ "$status" -eq 0 ]
        [[ "$output" == *"Dockerfile:3: JSONArgsRecommended: "* ]]
        run "$CUBUILD" check --strict "$ctx"
        [ "$status" -eq 1 ]
}

@test "check: torch wheels built for another CUDA than the base are an error" {
        write <<'X'
ARG CUDA=11.8.0
FROM nvidia/cuda:${CUDA}-runtime-ubuntu22.04
RUN pip install --no-cache-dir torch==2.3.0+cu121
USER 1000
X
        run "$CUBUILD" check "$ctx"
        [ "$status" -eq 1 ]
        [[ "$output" == *"Dockerfile:3: CudaTorchMismatch: 'cu121' is built for CUDA 12.1 but the base image has CUDA 11.8"* ]]
}

@test "check: -f names the file, and findings carry that name" {
        mkdir -p "$ctx/docker"
        write docker/gpu.Dockerfile <<'X'
FROM python
USER 1000
X
        run "$CUBUILD" check -f "$ctx/docker/gpu.Dockerfile" "$ctx"
        [ "$status" -eq 0 ]
        [[ "$output" == *"gpu.Dockerfile:1: BaseImageUnpinned: "* ]]
}

@test "check: # check=skip= silences rules" {
        write <<'X'
# check=skip=JSONArgsRecommended,BaseImageUnpinned
FROM python
USER 1000
CMD python3 app.py
X
        run "$CUBUILD" check --strict "$ctx"
        [ "$status" -eq 0 ]
        [[ "$output" != *"JSONArgsRecommended"* ]]
}

@test "check: parse errors name FILE:LINE and exit 1" {
        cp "$CUBUILD_SOURCE_DIR/tests/fixtures/dockerfile/err-unknown-instruction/Dockerfile" "$ctx/Dockerfile"
        run "$CUBUILD" check "$ctx"
        [ "$status" -eq 1 ]
        [[ "$output" == *"Dockerfile:3: unknown instruction 'COPPY' (did you mean COPY?)"* ]]
        write <<'X'
FROM a
RUN <<EOF
echo never closed
X
        run "$CUBUILD" check "$ctx"
        [ "$status" -eq 1 ]
        [[ "$output" == *"Dockerfile:2: unterminated heredoc 'EOF'"* ]]
}

@test "check: --format json is valid JSON naming each rule" {
        write <<'X'
FROM python
MAINTAINER me
X
        run "$CUBUILD" check --format json "$ctx"
        [ "$status" -eq 0 ]
        printf '%s' "$output" | jq -e . >/dev/null
        [[ "$output" == *"MaintainerDeprecated"* ]]
        [[ "$output" == *"BaseImageUnpinned"* ]]
}

@test "check: --list-rules lists every rule with a description" {
        run "$CUBUILD" check --list-rules
        [ "$status" -eq 0 ]
        for r in JSONArgsRecommended StageNameCasing CudaTorchMismatch AptListsNotCleaned PipNoCacheDir RootUser; do
                [[ "$output" == *"$r"* ]]
        done
        [ "$(printf '%s\n' "$output" | grep -c -E 'Cuda|Apt|Pip')" -ge 6 ]
}

@test "check: a bad flag is a usage error (exit 2)" {
        write <<'X'
FROM a
X
        run "$CUBUILD" check --no-such-flag "$ctx"
        [ "$status" -eq 2 ]
        run "$CUBUILD" check --format yaml "$ctx"
        [ "$status" -eq 2 ]
}

@test "check: a missing Dockerfile fails with its path" {
        run "$CUBUILD" check "$ctx"
        [ "$status" -ne 0 ]
        [[ "$output" == *"Dockerfile"* ]]
}
