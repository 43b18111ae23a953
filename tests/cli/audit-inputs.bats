#!/usr/bin/env bats
# Every image records its inputs as manifest annotations, and `cubuild inspect` shows them.

load helpers
load audit-helpers

setup_file() {
        cb_setup_store
        audit_mini_base mini:1
}

teardown_file() {
        cb_teardown_store
}

setup() {
        ctx="$BATS_TEST_TMPDIR/ctx"
        mkdir -p "$ctx/sub"
        echo one >"$ctx/a.txt"
        echo ignored >"$ctx/sub/ignored.log"
        echo ignored >"$ctx/top.log"
        echo '*.log' >"$ctx/.dockerignore" # top.log only: patterns are anchored at the context root
        echo 's3cr3t-value' >"$BATS_TEST_TMPDIR/secret"
        cat >"$ctx/Dockerfile" <<'DF'
ARG BASE=mini:1
FROM ${BASE} AS builder
ARG V=0
RUN --mount=type=secret,id=tok test -s /run/secrets/tok && echo "$V" >/v
FROM builder AS final
COPY a.txt /a.txt
FROM scratch AS other
DF
}

an() {
        cb inspect "$1" | jq -r ".manifest.annotations[\"$2\"]"
}

@test "the manifest records bases, Dockerfile, context, args, target, epoch and version; no secret" {
        d=$(cb build -q --source-date-epoch 1700000000 --build-arg V=7 --target final --label team=audit \
                --secret "id=tok,src=$BATS_TEST_TMPDIR/secret" -t inputs:1 "$ctx")
        base=$(cb inspect mini:1 | jq -r .digest)
        [ "$(an inputs:1 org.opencontainers.image.base.name)" = docker.io/library/mini:1 ]
        [ "$(an inputs:1 org.opencontainers.image.base.digest)" = "$base" ]
        [ "$(an inputs:1 dev.cubuild.from.0)" = "docker.io/library/mini:1@$base" ]
        [ "$(an inputs:1 dev.cubuild.from.1)" = null ] # FROM builder: a stage, not an image
        [ "$(an inputs:1 dev.cubuild.dockerfile.digest)" = "sha256:$(sha256sum <"$ctx/Dockerfile" | cut -d' ' -f1)" ]
        [[ "$(an inputs:1 dev.cubuild.context.digest)" == sha256:* ]]
        [ "$(an inputs:1 dev.cubuild.build-arg.V)" = 7 ]
        [ "$(an inputs:1 dev.cubuild.label.team)" = audit ]
        [ "$(an inputs:1 dev.cubuild.target)" = final ]
        [ "$(an inputs:1 dev.cubuild.source-date-epoch)" = 1700000000 ]
        [ "$(an inputs:1 dev.cubuild.version)" = "$("$CUBUILD" version | awk 'NR == 1 {print $3}')" ]
        # the secret is nowhere in the manifest, the config or the inspect output
        ! cb inspect inputs:1 | grep -q s3cr3t
        # the readable block, and the same as JSON
        run cb inspect --inputs inputs:1
        echo "$output"
        [[ "$output" == *"Recorded inputs:"* ]]
        [[ "$output" == *"base image         docker.io/library/mini:1"* ]]
        [[ "$output" == *"build arg V=7"* ]]
        [[ "$output" == *"FROM, stage 0      docker.io/library/mini:1@sha256:"* ]]
        [ "$(cb inspect inputs:1 | jq -r '.inputs["build-arg.V"]')" = 7 ]
}

@test "the context digest follows the files the build can read, not ignored ones nor mtimes" {
        printf 'FROM scratch\nCOPY a.txt /a\n' >"$ctx/Dockerfile"
        cb build -q --source-date-epoch 1700000000 -t ctx:1 "$ctx" >/dev/null
        c1=$(an ctx:1 dev.cubuild.context.digest)
        echo changed >"$ctx/top.log"
        touch -d '2001-01-01' "$ctx/a.txt"
        cb build -q --source-date-epoch 1700000000 -t ctx:2 "$ctx" >/dev/null
        [ "$(an ctx:2 dev.cubuild.context.digest)" = "$c1" ]
        echo two >"$ctx/a.txt"
        cb build -q --source-date-epoch 1700000000 -t ctx:3 "$ctx" >/dev/null
        [ "$(an ctx:3 dev.cubuild.context.digest)" != "$c1" ]
        chmod 0600 "$ctx/a.txt"
        cb build -q --source-date-epoch 1700000000 -t ctx:4 "$ctx" >/dev/null
        [ "$(an ctx:4 dev.cubuild.context.digest)" != "$(an ctx:3 dev.cubuild.context.digest)" ]
        # without SOURCE_DATE_EPOCH nothing is recorded for it; scratch is a base of its own
        cb build -q -t ctx:5 "$ctx" >/dev/null
        [ "$(an ctx:5 dev.cubuild.source-date-epoch)" = null ]
        [ "$(an ctx:5 dev.cubuild.from.0)" = scratch ]
        [ "$(an ctx:5 org.opencontainers.image.base.name)" = null ]
}

@test "a named directory context is recorded by its digest; rebuild-check says it cannot take it" {
        mkdir -p "$BATS_TEST_TMPDIR/extra"
        echo extra >"$BATS_TEST_TMPDIR/extra/e.txt"
        printf 'FROM mini:1\nCOPY --from=assets e.txt /e.txt\n' >"$BATS_TEST_TMPDIR/Dockerfile.nc"
        cb build -q -f "$BATS_TEST_TMPDIR/Dockerfile.nc" --build-context "assets=$BATS_TEST_TMPDIR/extra" -t nc:1 \
                "$ctx" >/dev/null
        v=$(cb inspect nc:1 | jq -r '.manifest.annotations["dev.cubuild.build-context.assets"]')
        [[ "$v" =~ ^dir\ sha256:[0-9a-f]{64}$ ]]
        # the same Merkle digest as the directory given as the main context would have
        cb build -q -f "$BATS_TEST_TMPDIR/Dockerfile.nc" --build-context "assets=$BATS_TEST_TMPDIR/extra" -t nc:2 \
                "$BATS_TEST_TMPDIR/extra" >/dev/null
        [ "dir $(cb inspect nc:2 | jq -r '.manifest.annotations["dev.cubuild.context.digest"]')" = "$v" ]
        # a changed file there is another input
        echo changed >"$BATS_TEST_TMPDIR/extra/e.txt"
        cb build -q -f "$BATS_TEST_TMPDIR/Dockerfile.nc" --build-context "assets=$BATS_TEST_TMPDIR/extra" -t nc:3 \
                "$ctx" >/dev/null
        [ "$(cb inspect nc:3 | jq -r '.manifest.annotations["dev.cubuild.build-context.assets"]')" != "$v" ]
        run cb inspect --inputs nc:3
        [ "$status" -eq 0 ]
        [[ "$output" == *"--build-context assets=dir sha256:"* ]]
        run cb rebuild-check nc:3 --context "$ctx" -f "$BATS_TEST_TMPDIR/Dockerfile.nc"
        [ "$status" -eq 2 ]
        [[ "$output" == *"was built with --build-context assets (dir sha256:"*"rebuild-check does not take named contexts yet"* ]]
}
