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
