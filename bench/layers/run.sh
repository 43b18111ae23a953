#!/bin/bash
# Layer commit benchmark: cubuild's layers/ against the floors (tar | sha256sum, tar | zstd -T0 | sha256sum,
# tar | pigz | sha256sum) and against buildah doing the same COPY, on the same generated data in the same run.
#
#   bench/layers/run.sh [--data DIR] [--sets big,small,site] [--no-buildah] [--results FILE]
#
# Data sets (generated once under DIR, default /var/tmp/cubuild-bench-layers):
#   big    one 1 GiB file from /dev/urandom (incompressible)
#   small  100,000 files of 200-1200 bytes in 1,000 directories
#   site   a Python site-packages tree (a copy of the host's, or pip install --target of numpy/pandas/scipy)
# Every timing runs with a warm page cache (each tree is read once first). Wall seconds are medians of
# RUNS runs (default 3); CPU is user+sys seconds of the same run; RSS is the peak resident set (GNU time %M).
# Needs: root (buildah overlay), cmake, cc, pigz, zstd, buildah, GNU time. Writes the section "layers" of
# bench/RESULTS.md (replacing the previous one).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
data=/var/tmp/cubuild-bench-layers
sets=big,small,site
buildah=1
results=$repo/bench/RESULTS.md
runs=${RUNS:-3}
while [ $# -gt 0 ]; do
        case $1 in
        --data) data=$2; shift 2 ;;
        --sets) sets=$2; shift 2 ;;
        --no-buildah) buildah=0; shift ;;
        --results) results=$2; shift 2 ;;
        *) echo "usage: $0 [--data DIR] [--sets big,small,site] [--no-buildah] [--results FILE]" >&2; exit 2 ;;
        esac
done

log() { printf '%s\n' "$*" >&2; }

# ---- build (release, no sanitizers) ----
bdir=$repo/build-bench
cmake -S "$repo" -B "$bdir" -DCMAKE_BUILD_TYPE=Release -DCUBUILD_TESTS=OFF >/dev/null
cmake --build "$bdir" -j2 --target cb_layers >/dev/null
cc -O2 -D_GNU_SOURCE -I"$repo" "$here/layer_bench.c" -o "$bdir/layer_bench" "$bdir/layers/libcb_layers.a" \
        "$bdir/common/libcb_common.a" $(pkg-config --libs libarchive jansson zlib libzstd libcrypto) -lpthread
lb=$bdir/layer_bench

# ---- data ----
mkdir -p "$data"
gen_big() {
        [ -f "$data/big/blob.bin" ] && return
        log "generating big (1 GiB)"
        mkdir -p "$data/big"
        head -c 1G /dev/urandom >"$data/big/blob.bin.tmp" && mv "$data/big/blob.bin.tmp" "$data/big/blob.bin"
}
gen_small() {
        [ -f "$data/small/.done" ] && return
        log "generating small (100,000 files)"
        rm -rf "$data/small"
        python3 - "$data/small" <<'EOF'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(42)
words = [bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(3, 9))) for _ in range(2000)]
for d in range(1000):
    p = os.path.join(root, "d%03d" % d)
    os.makedirs(p)
    for f in range(100):
        n = rnd.randint(200, 1200)
        buf = bytearray()
        while len(buf) < n:
            buf += rnd.choice(words) + b" "
        with open(os.path.join(p, "f%03d.txt" % f), "wb") as fh:
            fh.write(bytes(buf[:n]))
open(os.path.join(root, ".done"), "w").close()
EOF
}
gen_site() {
        [ -f "$data/site/.done" ] && return
        log "generating site (Python site-packages)"
        rm -rf "$data/site"
        src=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null || true)
        if [ -n "$src" ] && [ "$(du -sm "$src" | cut -f1)" -ge 100 ]; then
                cp -a "$src" "$data/site"
        else
                python3 -m pip install -q --target "$data/site" numpy pandas scipy
        fi
        touch "$data/site/.done"
}

# ---- measuring ----
# meas LABEL CMD...: runs CMD RUNS times, prints "wall cpu rss_mb" (median wall, its cpu, max rss)
meas() {
        local out=() i t
        for ((i = 0; i < runs; i++)); do
                t=$(mktemp)
                /usr/bin/time -f '%e %U %S %M' -o "$t" "$@" >/dev/null
                out+=("$(awk '{printf "%.2f %.2f %.1f\n", $1, $2 + $3, $4 / 1024}' "$t")")
                rm -f "$t"
                [ -n "${AFTER:-}" ] && eval "$AFTER"
        done
        printf '%s\n' "${out[@]}" | sort -n | awk -v n="$runs" '{a[NR]=$0; if ($3 > m) m = $3} END {split(a[int((n + 1) / 2)], x, " "); printf "%s %s %.1f\n", x[1], x[2], m}'
}

store=$data/store
bench_root=$data/buildah
rows=()
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

