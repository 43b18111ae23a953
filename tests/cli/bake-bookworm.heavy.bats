#!/usr/bin/env bats
# bake.bats's real build on the bookworm fixture (unpacking it costs a minute on a busy CI runner).

load helpers
load bake-real

setup_file() {
        cb_setup_store
        cb_load_base bookworm debian:bookworm
}

teardown_file() {
        cb_teardown_store
}

@test "a real build on bookworm: dependency order, contexts target:NAME, concurrent independent targets" {
        cd "$BATS_TEST_TMPDIR"
        bake_real_build debian:bookworm
}
