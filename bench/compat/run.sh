#!/usr/bin/env bash
# Bytes the static compatibility report reads against the image's size, and its wall time.
#
#   bench/compat/run.sh [--root STORE] IMAGE...     IMAGE: anything `cubuild compat` takes
#
# Prints a Markdown row per image. The first `cubuild compat` of an image may unpack its layers into
# the store; the row times a second run, which mounts the layers and scans (what every build pays).
# CUBUILD: the binary (default build/builder/cubuild).
set -euo pipefail
cb=${CUBUILD:-build/builder/cubuild}
root=()
if [ "${1:-}" = --root ]; then
        root=(--root "$2")
        shift 2
fi
[ $# -gt 0 ] || { echo "usage: bench/compat/run.sh [--root STORE] IMAGE..." >&2; exit 2; }
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
echo "| image | image bytes (regular files) | bytes read | read/size | ELF files | files with CUDA code | wall s |"
echo "|---|---|---|---|---|---|---|"
for img in "$@"; do
        "$cb" "${root[@]}" compat --json "$img" >/dev/null
        t0=$(date +%s.%N)
        "$cb" "${root[@]}" compat --json "$img" >"$tmp"
        t1=$(date +%s.%N)
        jq -r --arg img "$img" --arg wall "$(echo "$t1 - $t0" | bc)" \
                '"| \($img) | \(.scan.image_bytes) | \(.scan.bytes_read) | \(.scan.bytes_read * 10000 / .scan.image_bytes | floor / 100)% | \(.scan.elf_files) | \(.scan.cuda_files) | \($wall | tonumber * 100 | floor / 100) |"' "$tmp"
done
