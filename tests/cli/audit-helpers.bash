# shellcheck shell=bash
# For the audit tests: a 3 MiB base image made of the host's sh, mkdir and date with their
# libraries, so that RUN steps and rebuilds cost little (the fixtures' Debian bases take tens of
# seconds to unpack on a busy machine). audit_mini_base NAME imports it into the test store.
audit_mini_base() {
        local r="$CB_TMP/mini-rootfs" b l
        rm -rf "$r"
        mkdir -p "$r/bin" "$r/tmp"
        for b in sh mkdir date; do
                cp "$(readlink -f "$(command -v "$b")")" "$r/bin/$b"
                for l in $(ldd "$(command -v "$b")" | grep -o '/[^ ]*'); do
                        cp --parents -L "$l" "$r/"
                done
        done
        tar -C "$r" --sort=name --mtime=@1600000000 --owner=0 --group=0 --numeric-owner -cf "$CB_TMP/mini.tar" .
        SOURCE_DATE_EPOCH=1600000000 cb import "$CB_TMP/mini.tar" "$1" >/dev/null
}
