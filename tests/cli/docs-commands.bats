#!/usr/bin/env bats
# The docs' commands, the light part (default suite): every error block of docs/troubleshooting.md
# fails with the message the page shows, and every page's blocks extract under the convention of
# tests/cli/docs-commands.py (```sh runs and must succeed, ```sh fails must fail with the ```text
# block after it, ```sh build runs only its `cubuild` lines, other blocks don't run). The blocks of
# docs/getting-started.md and docs/configuration.md run in docs-commands-pages.heavy.bats: their
# builds and stores take ~40 s, and removing the stores as long again on this machine's disk.
load helpers
load docs-commands

@test "docs/troubleshooting.md: every error block fails with the message the page shows" {
        run run_page troubleshooting.md
        # ten entries, each a failing block with its message
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"all "*" blocks of docs/troubleshooting.md ran"* ]]
}

@test "every page's blocks extract: each page has runnable blocks, each fails block its message" {
        for page in getting-started configuration troubleshooting; do
                python3 "$CUBUILD_SOURCE_DIR/tests/cli/docs-commands.py" "$CUBUILD_SOURCE_DIR/docs/$page.md" >"$CB_TMP/$page.sh"
                bash -n "$CB_TMP/$page.sh"
        done
        [ "$(grep -c '^echo .--- running the block' "$CB_TMP/getting-started.sh")" -eq 5 ]
        [ "$(grep -c '^echo .--- running the block' "$CB_TMP/troubleshooting.sh")" -eq 11 ]
        [ "$(grep -c 'expected .* to fail' "$CB_TMP/troubleshooting.sh")" -eq 10 ]
}
