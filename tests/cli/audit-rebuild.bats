#!/usr/bin/env bats
# cubuild rebuild-check: the recorded inputs rebuild the digest, or the diff says why not.

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
        mkdir -p "$ctx"
        echo one >"$ctx/a.txt"
        printf 'FROM mini:1\nARG V=0\nRUN mkdir -p /out && echo "fixed $V" >/out/f\nCOPY a.txt /a\n' >"$ctx/Dockerfile"
}

@test "a reproducible image passes" {
        d=$(cb build -q --source-date-epoch 1700000000 --build-arg V=3 -t repro:1 "$ctx")
        run cb rebuild-check repro:1 --context "$ctx"
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"repro:1 reproduces $d"* ]]
}

@test "a changed context is caught before building" {
        cb build -q --source-date-epoch 1700000000 -t repro:2 "$ctx" >/dev/null
        echo two >"$ctx/a.txt"
        run cb rebuild-check repro:2 --context "$ctx"
        echo "$output"
        [ "$status" -eq 1 ]
        [[ "$output" == *"the context $ctx does not match"* ]]
        [[ "$output" != *rebuilding* ]]
        echo one >"$ctx/a.txt"
        echo '# changed' >>"$ctx/Dockerfile"
        run cb rebuild-check repro:2 --context "$ctx"
        [ "$status" -eq 1 ]
        [[ "$output" == *"the Dockerfile $ctx/Dockerfile does not match"* ]]
}

@test "a RUN step that writes the date fails, and the diff names the file" {
        printf 'FROM mini:1\nRUN date +%%s%%N >/stamp\n' >"$ctx/Dockerfile"
        cb build -q --source-date-epoch 1700000000 -t repro:3 "$ctx" >/dev/null
        run cb rebuild-check repro:3 --context "$ctx"
        echo "$output"
        [ "$status" -eq 1 ]
        [[ "$output" == *"file stamp: content"* ]]
        ! grep -q '^file out' <<<"$output"
}
