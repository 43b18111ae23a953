#!/usr/bin/env bash
# cubuild diff against the floor: two single-layer images of one 1 GiB file that differ in one byte,
# loaded into a store with uncompressed layers; `cubuild diff A B` (which must read both layers in
# full, since their diff_ids differ) against `sha256sum A.tar B.tar` over the same two layer tars.
#   bench/audit/run.sh [CUBUILD_BINARY] [SIZE_MIB] [RUNS]
# Prints a markdown table: median wall seconds (CPU seconds of that run), ratio, cubuild's peak RSS.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
cubuild=${1:-$src/build/builder/cubuild}
size=${2:-1024}
runs=${3:-3}
work=/var/tmp/cbbench-audit-$$
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

# layout DIR TAR: a one-layer OCI image layout around an uncompressed layer tar
layout() {
        local dir=$1 tar=$2 d s cfg cd cs man md ms
        mkdir -p "$dir/blobs/sha256"
        d=$(sha256sum "$tar" | cut -d' ' -f1)
        s=$(stat -c %s "$tar")
        ln "$tar" "$dir/blobs/sha256/$d" 2>/dev/null || cp "$tar" "$dir/blobs/sha256/$d"
        cfg=$(printf '{"architecture":"amd64","config":{},"os":"linux","rootfs":{"diff_ids":["sha256:%s"],"type":"layers"}}' "$d")
        cd=$(printf '%s' "$cfg" | sha256sum | cut -d' ' -f1)
        cs=${#cfg}
        printf '%s' "$cfg" >"$dir/blobs/sha256/$cd"
        man=$(printf '{"config":{"digest":"sha256:%s","mediaType":"application/vnd.oci.image.config.v1+json","size":%s},"layers":[{"digest":"sha256:%s","mediaType":"application/vnd.oci.image.layer.v1.tar","size":%s}],"mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":2}' "$cd" "$cs" "$d" "$s")
        md=$(printf '%s' "$man" | sha256sum | cut -d' ' -f1)
        ms=${#man}
        printf '%s' "$man" >"$dir/blobs/sha256/$md"
        printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' "$md" "$ms" >"$dir/index.json"
        printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
}

mkdir -p "$work/a" "$work/b"
head -c "$((size * 1024 * 1024))" /dev/urandom >"$work/a/big"
cp "$work/a/big" "$work/b/big"
printf 'X' | dd of="$work/b/big" bs=1 seek=$((size * 512 * 1024)) conv=notrunc status=none
for s in a b; do
        tar --sort=name --mtime=@1700000000 --owner=0 --group=0 --numeric-owner -C "$work/$s" -cf "$work/$s.tar" big
        rm -f "$work/$s/big"
        layout "$work/oci-$s" "$work/$s.tar"
        "$cubuild" --root "$work/store" load -t "bench/$s:1" "$work/oci-$s" >/dev/null
        rm -rf "$work/oci-$s"
done

time_it() { # time_it CMD... -> "wall cpu maxrss_kib"
        local f
        f=$(mktemp)
        /usr/bin/time -f '%e %U %S %M' -o "$f" "$@" >/dev/null 2>&1 || true
        tail -1 "$f" | awk '{printf "%s %.2f %s\n", $1, $2 + $3, $4}'
        rm -f "$f"
}
median() { sort -n | awk '{v[NR]=$0} END {print v[int((NR + 1) / 2)]}'; }

# warm page cache for both sides
cat "$work/a.tar" "$work/b.tar" >/dev/null
cres=() fres=() ores=()
for ((i = 0; i < runs; i++)); do
        cres+=("$(time_it "$cubuild" --root "$work/store" diff bench/a:1 bench/b:1)")
        fres+=("$(time_it sha256sum "$work/a.tar" "$work/b.tar")")
        ores+=("$(time_it openssl dgst -sha256 "$work/a.tar" "$work/b.tar")")
done
cw=$(printf '%s\n' "${cres[@]}" | median)
fw=$(printf '%s\n' "${fres[@]}" | median)
ow=$(printf '%s\n' "${ores[@]}" | median)
read -r ct cc cm <<<"$cw"
read -r ft fc _ <<<"$fw"
read -r ot oc _ <<<"$ow"
out=$("$cubuild" --root "$work/store" diff bench/a:1 bench/b:1 2>&1 | grep -v "^manifest\|^config\|^layers" || true)
echo "Command: \`bench/audit/run.sh\` ($(date -u +%F), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg) at the end; $runs runs each, median by wall time; warm page cache; layers uncompressed in the store)"
echo
echo "| case | cubuild diff | floor: sha256sum of both tars | ratio | openssl dgst -sha256 of both tars | ratio | cubuild peak RSS |"
echo "|---|---|---|---|---|---|---|"
printf '| two %s MiB one-layer images, one byte apart | %.2f s (%.2f cpu) | %.2f s (%.2f cpu) | %.2f | %.2f s (%.2f cpu) | %.2f | %.1f MiB |\n' \
        "$size" "$ct" "$cc" "$ft" "$fc" "$(echo "$ct / $ft" | bc -l)" "$ot" "$oc" "$(echo "$ct / $ot" | bc -l)" "$(echo "$cm / 1024" | bc -l)"
echo
echo "cubuild diff's file line: $out"
