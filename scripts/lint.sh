#!/usr/bin/env bash
# Static checks, run by ctest as test "lint" (label unit):
#   1. the banned-function grep (STYLE.md §5);
#   2. cppcheck over our C sources;
#   3. clang-tidy (bugprone/cert/clang-analyzer checks of .clang-tidy) with the build's
#      compile_commands.json, when a build directory is given.
# Usage: scripts/lint.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-}
status=0
mapfile -t srcs < <(git ls-files '*.c' '*.h' 2>/dev/null | grep -vE '^(tests/fuzz/.*/corpus|kernels/evidence)/' || true)
[ ${#srcs[@]} -gt 0 ] || mapfile -t srcs < <(find common parser layers registry builder kernels tests -name '*.[ch]')

banned='\b(sprintf|vsprintf|strcpy|strcat|strncpy|strtok|gets|atoi)[[:space:]]*\('
if grep -nE "$banned" "${srcs[@]}" | grep -v 'lint: allow'; then
        echo "lint: banned functions used (STYLE.md §5)" >&2
        status=1
fi

if command -v cppcheck >/dev/null; then
        if ! cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability \
                --inline-suppr --suppress=missingIncludeSystem -D_GNU_SOURCE -I . \
                common parser layers registry builder 2>&1; then
                echo "lint: cppcheck found problems" >&2
                status=1
        fi
else
        echo "lint: cppcheck not installed, skipped" >&2
fi

if [ -n "$build" ] && [ -f "$build/compile_commands.json" ] && command -v clang-tidy >/dev/null; then
        mapfile -t tidy < <(printf '%s\n' "${srcs[@]}" | grep -E '^(common|parser|layers|registry|builder)/.*\.c$')
        if [ ${#tidy[@]} -gt 0 ] && ! clang-tidy -p "$build" --quiet "${tidy[@]}" 2>/dev/null | grep -E 'warning:|error:' ; then
                :
        else
                echo "lint: clang-tidy found problems" >&2
                status=1
        fi
fi
exit $status
