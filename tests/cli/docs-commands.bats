#!/usr/bin/env bats
# Every runnable shell block of docs/getting-started.md, docs/configuration.md and
# docs/troubleshooting.md, extracted by tests/cli/docs-commands.py (which states the convention:
# ```sh runs and must succeed, ```sh fails must fail with the ```text block after it, ```sh build
# runs only its `cubuild` lines, other blocks don't run) and run in order, one shell per page, from
# the repository root. Each page's own substitutions are listed on the page.
load helpers
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
        for f in $(find "${CB_TMP:-/nonexistent}" -name pid -path '*/registry/pid' 2>/dev/null); do
                kill "$(cat "$f")" 2>/dev/null || true
        done
        cb_teardown_store
}

# run_page PAGE [VAR=VALUE...]: runs PAGE's blocks with cubuild under test on PATH, a scratch WORK,
# CUBUILD_ROOT at the test store (with debian:bookworm) and REGISTRY at the fixture registry.
run_page() {
        local page=$1 script
        shift
        script="$CB_TMP/$(basename "$page" .md).sh"
        python3 "$CUBUILD_SOURCE_DIR/tests/cli/docs-commands.py" "docs/$page" >"$script" 2>&1 ||
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

@test "docs/getting-started.md: every sh block runs" {
        local port
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        # the page starts its own registry, on REGISTRY: a free port rather than 5000
        run run_page getting-started.md REGISTRY="127.0.0.1:$port"
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"all 5 blocks of docs/getting-started.md ran"* ]]
        # what the page says it shows: the digest, the Cmd, the pushed tag, the image in the 2nd store
        [[ "$output" =~ sha256:[0-9a-f]{64} ]]
        [[ "$output" == *"cat /hello.txt"* ]]
        [[ "$output" == *'"name":"demo/hello","tags":['*'"1"'* ]]
}

@test "docs/configuration.md: every sh block runs" {
        run run_page configuration.md
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"all "*" blocks of docs/configuration.md ran"* ]]
}

@test "docs/troubleshooting.md: every error block fails with the message the page shows" {
        run run_page troubleshooting.md
        # ten entries, each a failing block with its message
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"all "*" blocks of docs/troubleshooting.md ran"* ]]
}
