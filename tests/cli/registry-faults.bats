#!/usr/bin/env bats
# Faults between registry/ and the registry: a faulty proxy (tests/fixtures/faulty-proxy.py) in front
# of the plain fixture drops connections mid-body, answers 500 and 429, stalls and resets. Pulls and
# pushes either complete (with retries, Range resume, a new upload session) or fail with an error
# that names the registry, the repository and the HTTP status.

load "$CUBUILD_SOURCE_DIR/tests/fixtures/registry.bash"

setup_file() {
        registry_start plain
}

teardown_file() {
        registry_stop
}

setup() {
        REGTOOL="${CUBUILD_BUILD_DIR}/tests/unit/registry/reg-tool"
        [ -x "$REGTOOL" ] || skip "reg-tool not built at $REGTOOL"
        IMG="$CUBUILD_SOURCE_DIR/tests/fixtures/registry-image.sh"
        W=$(mktemp -d "${BATS_TMPDIR:-/tmp}/regfault.XXXXXX")
        DIGEST=$("$IMG" image "$W/src" v1 --layers "2000 400000")
        # pushed straight to the registry so every test can pull through the proxy
        "$REGTOOL" push "$W/src" "$DIGEST" "$REGISTRY_HOST/f/img:v1"
        LAYER=$(jq -r '.layers[1].digest' "$W/src/blobs/sha256/${DIGEST#sha256:}")
}

teardown() {
        proxy_stop
        rm -rf "$W"
}

# fast retries so failing cases end quickly
rt() {
        "$REGTOOL" --retry-base-ms 20 --stats "$W/stats.json" "$@"
}

