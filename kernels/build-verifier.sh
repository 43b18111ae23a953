#!/bin/sh
# Build cubuild-verify inside a Debian bullseye rootfs (glibc 2.31), so that the binary asks for no
# glibc symbol version newer than 2.31 and runs in bullseye / ubuntu20.04 images as well as newer ones.
# A binary linked on a glibc >= 2.34 host always needs GLIBC_2.34 (__libc_start_main moved into libc),
# whatever it calls, which is why linking here and "pinning symbols" is not enough.
#
# usage: build-verifier.sh OUT SOURCE...   (C sources and headers; the .c files are compiled)
#        build-verifier.sh --rootfs         (only make the cached bullseye+gcc rootfs, print its path)
# The rootfs is made once with mmdebstrap and cached under
# ${XDG_CACHE_HOME:-$HOME/.cache}/cubuild-fixtures/bullseye-gcc (needs root and Debian's mirror).
set -eu

cache=${XDG_CACHE_HOME:-$HOME/.cache}/cubuild-fixtures
root=$cache/bullseye-gcc
mirror=${CUBUILD_DEBIAN_MIRROR:-http://deb.debian.org/debian}

make_rootfs() {
        [ -x "$root/usr/bin/gcc" ] && return 0
        command -v mmdebstrap >/dev/null || { echo "build-verifier: mmdebstrap not found" >&2; exit 1; }
        mkdir -p "$cache"
        tmp=$(mktemp -d "$cache/bullseye-gcc.tmp.XXXXXX")
        # minbase + gcc + libc6-dev is all the verifier needs: it links only libc and libdl.
        if ! mmdebstrap --quiet --variant=minbase --include=gcc,libc6-dev \
                --aptopt='Acquire::Retries "3"' bullseye "$tmp" "$mirror" >&2; then
                rm -rf "$tmp"
                echo "build-verifier: mmdebstrap bullseye failed" >&2
                exit 1
        fi
        rm -rf "$root"
        mv "$tmp" "$root"
}

if [ "${1:-}" = "--rootfs" ]; then
        make_rootfs
        echo "$root"
        exit 0
fi
[ $# -ge 2 ] || { echo "usage: build-verifier.sh OUT SOURCE..." >&2; exit 2; }
out=$1
shift
make_rootfs

work=$(mktemp -d "$root/tmp/cubuild-verify.XXXXXX")
trap 'rm -rf "$work"' EXIT
cfiles=
for f in "$@"; do
        cp "$f" "$work/"
        case "$f" in *.c) cfiles="$cfiles $(basename "$f")" ;; esac
done
rel=${work#"$root"}
# -D_GNU_SOURCE for dladdr/RTLD_*; -ldl because dlopen lives in libdl before glibc 2.34.
chroot "$root" /bin/sh -c "cd '$rel' && gcc -std=gnu11 -O2 -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE \
        -o cubuild-verify $cfiles -ldl -lm" >&2
cp "$work/cubuild-verify" "$out.tmp"
mv "$out.tmp" "$out"
