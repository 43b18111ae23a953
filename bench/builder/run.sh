#!/usr/bin/env bash
# Builder benchmark: cubuild against Debian's buildah 1.28 (--layers) on the same bases and data, in the
# same run, one command. Prints a markdown table: wall seconds of each builder, the ratio
# buildah/cubuild, and two peak RSS figures for cubuild:
#   own  - the cubuild process itself: getrusage(RUSAGE_SELF).ru_maxrss taken at its exit by a preload
#          library (selfrss.c, built here), so RUN steps' processes (apt, pip: forked and exec'd
#          children) do not count; cubuild's forked sandbox helpers exit with _exit and are not counted
#          either (they only wait for the step's process);
#   tree - GNU time's %M: wait4's ru_maxrss, the largest of cubuild and every descendant (apt, pip...).
#
#   bench/builder/run.sh [--cubuild BIN] [--torch] [--compression gzip|zstd|none] [--also-gzip] [--pip-cache DIR]
#                        [--repeat N] [--fresh-fs SIZE] [CASES...]
#     cases: noop copy1g copy100k venv apt (default: all of them), torch (also with --torch: long)
#
# noop      cached rebuild of examples/golden (its first builds, pip from PyPI, are not measured)
# copy1g    COPY of one 1 GiB file of random data
# copy100k  COPY of 100,000 files of 4 KiB random data (100 directories)
# venv      COPY --from a builder stage of a ~200 MiB virtualenv (numpy, scipy, pandas; built on the
#           host from PyPI, cached in the fixture cache); the builder stage is built (not measured) first
# apt       RUN apt-get install python3 (from Debian's mirror: network time is in both numbers)
# torch     examples/pytorch-cuda: cold build (--no-cache) with a warm pip cache mount, then the rebuild
#           after a one-line change of check.py, which the last step copies. The pip caches are warmed
#           by one unmeasured cubuild build; buildah's cache mount gets a copy of that cache.
# Disk: the torch case needs about 30 GB free (buildah keeps two copies of the 7 GB layer, cubuild one, and
# the pip cache); with --repeat, each cold build after the first starts after what the ones before made
# is removed (58 GB free ran out in buildah's second cold build before that).
# --pip-cache DIR: for torch, a warm pip cache (the cache-mounts/ directory of id=pip from an earlier
# cubuild build of examples/pytorch-cuda) given to both builders instead of the warm-up build.
# --repeat N: each row N times, the builders alternating (buildah, cubuild, buildah, ...); each run after the
# first gets new data (copy1g, copy100k: the context salted; venv: another destination; the torch rebuild:
# another one-line change) or --no-cache (apt, the torch cold build); the noop row stays cached; the row
# shows the medians, every run's time in the last column.
# --fresh-fs SIZE (e.g. 40G): both builders' stores on a new ext4 filesystem (default mkfs options, with a
# journal) in a sparse file under /var/tmp, so neither pays for the inode allocator's state that earlier
# deletions on the host's filesystem leave (on a filesystem without a journal ext4 skips recently deleted
# inodes one by one). Not for torch (it needs ~30 GB).
# --also-gzip: for copy1g, copy100k and apt, one more cubuild build with --no-cache --compression gzip
# (layers gzipped at commit, what a build that pushes pays; by default a build stores its layers
# uncompressed, as buildah does, and compresses them at push)
# (layers stored uncompressed, as buildah stores them), in an extra column.
# buildah runs with --storage-driver overlay --isolation oci --runtime runc (crun fails on this machine's
# hybrid cgroups) --network host and its own root, like cubuild, in a temporary directory under /var/tmp that is removed
# at exit. Needs root, gcc, bc, python3 with pip.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
cubuild=$src/build/builder/cubuild
torch=0
also_gzip=0
repeat=1
fresh_fs=
loopdev=
pip_cache=
compression=
cases=()
while [ $# -gt 0 ]; do
        case $1 in
        --cubuild) cubuild=$(realpath "$2"); shift 2 ;;
        --torch) torch=1; shift ;;
        --compression) compression=$2; shift 2 ;;
        --also-gzip) also_gzip=1; shift ;;
        --pip-cache) pip_cache=$(realpath "$2"); shift 2 ;;
        --repeat) repeat=$2; shift 2 ;;
        --fresh-fs) fresh_fs=$2; shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) cases+=("$1"); shift ;;
        esac
