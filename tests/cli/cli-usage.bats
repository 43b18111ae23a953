#!/usr/bin/env bats
# Usage errors: one line naming what is wrong, a hint, exit status 2; help goes to stdout with 0.

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
        cb_setup_store
}

teardown_file() {
        cb_teardown_store
}

@test "a mistyped command gets 'did you mean' and exit status 2" {
        run cb buidl .
        [ "$status" -eq 2 ]
        [ "${lines[0]}" = "cubuild: unknown command 'buidl' (did you mean 'build'?)" ]
        [ "${lines[1]}" = "see 'cubuild --help'" ]
        run cb imgaes
        [ "$status" -eq 2 ]
        [[ "${lines[0]}" == *"did you mean 'images'?"* ]]
}

@test "a mistyped flag gets the closest flag; a missing value and a value given to a switch are named" {
        run cb build --tagg x .
        [ "$status" -eq 2 ]
        [ "${lines[0]}" = "cubuild build: unknown flag '--tagg' (did you mean '--tag'?)" ]
        [ "${lines[1]}" = "see 'cubuild build --help'" ]
        run cb build --no-cahce .
        [ "$status" -eq 2 ]
        [[ "${lines[0]}" == *"did you mean '--no-cache'?"* ]]
        run cb build --tag
        [ "$status" -eq 2 ]
        [ "${lines[0]}" = "cubuild build: flag '--tag' needs a value" ]
        run cb build --quiet=yes .
        [ "$status" -eq 2 ]
        [ "${lines[0]}" = "cubuild build: flag '--quiet' takes no value" ]
        run cb build --frobnicate .
        [ "$status" -eq 2 ]
        [ "${lines[0]}" = "cubuild build: unknown or ambiguous flag '--frobnicate'" ]
        run cb build -Z .
        [ "$status" -eq 2 ]
        [ "${lines[0]}" = "cubuild build: unknown flag '-Z'" ]
}

@test "bad values are one line with the accepted ones" {
        run cb build --jobs 0 .
        [ "$status" -eq 2 ]
        [[ "${lines[0]}" == *"--jobs '0': use a count from 1 to 64" ]]
        run cb build --format tar .
        [ "$status" -eq 2 ]
        [[ "${lines[0]}" == *"--format 'tar': use oci or docker" ]]
}

@test "--help prints usage on stdout and exits 0; a build failure exits 1" {
        run --separate-stderr cb build --help
        [ "$status" -eq 0 ]
        [[ "$output" == *"--no-cache-filter STAGE"* ]]
        [[ "$output" == *"--jobs N"* ]]
        mkdir -p "$CB_TMP/bad"
        printf 'FROM scratch\nFROBNICATE x\n' >"$CB_TMP/bad/Dockerfile"
        run cb build "$CB_TMP/bad"
        [ "$status" -eq 1 ]
        [[ "$output" == *"Dockerfile:2"* ]]
}

@test "--version names the version, the commit and the libraries that decide layer bytes" {
        run cb --version
        [ "$status" -eq 0 ]
        [[ "${lines[0]}" =~ ^cubuild\ version\ [0-9]+\.[0-9]+\.[0-9]+\ \(commit\ [0-9a-f]{12}(-dirty)?\)$|\(commit\ unknown\)$ ]]
        for lib in libarchive libcurl OpenSSL zstd zlib libyaml jansson; do
                [[ "$output" == *"$lib "[0-9]* ]] || { echo "no $lib version" >&2; return 1; }
        done
        run cb version
        [ "$status" -eq 0 ]
        [[ "${lines[0]}" == "cubuild version "* ]]
}

@test "options may follow the context, as with docker build" {
        mkdir -p "$CB_TMP/after"
        echo x >"$CB_TMP/after/f"
        printf 'FROM scratch\nCOPY f /f\n' >"$CB_TMP/after/Dockerfile"
        run cb build "$CB_TMP/after" -t after:1 --verify skip -q
        [ "$status" -eq 0 ]
        [[ "$output" =~ ^sha256:[0-9a-f]{64}$ ]]
        [ "$(cb inspect after:1 | jq -r .digest)" = "$output" ]
        # still one context: a second one is a usage error
        run cb build "$CB_TMP/after" -q "$CB_TMP/after"
        [ "$status" -eq 2 ]
        [[ "${lines[0]}" == *"give exactly one build context directory (got 2)"* ]]
}
