#!/usr/bin/env bash
# Bounded memory of `cubuild diff` on two ~5 GB images, measured rather than computed: peak RSS from
# /usr/bin/time -v. Each image has two layers: NFILES small files (the per-entry records are what
# grows with an image), and GIB files of 1 GiB of zeros (sparse on disk; the tar stream carries every
# byte). B differs from A by one byte in one small file and one byte in the middle of one big file,
# so both layers' diff_ids differ and `cubuild diff` streams and hashes every byte of all four
# layers. The layers are zstd-compressed in the layouts (zeros shrink about 1000-fold), so the
# images cost little disk; diff decompresses them. Not part of any test suite.
#   bench/audit/mem5g.sh [CUBUILD_BINARY] [NFILES] [GIB]
# Prints one markdown table row and the diff's own lines about the records.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
cubuild=${1:-$src/build/builder/cubuild}
nfiles=${2:-100000}
gib=${3:-5}
work=/var/tmp/cbbench-mem5g-$$
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

# mklayer DIR OUT: OUT.zst (zstd of the deterministic tar of DIR), OUT.diffid, OUT.digest, OUT.size
mklayer() {
        tar --sort=name --mtime=@1700000000 --owner=0 --group=0 --numeric-owner -C "$1" -cf - . |
                zstd -q -T2 -3 >"$2.zst"
        zstd -dc "$2.zst" | sha256sum | cut -d' ' -f1 >"$2.diffid"
        sha256sum "$2.zst" | cut -d' ' -f1 >"$2.digest"
        stat -c %s "$2.zst" >"$2.size"
}

# layout DIR LAYER...: an OCI image layout of those zstd layers
layout() {
        local dir=$1
        shift
        mkdir -p "$dir/blobs/sha256"
        for l in "$@"; do mv "$l.zst" "$dir/blobs/sha256/$(cat "$l.digest")"; done
        python3 - "$dir" "$@" <<'PY'
import hashlib, json, sys
d, layers = sys.argv[1], sys.argv[2:]
rd = lambda p: open(p).read().strip()
def put(obj):
    b = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    h = hashlib.sha256(b).hexdigest()
    open("%s/blobs/sha256/%s" % (d, h), "wb").write(b)
    return {"digest": "sha256:" + h, "size": len(b)}
cfg = put({"architecture": "amd64", "os": "linux", "config": {},
           "rootfs": {"type": "layers", "diff_ids": ["sha256:" + rd(l + ".diffid") for l in layers]}})
man = put({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": dict(cfg, mediaType="application/vnd.oci.image.config.v1+json"),
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd",
                       "digest": "sha256:" + rd(l + ".digest"), "size": int(rd(l + ".size"))} for l in layers]})
json.dump({"schemaVersion": 2, "manifests": [dict(man, mediaType="application/vnd.oci.image.manifest.v1+json",
          annotations={"org.opencontainers.image.ref.name": "latest"})]}, open(d + "/index.json", "w"))
open(d + "/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
}

t0=$(date +%s)
for s in a b; do
        mkdir -p "$work/$s/small" "$work/$s/big"
        python3 - "$work/$s/small" "$nfiles" "$s" <<'PY'
import os, sys
root, n, side = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for i in range(n):
    d = os.path.join(root, "d%03d" % (i % 1000))
    if i < 1000:
        os.mkdir(d)
    with open(os.path.join(d, "file-%06d.txt" % i), "w") as f:
        f.write("file %d of a many-file layer\n" % i if not (side == "b" and i == n // 2) else "file %d changed\n" % i)
PY
        for ((i = 0; i < gib; i++)); do truncate -s 1G "$work/$s/big/zero-$i.bin"; done
        if [ "$s" = b ]; then
                printf 'X' | dd of="$work/b/big/zero-0.bin" bs=1 seek=$((512 * 1024 * 1024)) conv=notrunc status=none
        fi
        mklayer "$work/$s/small" "$work/$s-l0"
        mklayer "$work/$s/big" "$work/$s-l1"
        rm -rf "${work:?}/$s"
        layout "$work/oci-$s" "$work/$s-l0" "$work/$s-l1"
        "$cubuild" --root "$work/store" load -t "bench/$s:1" "$work/oci-$s" >/dev/null
        rm -rf "$work/oci-$s"
done
t1=$(date +%s)
store_mb=$(du -sm "$work/store" | cut -f1)

"$cubuild" --root "$work/store" inspect bench/a:1 >/dev/null
CUBUILD_DIFF_MEM=1 /usr/bin/time -v -o "$work/time.txt" "$cubuild" --root "$work/store" diff bench/a:1 bench/b:1 \
        >"$work/diff.out" 2>"$work/diff.err" || true
rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
user=$(awk -F': ' '/User time/ {print $2}' "$work/time.txt")
sys=$(awk -F': ' '/System time/ {print $2}' "$work/time.txt")
echo "Command: \`bench/audit/mem5g.sh $cubuild $nfiles $gib\` ($(date -u '+%F %H:%M') UTC, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg) at the end; images made in $((t1 - t0)) s, store $store_mb MB)"
echo
echo "| case | uncompressed bytes per image | cubuild diff wall (cpu) | cubuild peak RSS |"
echo "|---|---|---|---|"
printf '| two images of %s small files + %s x 1 GiB, one byte apart in each layer | %s GiB + %s files | %s (%.2f cpu) | %.1f MiB |\n' \
        "$nfiles" "$gib" "$gib" "$nfiles" "$wall" "$(echo "$user + $sys" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
echo
echo "diff's records: $(grep '^diff: tree records' "$work/diff.err" || echo none)"
echo "diff's lines: $(wc -l <"$work/diff.out"); file lines: $(grep '^file ' "$work/diff.out" | cut -c1-120 | tr '\n' ';')"
