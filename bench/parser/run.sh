#!/bin/sh
# Parser benchmark: builds parser/ optimised and without sanitizers in build-bench/, then times
# df_parse (and df_check) on generated Dockerfiles of 5,000 to 80,000 instructions.
#   bench/parser/run.sh [REPEATS]      writes the table to stdout and bench/parser/result.txt
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$src/build-bench
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCUBUILD_SANITIZE=OFF -DCUBUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j2 --target cb_parser cb_common >/dev/null
cc -O2 -D_GNU_SOURCE -I"$src" "$src/bench/parser/bench_parse.c" "$build/parser/libcb_parser.a" \
        "$build/common/libcb_common.a" $(pkg-config --libs jansson libcrypto) -o "$build/bench_parse"
{
        echo "# bench/parser/run.sh on $(uname -m), $(nproc) cores, $(cc --version | head -1)"
        echo "# $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)"
        "$build/bench_parse" "${1:-21}"
} | tee "$src/bench/parser/result.txt"
