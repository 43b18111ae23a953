#!/usr/bin/env bats
# COPY to a new destination writes its layer straight from the sources (builder/copy_direct.c):
# the image must be the one the copy into the rootfs gives, entry for entry and byte for byte, for
# every shape of COPY it takes; and it must really skip the rootfs.

load helpers

setup_file() {
        cb_setup_store
        cb_load_base bookworm debian:bookworm
        local c="$CB_TMP/ctx"
        mkdir -p "$c/tree/sub/deeper" "$c/tree/skip" "$c/ign/keep"
        echo one >"$c/tree/a.txt"
        echo log >"$c/tree/x.log"
        printf '#!/bin/sh\necho tool\n' >"$c/tool"
        chmod 0755 "$c/tool"
        echo two >"$c/tree/sub/b"
        echo three >"$c/tree/sub/deeper/c"
        chmod 0600 "$c/tree/sub/b"
        ln "$c/tree/sub/b" "$c/tree/sub/b-hard"
        ln -s ../a.txt "$c/tree/sub/link"
        echo s >"$c/tree/skip/s"
        echo i >"$c/ign/drop"
        echo k >"$c/ign/keep/k"
        touch -d '2021-05-04 03:02:01.123456789' "$c/tree/a.txt" "$c/tree/sub"
        # .dockerignore: a directory ignored but for one path taken back, as Docker walks it
        printf 'ign\n!ign/keep\ntree/skip\n' >"$c/.dockerignore"
        cat >"$c/Dockerfile" <<'DF'
FROM debian:bookworm AS src
RUN mkdir -p /s/d && echo a >/s/d/a && ln /s/d/a /s/d/hard && ln -s a /s/d/link && mkfifo /s/d/fifo && \
    chown -R 7:7 /s && chmod 0700 /s/d
FROM debian:bookworm
COPY tree /new/deep/tree
COPY tree /opt/tree2
WORKDIR /app
COPY . .
COPY --chown=1000:1000 --chmod=0750 tool /usr/local/bin/tool
COPY --from=src /s /froms
COPY --exclude=*.log tree /excl
COPY --link tree /linked
COPY --chmod=u+x,go=rX tree /sym
COPY tool /newdir/
COPY tree/a.txt /renamed.txt
DF
}

teardown_file() {
        cb_teardown_store
}

# build TAG [ENV...]: builds the context reproducibly (--no-cache unless NO_CACHE is set, to ""), with a strace log of file creations in
# $CB_TMP/TAG.strace (LeakSanitizer cannot run under ptrace: the sanitizer build's other tests check leaks)
build() {
        local tag=$1
        shift
        env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$@" strace -y -f -qq -e trace=openat,mkdirat -o "$CB_TMP/$tag.strace" \
                "$CUBUILD" --root "$CB_ROOT" build --verify skip -q ${NO_CACHE-"--no-cache"} --source-date-epoch 1700000000 -t "$tag" "$CB_TMP/ctx"
}

@test "COPY straight to the layer gives the image the copy into the rootfs gives" {
        command -v strace >/dev/null || skip "strace is not installed (scripts/install-deps.sh installs it)"
        run build direct
        [ "$status" -eq 0 ] || { echo "$output"; false; }
        run build viarootfs CUBUILD_COPY_VIA_ROOTFS=1
        [ "$status" -eq 0 ] || { echo "$output"; false; }
        cb inspect direct | jq -c '.config.rootfs.diff_ids' >"$CB_TMP/direct.ids"
        cb inspect viarootfs | jq -c '.config.rootfs.diff_ids' >"$CB_TMP/rootfs.ids"
        diff "$CB_TMP/direct.ids" "$CB_TMP/rootfs.ids"
        # the base, 10 COPY steps and WORKDIR's directory (the RUN is the other stage's)
        [ "$(jq length "$CB_TMP/direct.ids")" -eq 12 ]
        [ "$(cb inspect direct | jq -r .digest)" = "$(cb inspect viarootfs | jq -r .digest)" ]
        # the rootfs path created the copied files in the step's rootfs (merged/, or upper/ for --link);
        # the direct one created none there
        local created='/(merged|upper)/[^>]*>, "(c|renamed.txt|tool)", O_WRONLY\|O_CREAT'
        run grep -cE "$created" "$CB_TMP/viarootfs.strace"
        [ "$output" -ge 8 ]
        run grep -cE "$created" "$CB_TMP/direct.strace"
        [ "$output" = 0 ]
}

