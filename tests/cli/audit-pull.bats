#!/usr/bin/env bats
# Attestations travel with the image both ways: `cubuild pull` fetches an image's referrers
# (provenance, SBOM, GPU report) into the store, through the registry's referrers API where it has
# one and the OCI 1.1 fallback tag otherwise (Debian's docker-registry 2.8 has no API), and an image
# built without -t keeps its referrers under its digest.

load helpers
load audit-helpers
load "$CUBUILD_SOURCE_DIR/tests/fixtures/registry.bash"

setup_file() {
        cb_setup_store
        registry_start plain
        audit_mini_base mini:1
        mkdir -p "$CB_TMP/ctx"
        echo hello >"$CB_TMP/ctx/f"
        printf 'FROM mini:1\nCOPY f /f\n' >"$CB_TMP/ctx/Dockerfile"
}

teardown_file() {
        if [ -f "$CB_TMP/api.pid" ]; then
                kill "$(cat "$CB_TMP/api.pid")" 2>/dev/null || true
        fi
        registry_stop
        cb_teardown_store
}

kinds() {
        "$CUBUILD" --root "$1" attestations --format json "$2" | jq -r '[.[].kind] | sort | join(",")'
}

@test "pull into an empty store brings the referrers (fallback tag); attestations lists them" {
        ref="$REGISTRY_HOST/audit/pulled:1"
        d=$(cb build -q --source-date-epoch 1700000000 --push -t "$ref" "$CB_TMP/ctx")
        other="$CB_TMP/other"
        run "$CUBUILD" --root "$other" pull "$ref"
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"pulled the referrers of $d (fallback tag)"* ]]
        [ "$(kinds "$other" "$ref")" = provenance,sbom,verify ]
        # the same documents, byte for byte, and by digest too
        cb attestations --get sbom "$ref" >"$BATS_TEST_TMPDIR/a.json"
        "$CUBUILD" --root "$other" attestations --get sbom "$d" >"$BATS_TEST_TMPDIR/b.json"
        cmp "$BATS_TEST_TMPDIR/a.json" "$BATS_TEST_TMPDIR/b.json"
        # the referrers index is no image to list
        run "$CUBUILD" --root "$other" images
        [[ "$output" != *sha256-* ]]
        # an image without referrers pulls as before, without a warning
        cb push mini:1 "$REGISTRY_HOST/audit/mini:1"
        run "$CUBUILD" --root "$other" pull "$REGISTRY_HOST/audit/mini:1"
        [ "$status" -eq 0 ]
        [[ "$output" != *warning* && "$output" != *referrers* ]]
}

@test "an image built without -t keeps its referrers under its digest, pushed and pulled by digest" {
        printf 'FROM mini:1\nCOPY f /g\n' >"$CB_TMP/ctx/Dockerfile.notag"
        d=$(cb build -q --source-date-epoch 1700000000 -f "$CB_TMP/ctx/Dockerfile.notag" "$CB_TMP/ctx")
        [ "$(kinds "$CB_ROOT" "$d")" = provenance,sbom,verify ]
        jq -e --arg t "sha256-${d#sha256:}" \
                '[.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t)] | length == 1' \
                "$CB_ROOT/index.json"
        cb push "$d" "$REGISTRY_HOST/audit/notag:1"
        # the store keeps layers uncompressed: the pushed manifest is the gzip one, and the referrers
        # follow it there
        p=$(skopeo inspect --tls-verify=false "docker://$REGISTRY_HOST/audit/notag:1" | jq -r .Digest)
        run skopeo inspect --raw --tls-verify=false "docker://$REGISTRY_HOST/audit/notag:sha256-${p#sha256:}"
        [ "$status" -eq 0 ]
        other="$CB_TMP/other2"
        "$CUBUILD" --root "$other" pull "$REGISTRY_HOST/audit/notag@$p"
        [ "$(kinds "$other" "$p")" = provenance,sbom,verify ]
        # prune collects an unnamed image, and its referrers with it; a named image keeps its own
        named=$(cb inspect "$REGISTRY_HOST/audit/pulled:1" | jq -r .digest)
        cb prune >/dev/null
        ! jq -e --arg t "sha256-${d#sha256:}" \
                '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t)' "$CB_ROOT/index.json"
        [ "$(kinds "$CB_ROOT" "$named")" = provenance,sbom,verify ]
}

@test "pull reads the referrers API where the registry has one" {
        ref="$REGISTRY_HOST/audit/api:1"
        d=$(cb build -q --source-date-epoch 1700000000 --push -t "$ref" "$CB_TMP/ctx")
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        : >"$CB_TMP/api.log"
        python3 "$CUBUILD_SOURCE_DIR/tests/cli/audit-referrers-api.py" --port "$port" --upstream "$REGISTRY_HOST" \
                --log "$CB_TMP/api.log" </dev/null >/dev/null 2>&1 &
        echo $! >"$CB_TMP/api.pid"
        for _ in $(seq 1 50); do
                curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/v2/" && break
                sleep 0.1
        done
        other="$CB_TMP/other3"
        run "$CUBUILD" --root "$other" pull "127.0.0.1:$port/audit/api:1"
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"pulled the referrers of $d (referrers API)"* ]]
        grep -q "GET /v2/audit/api/referrers/$d 200" "$CB_TMP/api.log"
        [ "$(kinds "$other" "127.0.0.1:$port/audit/api:1")" = provenance,sbom,verify ]
}
