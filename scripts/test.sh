#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run): dependencies, a sanitizer build with warnings as
# errors, the fixture cache warmed, then ctest (unit + CLI; `ctest -L heavy` runs the heavy cases).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build=${CUBUILD_TEST_BUILD_DIR:-build-test}
cmake -S . -B "$build" -DCUBUILD_WERROR=ON -DCUBUILD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build" -j"$(nproc)"
# Build the base-image fixtures once up front (cached outside the repo) so that no test pays for
# them inside its own time limit.
tests/fixtures/bases.sh all >/dev/null
cd "$build"
ctest --output-on-failure -LE heavy -j"$(nproc)" "$@"
