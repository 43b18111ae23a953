#!/usr/bin/env bats
# The static CUDA report's memo across a rebuild whose last step changed: when the new top layer only
# adds files the report merely counts, the report comes from the memo of the layers below it (counters
# increased), equals byte for byte a full scan of the same tree (the image's layers merged by an overlay
# mount of the test's own, imported as a one-layer image), and nothing is mounted or read for it; a new
# layer the report must look at (a library name, an ELF candidate, a whiteout) gets a full scan.
# Seen from outside with strace: only the report's mount has the image's top layer among its lower
# directories, and only the scan opens the base's libc.so.6 by its bare name (O_NOFOLLOW, beneath a
# directory fd) to read its ELF header.

load helpers
load tiny-base

# The tiny base (the host's sh, coreutils and their libraries, libc.so.6 among them: ELF files for the
# scan to read) keeps the full scans this file compares with quick; the bookworm fixture took 24 s per
# import and scan under the sanitizers.
setup_file() {
        cb_setup_store
        tiny_base_load tiny:1
}

teardown_file() {
        cb_teardown_store
}

setup() {
        command -v strace >/dev/null || skip "strace is not installed: the mount count needs it"
        [ "$(id -u)" -eq 0 ] || skip "the full scan to compare with is made on an overlay mount, which needs root"
}

# The image's top layer, as layers/<hex> names its unpacked directory.
top_layer_hex() {
        cb inspect "$1" | jq -r '.config.rootfs.diff_ids[-1] | ltrimstr("sha256:")'
}

# Runs cubuild under strace; the mount-family calls, strings in full, go to $CB_TMP/trace. (LeakSanitizer
# cannot run under ptrace: a sanitizer build's leak check is left to the other tests.)
cb_traced() {
        ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -qq -s 4096 -e trace=mount,fsconfig,openat -o "$CB_TMP/trace" "$CUBUILD" --root "$CB_ROOT" "$@"
}

# The report as `cubuild compat` shows it (JSON and summary) into $1.json and $1.txt.
report_to() {
        cb compat --json "$2" >"$1.json"
        cb compat "$2" >"$1.txt"
}

# Counts the trace's mounts with layers/$1 among their lowers, and the scan's reads of libc.so.6.
mounts_of() { grep -E '^[0-9]+ +(fsconfig|mount)\(' "$CB_TMP/trace" | grep -c "layers/$1" || true; }
elf_reads() { grep -cE 'openat\([0-9]+, "libc\.so\.6", [^)]*O_NOFOLLOW' "$CB_TMP/trace" || true; }

# The report of a full scan of image $2's tree into $1.json and $1.txt: its unpacked layers merged by an
# overlay mount made here, tarred and imported as a one-layer image (no memo can stand for it), whose
# name the summary's first line shows; the config of the tiny base has nothing the report reads.
full_report_to() {
        local lowers="" d
        for d in $(cb inspect "$2" | jq -r '.config.rootfs.diff_ids[] | ltrimstr("sha256:")'); do
                if [ -d "$CB_ROOT/layers/$d" ]; then
                        lowers="$CB_ROOT/layers/$d${lowers:+:$lowers}"
                else
                        # a COPY's layer that no step unpacked (builder/copy_direct.c): its uncompressed
                        # blob (digest = diff_id), without whiteouts, is the directory itself
                        mkdir -p "$CB_TMP/unpacked-$d"
                        tar -C "$CB_TMP/unpacked-$d" --numeric-owner -xf "$CB_ROOT/blobs/sha256/$d"
                        lowers="$CB_TMP/unpacked-$d${lowers:+:$lowers}"
                fi
        done
        mkdir -p "$CB_TMP/merged"
        mount -t overlay overlay -o "ro,lowerdir=$lowers" "$CB_TMP/merged"
        tar -C "$CB_TMP/merged" --numeric-owner -cf "$CB_TMP/rootfs.tar" .
        umount "$CB_TMP/merged"
        cb import "$CB_TMP/rootfs.tar" full:latest >/dev/null
        rm -f "$CB_TMP/rootfs.tar"
        report_to "$1" full:latest
        sed -i "1s|.*|$2|" "$1.txt"
        cb rm full:latest >/dev/null
}