@test "a blob reply dropped mid-body twice resumes with Range requests and verifies" {
        proxy_start "GET /blobs/$LAYER drop:100000 2"
        run rt pull "$PROXY_HOST/f/img:v1" "$W/p"
        [ "$status" -eq 0 ]
        [ "$output" = "$DIGEST" ]
        cat "$PROXY_LOG"
        [ "$(grep -c " drop " "$PROXY_LOG")" -eq 2 ]
        # the retries asked for the rest only, and the registry answered 206
        grep -q "^GET /v2/f/img/blobs/$LAYER 206 - bytes=" "$PROXY_LOG"
        [ "$(sha256sum "$W/p/blobs/sha256/${LAYER#sha256:}" | cut -d' ' -f1)" = "${LAYER#sha256:}" ]
        [ "$(jq .retries "$W/stats.json")" -ge 2 ]
}

@test "500s on the manifest are retried; a 429 with Retry-After is honoured" {
        proxy_start "GET /manifests/ status:500 2" "HEAD /blobs/ status:429:1 1"
        run rt pull "$PROXY_HOST/f/img:v1" "$W/p"
        [ "$status" -eq 0 ]
        [ "$(grep -c "/manifests/v1 500 status" "$PROXY_LOG")" -eq 2 ]
        local t0 t1
        t0=$(date +%s%N)
        run rt push "$W/src" "$DIGEST" "$PROXY_HOST/f/other:v1"
        t1=$(date +%s%N)
        [ "$status" -eq 0 ]
        grep -q " 429 status" "$PROXY_LOG"
        # Retry-After: 1 waited about a second, although the backoff alone is 20 ms
        [ $(((t1 - t0) / 1000000)) -ge 900 ]
}

@test "a stalled transfer times out and resumes" {
        proxy_start "GET /blobs/$LAYER stall:30 1"
        local t0 t1
        t0=$(date +%s)
        run rt --stall-timeout 2 pull "$PROXY_HOST/f/img:v1" "$W/p"
        t1=$(date +%s)
        [ "$status" -eq 0 ]
        [ "$output" = "$DIGEST" ]
        [ $((t1 - t0)) -lt 20 ]
        grep -q "^GET /v2/f/img/blobs/$LAYER 206 - bytes=" "$PROXY_LOG"
}

@test "a registry that keeps failing ends in an error naming registry, repository and status" {
        proxy_start "* /manifests/ status:503 -1"
        run rt --retries 3 pull "$PROXY_HOST/f/img:v1" "$W/p"
        [ "$status" -eq 1 ]
        echo "$output"
        [[ "$output" == *"registry $PROXY_HOST: repository f/img: manifest 'v1': GET /v2/f/img/manifests/v1: HTTP 503 (UNAVAILABLE: injected fault)"* ]]
        [ "$(grep -c "/manifests/v1 503" "$PROXY_LOG")" -eq 4 ]
        [ ! -e "$W/p/blobs/sha256/${DIGEST#sha256:}" ]
}

@test "a failed monolithic upload starts a new upload session and completes" {
        proxy_start "PUT /blobs/uploads/ status:502 1"
        run rt push "$W/src" "$DIGEST" "$PROXY_HOST/f/reset:v1"
        [ "$status" -eq 0 ]
        grep -q "^PUT /v2/f/reset/blobs/uploads/.* 502 status" "$PROXY_LOG"
        # a new session: one POST per blob (3) and one more for the blob whose PUT failed
        [ "$(grep -c "^POST /v2/f/reset/blobs/uploads/" "$PROXY_LOG")" -eq 4 ]
        [ "$(skopeo inspect --tls-verify=false "docker://$REGISTRY_HOST/f/reset:v1" | jq -r .Digest)" = "$DIGEST" ]
}

@test "a failed chunk asks the upload where it stands and goes on from there" {
        proxy_start "PATCH /blobs/uploads/ status:500 1"
        run rt --chunk-threshold 100000 --chunk-size 65536 push "$W/src" "$DIGEST" "$PROXY_HOST/f/chunk:v1"
        echo "$output"
        cat "$PROXY_LOG"
        [ "$status" -eq 0 ]
        grep -q "^GET /v2/f/chunk/blobs/uploads/.* 204 " "$PROXY_LOG"
        run "$REGTOOL" pull "$REGISTRY_HOST/f/chunk:v1" "$W/p"
        [ "$status" -eq 0 ]
        [ "$output" = "$DIGEST" ]
}

@test "a connection reset before the reply is retried" {
        proxy_start "HEAD /blobs/ reset 2"
        run rt push "$W/src" "$DIGEST" "$PROXY_HOST/f/rst:v1"
        [ "$status" -eq 0 ]
        [ "$(grep -c " reset reset" "$PROXY_LOG")" -eq 2 ]
        [ "$(skopeo inspect --tls-verify=false "docker://$REGISTRY_HOST/f/rst:v1" | jq -r .Digest)" = "$DIGEST" ]
}

@test "parallel blob transfers stay within --max-conns" {
        local d6
        d6=$("$IMG" image "$W/src" six --layers "100000 100000 100000 100000 100000 100000")
        "$REGTOOL" push "$W/src" "$d6" "$REGISTRY_HOST/f/six:v1"
        # every blob reply stalls 1 s after its first 64 KiB, so the transfers overlap
        proxy_start "GET /blobs/ stall:1 -1"
        run rt --max-conns 3 pull "$PROXY_HOST/f/six:v1" "$W/p"
        [ "$status" -eq 0 ]
        [ "$output" = "$d6" ]
        cat "$PROXY_LOG.max"
        [ "$(cat "$PROXY_LOG.max")" -eq 3 ]
}

@test "a registry that is not there fails with the connection error, after bounded retries" {
        local port
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        run rt --retries 2 pull "127.0.0.1:$port/f/img:v1" "$W/p"
        [ "$status" -eq 1 ]
        [[ "$output" == *"registry 127.0.0.1:$port"* ]]
        [[ "$output" == *"Couldn't connect to server"* || "$output" == *"Connection refused"* ]]
        [ "$(jq .retries "$W/stats.json")" -eq 2 ]
}