for set in ${sets//,/ }; do
        "gen_$set"
        dir=$data/$set
        nfiles=$(find "$dir" -type f | wc -l)
        size=$(du -sm --apparent-size "$dir" | cut -f1)
        log "== $set: $nfiles files, $size MiB"
        tar -C "$dir" -cf - . >/dev/null # warm the page cache

        f_tar=$(meas sh -c "tar -C '$dir' -cf - . | sha256sum")
        f_zstd=$(meas sh -c "tar -C '$dir' -cf - . | zstd -q -T0 | sha256sum")
        f_pigz=$(meas sh -c "tar -C '$dir' -cf - . | pigz | sha256sum")
        AFTER="rm -rf '$store'"
        rm -rf "$store"
        c_none=$(meas "$lb" commit "$store" "$dir" none)
        c_zstd=$(meas "$lb" commit "$store" "$dir" zstd)
        c_gzip=$(meas "$lb" commit "$store" "$dir" gzip)
        # the builder's COPY: copy into a fresh upper directory, then commit
        AFTER="rm -rf '$store' '$data/upper'"
        c_copy=$(meas sh -c "cp -a '$dir' '$data/upper' && '$lb' commit '$store' '$data/upper' none")
        unset AFTER
        b_copy=n/a
        if [ "$buildah" = 1 ] && command -v buildah >/dev/null; then
                bopts="--storage-driver overlay --root $bench_root/root --runroot $bench_root/run"
                one_buildah() {
                        local ctr
                        # --isolation oci --runtime runc matter only for RUN (bud), not for from/copy/commit
                        ctr=$(buildah $bopts from scratch)
                        buildah $bopts copy "$ctr" "$dir" /data >/dev/null
                        buildah $bopts commit -q "$ctr" "bench-$set" >/dev/null
                        buildah $bopts rm "$ctr" >/dev/null
                }
                export -f one_buildah
                export bopts dir set
                AFTER="buildah $bopts rmi -a -f >/dev/null 2>&1 || true"
                b_copy=$(meas bash -c one_buildah)
                unset AFTER
                buildah $bopts rm -a >/dev/null 2>&1 || true
                buildah $bopts rmi -a -f >/dev/null 2>&1 || true
                rm -rf "$bench_root" 2>/dev/null || (umount -R "$bench_root"/root/overlay 2>/dev/null; rm -rf "$bench_root")
        fi
        read -r w_tar cpu_tar _ <<<"$f_tar"
        read -r w_zs cpu_zs _ <<<"$f_zstd"
        read -r w_pz cpu_pz _ <<<"$f_pigz"
        read -r w_n cpu_n rss_n <<<"$c_none"
        read -r w_z cpu_z rss_z <<<"$c_zstd"
        read -r w_g cpu_g rss_g <<<"$c_gzip"
        read -r w_c cpu_c rss_c <<<"$c_copy"
        w_b=$(awk '{print $1}' <<<"$b_copy")
        cpu_b=$(awk '{print $2}' <<<"$b_copy")
        rows+=("| $set ($nfiles files, $size MiB) | none | $w_n s ($cpu_n cpu) | tar\\|sha256sum $w_tar s ($cpu_tar cpu) | $(ratio "$w_n" "$w_tar") | $rss_n |")
        rows+=("| | zstd | $w_z s ($cpu_z cpu) | tar\\|zstd -T0\\|sha256sum $w_zs s ($cpu_zs cpu) | $(ratio "$w_z" "$w_zs") | $rss_z |")
        rows+=("| | gzip | $w_g s ($cpu_g cpu) | tar\\|pigz\\|sha256sum $w_pz s ($cpu_pz cpu) | $(ratio "$w_g" "$w_pz") | $rss_g |")
        rows+=("| | COPY: cp -a + commit none | $w_c s ($cpu_c cpu) | buildah copy + commit ${w_b} s (${cpu_b} cpu) | buildah/cubuild $(ratio "$w_b" "$w_c") | $rss_c |")
done

# ---- results ----
machine="$(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg) at the end"
section=$(mktemp)
{
        echo "## layers"
        echo
        echo "Command: \`bench/layers/run.sh --sets $sets\` ($(date -u +%Y-%m-%d), $machine; $runs runs each, median wall"
        echo "seconds with the CPU seconds of that run, peak RSS of cubuild's process; warm page cache; zlib $(pkg-config --modversion zlib),"
        echo "zstd $(pkg-config --modversion libzstd), $(buildah --version 2>/dev/null | cut -d' ' -f1-3 || echo 'no buildah'))."
        echo "Ratio = cubuild / floor (target <= 1.5); the COPY row compares a copy into an upper directory plus an"
        echo "uncompressed commit with buildah's copy + commit into its own store (buildah stores layers uncompressed too)."
        echo
        echo "| data | cubuild commit | cubuild | floor | ratio | cubuild peak RSS MiB |"
        echo "|---|---|---|---|---|---|"
        printf '%s\n' "${rows[@]}"
        echo
} >"$section"
cat "$section"
if [ -f "$results" ]; then
        # replace the old section "## layers" (up to the next "## " heading) in place
        python3 - "$results" "$section" <<'EOF'
import sys
path, sec = sys.argv[1], open(sys.argv[2]).read()
lines = open(path).read().split("\n")
out, skip, done = [], False, False
for l in lines:
    if l.strip() == "## layers":
        skip, done = True, True
        out.append(sec.rstrip("\n"))
        continue
    if skip and l.startswith("## "):
        skip = False
    if not skip:
        out.append(l)
if not done:
    out.append(sec.rstrip("\n"))
open(path, "w").write("\n".join(out).rstrip("\n") + "\n")
EOF
else
        printf '# Benchmark results\n\n' >"$results"
        cat "$section" >>"$results"
fi
rm -f "$section"
rm -rf "$store" "$data/upper"