@test "a rebuild whose last COPY changed gets the memo's report, byte for byte, without a mount" {
        mkdir -p "$CB_TMP/ctx"
        cat >"$CB_TMP/ctx/Dockerfile" <<'EOF'
FROM tiny:1
COPY a.txt /app/a.txt
COPY check.py /app/check.py
EOF
        echo data >"$CB_TMP/ctx/a.txt"
        echo 'print(1)' >"$CB_TMP/ctx/check.py"
        run cb build -t memo:1 "$CB_TMP/ctx"
        [ "$status" -eq 0 ]

        size1=$(stat -c %s "$CB_TMP/ctx/check.py")
        echo 'print("one line more")' >>"$CB_TMP/ctx/check.py"
        size2=$(stat -c %s "$CB_TMP/ctx/check.py")
        run cb_traced build -t memo:2 "$CB_TMP/ctx"
        [ "$status" -eq 0 ]
        [[ "$output" == *"compat: 0 files with CUDA code; read "* ]]
        top=$(top_layer_hex memo:2)
        [ -n "$top" ]
        # no mount of the new image (the COPY step's own, if any, has the layers below as lowers) and no
        # ELF header read
        [ "$(mounts_of "$top")" = 0 ]
        [ "$(elf_reads)" = 0 ]

        report_to "$CB_TMP/memo" memo:2
        sed -i "1s|.*|memo:2|" "$CB_TMP/memo.txt"
        full_report_to "$CB_TMP/full" memo:2
        cmp "$CB_TMP/memo.json" "$CB_TMP/full.json"
        cmp "$CB_TMP/memo.txt" "$CB_TMP/full.txt"
        # the counters did move: the file is counted at its new size
        bytes1=$(cb compat --json memo:1 | jq .scan.image_bytes)
        [ "$(jq .scan.image_bytes "$CB_TMP/full.json")" -eq $((bytes1 + size2 - size1)) ]
        [ "$(jq .scan.regular_files "$CB_TMP/full.json")" -eq "$(cb compat --json memo:1 | jq .scan.regular_files)" ]

        # the observation itself works: without memos, the report reads the base's ELF headers, but
        # leaves the new layer out of its mount (it counts its files from the blob's tar headers)
        rm -rf "$CB_ROOT/cache/compat"
        run cb_traced compat --json memo:2
        [ "$status" -eq 0 ]
        [ "$(elf_reads)" -ge 1 ]
        [ "$(mounts_of "$top")" = 0 ]
        echo "$output" >"$CB_TMP/again.json"
        cmp "$CB_TMP/again.json" "$CB_TMP/full.json"
}

# Builds NAME from $CB_TMP/ctx2 under strace; checks that the report mounted the top layer and read
# ELF headers, and that it equals a full scan's.
build_scanned() {
        run cb_traced build -t "$1" "$CB_TMP/ctx2"
        [ "$status" -eq 0 ]
        top=$(top_layer_hex "$1")
        [ "$(mounts_of "$top")" -ge 1 ]
        [ "$(elf_reads)" -ge 1 ]
        report_to "$CB_TMP/built" "$1"
        sed -i "1s|.*|$1|" "$CB_TMP/built.txt"
        full_report_to "$CB_TMP/full" "$1"
        cmp "$CB_TMP/built.json" "$CB_TMP/full.json"
        cmp "$CB_TMP/built.txt" "$CB_TMP/full.txt"
}

@test "a new layer the report must read (library name, ELF candidate, whiteout) gets a full scan" {
        mkdir -p "$CB_TMP/ctx2"
        echo data >"$CB_TMP/ctx2/a.txt"
        cat >"$CB_TMP/ctx2/Dockerfile" <<'EOF'
FROM tiny:1
COPY a.txt /app/a.txt
EOF
        run cb build -t base2:1 "$CB_TMP/ctx2"
        [ "$status" -eq 0 ]

        # a library the report names: the summary now has a CUDA runtime
        printf 'not really a library\n' >"$CB_TMP/ctx2/libcudart.so.11.0"
        echo 'COPY libcudart.so.11.0 /app/lib/' >>"$CB_TMP/ctx2/Dockerfile"
        build_scanned lib:1
        grep -q "compat: CUDA runtime 11.x (libcudart.so.11.0)" "$CB_TMP/full.txt"

        # an executable the size of an ELF file: the scan opens it
        head -c 4096 /dev/zero >"$CB_TMP/ctx2/tool"
        chmod 755 "$CB_TMP/ctx2/tool"
        sed -i '$d' "$CB_TMP/ctx2/Dockerfile"
        echo 'COPY tool /app/tool' >>"$CB_TMP/ctx2/Dockerfile"
        build_scanned elf:1

        # a whiteout: a file of the base is gone
        sed -i '$d' "$CB_TMP/ctx2/Dockerfile"
        echo 'RUN rm /etc/group' >>"$CB_TMP/ctx2/Dockerfile"
        build_scanned wh:1
        files_base=$(cb compat --json base2:1 | jq .scan.regular_files)
        [ "$(jq .scan.regular_files "$CB_TMP/full.json")" -eq $((files_base - 1)) ]
}
