#!/usr/bin/env bats
# The docs' commands, the heavy part: every runnable block of docs/getting-started.md and
# docs/configuration.md, run in order, one shell per page, from the repository root, as
# tests/cli/docs-commands.py extracts them (the convention is stated there). Heavy because the pages
# build and fill several stores: ~15 s and ~25 s of blocks here, and ~60 s to remove the stores on
# this machine's disk. The light part (troubleshooting.md): docs-commands.bats.
load helpers
load docs-commands

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

