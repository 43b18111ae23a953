#!/usr/bin/env bats
# The newcomer's path, checked textually in a second (README.md, item 6 of issue 10): the README's
# first command block is the main job, its second the test command; both name scripts that exist and
# are executable, and .ci/run runs exactly the second one. Running the main job in a fresh clone:
# newcomer.heavy.bats. (Not newcomer.bats: ctest names a bats file by its name up to the first dot, so
# that name would clash with newcomer.heavy.bats.) The test command itself is the suite: not run here.

# readme_block N: the body of the README's N-th fenced block (1-based), one line per line.
readme_block() {
        awk -v want="$1" '
                /^```/ { if (inside) { inside = 0; next } n++; inside = 1; next }
                inside && n == want { print }
        ' "$CUBUILD_SOURCE_DIR/README.md"
}

# ci_commands: the lines of .ci/run that are commands, less the shebang, comments, `set` and the
# `cd` to the repository root.
ci_commands() {
        grep -v -e '^#' -e '^[[:space:]]*$' -e '^set ' -e '^cd "$(dirname "$0")/.."$' \
                "$CUBUILD_SOURCE_DIR/.ci/run"
}

@test "the README's first block is the main job: one command naming an executable script" {
        run readme_block 1
        [ "$status" -eq 0 ]
        [ "${#lines[@]}" -eq 1 ]
        [ "${lines[0]}" = "./scripts/main-job.sh" ]
        [ -x "$CUBUILD_SOURCE_DIR/${lines[0]#./}" ]
        head -1 "$CUBUILD_SOURCE_DIR/${lines[0]#./}" | grep -qx '#!/usr/bin/env bash'
}

@test "the README's second block is the test command: one command naming an executable script" {
        run readme_block 2
        [ "$status" -eq 0 ]
        [ "${#lines[@]}" -eq 1 ]
        [ "${lines[0]}" = "./scripts/test.sh" ]
        [ -x "$CUBUILD_SOURCE_DIR/${lines[0]#./}" ]
}

@test ".ci/run is executable and runs exactly the README's test command, from the repository root" {
        [ -x "$CUBUILD_SOURCE_DIR/.ci/run" ]
        want=$(readme_block 2)
        run ci_commands
        [ "$status" -eq 0 ]
        [ "${#lines[@]}" -eq 1 ] || { echo "unexpected commands in .ci/run: $output"; false; }
        [ "${lines[0]}" = "$want" ] || { echo ".ci/run runs '${lines[0]}', the README says '$want'"; false; }
        grep -qx 'cd "$(dirname "$0")/.."' "$CUBUILD_SOURCE_DIR/.ci/run"
        grep -qx 'set -euo pipefail' "$CUBUILD_SOURCE_DIR/.ci/run"
}

@test "the scripts the two commands run exist and are executable" {
        for s in scripts/install-deps.sh scripts/main-job.sh scripts/test.sh tests/fixtures/bases.sh; do
                [ -x "$CUBUILD_SOURCE_DIR/$s" ] || { echo "$s is missing or not executable"; false; }
        done
        grep -q 'examples/golden/Dockerfile' "$CUBUILD_SOURCE_DIR/scripts/main-job.sh"
        [ -f "$CUBUILD_SOURCE_DIR/examples/golden/Dockerfile" ]
}
