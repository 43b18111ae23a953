#!/usr/bin/env bats
# The newcomer test (issue 10, item 6): in a fresh `git clone` under a temporary directory, run the
# README's main-job command exactly as written and check what it prints (the image digest, the
# golden image in the store under that digest), and that .ci/run runs the README's test command.
# Heavy: the main job builds cubuild and the golden image (numpy and tqdm from PyPI): minutes.
# The clone is of the committed HEAD of CUBUILD_SOURCE_DIR (uncommitted changes are not in it).
# The store goes to a temporary CUBUILD_ROOT (the environment, not the command, changes).


setup_file() {
        export NC_TMP
        NC_TMP=$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/newcomer.XXXXXX")
        git clone -q "$CUBUILD_SOURCE_DIR" "$NC_TMP/cubuild"
}

teardown_file() {
        [ -n "${NC_TMP:-}" ] && rm -rf "$NC_TMP"
}

block() {
        awk -v want="$1" '
                /^```/ { if (inside) { inside = 0; next } n++; inside = 1; next }
                inside && n == want { print }
        ' "$NC_TMP/cubuild/README.md"
}

@test "the main job, run as the README writes it in a fresh clone, prints the golden image's digest" {
        curl -fsS --max-time 15 -o /dev/null https://pypi.org/simple/pip/ ||
                skip "PyPI is not reachable from here (the golden image installs from it)"
        cmd=$(block 1)
        [ "$cmd" = "./scripts/main-job.sh" ]
        export CUBUILD_ROOT="$NC_TMP/store"
        start=$(date +%s)
        rc=0
        (cd "$NC_TMP/cubuild" && bash -c "$cmd") >"$NC_TMP/out" 2>"$NC_TMP/err" || rc=$?
        echo "main job: rc $rc in $(( $(date +%s) - start )) s" >&3
        [ "$rc" -eq 0 ] || { tail -30 "$NC_TMP/err"; false; }
        # stdout is the digest alone; the progress goes to stderr
        [ "$(wc -l <"$NC_TMP/out")" -eq 1 ] || { cat "$NC_TMP/out"; false; }
        digest=$(cat "$NC_TMP/out")
        [[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]]
        cb="$NC_TMP/cubuild/build/builder/cubuild"
        [ -x "$cb" ]
        "$cb" images >"$NC_TMP/images"
        grep -q 'ai-platform/pytorch-cuda' "$NC_TMP/images" || { cat "$NC_TMP/images"; false; }
        "$cb" inspect ai-platform/pytorch-cuda:golden >"$NC_TMP/inspect.json"
        grep -q "${digest#sha256:}" "$NC_TMP/inspect.json" || grep -q "${digest#sha256:}" "$NC_TMP/images"
}

@test "in the fresh clone, .ci/run runs exactly the README's test command" {
        want=$(block 2)
        [ "$want" = "./scripts/test.sh" ]
        [ -x "$NC_TMP/cubuild/.ci/run" ]
        got=$(grep -v -e '^#' -e '^[[:space:]]*$' -e '^set ' -e '^cd "$(dirname "$0")/.."$' "$NC_TMP/cubuild/.ci/run")
        [ "$got" = "$want" ] || { echo ".ci/run runs '$got', the README says '$want'"; false; }
}
