#!/bin/sh
# Fuzz parser/ with libFuzzer for a while (default one hour):
#   tests/fuzz/parser/run.sh [dockerfile|dockerignore] [SECONDS]
# Builds a clang configuration in build-fuzz/ (ASan + UBSan + libFuzzer), then runs the target on a
# scratch copy of the committed corpus. New crashes land in tests/fuzz/crash-* (git-ignored): turn
# each into a regression by adding it to corpus/<target>/ with the fix.
set -eu
target=${1:-dockerfile}
seconds=${2:-3600}
src=$(cd "$(dirname "$0")/../../.." && pwd)
build=$src/build-fuzz
CC=clang cmake -S "$src" -B "$build" -DCUBUILD_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target "parser_fuzz_$target"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$src/tests/fuzz/parser/corpus/$target/"* "$work/"
cd "$src/tests/fuzz"
exec "$build/tests/fuzz/parser/parser_fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        "$work" "$src/tests/fuzz/parser/corpus/$target"
