#!/usr/bin/env bats
# registry/ against Debian's docker-registry on loopback, in each fixture variant, through the
# reg-tool driver (a directory blob sink like the builder's store). skopeo checks what we push.

load "$CUBUILD_SOURCE_DIR/tests/fixtures/registry.bash"

setup() {
        REGTOOL="${CUBUILD_BUILD_DIR}/tests/unit/registry/reg-tool"
        [ -x "$REGTOOL" ] || skip "reg-tool not built at $REGTOOL"
        IMG="$CUBUILD_SOURCE_DIR/tests/fixtures/registry-image.sh"
        W=$(mktemp -d "${BATS_TMPDIR:-/tmp}/regrt.XXXXXX")
        DIGEST=$("$IMG" image "$W/src" v1 --layers "1000 300000 70000")
}

teardown() {
        registry_stop
        rm -rf "$W"
}

# rt ARGS...: reg-tool with the variant's CA dir and auth file.
rt() {
        local extra=()
        [ -n "${REGISTRY_CERTS_D:-}" ] && extra+=(--certs-dir "$REGISTRY_CERTS_D")
        extra+=(--auth-file "$W/auth.json")
        "$REGTOOL" "${extra[@]}" "$@"
}

skopeo_creds() {
        SK=(--tls-verify=false)
        SKC=(--src-tls-verify=false)
        if [ -n "${REGISTRY_USER:-}" ]; then
                SK+=(--creds "$REGISTRY_USER:$REGISTRY_PASSWORD")
                SKC+=(--src-creds "$REGISTRY_USER:$REGISTRY_PASSWORD")
        fi
        return 0
}

login() {
        if [ -n "${REGISTRY_USER:-}" ]; then
                echo "$REGISTRY_PASSWORD" | rt login "$REGISTRY_HOST" "$REGISTRY_USER"
        fi
}

