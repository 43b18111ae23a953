#!/usr/bin/env bats
# --progress: one event stream, four renderers. rawjson is read with jq, tty under script(1).

load helpers
load tiny-base
load "$CUBUILD_SOURCE_DIR/tests/fixtures/registry.bash"

setup_file() {
        cb_setup_store
        tiny_base_load tiny:1
        export CTX="$CB_TMP/ctx"
        mkdir -p "$CTX"
        echo data >"$CTX/f"
        printf '%s\n' 'FROM tiny:1' 'RUN echo hi-from-run; echo x >/x' 'ENV A=1' 'COPY f /f' >"$CTX/Dockerfile"
}

teardown_file() {
        registry_stop
        cb_teardown_store
}

@test "rawjson: one JSON object per line, the stable keys, every step started and ended" {
        cb build --no-cache --progress rawjson "$CTX" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err"
        grep -Eq '^sha256:[0-9a-f]{64}$' "$BATS_TEST_TMPDIR/out"
        # every line is one object with all six keys
        jq -e 'has("step") and has("total") and has("instr") and has("status") and has("bytes") and has("ts")' \
                "$BATS_TEST_TMPDIR/err" >/dev/null
        [ "$(jq -s 'map(select(.status == "start")) | map(.step)' -c "$BATS_TEST_TMPDIR/err")" = "[1,2,3,4]" ]
        [ "$(jq -s 'map(select(.status == "done")) | map(.step)' -c "$BATS_TEST_TMPDIR/err")" = "[1,2,3,4]" ]
        [ "$(jq -s 'map(.total) | unique' -c "$BATS_TEST_TMPDIR/err")" = "[4]" ]
        [ "$(jq -rs 'map(select(.status == "start" and .step == 2))[0].instr' "$BATS_TEST_TMPDIR/err")" = \
                'RUN echo hi-from-run; echo x >/x' ]
        # the RUN's output, and its layer's size when it is done
        jq -se 'map(select(.status == "log" and .step == 2 and (.log | contains("hi-from-run")))) | length == 1' \
                "$BATS_TEST_TMPDIR/err"
        jq -se 'map(select(.status == "done" and .step == 2))[0].bytes > 0' "$BATS_TEST_TMPDIR/err"
        jq -se 'map(select(.status == "done" and .step == 3))[0].bytes == 0' "$BATS_TEST_TMPDIR/err"
        jq -se 'map(.ts | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$")) | all' "$BATS_TEST_TMPDIR/err"
        # a rebuild: the layer steps come from the cache
        cb build --progress rawjson "$CTX" >/dev/null 2>"$BATS_TEST_TMPDIR/err2"
        [ "$(jq -s 'map(select(.status == "cached")) | map(.step)' -c "$BATS_TEST_TMPDIR/err2")" = "[2,4]" ]
}

@test "rawjson: a failed step is an error event; the error is printed as always" {
        mkdir -p "$BATS_TEST_TMPDIR/bad"
        printf '%s\n' 'FROM tiny:1' 'RUN echo going; exit 4' >"$BATS_TEST_TMPDIR/bad/Dockerfile"
        run cb build --progress rawjson "$BATS_TEST_TMPDIR/bad"
        [ "$status" -eq 1 ]
        [[ "$output" == *'cubuild: Dockerfile:2: RUN echo going; exit 4: exit status 4'* ]]
        grep '^{' <<<"$output" | jq -se 'map(select(.status == "error"))[0] | .step == 2 and (.msg | contains("exit status 4"))'
}

@test "tty: a live line per step, each finished step's time; auto picks it on a terminal" {
        script -qfec "'$CUBUILD' --root '$CB_ROOT' build --no-cache --progress auto '$CTX'" /dev/null \
                >"$BATS_TEST_TMPDIR/tty" </dev/null
        # redrawn in place: cursor up and clear to the end of the screen
        grep -q $'\e\\[1A\r\e\\[J' "$BATS_TEST_TMPDIR/tty"
        tr -d '\r' <"$BATS_TEST_TMPDIR/tty" | sed 's/\x1b\[[0-9]*[AJ]//g' >"$BATS_TEST_TMPDIR/tty.txt"
        grep -Eq '^\[2/4\] RUN echo hi-from-run; echo x >/x  [0-9]+\.[0-9]s  layer [0-9.]+ [KM]?i?B$' "$BATS_TEST_TMPDIR/tty.txt"
        grep -Eq '^\[3/4\] ENV A=1  [0-9]+\.[0-9]s$' "$BATS_TEST_TMPDIR/tty.txt"
        grep -q '^hi-from-run$' "$BATS_TEST_TMPDIR/tty.txt"
        ! grep -q '^STEP ' "$BATS_TEST_TMPDIR/tty.txt"
        script -qfec "'$CUBUILD' --root '$CB_ROOT' build --progress tty '$CTX'" /dev/null >"$BATS_TEST_TMPDIR/tty2" </dev/null
        tr -d '\r' <"$BATS_TEST_TMPDIR/tty2" | sed 's/\x1b\[[0-9]*[AJ]//g' | grep -q '^\[4/4\] COPY f /f  CACHED$'
}

