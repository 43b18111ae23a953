#!/usr/bin/env bats
# Multi-stage builds: only the stages the target needs run; COPY --from by name and index keeps
# modes and symlinks; --target stops at a stage; the seeds' builder/runtime pattern.

load helpers

setup_file() {
        cb_setup_store
        cb_load_base bookworm debian:bookworm
        mkdir -p "$CB_TMP/ctx"
        cat >"$CB_TMP/ctx/Dockerfile" <<'DF'
FROM debian:bookworm AS builder
RUN mkdir -p /opt/venv/bin && echo '#!/bin/sh' >/opt/venv/bin/tool && chmod 0750 /opt/venv/bin/tool \
 && ln -s tool /opt/venv/bin/tool-link && chown 1234:5678 /opt/venv/bin/tool

FROM debian:bookworm AS unused
RUN echo this stage must not run >&2 && exit 9

FROM debian:bookworm
COPY --from=builder /opt/venv /opt/venv
COPY --from=0 /opt/venv/bin/tool /tool-by-index
CMD ["/opt/venv/bin/tool"]
DF
}

teardown_file() {
        cb_teardown_store
}

@test "the unused stage is skipped, the target's stages build" {
        run cb build -t stages:1 "$CB_TMP/ctx"
        [ "$status" -eq 0 ]
        [[ "$output" == *"skipping stage 1 unused"* ]]
        [[ "$output" != *"this stage must not run"* ]]
}

@test "COPY --from keeps modes, ownership and symlinks" {
        cb build -q -t stages:1 -o "type=oci,dest=$CB_TMP/layout" "$CB_TMP/ctx" >/dev/null
        umoci unpack --image "$CB_TMP/layout:stages:1" "$CB_TMP/bundle" >/dev/null
        r="$CB_TMP/bundle/rootfs"
        [ "$(stat -c '%a %u:%g' "$r/opt/venv/bin/tool")" = "750 1234:5678" ]
        [ "$(readlink "$r/opt/venv/bin/tool-link")" = "tool" ]
        [ -f "$r/tool-by-index" ]
}

@test "--target builds up to the named stage" {
        run cb build --target unused -t stages:unused "$CB_TMP/ctx"
        [ "$status" -eq 1 ]
        [[ "$output" == *"Dockerfile:6: RUN"*"exit status 9"* ]]
        run cb build --target nosuch "$CB_TMP/ctx"
        [ "$status" -eq 1 ]
        [[ "$output" == *"--target 'nosuch'"* ]]
}

@test "ONBUILD triggers are stored, run when the image is a base, and not passed on" {
        mkdir -p "$CB_TMP/ob1" "$CB_TMP/ob2"
        printf 'FROM debian:bookworm\nONBUILD RUN echo triggered >/onbuild-ran\n' >"$CB_TMP/ob1/Dockerfile"
        cb build -q -t onbuild:parent "$CB_TMP/ob1" >/dev/null
        [ "$(cb inspect onbuild:parent | jq -r '.config.config.OnBuild[0]')" = "RUN echo triggered >/onbuild-ran" ]
        printf 'FROM onbuild:parent\nRUN cat /onbuild-ran\n' >"$CB_TMP/ob2/Dockerfile"
        run cb build -t onbuild:child "$CB_TMP/ob2"
        [ "$status" -eq 0 ]
        [[ "$output" == *"ONBUILD trigger: RUN echo triggered"* ]]
        [ "$(cb inspect onbuild:child | jq -r '.config.config.OnBuild')" = "null" ]
}

@test "COPY <<EOF writes the heredoc, expanded unless its delimiter is quoted" {
        mkdir -p "$CB_TMP/hd"
        cat >"$CB_TMP/hd/Dockerfile" <<'DF'
FROM debian:bookworm
ENV WHO=world
COPY <<EOF /etc/greeting
hello $WHO
EOF
COPY --chmod=0755 <<'EOT' /usr/local/bin/raw.sh
#!/bin/sh
echo $WHO
EOT
COPY <<one <<two /multi/
1
one
2
two
RUN cat /etc/greeting /multi/one /multi/two && test -x /usr/local/bin/raw.sh && grep -q 'echo \$WHO' /usr/local/bin/raw.sh
DF
        run cb build -t heredoc:1 "$CB_TMP/hd"
        [ "$status" -eq 0 ]
        [[ "$output" == *"hello world"* ]]
}

