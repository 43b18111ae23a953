#!/bin/bash
# Push and pull of a ~1 GiB image (4 gzip layers of random data) to Debian's docker-registry on
# loopback: cubuild's registry/ (through tests/unit/registry/reg-tool, a Release build without
# sanitizers) against `skopeo copy` between the same OCI layout and a fresh registry per tool, and
# `buildah push` of the same image imported into containers-storage (buildah compresses at push, as
# it stores layers uncompressed; BENCH_BUILDAH=0 leaves it out).
#   bench/registry/run.sh [LAYER_MIB] [LAYERS]    (defaults 256 4)
# Prints one line per measurement and a markdown table for bench/RESULTS.md.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
mib=${1:-256}
nl=${2:-4}

build=${BENCH_BUILD_DIR:-$src/build-bench}
[ -f "$build/CMakeCache.txt" ] || cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCUBUILD_SANITIZE=OFF >/dev/null
cmake --build "$build" -j2 --target reg-tool >/dev/null
T=$build/tests/unit/registry/reg-tool

W=$(mktemp -d "${TMPDIR:-/tmp}/regbench.XXXXXX")
buildah_img=localhost/cubuild-bench-registry:$$
use_buildah=${BENCH_BUILDAH:-1}
command -v buildah >/dev/null || use_buildah=0
cleanup() {
        [ -n "${REGISTRY_DIR:-}" ] && "$src/tests/fixtures/registry.sh" stop "$REGISTRY_DIR" || true
        [ -n "${buildah_id:-}" ] && buildah rmi -f "$buildah_id" >/dev/null 2>&1 || true
        rm -rf "$W"
}
trap cleanup EXIT

layers=""
for i in $(seq 1 "$nl"); do layers="$layers $((mib * 1024 * 1024))"; done
echo "making the image ($nl x $mib MiB layers)..." >&2
DIGEST=$("$src/tests/fixtures/registry-image.sh" image "$W/src" v1 --layers "$layers")
bytes=$(du -sb "$W/src/blobs" | cut -f1)
buildah_id=
if [ "$use_buildah" = 1 ]; then
        echo "importing into containers-storage for buildah..." >&2
        # buildah names the import after the layout's path, which must be lower case
        lc=${TMPDIR:-/tmp}/cubuild-bench-oci-$$
        ln -sfn "$W/src" "$lc"
        buildah_id=$(buildah pull -q "oci:$lc:v1" | tail -n 1)
        rm -f "$lc"
        buildah tag "$buildah_id" "$buildah_img"
fi

start_reg() {
        local out
        out=$(REGISTRY_FIXTURE_OWNER=$$ "$src/tests/fixtures/registry.sh" start plain)
        eval "$out"
}
stop_reg() {
        "$src/tests/fixtures/registry.sh" stop "$REGISTRY_DIR"
        REGISTRY_DIR=
}
# t LABEL CMD...: wall seconds and peak RSS (MiB) of CMD
declare -A RES
t() {
        local label=$1
        shift
        sync
        local s e
        s=$(date +%s.%N)
        /usr/bin/time -f "%M" -o "$W/rss" "$@" >/dev/null 2>"$W/err" || { cat "$W/err" >&2; return 1; }
        e=$(date +%s.%N)
        local secs rss
        secs=$(echo "$e - $s" | bc)
        rss=$(( $(tail -n 1 "$W/rss") / 1024 ))
        RES[$label]="$secs $rss"
        printf '%-28s %8.2f s %6d MiB RSS\n' "$label" "$secs" "$rss"
}

for round in 1 2; do
        start_reg
        t "cubuild push r$round" "$T" push "$W/src" "$DIGEST" "$REGISTRY_HOST/b/img:v1"
        t "cubuild re-push r$round" "$T" push "$W/src" "$DIGEST" "$REGISTRY_HOST/b/img:v1"
        t "cubuild pull r$round" "$T" pull "$REGISTRY_HOST/b/img:v1" "$W/pull-c$round"
        rm -rf "$W/pull-c$round"
        stop_reg
        start_reg
        t "skopeo push r$round" skopeo copy -q --dest-tls-verify=false "oci:$W/src:v1" "docker://$REGISTRY_HOST/b/img:v1"
        t "skopeo re-push r$round" skopeo copy -q --dest-tls-verify=false "oci:$W/src:v1" "docker://$REGISTRY_HOST/b/img:v1"
        t "skopeo pull r$round" skopeo copy -q --src-tls-verify=false "docker://$REGISTRY_HOST/b/img:v1" "oci:$W/pull-s$round:v1"
        rm -rf "$W/pull-s$round"
        stop_reg
        if [ "$use_buildah" = 1 ]; then
                start_reg
                t "buildah push r$round" buildah push -q --tls-verify=false "$buildah_img" "docker://$REGISTRY_HOST/b/img:v1"
                t "buildah re-push r$round" buildah push -q --tls-verify=false "$buildah_img" "docker://$REGISTRY_HOST/b/img:v1"
                stop_reg
        fi
done

best() { # best LABEL: the faster of the two rounds
        local a b
        a=$(echo "${RES[$1 r1]}" | cut -d' ' -f1)
        b=$(echo "${RES[$1 r2]}" | cut -d' ' -f1)
        echo "if ($a < $b) $a else $b" | bc
}
rss() { # rss LABEL: the larger of the two rounds
        local a b
        a=$(echo "${RES[$1 r1]}" | cut -d' ' -f2)
        b=$(echo "${RES[$1 r2]}" | cut -d' ' -f2)
        echo $((a > b ? a : b))
}
echo
echo "image: $nl layers, $bytes bytes of blobs; best of 2 rounds, fresh registry per tool and round"
echo
echo "| operation | cubuild (s) | skopeo copy (s) | skopeo / cubuild | cubuild peak RSS (MiB) | skopeo peak RSS (MiB) |"
echo "|---|---|---|---|---|---|"
for op in push re-push pull; do
        c=$(best "cubuild $op")
        s=$(best "skopeo $op")
        printf '| %s | %.2f | %.2f | %.2f | %d | %d |\n' "$op" "$c" "$s" "$(echo "scale=4; $s / $c" | bc)" \
                "$(rss "cubuild $op")" "$(rss "skopeo $op")"
done
if [ "$use_buildah" = 1 ]; then
        for op in push re-push; do
                printf 'buildah %s: %.2f s (buildah / cubuild %.2f), peak RSS %d MiB\n' "$op" "$(best "buildah $op")" \
                        "$(echo "scale=4; $(best "buildah $op") / $(best "cubuild $op")" | bc)" "$(rss "buildah $op")"
        done
fi
printf '\ncubuild first push / re-push: %.1fx\n' "$(echo "scale=4; $(best 'cubuild push') / $(best 'cubuild re-push')" | bc)"