done
[ ${#cases[@]} -gt 0 ] || cases=(noop copy1g copy100k venv apt)
[ $torch = 0 ] || [[ " ${cases[*]} " == *" torch "* ]] || cases+=(torch)
[ -x "$cubuild" ] || { echo "no cubuild binary at $cubuild (--cubuild BIN)" >&2; exit 2; }
ca=/etc/ssl/certs/ca-certificates.crt
. "$src/tests/fixtures/lib.sh"
bookworm=$(fixture_oci bookworm)
# buildah names an oci: image after its path, which must then be a valid (lowercase) reference
work=/var/tmp/cbbench-$$
rm -rf "$work"; mkdir -p "$work"
if [ -n "$fresh_fs" ]; then
        # allocated up front and read and written around the host's page cache: the first run of a
        # row would otherwise pay for growing a sparse file, the others not
        fallocate -l "$fresh_fs" "$work.img"
        mkfs.ext4 -q -F "$work.img"
        loopdev=$(losetup --direct-io=on --show -f "$work.img")
        mount "$loopdev" "$work"
fi
BH=(buildah --root "$work/buildah" --runroot "$work/buildah-run" --storage-driver overlay)
# --network host: cubuild's RUN uses the host network by default; buildah's own network namespace failed
# to resolve deb.debian.org in two runs here, which is not what this benchmark measures
BUD=(bud --layers --isolation oci --runtime runc --network host)
cleanup() {
        "${BH[@]}" rm -a >/dev/null 2>&1 || true
        "${BH[@]}" rmi -a -f >/dev/null 2>&1 || true
        umount -R "$work/buildah/overlay" 2>/dev/null || true
        if [ -n "$fresh_fs" ]; then
                umount "$work" 2>/dev/null || umount -l "$work" 2>/dev/null || true
                losetup -d "$loopdev" 2>/dev/null || true
                rm -f "$work.img"
        fi
        rm -rf "$work"
}
trap cleanup EXIT
CB=("$cubuild" --root "$work/cubuild")
[ -z "$compression" ] || CBB_OPTS=(--compression "$compression")
CBB=(build --verify skip -q ${CBB_OPTS[@]+"${CBB_OPTS[@]}"})
bh() { "${BH[@]}" "$@"; }
cb() { "${CB[@]}" "$@"; }
log() { printf 'bench: %s\n' "$*" >&2; }

gcc -O2 -shared -fPIC -o "$work/selfrss.so" "$src/bench/builder/selfrss.c"

# load_base LAYOUT TAG NAME: both stores get the same base image under the same name
load_base() {
        local layout=$1 tag=$2 name=$3 id
        rm -rf "$work/base"
        cp -r "$layout" "$work/base"
        id=$(bh pull -q "oci:$work/base:$tag")
        bh tag "$id" "$name"
        cb load -t "$name" "$layout:$tag" >/dev/null
        rm -rf "$work/base"
}
load_base "$bookworm" bookworm localhost/debian:bookworm
# buildah unpacked the base when it pulled it; cubuild unpacks a layer the first time a build uses it:
# one throwaway build does that, so both start measured builds from an unpacked base
mkdir -p "$work/warm"
printf 'FROM localhost/debian:bookworm\nRUN true\n' >"$work/warm/Dockerfile"
cb build --verify skip -q "$work/warm" >/dev/null

# time_it VAR_WALL VAR_TREE VAR_OWN CMD...: wall seconds, tree peak RSS and own peak RSS (KiB) of CMD
time_it() {
        local -n _t=$1 _m=$2 _o=$3
        shift 3
        local f r
        f=$(mktemp "$work/time.XXXXXX")
        r=$(mktemp "$work/rss.XXXXXX")
        # one retry: a DNS or mirror hiccup inside a RUN step is not what is measured
        local try
        for try in 1 2; do
                : >"$r"
                # the other builder's writes go to disk first, not into this one's time
                sync
                if SELFRSS_FILE=$r SELFRSS_EXE=$cubuild LD_PRELOAD=$work/selfrss.so \
                        /usr/bin/time -f '%e %M' -o "$f" "$@" >"$work/last.log" 2>&1; then
                        break
                fi
                echo "failed (try $try): $*" >&2
                tail -5 "$work/last.log" >&2
                [ $try = 1 ] || { rm -f "$f" "$r"; _t=nan _m=0 _o=0; return 1; }
        done
        read -r _t _m < <(tail -1 "$f")
        # the line of the process that ran the build: the first cubuild process (the largest if several)
        _o=$(sort -k2 -n "$r" | tail -1 | cut -d' ' -f2)
        _o=${_o:-0}
        rm -f "$f" "$r"
}

# median of the arguments (numbers)
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# row NAME BUILDAH_ARGS... -- CUBUILD_ARGS...: times both builders ($repeat times, alternating; runs after
# the first with --no-cache unless $cached_row), prints a table row of medians; with $gzip_too set, also
# cubuild --no-cache --compression gzip
gzip_too=0
cached_row=0
iter_hook=
row() {
        local name=$1 tb mb ob tc mc oc tn mn on i k extra=" – |" nc=()
        local -a TB=() TC=() OC=() MC=()
        shift
        for ((i = 1; i <= $#; i++)); do [ "${!i}" = -- ] && break; done
        local bargs=("${@:1:i-1}") cargs=("${@:i+1}")
        for ((k = 1; k <= repeat; k++)); do
                # runs after the first miss the cache through other data ($iter_hook: salt the context;
                # @ITER@ in the arguments: a Dockerfile per run), not --no-cache: buildah then finds the
                # layer it committed before by its digest and skips writing it; other rows use --no-cache
                if [ $k -gt 1 ] && [ -n "$iter_hook" ]; then
                        "$iter_hook" "$k"
                elif [ $k -gt 1 ] && [ $cached_row = 0 ] && [[ " ${cargs[*]} " != *@ITER@* ]]; then
                        nc=(--no-cache)
                fi
                time_it tb mb ob "${BH[@]}" "${BUD[@]}" ${nc[@]+"${nc[@]}"} "${bargs[@]//@ITER@/$k}" || { echo "| $name | failed | | | | | |"; return 0; }
                time_it tc mc oc "${CB[@]}" "${CBB[@]}" ${nc[@]+"${nc[@]}"} "${cargs[@]//@ITER@/$k}" || { echo "| $name | | failed | | | | |"; return 0; }
                TB+=("$tb") TC+=("$tc") OC+=("$oc") MC+=("$mc")
        done
        tb=$(median "${TB[@]}") tc=$(median "${TC[@]}")
        oc=$(printf '%s\n' "${OC[@]}" | sort -n | tail -1) mc=$(printf '%s\n' "${MC[@]}" | sort -n | tail -1)
        if [ "$gzip_too" = 1 ]; then
                time_it tn mn on "${CB[@]}" "${CBB[@]}" --no-cache --compression gzip "${cargs[@]}" || tn=nan
                extra=$(printf ' %.2f s (%.1f×, own RSS %.1f MiB) |' "$tn" "$(echo "$tb / $tn" | bc -l)" \
                        "$(echo "$on / 1024" | bc -l)")
        fi
        [ "$repeat" = 1 ] || extra="$extra buildah ${TB[*]} s; cubuild ${TC[*]} s |"
        printf '| %s | %.2f s | %.2f s | %.1f× | %.1f MiB | %.1f MiB |%s\n' "$name" "$tb" "$tc" \
                "$(echo "$tb / $tc" | bc -l)" "$(echo "$oc / 1024" | bc -l)" "$(echo "$mc / 1024" | bc -l)" "$extra"
}

# A ~200 MiB virtualenv, made once on the host from PyPI and cached next to the fixtures.
venv_tree() {
        local dir
        dir=$(fixtures_cache_dir)/bench-venv
        if [ ! -f "$dir/done" ]; then
                log "making the benchmark virtualenv (numpy, scipy, pandas from PyPI)"
                rm -rf "$dir"
                python3 -m venv "$dir/venv"
                "$dir/venv/bin/pip" install -q --no-compile numpy==2.1.3 scipy==1.14.1 pandas==2.2.3 >&2
                touch "$dir/done"
        fi
        printf '%s\n' "$dir/venv"
}

if [ "$repeat" = 1 ]; then
        echo "| case | buildah 1.28 | cubuild | buildah/cubuild | cubuild peak RSS (own) | peak RSS (tree) | cubuild --compression gzip |"
        echo "|---|---|---|---|---|---|---|"
else
        echo "| case | buildah 1.28 (median) | cubuild (median) | buildah/cubuild | cubuild peak RSS (own) | peak RSS (tree) | cubuild --compression gzip | every run |"
        echo "|---|---|---|---|---|---|---|---|"
fi
for c in "${cases[@]}"; do
        ctx=$work/ctx-$c
        mkdir -p "$ctx"
        gzip_too=0
        case $c in copy1g | copy100k | apt) gzip_too=$also_gzip ;; esac
        log "$c: $(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg)"
        case $c in
        noop)
                cuda=$(fixture_oci cuda-11.8.0-runtime)
                load_base "$cuda" cuda-11.8.0-runtime localhost/nvidia/cuda:11.8.0-runtime-ubuntu20.04
                cp -r "$src/examples/golden/." "$ctx/"
                args=(--secret "id=ca,src=$ca" --build-arg CUDA_BASE=localhost/nvidia/cuda:11.8.0-runtime-ubuntu20.04
                        -t bench-golden "$ctx")
                log "noop: first builds of examples/golden (not measured)"
                bh "${BUD[@]}" -q "${args[@]}" >"$work/first.log" 2>&1 || { tail -20 "$work/first.log" >&2; exit 1; }
                cb "${CBB[@]}" "${args[@]}" >"$work/first.log" 2>&1 || { tail -20 "$work/first.log" >&2; exit 1; }
                cached_row=1
                row "no-op rebuild of examples/golden (all cached)" -q "${args[@]}" -- "${args[@]}"
                cached_row=0
                ;;
        copy1g)
                head -c 1G /dev/urandom >"$ctx/big"
                printf 'FROM localhost/debian:bookworm\nCOPY big /big\n' >"$ctx/Dockerfile"
                # each run another file: its last 16 bytes name the run
                salt_big() { printf '%016d' "$1" | dd of="$ctx/big" bs=1 seek=$((1073741824 - 16)) conv=notrunc status=none; }
                iter_hook=salt_big
                row "COPY one 1 GiB file" -q -t bench-copy1g "$ctx" -- -t bench-copy1g "$ctx"
                iter_hook=
                rm -f "$ctx/big"
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
                # each run another tree: one more small file names the run
                salt_files() { echo "$1" >"$ctx/files/run"; }
                iter_hook=salt_files
                row "COPY 100,000 4 KiB files" -q -t bench-copy100k "$ctx" -- -t bench-copy100k "$ctx"
                iter_hook=
                rm -rf "$ctx/files"
                ;;
        venv)
                cp -a "$(venv_tree)" "$ctx/venv"
                log "venv: $(du -sm "$ctx/venv" | cut -f1) MiB, $(find "$ctx/venv" | wc -l) entries"
                # one Dockerfile per run: the same copy to another path, so that each run copies and the
                # builder stage stays cached
                for ((i = 1; i <= repeat; i++)); do
                        printf 'FROM localhost/debian:bookworm AS builder\nCOPY venv /opt/venv\n\nFROM localhost/debian:bookworm\nCOPY --from=builder /opt/venv /opt/venv%s\n' \
                                "$([ $i = 1 ] || echo "-$i")" >"$ctx/Dockerfile.$i"
                done
                bh "${BUD[@]}" -q -f "$ctx/Dockerfile.1" --target builder -t bench-venv-builder "$ctx" >/dev/null 2>&1
                cb "${CBB[@]}" -f "$ctx/Dockerfile.1" --target builder -t bench-venv-builder "$ctx" >/dev/null 2>&1
                row "multi-stage COPY --from of a 200 MiB venv" -q -f "$ctx/Dockerfile.@ITER@" -t bench-venv "$ctx" -- \
                        -f "$ctx/Dockerfile.@ITER@" -t bench-venv "$ctx"
                ;;
        apt)
                printf 'FROM localhost/debian:bookworm\nRUN apt-get update && apt-get install -y --no-install-recommends python3 && rm -rf /var/lib/apt/lists/*\n' >"$ctx/Dockerfile"
                row "RUN apt-get install python3" -q -t bench-apt "$ctx" -- -t bench-apt "$ctx"
                ;;
        torch)
                pipdir=$work/cubuild/cache-mounts/$(printf pip | sha256sum | cut -c1-16)
                if [ -n "$pip_cache" ]; then
                        mkdir -p "$(dirname "$pipdir")"
                        cp -al "$pip_cache" "$pipdir" # hard links: GBs of wheels, read only
                fi
                log "torch: CUDA 12.8 base stand-in (examples/pytorch-cuda/base), built by cubuild"
                cb "${CBB[@]}" --secret "id=ca,src=$ca" --build-arg DEBIAN=localhost/debian:bookworm \
                        -t localhost/nvidia/cuda:12.8.1-runtime-ubuntu22.04 "$src/examples/pytorch-cuda/base" \
                        >"$work/first.log" 2>&1 || { tail -20 "$work/first.log" >&2; exit 1; }
                cb save --format oci-dir -o "$work/cuda12" localhost/nvidia/cuda:12.8.1-runtime-ubuntu22.04 >/dev/null
                id=$(bh pull -q "oci:$work/cuda12")
                bh tag "$id" localhost/nvidia/cuda:12.8.1-runtime-ubuntu22.04
                rm -rf "$work/cuda12"
                cp -r "$src/examples/pytorch-cuda/." "$ctx/"
                args=(--secret "id=ca,src=$ca" --build-arg CUDA_BASE=localhost/nvidia/cuda:12.8.1-runtime-ubuntu22.04
                        -t bench-torch "$ctx")
                if [ -z "$pip_cache" ]; then
                        log "torch: warming cubuild's pip cache mount (one unmeasured build, ~3.5 GB from PyPI)"
                        t0=$SECONDS
                        cb "${CBB[@]}" "${args[@]}" >"$work/first.log" 2>&1 || { tail -20 "$work/first.log" >&2; exit 1; }
                        log "torch: warm-up build took $((SECONDS - t0)) s"
                fi
                # buildah keeps cache mounts in /var/tmp/buildah-cache-<uid>/<id>: give it the same pip cache
                bcache=/var/tmp/buildah-cache-$(id -u)
                rm -rf "$bcache/pip"
                mkdir -p "$bcache"
                cp -al "$pipdir" "$bcache/pip" 2>/dev/null || cp -a "$pipdir" "$bcache/pip"
                log "torch: buildah's pip cache: $(du -sm "$bcache/pip" | cut -f1) MiB"
                # each run after the first starts from the stores the first found: what the cold builds
                # before it made is removed (not measured), or three runs fill 60 GB
                torch_reclaim() {
                        bh rmi -f bench-torch >/dev/null 2>&1 || true
                        bh rmi --prune >/dev/null 2>&1 || true # the untagged images of --layers steps
                        cb rm bench-torch >/dev/null 2>&1 || true
                        # the build cache and its layers go; the pip cache mount is kept aside and put back
                        rm -rf "$work/pip-keep"
                        cp -al "$pipdir" "$work/pip-keep"
                        cb prune --all >/dev/null
                        mkdir -p "$(dirname "$pipdir")"
                        [ -d "$pipdir" ] || mv "$work/pip-keep" "$pipdir"
                        rm -rf "$work/pip-keep"
                        sync
                }
                iter_hook=torch_reclaim
                row "examples/pytorch-cuda cold build (--no-cache, warm pip cache)" -q --no-cache "${args[@]}" -- --no-cache "${args[@]}"
                iter_hook=
                sed -i 's/^print("gemm ok"/print("gemm done"/' "$ctx/check.py"
                # each further run another one-line change
                edit_check() { sed -i "s/^print(\"gemm [a-z0-9]*\"/print(\"gemm run$1\"/" "$ctx/check.py"; }
                iter_hook=edit_check
                row "examples/pytorch-cuda rebuild after a one-line change in the last step" -q "${args[@]}" -- "${args[@]}"
                iter_hook=
                rm -rf "$bcache/pip"
                ;;
        *) echo "unknown case $c" >&2; exit 2 ;;
        esac
        rm -rf "$ctx"
done
