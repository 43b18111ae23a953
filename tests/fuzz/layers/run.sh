#!/bin/sh
# Runs the libFuzzer extraction target (needs a clang build: CC=clang cmake -S . -B build-fuzz).
# usage: tests/fuzz/layers/run.sh [BUILD_DIR] [SECONDS]
set -eu
build=${1:-build-fuzz}
secs=${2:-3600}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here"/corpus/* "$work"/ 2>/dev/null || true
# generated seed tarballs (the replay driver builds them with libarchive; they are not committed)
"$build"/tests/fuzz/layers/layers_fuzz_extract_replay --write-seeds "$work"
"$build"/tests/fuzz/layers/layers_fuzz_extract -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$here/corpus/crash-" "$work"
