# shellcheck shell=bash
# Shared by docs-commands.bats and docs-commands-pages.heavy.bats: a store with debian:bookworm, a
# registry, and run_page, which runs a docs page's blocks as tests/cli/docs-commands.py extracts them.
load "$CUBUILD_SOURCE_DIR/tests/fixtures/registry.bash"
load tiny-base

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

# docs_block PAGE ID: the lines of PAGE's block marked `mirrored ID` (the drift guard looks for this
# call, with the page and the ID, in a bats file).
docs_block() {
        python3 "$CUBUILD_SOURCE_DIR/tests/cli/docs-commands.py" --block "$CUBUILD_SOURCE_DIR/$1" "$2"
}

# hub_mirror: the fixture registry as a docker.io mirror holding a tiny base as `tiny` (quick to pull
# and unpack in each runner's empty store), through a config file; exports CUBUILD_CONFIG.
hub_mirror() {
        if [ -e "$CB_TMP/hub-config.yaml" ]; then export CUBUILD_CONFIG="$CB_TMP/hub-config.yaml"; return 0; fi
        tiny_base_load tiny:latest
        cb push tiny:latest "$REGISTRY_HOST/library/tiny:latest" >/dev/null 2>"$CB_TMP/hub-push.log" ||
                { cat "$CB_TMP/hub-push.log"; return 1; }
        printf 'registries:\n  - prefix: docker.io\n    mirrors:\n      - location: %s\n        insecure: true\n' \
                "$REGISTRY_HOST" >"$CB_TMP/hub-config.yaml"
        export CUBUILD_CONFIG="$CB_TMP/hub-config.yaml"
}

# standin ci PAGE TAG JOB | standin k8s PAGE [ARGS]: runs the script tests/cli/docs-commands-standin.py makes
# of a CI job or of the Job's container, its runner or Pod directories under $CB_TMP/runners/$STANDIN_RUN.
standin() {
        local script="$CB_TMP/standin-$RANDOM.sh" nogpu=1
        if compgen -G "/dev/nvidia[0-9]*" >/dev/null; then nogpu=0; fi
        (cd "$CUBUILD_SOURCE_DIR" && STANDIN_NO_GPU=$nogpu python3 tests/cli/docs-commands-standin.py "$@") >"$script" || return 1
        env -u REGISTRY_USER -u REGISTRY_PASSWORD STANDIN_DIR="$CB_TMP/runners/${STANDIN_RUN:?}" \
                CI_REGISTRY="$REGISTRY_HOST" REGISTRY_USER=ci REGISTRY_PASSWORD=not-a-real-password \
                GITHUB_SHA=0123456789abcdef0123456789abcdef01234567 CI_COMMIT_SHORT_SHA=01234567 \
                TMPDIR="$CB_TMP/tmp" bash "$script"
}

# small_golden [NAME]: a small stand-in for examples/golden (the default suite's CI and Job runs):
# the RUN step writes a random id, so a second runner that ran it again would make another image;
# NAME makes its steps differ from other runs' (no cache hit from the registry cache they exported)
small_golden() {
        local d="$CB_TMP/golden${1:+-$1}"
        mkdir -p "$d"
        printf 'FROM tiny\nRUN echo %s; cat /proc/sys/kernel/random/uuid >/built-at\nCOPY hello.txt /\n' "${1:-golden}" >"$d/Dockerfile"
        echo hello >"$d/hello.txt"
        echo "$d"
}
