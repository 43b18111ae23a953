#!/usr/bin/env bats
# The static CUDA report's memo across a rebuild whose last step changed: when the new top layer only
# adds files the report merely counts, the report comes from the memo of the layers below it (counters
# increased), equals a full scan's byte for byte, and nothing is mounted for it; a new layer the report
# must look at (a library name, an ELF candidate, a whiteout) gets a full scan. Whether the image was
# mounted for the report is seen from outside: strace lists every overlay mount's lower directories,
# and only the report's mount has the image's top layer among them.

load helpers

setup_file() {
        cb_setup_store
        cb_load_base bookworm debian:bookworm
}

teardown_file() {
        cb_teardown_store
}

setup() {
        command -v strace >/dev/null || skip "strace is not installed: the mount count needs it"
}

# The image's top layer, as layers/<hex> names its unpacked directory.
top_layer_hex() {
        cb inspect "$1" | jq -r '.config.rootfs.diff_ids[-1] | ltrimstr("sha256:")'
}

# Runs cubuild under strace; the mount-family calls, strings in full, go to $CB_TMP/trace. (LeakSanitizer
# cannot run under ptrace: a sanitizer build's leak check is left to the other tests.)
cb_traced() {
        ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -qq -s 4096 -e trace=mount,fsconfig -o "$CB_TMP/trace" "$CUBUILD" --root "$CB_ROOT" "$@"
}

# The report as `cubuild compat` shows it (JSON and summary) into $1.json and $1.txt.
report_to() {
        cb compat --json "$2" >"$1.json"
        cb compat "$2" >"$1.txt"
}

# Same report from a full scan: the memos are removed first.
full_report_to() {
        rm -rf "$CB_ROOT/cache/compat"
        report_to "$@"
}

@test "a rebuild whose last COPY changed gets the memo's report, byte for byte, without a mount" {
        mkdir -p "$CB_TMP/ctx"
        cat >"$CB_TMP/ctx/Dockerfile" <<'EOF'
FROM debian:bookworm
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
        # the COPY step's own mount, if any, has the layers below it as lowers; the report's would have it
        run grep -c "layers/$top" "$CB_TMP/trace"
        [ "$output" = 0 ]

        report_to "$CB_TMP/memo" memo:2
        full_report_to "$CB_TMP/full" memo:2
        cmp "$CB_TMP/memo.json" "$CB_TMP/full.json"
        cmp "$CB_TMP/memo.txt" "$CB_TMP/full.txt"
        # the counters did move: the new file is counted
        files1=$(cb compat --json memo:1 | jq .scan.regular_files)
        files2=$(jq .scan.regular_files "$CB_TMP/full.json")
        [ "$files2" -eq "$files1" ]
        bytes1=$(cb compat --json memo:1 | jq .scan.image_bytes)
        bytes2=$(jq .scan.image_bytes "$CB_TMP/full.json")
        [ "$bytes2" -eq $((bytes1 + size2 - size1)) ]

        # the detection itself works: a full scan mounts the top layer
        rm -rf "$CB_ROOT/cache/compat"
        run cb_traced compat memo:2
        [ "$status" -eq 0 ]
        run grep -c "layers/$top" "$CB_TMP/trace"
        [ "$output" -ge 1 ]
}

# Builds NAME from $CB_TMP/ctx2 under strace; checks that the report mounted the top layer and that it
# equals a full scan's.
build_scanned() {
        run cb_traced build -t "$1" "$CB_TMP/ctx2"
        [ "$status" -eq 0 ]
        top=$(top_layer_hex "$1")
        run grep -c "layers/$top" "$CB_TMP/trace"
        [ "$output" -ge 1 ]
        report_to "$CB_TMP/built" "$1"
        full_report_to "$CB_TMP/full" "$1"
        cmp "$CB_TMP/built.json" "$CB_TMP/full.json"
        cmp "$CB_TMP/built.txt" "$CB_TMP/full.txt"
}

@test "a new layer the report must read (library name, ELF candidate, whiteout) gets a full scan" {
        mkdir -p "$CB_TMP/ctx2"
        echo data >"$CB_TMP/ctx2/a.txt"
        cat >"$CB_TMP/ctx2/Dockerfile" <<'EOF'
FROM debian:bookworm
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
        echo 'RUN rm /etc/debian_version' >>"$CB_TMP/ctx2/Dockerfile"
        build_scanned wh:1
        files_base=$(cb compat --json base2:1 | jq .scan.regular_files)
        [ "$(jq .scan.regular_files "$CB_TMP/full.json")" -eq $((files_base - 1)) ]
}