@test "COPY straight to the layer keeps what the copy keeps: owners, modes, links, .dockerignore" {
        # the first test's image; built here when that test skipped (no strace)
        cb inspect direct >/dev/null 2>&1 ||
                cb build --verify skip -q --no-cache --source-date-epoch 1700000000 -t direct "$CB_TMP/ctx" >/dev/null
        cb save --format oci-dir -o "$CB_TMP/out" direct >/dev/null
        local man ids d
        man=$(jq -r '.manifests[0].digest' "$CB_TMP/out/index.json")
        mapfile -t ids < <(jq -r '.layers[].digest' "$CB_TMP/out/blobs/sha256/${man#sha256:}")
        list() { tar --numeric-owner -tvf "$CB_TMP/out/blobs/sha256/${ids[$1]#sha256:}" 2>/dev/null ||
                tar --numeric-owner -tzvf "$CB_TMP/out/blobs/sha256/${ids[$1]#sha256:}"; }
        # COPY tree /new/deep/tree: new parents 0755 root, a hard link, a symlink, tree/skip ignored
        run list 1
        [[ "$output" == *"drwxr-xr-x 0/0"*" new/"* ]]
        [[ "$output" == *"new/deep/tree/sub/b-hard link to new/deep/tree/sub/b"* ]] ||
                [[ "$output" == *"new/deep/tree/sub/b link to new/deep/tree/sub/b-hard"* ]]
        [[ "$output" == *"new/deep/tree/sub/link -> ../a.txt"* ]]
        [[ "$output" == *"-rw------- 0/0"*"new/deep/tree/sub/b"* ]]
        [[ "$output" != *"skip"* ]]
        # COPY . . into WORKDIR's empty /app: ign/ kept only for ign/keep
        run list 4
        [[ "$output" == *"app/ign/keep/k"* ]]
        [[ "$output" != *"app/ign/drop"* ]]
        # --chown and --chmod on one file under existing /usr/local/bin
        run list 5
        [[ "$output" == *"-rwxr-x--- 1000/1000"*"usr/local/bin/tool"* ]]
        # --from a stage: owners kept, fifo kept
        run list 6
        [[ "$output" == *"prw-r--r-- 7/7"*"froms/d/fifo"* ]]
        [[ "$output" == *"drwx------ 7/7"*"froms/d/"* ]]
        # --exclude
        run list 7
        [[ "$output" == *"excl/a.txt"* ]]
        [[ "$output" != *"x.log"* ]]
}

@test "a rebuild reads no unchanged context file again; a changed one it does" {
        command -v strace >/dev/null || skip "strace is not installed (scripts/install-deps.sh installs it)"
        local c="$CB_TMP/ctx" read_c='/tree/sub/deeper>, "c", O_RDONLY'
        # the builds above left the context's digests in the store (its files are older than 2 s now)
        [ -s "$CB_ROOT/cache/filememo" ]
        NO_CACHE= run build again
        [ "$status" -eq 0 ] || { echo "$output"; false; }
        run grep -c "$read_c" "$CB_TMP/again.strace"
        [ "$output" = 0 ]
        echo changed >"$c/tree/sub/deeper/c"
        NO_CACHE= run build changed
        [ "$status" -eq 0 ] || { echo "$output"; false; }
        run grep -c "$read_c" "$CB_TMP/changed.strace"
        [ "$output" -ge 1 ]
        [ "$(cb inspect again | jq -r .digest)" != "$(cb inspect changed | jq -r .digest)" ]
}

@test "the static report reads a directory COPY --from carried unchanged where it is, as a full scan would" {
        command -v strace >/dev/null || skip "strace is not installed (scripts/install-deps.sh installs it)"
        local c="$CB_TMP/ctx-libs" top
        mkdir -p "$c"
        # a library, a CUDA runtime's name and a wheel's metadata: what the report looks at
        cat >"$c/Dockerfile" <<'DF'
FROM debian:bookworm AS libs
RUN mkdir -p /opt/lib/nvidia_cublas_cu12-12.4.5.8.dist-info && cp /usr/lib/x86_64-linux-gnu/libc.so.6 /opt/lib/ && \
    ln -s libc.so.6 /opt/lib/libcudart.so.12
FROM debian:bookworm
COPY --from=libs /opt/lib /opt/lib
DF
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" run strace -f -qq -s 4096 -e trace=mount,fsconfig \
                -o "$CB_TMP/libs.strace" "$CUBUILD" --root "$CB_ROOT" build --verify skip -q -t libs "$c"
        [ "$status" -eq 0 ] || { echo "$output"; false; }
        top=$(cb inspect libs | jq -r '.config.rootfs.diff_ids[-1] | ltrimstr("sha256:")')
        # the COPY's layer was neither unpacked nor mounted for the report
        [ ! -d "$CB_ROOT/layers/$top" ]
        run grep -c "layers/$top" "$CB_TMP/libs.strace"
        [ "$output" = 0 ]
        cb compat --json libs >"$CB_TMP/libs-build.json"
        cb compat libs >"$CB_TMP/libs-build.txt"
        grep -q '"cublas"' "$CB_TMP/libs-build.json"
        grep -q 'libcudart.so.12' "$CB_TMP/libs-build.json"
        # the same report from a scan of the unpacked image (the memo forgotten)
        rm -rf "$CB_ROOT/cache/compat"
        cb compat --json libs >"$CB_TMP/libs-full.json"
        cb compat libs >"$CB_TMP/libs-full.txt"
        [ -d "$CB_ROOT/layers/$top" ]
        diff "$CB_TMP/libs-build.json" "$CB_TMP/libs-full.json"
        diff "$CB_TMP/libs-build.txt" "$CB_TMP/libs-full.txt"
}

@test "a stage built as --target that later stages read has its COPY layers unpacked for them" {
        local c="$CB_TMP/ctx-target" top
        mkdir -p "$c/tree"
        echo t >"$c/tree/t"
        printf 'FROM debian:bookworm AS builder\nCOPY tree /opt/tree\nFROM debian:bookworm AS other\nCOPY tree /opt/other\nFROM debian:bookworm\nCOPY --from=builder /opt/tree /opt/tree\n' \
                >"$c/Dockerfile"
        cb build --verify skip -q --target builder -t tgt-builder "$c" >/dev/null
        top=$(cb inspect tgt-builder | jq -r '.config.rootfs.diff_ids[-1] | ltrimstr("sha256:")')
        [ -d "$CB_ROOT/layers/$top" ]
        # a stage no later stage reads keeps its COPY layer packed
        cb build --verify skip -q --target other -t tgt-other "$c" >/dev/null
        top=$(cb inspect tgt-other | jq -r '.config.rootfs.diff_ids[-1] | ltrimstr("sha256:")')
        [ ! -d "$CB_ROOT/layers/$top" ]
}
