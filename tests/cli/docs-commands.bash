# shellcheck shell=bash
# Shared by docs-commands.bats and docs-commands-pages.heavy.bats: a store with debian:bookworm, a
# registry, and run_page, which runs a docs page's blocks as tests/cli/docs-commands.py extracts them.
load "$CUBUILD_SOURCE_DIR/tests/fixtures/registry.bash"

setup_file() {
        cb_setup_store
        mkdir -p "$CB_TMP/bin" "$CB_TMP/tmp"
        ln -s "$CUBUILD" "$CB_TMP/bin/cubuild"
        cb_load_base bookworm debian:bookworm
        registry_start plain
}

teardown_file() {
        registry_stop
        # registries a page started itself (getting-started's) and left behind on failure
        local f
        while IFS= read -r f; do
                kill "$(cat "$f")" 2>/dev/null || true
        done < <(find "${CB_TMP:-/nonexistent}" -path '*/registry/pid' 2>/dev/null)
        cb_teardown_store
}

# run_page PAGE [VAR=VALUE...]: runs PAGE's blocks with cubuild under test on PATH, a scratch WORK,
# CUBUILD_ROOT at the test store (with debian:bookworm) and REGISTRY at the fixture registry.
run_page() {
        local page=$1 script
        shift
        script="$CB_TMP/$(basename "$page" .md).sh"
        (cd "$CUBUILD_SOURCE_DIR" && python3 tests/cli/docs-commands.py "docs/$page") >"$script" 2>&1 ||
                { cat "$script"; return 1; }
        local work unset=() v
        work=$(mktemp -d "$CB_TMP/work.XXXXXX")
        # docker-registry reads REGISTRY_* from its environment as configuration: the fixture's
        # variables (REGISTRY_LOG, REGISTRY_PORT, ...) would break the registry a page starts
        for v in $(compgen -e | grep '^REGISTRY_'); do unset+=(-u "$v"); done
        (cd "$CUBUILD_SOURCE_DIR" && env "${unset[@]}" PATH="$CB_TMP/bin:$PATH" TMPDIR="$CB_TMP/tmp" WORK="$work" \
                CUBUILD_ROOT="$CB_ROOT" REGISTRY="$REGISTRY_HOST" DOCKER_CONFIG="$work/docker" "$@" \
                bash "$script")
}

