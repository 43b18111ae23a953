#!/usr/bin/env bats
# docker build / buildx build flags, each checked by its effect on the image or the RUN environment
# (docs/docker-compat.md lists them with their status).

load helpers

setup_file() {
        cb_setup_store
        cb_load_base bookworm debian:bookworm
        mkdir -p "$CB_TMP/ctx" "$CB_TMP/df"
        cat >"$CB_TMP/df/Build.dockerfile" <<'DF'
FROM debian:bookworm AS base
ARG GREETING=hello
RUN mkdir /out && df -k /dev/shm | awk 'NR==2 {print $2}' >/out/shm && sh -c 'ulimit -n' >/out/nofile \
 && sh -c 'ulimit -Hn' >/out/nofile-hard && cat /etc/hosts >/out/hosts && echo "$GREETING" >/out/greeting

FROM base AS final
LABEL from=dockerfile
DF
        cat >"$CB_TMP/df/Build.dockerfile.dockerignore" <<'EOF2'
EOF2
        export DIGEST
        DIGEST=$(cb build -q -f "$CB_TMP/df/Build.dockerfile" --target base --build-arg GREETING=bonjour \
                --label team=ml --annotation org.example.owner=platform --shm-size 128m --ulimit nofile=1024:2048 \
                --add-host registry.internal:10.1.2.3 --load -t compat:1 \
                --iidfile "$CB_TMP/iid" --metadata-file "$CB_TMP/meta.json" \
                -o "type=oci,dest=$CB_TMP/layout" "$CB_TMP/ctx" 2>"$CB_TMP/log" || true)
        umoci unpack --image "$CB_TMP/layout:compat:1" "$CB_TMP/bundle" >/dev/null 2>&1 || true
}

teardown_file() {
        cb_teardown_store
}

@test "-f outside the context, --target, --build-arg, -t, --iidfile, --metadata-file, -o" {
        cat "$CB_TMP/log" >&2
        [ -n "$DIGEST" ]
        [ "$(cat "$CB_TMP/iid")" = "$DIGEST" ]
        [ "$(jq -r '."containerimage.digest"' "$CB_TMP/meta.json")" = "$DIGEST" ]
        [ "$(cat "$CB_TMP/bundle/rootfs/out/greeting")" = bonjour ]
        # --target base: the final stage's LABEL is not there
        [ "$(cb inspect compat:1 | jq -r '.config.config.Labels.from // "none"')" = none ]
}

@test "--label and --annotation" {
        [ "$(cb inspect compat:1 | jq -r .config.config.Labels.team)" = ml ]
        [ "$(cb inspect compat:1 | jq -r '.manifest.annotations."org.example.owner"')" = platform ]
}

@test "--shm-size, --ulimit and --add-host inside RUN, and none of it in the image" {
        [ "$(cat "$CB_TMP/bundle/rootfs/out/shm")" = 131072 ]
        [ "$(cat "$CB_TMP/bundle/rootfs/out/nofile")" = 1024 ]
        [ "$(cat "$CB_TMP/bundle/rootfs/out/nofile-hard")" = 2048 ]
        grep -q "^10.1.2.3[[:space:]]registry.internal$" "$CB_TMP/bundle/rootfs/out/hosts"
        ! grep -q registry.internal "$CB_TMP/bundle/rootfs/etc/hosts"
}

@test "--check runs the Dockerfile checks and builds nothing" {
        printf 'FROM debian:bookworm\nRUN true\nCMD echo hi\n' >"$CB_TMP/ctx/Dockerfile"
        before=$(cb images | wc -l)
        run cb build --check "$CB_TMP/ctx"
        [ "$status" -eq 0 ]
        [[ "$output" == *"JSONArgsRecommended"* ]]
        [ "$(cb images | wc -l)" = "$before" ]
}

@test "--ssh is refused with a reason; bad --ulimit, --add-host, --annotation values are usage errors" {
        run cb build --ssh default "$CB_TMP/ctx"
        [ "$status" -eq 2 ]
        [[ "${lines[0]}" == *"--ssh: SSH agent forwarding is not supported"* ]]
        run cb build --ulimit nofiles=1 "$CB_TMP/ctx"
        [ "$status" -eq 2 ]
        [[ "${lines[0]}" == *"unknown limit"* ]]
        run cb build --ulimit nofile=10:5 "$CB_TMP/ctx"
        [ "$status" -eq 2 ]
        run cb build --add-host justahost "$CB_TMP/ctx"
        [ "$status" -eq 2 ]
        run cb build --annotation novalue "$CB_TMP/ctx"
        [ "$status" -eq 2 ]
}

@test "--pull goes to the registry even when the store has the base" {
        printf 'FROM debian:bookworm\n' >"$CB_TMP/ctx/Dockerfile"
        run "$CUBUILD" --root "$CB_ROOT" --registry-mirror 127.0.0.1:9 build --pull "$CB_TMP/ctx"
        [ "$status" -eq 1 ]
        [[ "$output" == *"pull"* ]]
}

@test "--build-context NAME=docker-image://REF stands in for FROM NAME and COPY --from=NAME" {
        mkdir -p "$CB_TMP/bc"
        printf 'FROM base-image\nCOPY --from=tools /etc/debian_version /tools-version\n' >"$CB_TMP/bc/Dockerfile"
        cb build -q --build-context base-image=docker-image://debian:bookworm \
                --build-context tools=docker-image://debian:bookworm -t bc:1 "$CB_TMP/bc" >/dev/null
        [ "$(cb inspect bc:1 | jq -r '.manifest.layers | length')" -eq \
                "$(( $(cb inspect debian:bookworm | jq -r '.manifest.layers | length') + 1 ))" ]
        # directories and oci-layout:// are tested in build-context.bats; Git stays refused
        run cb build --build-context x=git@github.com:moby/buildkit.git "$CB_TMP/bc"
        [ "$status" -eq 2 ]
        [[ "${lines[0]}" == *"Git and URL contexts are not supported"* ]]
}