# Two stages that can only finish together: each RUN announces itself in a shared cache mount and
# waits for the other. One after the other, the first one times out; with --jobs 2 both finish.
@test "--jobs 2 builds independent stages at the same time, with the same digest as --jobs 1 would" {
        mkdir -p "$CB_TMP/jobs"
        cat >"$CB_TMP/jobs/Dockerfile" <<'DF'
FROM debian:bookworm AS a
RUN --mount=type=cache,id=jobs-sync,target=/s sh -c 'touch /s/a; i=0; while [ ! -e /s/b ]; do i=$((i+1)); [ $i -lt 100 ] || exit 7; sleep 0.1; done' && echo a >/a

FROM debian:bookworm AS b
RUN --mount=type=cache,id=jobs-sync,target=/s sh -c 'touch /s/b; i=0; while [ ! -e /s/a ]; do i=$((i+1)); [ $i -lt 100 ] || exit 7; sleep 0.1; done' && echo b >/b

FROM debian:bookworm
COPY --from=a /a /a
COPY --from=b /b /b
DF
        run cb build --jobs 1 --no-cache -t jobs:1 "$CB_TMP/jobs"
        [ "$status" -eq 1 ]
        [[ "$output" == *"exit status 7"* ]]
        rm -rf "$CB_ROOT/cache-mounts"
        run cb build --jobs 2 --no-cache -t jobs:2 "$CB_TMP/jobs"
        [ "$status" -eq 0 ]
        d2=${lines[-1]}
        # the same inputs built one stage at a time (the cache makes the RUNs hits) give the same digest
        run cb build --jobs 1 -t jobs:3 "$CB_TMP/jobs"
        [ "$status" -eq 0 ]
        [ "${lines[-1]}" = "$d2" ]
        [[ "$output" == *"0 layer steps ran, 4 came from the cache"* ]]
}

@test "--jobs: a failing stage stops the build and its sibling, leaving no mount behind" {
        mkdir -p "$CB_TMP/jobsfail"
        cat >"$CB_TMP/jobsfail/Dockerfile" <<'DF'
FROM debian:bookworm AS slow
RUN sleep 30

FROM debian:bookworm AS bad
RUN exit 5

FROM debian:bookworm
COPY --from=slow /etc/hostname /x
COPY --from=bad /etc/hostname /y
DF
        before=$(wc -l </proc/self/mountinfo)
        SECONDS=0
        run cb build --jobs 2 --no-cache "$CB_TMP/jobsfail"
        [ "$status" -eq 1 ]
        [[ "$output" == *"Dockerfile:5: RUN exit 5"*"exit status 5"* ]]
        [ "$SECONDS" -lt 25 ]
        [ "$(wc -l </proc/self/mountinfo)" -eq "$before" ]
        ! pgrep -f "sleep 30"
}

@test "--no-cache-filter STAGE reruns that stage only" {
        mkdir -p "$CB_TMP/ncf"
        cat >"$CB_TMP/ncf/Dockerfile" <<'DF'
FROM debian:bookworm AS one
RUN date +%s%N >/stamp

FROM debian:bookworm
RUN date +%s%N >/stamp2
COPY --from=one /stamp /stamp
DF
        cb build -q -t ncf:1 -o "type=oci,dest=$CB_TMP/ncf1" "$CB_TMP/ncf" >/dev/null
        cb build -q -t ncf:2 --no-cache-filter one -o "type=oci,dest=$CB_TMP/ncf2" "$CB_TMP/ncf" >/dev/null
        # the layer of stage one's RUN is new (the timestamp changed); the final stage's RUN layer is reused
        l1=$(jq -r '.layers[-2].digest' "$CB_TMP/ncf1/blobs/sha256/$(jq -r '.manifests[0].digest' "$CB_TMP/ncf1/index.json" | cut -d: -f2)")
        l2=$(jq -r '.layers[-2].digest' "$CB_TMP/ncf2/blobs/sha256/$(jq -r '.manifests[0].digest' "$CB_TMP/ncf2/index.json" | cut -d: -f2)")
        c1=$(jq -r '.layers[-1].digest' "$CB_TMP/ncf1/blobs/sha256/$(jq -r '.manifests[0].digest' "$CB_TMP/ncf1/index.json" | cut -d: -f2)")
        c2=$(jq -r '.layers[-1].digest' "$CB_TMP/ncf2/blobs/sha256/$(jq -r '.manifests[0].digest' "$CB_TMP/ncf2/index.json" | cut -d: -f2)")
        [ "$l1" = "$l2" ]
        [ "$c1" != "$c2" ]
}

@test "--format docker writes Docker v2 schema 2 media types" {
        cb build -q --format docker -t fmt:docker -o "type=oci,dest=$CB_TMP/fmt" "$CB_TMP/ncf" >/dev/null
        m="$CB_TMP/fmt/blobs/sha256/$(jq -r '.manifests[0].digest' "$CB_TMP/fmt/index.json" | cut -d: -f2)"
        [ "$(jq -r .mediaType "$m")" = application/vnd.docker.distribution.manifest.v2+json ]
        [ "$(jq -r .config.mediaType "$m")" = application/vnd.docker.container.image.v1+json ]
        [ "$(jq -r '.layers[-1].mediaType' "$m")" = application/vnd.docker.image.rootfs.diff.tar.gzip ]
        run cb build --format docker --compression zstd "$CB_TMP/ncf"
        [ "$status" -eq 2 ]
        [[ "$output" == *"has no zstd layers"* ]]
}