@test "plain: STEP lines, cache hits and step times, also what auto gives without a terminal" {
        run cb build --no-cache "$CTX"
        [ "$status" -eq 0 ]
        [[ "$output" == *"STEP 1/4: FROM tiny:1"* ]]
        [[ "$output" == *"STEP 2/4: RUN echo hi-from-run; echo x >/x"$'\n'"hi-from-run"$'\n'"--> done "*"s, layer "* ]]
        run cb build --progress plain "$CTX"
        [[ "$output" == *"STEP 4/4: COPY f /f"$'\n'"--> using cache "* ]]
}

@test "layer writes report byte counters: rawjson progress events, plain lines" {
        mkdir -p "$BATS_TEST_TMPDIR/big"
        head -c 12000000 /dev/urandom >"$BATS_TEST_TMPDIR/big/blob"
        printf '%s\n' 'FROM tiny:1' 'COPY blob /blob' >"$BATS_TEST_TMPDIR/big/Dockerfile"
        cb build --no-cache --progress rawjson "$BATS_TEST_TMPDIR/big" >/dev/null 2>"$BATS_TEST_TMPDIR/lw"
        # the COPY's layer: a counter every few MiB of tar (rawjson writes at most a few a second), growing,
        # on the COPY's step
        jq -se 'map(select(.status == "progress" and .what == "layer")) | length >= 1 and all(.step == 2)' \
                "$BATS_TEST_TMPDIR/lw"
        jq -se 'map(select(.status == "progress" and .what == "layer") | .bytes) | . == sort and .[0] >= 4194304' \
                "$BATS_TEST_TMPDIR/lw"
        run cb build --no-cache --progress plain "$BATS_TEST_TMPDIR/big"
        [ "$status" -eq 0 ]
        [[ "$output" == *$'\n'"--> layer 4.0 MiB"$'\n'* ]]
}

@test "quiet prints nothing but the digest; a bad mode is a usage error" {
        cb build --progress quiet "$CTX" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err"
        [ ! -s "$BATS_TEST_TMPDIR/err" ]
        grep -Eq '^sha256:[0-9a-f]{64}$' "$BATS_TEST_TMPDIR/out"
        run cb build --progress fancy "$CTX"
        [ "$status" -eq 2 ]
        [[ "$output" == *"--progress 'fancy': use auto, tty, plain, rawjson or quiet"* ]]
}

@test "pushes and pulls report byte counters: rawjson progress events, tty lines" {
        registry_start plain
        ref="$REGISTRY_HOST/progress/tiny:1"
        cb build --progress rawjson --push -t "$ref" "$CTX" >/dev/null 2>"$BATS_TEST_TMPDIR/push"
        jq -se 'map(select(.status == "progress" and .what == "push")) | length > 0' "$BATS_TEST_TMPDIR/push"
        jq -se 'map(select(.status == "progress" and .what == "push" and .bytes == .bytes_total and (.id | startswith("sha256:")))) | length > 0' \
                "$BATS_TEST_TMPDIR/push"
        mkdir -p "$BATS_TEST_TMPDIR/from"
        printf 'FROM %s\nRUN true\n' "$ref" >"$BATS_TEST_TMPDIR/from/Dockerfile"
        "$CUBUILD" --root "$CB_TMP/fresh" build --progress rawjson "$BATS_TEST_TMPDIR/from" >/dev/null 2>"$BATS_TEST_TMPDIR/pull"
        # the pull belongs to the FROM step, and its last counter says the whole blob arrived
        jq -se 'map(select(.status == "progress" and .what == "pull")) | length > 0 and all(.step == 1)' "$BATS_TEST_TMPDIR/pull"
        jq -se 'map(select(.status == "progress" and .what == "pull" and .bytes == .bytes_total)) | length > 0' \
                "$BATS_TEST_TMPDIR/pull"
        rm -rf "$CB_TMP/fresh2"
        script -qfec "'$CUBUILD' --root '$CB_TMP/fresh2' build --progress tty '$BATS_TEST_TMPDIR/from'" /dev/null \
                </dev/null | tr -d '\r' | sed 's/\x1b\[[0-9]*[AJ]//g' >"$BATS_TEST_TMPDIR/tty"
        grep -Eq "^\[1/2\] FROM $ref  [0-9.]+s  pull [0-9.]+ [KM]?i?B / [0-9.]+ [KM]?i?B$" "$BATS_TEST_TMPDIR/tty"
}
