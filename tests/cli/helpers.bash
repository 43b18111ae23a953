# shellcheck shell=bash
# Shared setup for the CLI tests: the binary under test, a store per test file, the fixtures.
: "${CUBUILD:?CUBUILD must point at the cubuild binary (ctest sets it)}"
: "${CUBUILD_SOURCE_DIR:?}"
. "$CUBUILD_SOURCE_DIR/tests/fixtures/lib.sh"

# A store root per test file, removed at the end (teardown_file calls cb_teardown_store).
cb_setup_store() {
        export CB_TMP
        CB_TMP=$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/cubuild.XXXXXX")
        export CB_ROOT="$CB_TMP/store"
}

cb_teardown_store() {
        [ -n "${CB_TMP:-}" ] && rm -rf "$CB_TMP"
}

cb() {
        "$CUBUILD" --root "$CB_ROOT" "$@"
}

# Loads fixture base NAME into the test store under REF.
cb_load_base() {
        local layout
        layout=$(fixture_oci "$1") || return 1
        cb load -t "$2" "$layout:$1" >/dev/null
}
