#!/usr/bin/env bats
# docs/cli.md, the man page and the completions are made from the same tables as --help
# (builder/clispec.c): regenerate them and compare with what is committed.

load helpers

@test "docs/cli.md, docs/cubuild.1 and the completions match the command tables" {
        for pair in "markdown docs/cli.md" "man docs/cubuild.1" "bash scripts/completion/cubuild.bash" \
                "zsh scripts/completion/_cubuild"; do
                set -- $pair
                run diff -u "$CUBUILD_SOURCE_DIR/$2" <("$CUBUILD" __doc "$1")
                if [ "$status" -ne 0 ]; then
                        echo "$2 is out of date: run '$CUBUILD __doc $1 >$2'" >&2
                        echo "$output" >&2
                        return 1
                fi
        done
}

@test "every flag in build --help is one the build accepts, and the man page renders cleanly" {
        # each documented long flag of build is known to its parser: the parser rejects only the value
        while read -r flag; do
                run "$CUBUILD" --root "$BATS_TEST_TMPDIR/s" build "$flag" 2>&1
                [[ "$output" != *"unknown"* ]] || { echo "$flag: $output" >&2; return 1; }
        done < <("$CUBUILD" build --help | grep -oE -- '^ +(-., )?--[a-z-]+' | grep -oE -- '--[a-z-]+')
        run groff -man -ww -z "$CUBUILD_SOURCE_DIR/docs/cubuild.1"
        [ "$status" -eq 0 ]
        [ -z "$output" ]
}

@test "the bash completion completes commands and a command's flags" {
        . "$CUBUILD_SOURCE_DIR/scripts/completion/cubuild.bash"
        COMP_WORDS=(cubuild bu)
        COMP_CWORD=1
        _cubuild
        [ "${COMPREPLY[*]}" = "build" ]
        COMP_WORDS=(cubuild --root /x build --no-cache-f)
        COMP_CWORD=4
        _cubuild
        [ "${COMPREPLY[*]}" = "--no-cache-filter" ]
}
