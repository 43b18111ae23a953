#!/usr/bin/env bats
# Differential test, light half: cubuild builds the cases marked `# difftest: light` under
# tests/differential/cases, and each image's root filesystem and config must equal the committed
# listing in tests/differential/expected/, made from Debian's buildah 1.28 and reviewed
# (tests/differential/README.md). No buildah runs here: differential.heavy.bats does that.

load helpers

setup_file() {
        export DT_WORK
        DT_WORK=$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/difftest.XXXXXX")
}

teardown_file() {
        [ -n "${DT_WORK:-}" ] && rm -rf "$DT_WORK"
}

setup() {
        command -v python3 >/dev/null || skip "python3 is not installed"
}

dt() {
        python3 "$CUBUILD_SOURCE_DIR/tests/differential/difftest.py" "$@"
}

@test "every case has an expected listing, and the light cases use every instruction and main flag" {
        local d n instrs
        for d in "$CUBUILD_SOURCE_DIR"/tests/differential/cases/*/; do
                n=$(basename "$d")
                [ -f "$CUBUILD_SOURCE_DIR/tests/differential/expected/$n.txt" ] || {
                        echo "no expected listing for case $n"
                        return 1
                }
        done
        instrs=$(grep -l '^# difftest: light' "$CUBUILD_SOURCE_DIR"/tests/differential/cases/*/Dockerfile |
                xargs cat | grep -oE '^[A-Z]+' | sort -u | tr '\n' ' ')
        echo "instructions in light cases: $instrs"
        for i in FROM RUN COPY ADD ENV ARG LABEL EXPOSE USER WORKDIR VOLUME CMD ENTRYPOINT HEALTHCHECK \
                STOPSIGNAL ONBUILD SHELL; do
                [[ " $instrs " == *" $i "* ]] || {
                        echo "no light case uses $i"
                        return 1
                }
        done
        # and the main flags, heredocs included
        local f light
        light=$(grep -l '^# difftest: light' "$CUBUILD_SOURCE_DIR"/tests/differential/cases/*/Dockerfile | xargs cat |
                grep -E '^(ONBUILD +)?[A-Z]+ ')
        for f in 'FROM --platform=' 'FROM .* AS ' 'RUN --mount=type=bind,source=' 'RUN --mount=type=bind,from=' \
                'RUN --mount=type=cache' 'RUN --mount=type=tmpfs' 'RUN --network=none' 'RUN .*<<' 'COPY .*<<' \
                'COPY --from=[a-z]' 'COPY --from=[0-9]' 'COPY --chown=' 'COPY --chmod=' 'COPY --link' \
                'COPY --exclude=' 'COPY --parents' 'ADD --chown=' 'ADD --checksum=' 'ADD .*--chmod=' \
                'HEALTHCHECK --interval=' 'ONBUILD '; do
                grep -qE "^$f" <<<"$light" || {
                        echo "no light case has '$f'"
                        return 1
                }
        done
}

@test "cubuild's images match the expected listings (buildah's, reviewed)" {
        run dt check --light --work "$DT_WORK"
        echo "$output"
        [ "$status" -eq 0 ]
}

@test "the comparator reports a changed file, a missing file and a config field" {
        local exp="$DT_WORK/exp"
        mkdir -p "$exp"
        # the expected listing of a case edited three ways must give exactly three differences
        sed -e 's#^/run-shell.txt\tfile 0644#/run-shell.txt\tfile 0600#' \
                -e '/^\/opt\/out\/exec.txt\t/d' \
                -e 's#^config Cmd\t.*#config Cmd\t["other"]#' \
                "$CUBUILD_SOURCE_DIR/tests/differential/expected/run-forms.txt" >"$exp/run-forms.txt"
        run dt check --work "$DT_WORK" --expected-dir "$exp" run-forms
        echo "$output"
        [ "$status" -eq 1 ]
        [[ "$output" == *"run-forms: /run-shell.txt: cubuild=file 0644 0:0"*"| expected=file 0600 0:0"* ]]
        [[ "$output" == *"run-forms: /opt/out/exec.txt: cubuild=file 0644 0:0"*"| expected=(absent)"* ]]
        [[ "$output" == *'run-forms: config Cmd: cubuild=["bash"] | expected=["other"]'* ]]
        [ "$(grep -c ' | expected=' <<<"$output")" -eq 3 ]
}
