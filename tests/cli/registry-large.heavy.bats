#!/usr/bin/env bats
# A 2 GiB layer pushes (in chunks) and pulls (streamed into the sink) in bounded memory.
# Heavy: ~6 GiB of disk and a few minutes; run with `ctest -L heavy`.

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
        command -v /usr/bin/time >/dev/null || skip "/usr/bin/time (GNU time) not installed"
        W=$(mktemp -d "${BATS_TMPDIR:-/tmp}/reglarge.XXXXXX")
}

teardown() {
        rm -rf "$W"
}

@test "a 2 GiB layer pushes and pulls with peak RSS under 256 MiB and the same digest" {
        local digest
        digest=$("$CUBUILD_SOURCE_DIR/tests/fixtures/registry-image.sh" image "$W/src" big --plain --layers "$((2048 * 1024 * 1024))")
        /usr/bin/time -f %M -o "$W/push.rss" "$REGTOOL" --stats "$W/push.json" push "$W/src" "$digest" "$REGISTRY_HOST/large/img:v1"
        cat "$W/push.json" "$W/push.rss"
        # 2 GiB over the 256 MiB threshold: 32 chunks of 64 MiB
        [ "$(jq .put "$W/push.json")" -ge 33 ]
        [ "$(tail -n 1 "$W/push.rss")" -lt $((256 * 1024)) ]
        rm -rf "$W/src"
        run /usr/bin/time -f %M -o "$W/pull.rss" "$REGTOOL" pull "$REGISTRY_HOST/large/img:v1" "$W/pulled"
        [ "$status" -eq 0 ]
        [ "$output" = "$digest" ]
        cat "$W/pull.rss"
        [ "$(tail -n 1 "$W/pull.rss")" -lt $((256 * 1024)) ]
        local f
        for f in "$W"/pulled/blobs/sha256/*; do
                [ "$(sha256sum "$f" | cut -d' ' -f1)" = "$(basename "$f")" ]
        done
}