# All blobs under DIR hash to their names.
verify_blobs() {
        local f n=0
        for f in "$1"/blobs/sha256/*; do
                [ "$(sha256sum "$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || return 1
                n=$((n + 1))
        done
        echo "$n"
}

roundtrip() {
        login
        local ref=$REGISTRY_HOST/rt/img:v1
        run rt --stats "$W/push1.json" push "$W/src" "$DIGEST" "$ref"
        [ "$status" -eq 0 ] || { echo "$output"; return 1; }
        skopeo_creds
        # skopeo reads what we pushed, and copies it out to an OCI layout
        [ "$(skopeo inspect "${SK[@]}" "docker://$ref" | jq -r .Digest)" = "$DIGEST" ]
        skopeo copy -q "${SKC[@]}" "docker://$ref" "oci:$W/skopeo-out:v1"
        [ "$(jq -r '.manifests[0].digest' "$W/skopeo-out/index.json")" = "$DIGEST" ]
        # an unchanged image pushes again with HEAD requests only
        run rt --stats "$W/push2.json" push "$W/src" "$DIGEST" "$ref"
        [ "$status" -eq 0 ]
        cat "$W/push2.json"
        [ "$(jq '.get + .put + .post' "$W/push2.json")" -eq 0 ]
        [ "$(jq .head "$W/push2.json")" -ge 4 ]
        [ "$(jq .head "$W/push2.json")" -le 8 ]
        # pull into an empty store: the same digest, every blob verified
        run rt pull "$ref" "$W/pulled"
        [ "$status" -eq 0 ]
        [ "$output" = "$DIGEST" ]
        [ "$(verify_blobs "$W/pulled")" -eq 5 ]
        cmp "$W/pulled/blobs/sha256/${DIGEST#sha256:}" "$W/src/blobs/sha256/${DIGEST#sha256:}"
        # a second pull finds every blob present and fetches only the manifest
        run rt --stats "$W/pull2.json" --events "$W/pull2.events" pull "$ref" "$W/pulled"
        [ "$status" -eq 0 ]
        [ "$(jq .get "$W/pull2.json")" -le 3 ]
        cat "$W/pull2.events"
        [ "$(grep -c '^skip ' "$W/pull2.events")" -eq 4 ]
}

@test "plain: push, skopeo reads it, re-push is HEAD only, pull gives the same digest" {
        registry_start plain
        roundtrip
}

@test "tls-htpasswd: round trip with login; no credentials, a wrong password and an unknown CA fail clearly" {
        registry_start tls-htpasswd
        run rt push "$W/src" "$DIGEST" "$REGISTRY_HOST/rt/img:v1"
        [ "$status" -eq 1 ]
        [[ "$output" == *"registry $REGISTRY_HOST"*"authentication required"* ]]
        echo "wrong-password" | rt login "$REGISTRY_HOST" "$REGISTRY_USER"
        run rt push "$W/src" "$DIGEST" "$REGISTRY_HOST/rt/img:v1"
        [ "$status" -eq 1 ]
        [[ "$output" == *"credentials refused"* ]]
        [[ "$output" != *"wrong-password"* ]]
        run "$REGTOOL" --auth-file "$W/auth.json" pull "$REGISTRY_HOST/rt/img:v1" "$W/x"
        [ "$status" -eq 1 ]
        [[ "$output" == *"certificate"* ]]
        roundtrip
        # the password never shows in what we print
        run rt --events "$W/ev" pull "$REGISTRY_HOST/rt/img:v1" "$W/p3"
        [[ "$output" != *"$REGISTRY_PASSWORD"* ]]
        ! grep -q "$REGISTRY_PASSWORD" "$W/ev"
}

@test "tls-htpasswd with client certificates: certs.d's client.cert/client.key are presented" {
        REGISTRY_CLIENT_CERTS=1 registry_start tls-htpasswd
        login
        rt push "$W/src" "$DIGEST" "$REGISTRY_HOST/mtls/img:v1"
        run rt pull "$REGISTRY_HOST/mtls/img:v1" "$W/p"
        [ "$status" -eq 0 ]
        [ "$output" = "$DIGEST" ]
        # the same CA without the client pair is refused during the handshake
        mkdir -p "$W/ca-only/$REGISTRY_HOST"
        cp "$REGISTRY_CA" "$W/ca-only/$REGISTRY_HOST/ca.crt"
        run "$REGTOOL" --auth-file "$W/auth.json" --certs-dir "$W/ca-only" --retries 1 --retry-base-ms 10 \
                pull "$REGISTRY_HOST/mtls/img:v1" "$W/p2"
        [ "$status" -eq 1 ]
        [[ "$output" == *"registry $REGISTRY_HOST"* ]]
}

@test "a Docker v2 schema 2 image (pushed by skopeo) pulls to the digest skopeo reports" {
        registry_start plain
        skopeo copy -q --format v2s2 --dest-tls-verify=false "oci:$W/src:v1" "docker://$REGISTRY_HOST/v2s2/img:v1"
        local want mt
        want=$(skopeo inspect --tls-verify=false "docker://$REGISTRY_HOST/v2s2/img:v1" | jq -r .Digest)
        mt=$(skopeo inspect --raw --tls-verify=false "docker://$REGISTRY_HOST/v2s2/img:v1" | jq -r .mediaType)
        [ "$mt" = application/vnd.docker.distribution.manifest.v2+json ]
        run rt pull "$REGISTRY_HOST/v2s2/img:v1" "$W/p"
        [ "$status" -eq 0 ]
        [ "$output" = "$want" ]
        [ "$(verify_blobs "$W/p")" -eq 5 ]
        # and it pushes back under another name with its media type kept
        run rt push "$W/p" "$want" "$REGISTRY_HOST/v2s2/copy:v1"
        [ "$status" -eq 0 ]
        [ "$(skopeo inspect --raw --tls-verify=false "docker://$REGISTRY_HOST/v2s2/copy:v1" | jq -r .mediaType)" = "$mt" ]
}

@test "token: round trip through Bearer tokens, one token per scope, anonymous push refused" {
        registry_start token
        # anonymous: the token server grants pull only, so the push's upload is refused
        run rt push "$W/src" "$DIGEST" "$REGISTRY_HOST/rt/img:v1"
        [ "$status" -eq 1 ]
        [[ "$output" == *"registry $REGISTRY_HOST"* ]]
        roundtrip
        # a pull asks the token server once for its one scope
        : >"$REGISTRY_TOKEN_LOG"
        run rt --stats "$W/pull3.json" pull "$REGISTRY_HOST/rt/img:v1" "$W/p3"
        [ "$status" -eq 0 ]
        [ "$(jq .token "$W/pull3.json")" -eq 1 ]
        [ "$(wc -l <"$REGISTRY_TOKEN_LOG")" -eq 1 ]
        grep -q "cubuild repository:rt/img:pull" "$REGISTRY_TOKEN_LOG"
        # check-login: right and wrong passwords
        echo "$REGISTRY_PASSWORD" | rt check-login "$REGISTRY_HOST" "$REGISTRY_USER"
        run bash -c "echo nope | '$REGTOOL' check-login '$REGISTRY_HOST' '$REGISTRY_USER'"
        [ "$status" -eq 1 ]
        [[ "$output" == *"refused the credentials"* ]]
}

@test "token: an expired token is refused by the registry and fetched again" {
        # exp 58 s in the past: with the registry's 60 s leeway a token lives 2 s, while expires_in
        # (below the spec's 60 s minimum) makes the client keep it for 50 s
        REGISTRY_TOKEN_TTL=-58 registry_start token
        login
        rt push "$W/src" "$DIGEST" "$REGISTRY_HOST/exp/img:v1"
        # the blob GETs wait 3 s behind a 503 + Retry-After: 3, so the manifest's token has expired
        proxy_start "GET /blobs/ status:503:3 1"
        : >"$REGISTRY_TOKEN_LOG"
        run rt --stats "$W/st.json" pull "$PROXY_HOST/exp/img:v1" "$W/p"
        [ "$status" -eq 0 ]
        [ "$output" = "$DIGEST" ]
        cat "$REGISTRY_TOKEN_LOG"
        [ "$(grep -c "repository:exp/img:pull" "$REGISTRY_TOKEN_LOG")" -eq 2 ]
}

@test "copy within one registry mounts the blobs instead of uploading them" {
        registry_start plain
        rt push "$W/src" "$DIGEST" "$REGISTRY_HOST/a/img:v1"
        run rt --events "$W/ev" --stats "$W/st.json" copy "$REGISTRY_HOST/a/img:v1" "$W/c" "$REGISTRY_HOST/b/img:v1"
        [ "$status" -eq 0 ]
        [ "$(grep -c '^mount ' "$W/ev")" -eq 4 ]
        [ "$(jq .bytes_up "$W/st.json")" -eq 0 ]
        [ "$(skopeo inspect --tls-verify=false "docker://$REGISTRY_HOST/b/img:v1" | jq -r .Digest)" = "$DIGEST" ]
}

@test "chunked upload: blobs over the threshold go up in PATCH chunks" {
        registry_start plain
        run rt --chunk-threshold 100000 --chunk-size 65536 --stats "$W/st.json" push "$W/src" "$DIGEST" "$REGISTRY_HOST/ch/img:v1"
        [ "$status" -eq 0 ]
        cat "$W/st.json"
        # the 300000-byte layer compresses to ~300 KB: 5 PATCHes + 1 PUT; the others 1 PUT each; + manifest
        [ "$(jq .put "$W/st.json")" -ge 8 ]
        run rt pull "$REGISTRY_HOST/ch/img:v1" "$W/p"
        [ "$status" -eq 0 ]
        [ "$output" = "$DIGEST" ]
        [ "$(verify_blobs "$W/p")" -eq 5 ]
}

@test "an index resolves to the asked platform, and an unknown platform names what is offered" {
        registry_start plain
        local arm idx
        arm=$("$IMG" image "$W/src" v1-arm --arch arm64 --layers "500")
        idx=$("$IMG" index "$W/src" multi "$DIGEST=linux/amd64" "$arm=linux/arm64/v8")
        rt push "$W/src" "$idx" "$REGISTRY_HOST/multi/img:v1"
        [ "$(skopeo inspect --raw --tls-verify=false "docker://$REGISTRY_HOST/multi/img:v1" | jq -r '.manifests | length')" -eq 2 ]
        run rt --platform linux/arm64 pull "$REGISTRY_HOST/multi/img:v1" "$W/arm"
        [ "$status" -eq 0 ]
        [ "$output" = "$arm" ]
        [ -f "$W/arm/blobs/sha256/${idx#sha256:}" ]
        run rt --platform linux/amd64 pull "$REGISTRY_HOST/multi/img:v1" "$W/amd"
        [ "$output" = "$DIGEST" ]
        run rt --platform linux/s390x pull "$REGISTRY_HOST/multi/img:v1" "$W/s390x"
        [ "$status" -eq 1 ]
        [[ "$output" == *"no manifest for platform 'linux/s390x' (offered: linux/amd64, linux/arm64/v8)"* ]]
        # by digest too
        run rt --platform linux/arm64 pull "$REGISTRY_HOST/multi/img@$idx" "$W/arm2"
        [ "$output" = "$arm" ]
}

@test "a docker.io reference is served from the mirror (the CUDA base's path in every test)" {
        registry_start plain
        rt push "$W/src" "$DIGEST" "$REGISTRY_HOST/nvidia/cuda:11.8.0-runtime-ubuntu20.04"
        rt push "$W/src" "$DIGEST" "$REGISTRY_HOST/library/ubuntu:20.04"
        run rt --mirror "$REGISTRY_HOST" pull nvidia/cuda:11.8.0-runtime-ubuntu20.04 "$W/m1"
        [ "$status" -eq 0 ]
        [ "$output" = "$DIGEST" ]
        run rt --mirror "docker.io=$REGISTRY_HOST" pull ubuntu:20.04 "$W/m2"
        [ "$status" -eq 0 ]
        [ "$output" = "$DIGEST" ]
        # the same through the YAML config
        printf 'registries:\n  - prefix: docker.io\n    mirrors:\n      - location: %s\n        insecure: true\n' "$REGISTRY_HOST" >"$W/reg.yaml"
        run rt --config "$W/reg.yaml" pull docker.io/library/ubuntu:20.04 "$W/m3"
        [ "$status" -eq 0 ]
        [ "$output" = "$DIGEST" ]
}

@test "a corrupted blob in the registry fails the pull by digest and leaves nothing of it" {
        registry_start plain
        rt push "$W/src" "$DIGEST" "$REGISTRY_HOST/bad/img:v1"
        local layer f
        layer=$(jq -r '.layers[1].digest' "$W/src/blobs/sha256/${DIGEST#sha256:}")
        f=$(find "$REGISTRY_DIR/data" -path "*/blobs/sha256/*/${layer#sha256:}/data")
        [ -f "$f" ]
        local size
        size=$(stat -c %s "$f")
        head -c "$size" /dev/urandom >"$f"
        run rt pull "$REGISTRY_HOST/bad/img:v1" "$W/bad"
        [ "$status" -eq 1 ]
        [[ "$output" == *"blob $layer: digest mismatch"* ]]
        [ ! -e "$W/bad/blobs/sha256/${layer#sha256:}" ]
        [ -z "$(ls "$W/bad/blobs" | grep tmp- || true)" ]
        [ ! -e "$W/bad/blobs/sha256/${DIGEST#sha256:}" ]
}

@test "login and logout write docker's config.json" {
        run bash -c "echo s3cret | '$REGTOOL' --auth-file '$W/cfg/config.json' login myreg.example:5000 alice"
        [ "$status" -eq 0 ]
        [ "$(stat -c %a "$W/cfg/config.json")" = 600 ]
        [ "$(jq -r '.auths["myreg.example:5000"].auth' "$W/cfg/config.json" | base64 -d)" = "alice:s3cret" ]
        echo pw2 | "$REGTOOL" --auth-file "$W/cfg/config.json" login docker.io bob
        [ "$(jq -r '.auths["https://index.docker.io/v1/"].auth' "$W/cfg/config.json" | base64 -d)" = "bob:pw2" ]
        DOCKER_CONFIG="$W/cfg" run "$REGTOOL" logout myreg.example:5000
        [ "$status" -eq 0 ]
        [ "$(jq -r '.auths | keys | join(",")' "$W/cfg/config.json")" = "https://index.docker.io/v1/" ]
        run "$REGTOOL" --auth-file "$W/cfg/config.json" logout myreg.example:5000
        [ "$status" -eq 1 ]
        [[ "$output" == *"not logged in to 'myreg.example:5000'"* ]]
}
