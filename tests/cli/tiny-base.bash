# shellcheck shell=bash
# A tiny base image for RUN tests: the host's sh, coreutils and grep with their libraries (a few
# MiB), imported as one layer. Far quicker to unpack than a Debian base, and fast to fail in.

# tiny_base_load REF: builds the rootfs under $CB_TMP/tiny and imports it into the test store.
tiny_base_load() {
        local d="$CB_TMP/tiny" b p l
        rm -rf "$d"
        mkdir -p "$d/bin" "$d/etc" "$d/tmp"
        chmod 1777 "$d/tmp"
        for b in sh cat ls sleep true false touch tr seq grep mkdir rm echo wc head tail pwd env id; do
                p=$(type -P "$b") || continue
                cp -L "$p" "$d/bin/$b"
                for l in $(ldd "$p" 2>/dev/null | grep -o '/[^ ]*'); do
                        mkdir -p "$d$(dirname "$l")"
                        cp -L "$l" "$d$l"
                done
        done
        echo 'root:x:0:0:root:/root:/bin/sh' >"$d/etc/passwd"
        echo 'root:x:0:' >"$d/etc/group"
        tar -C "$d" -cf "$CB_TMP/tiny.tar" .
        cb import "$CB_TMP/tiny.tar" "$1" >/dev/null
}
