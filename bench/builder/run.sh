#!/usr/bin/env bash
# Builder benchmark: cubuild against Debian's buildah 1.28 (--layers) on the same base and data, in
# the same run. Prints a markdown table (wall seconds, ratio buildah/cubuild, cubuild's peak RSS).
#   bench/builder/run.sh [CUBUILD_BINARY] [CASES...]   (cases: noop copy1g copy100k apt; default all)
# buildah needs --storage-driver overlay --isolation oci --runtime runc here (crun fails on this
# machine's hybrid cgroups).
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
cubuild=${1:-$src/build/builder/cubuild}
shift || true
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(noop copy1g copy100k apt)
. "$src/tests/fixtures/lib.sh"
layout=$(fixture_oci bookworm)
work=/var/tmp/cbbench-$$
rm -rf "$work"; mkdir -p "$work"
trap 'buildah --root "$work/buildah" --runroot "$work/buildah-run" --storage-driver overlay rm -a >/dev/null 2>&1 || true; umount -R "$work/buildah" 2>/dev/null || true; rm -rf "$work"' EXIT
BH=(buildah --root "$work/buildah" --runroot "$work/buildah-run" --storage-driver overlay)
CB=("$cubuild" --root "$work/cubuild")
bh() { "${BH[@]}" "$@"; }
cb() { "${CB[@]}" "$@"; }
# buildah names an oci: pull after its path, which must then be a valid reference
cp -r "$layout" "$work/base"
bh pull -q "oci:$work/base:bookworm" >/dev/null
bh tag "$(bh images -q | head -1)" localhost/debian:bookworm
cb load -t localhost/debian:bookworm "$layout:bookworm" >/dev/null
# buildah unpacked the base when it pulled it; cubuild unpacks a layer the first time a build uses it:
# one throwaway build does that, so both start measured builds from an unpacked base
mkdir -p "$work/warm"
printf 'FROM localhost/debian:bookworm\nRUN true\n' >"$work/warm/Dockerfile"
cb build --verify skip -q "$work/warm" >/dev/null

# time_it OUTVAR RSSVAR CMD...: wall seconds and peak RSS (KiB) of CMD
time_it() {
        local -n _t=$1 _m=$2
        shift 2
        local f
        f=$(mktemp)
        /usr/bin/time -f '%e %M' -o "$f" "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; cat "$f" >&2; }
        read -r _t _m < <(tail -1 "$f")
        rm -f "$f"
}

row() {
        local name=$1 ctx=$2 id=$3 tb mb tc mc
        time_it tb mb "${BH[@]}" bud --layers --isolation oci --runtime runc -q -t "bench-$id" "$ctx"
        time_it tc mc "${CB[@]}" build --verify skip -q -t "bench-$id" "$ctx"
        printf '| %s | %.2f s | %.2f s | %.1f× | %.1f MiB |\n' "$name" "$tb" "$tc" \
                "$(echo "$tb / $tc" | bc -l)" "$(echo "$mc / 1024" | bc -l)"
}

echo "| case | buildah 1.28 | cubuild | buildah/cubuild | cubuild peak RSS |"
echo "|---|---|---|---|---|"
for c in "${cases[@]}"; do
        ctx="$work/ctx-$c"
        mkdir -p "$ctx"
        case $c in
        noop)
                echo hello >"$ctx/f"
                printf 'FROM localhost/debian:bookworm\nRUN echo one >/one\nCOPY f /f\nRUN echo two >/two\nENV A=1\nLABEL x=y\n' >"$ctx/Dockerfile"
                bh bud --layers --isolation oci --runtime runc -q -t bench-noop "$ctx" >/dev/null 2>&1
                cb build --verify skip -q -t bench-noop "$ctx" >/dev/null 2>&1
                row "no-op rebuild (all cached)" "$ctx" "$c"
                ;;
        copy1g)
                head -c 1G /dev/urandom >"$ctx/big"
                printf 'FROM localhost/debian:bookworm\nCOPY big /big\n' >"$ctx/Dockerfile"
                row "COPY one 1 GiB file" "$ctx" "$c"
                ;;
        copy100k)
                mkdir -p "$ctx/files"
                python3 -c "
import os
for i in range(100000):
    d = os.path.join('$ctx/files', str(i // 1000))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, str(i)), 'wb') as f: f.write(os.urandom(4096))"
                printf 'FROM localhost/debian:bookworm\nCOPY files /files\n' >"$ctx/Dockerfile"
                row "COPY 100,000 4 KiB files" "$ctx" "$c"
                ;;
        apt)
                printf 'FROM localhost/debian:bookworm\nRUN apt-get update && apt-get install -y --no-install-recommends python3 && rm -rf /var/lib/apt/lists/*\n' >"$ctx/Dockerfile"
                row "RUN apt-get install python3" "$ctx" "$c"
                ;;
        esac
done
