#!/usr/bin/env bats
# A RUN layer above CUBUILD_DIR_LAYER_MIN keeps its upper directory as its only copy and gets its blob
# when something first needs it (layers/dirlayer.c): the image must be the one a written blob gives, the
# blob written later must be that blob byte for byte, the tree must be on disk before the layer is
# recorded, and a changed tree must be found by fsck and refused.

load helpers

setup_file() {
        cb_setup_store
        local c="$CB_TMP/ctx"
        mkdir -p "$c"
        # files, a hard link, a symlink, a whiteout (a base file removed), an opaque directory (a base
        # directory removed and made again), and a second RUN layer above the first
        cat >"$c/Dockerfile" <<'DF'
FROM debian:bookworm
RUN mkdir -p /opt/x/d && echo a >/opt/x/d/a && ln /opt/x/d/a /opt/x/d/hard && ln -s a /opt/x/d/link && \
    rm /etc/debian_version && rm -rf /usr/share/doc && mkdir -p /usr/share/doc/new && echo n >/usr/share/doc/new/f
RUN echo second >/opt/x/second
DF
}

teardown_file() {
        cb_teardown_store
}

# build ROOT MIN [ARGS...]: a reproducible build of the context into store ROOT with directory-backed
# layers above MIN bytes; prints the image ID
build() {
        local root=$1 min=$2
        shift 2
        "$CUBUILD" --root "$root" load -t debian:bookworm "$(fixture_oci bookworm):bookworm" >/dev/null
        CUBUILD_DIR_LAYER_MIN=$min "$CUBUILD" --root "$root" build --verify skip -q --no-cache \
                --source-date-epoch 1700000000 "$@" -t dl "$CB_TMP/ctx"
}

# run_layers ROOT: the digests of the image's two RUN layers
run_layers() {
        "$CUBUILD" --root "$1" inspect dl | jq -r '.manifest.layers[-2:][].digest'
}

@test "a directory-backed layer gives the image a written blob gives, and the same blob when saved" {
        a=$(build "$CB_TMP/a" 0)
        b=$(build "$CB_TMP/b" 1g)
        [ "$a" = "$b" ]
        mapfile -t ls < <(run_layers "$CB_TMP/a")
        [ "${#ls[@]}" -eq 2 ]
        for l in "${ls[@]}"; do
                # no blob in store a until it is needed, a record instead; store b wrote it
                [ ! -e "$CB_TMP/a/blobs/sha256/${l#sha256:}" ]
                [ -f "$CB_TMP/a/dirlayers/${l#sha256:}" ]
                [ -d "$CB_TMP/a/layers/${l#sha256:}" ]
                [ -f "$CB_TMP/b/blobs/sha256/${l#sha256:}" ]
                [ ! -e "$CB_TMP/b/dirlayers/${l#sha256:}" ]
        done
        # fsck hashes the two directories (nothing written) and finds them sound
        run "$CUBUILD" --root "$CB_TMP/a" fsck
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"and 2 layers kept as directories checked, 0 bad"* ]]
        [ ! -e "$CB_TMP/a/blobs/sha256/${ls[0]#sha256:}" ]
        # a rebuild in store a comes from its cache, layers and all
        again=$(CUBUILD_DIR_LAYER_MIN=0 "$CUBUILD" --root "$CB_TMP/a" build --verify skip -q \
                --source-date-epoch 1700000000 -t dl "$CB_TMP/ctx")
        [ "$again" = "$a" ]
        # an OCI layout (gzip layers): compressed straight from the directory, the same bytes as store b's
        # compression of its blob, and no uncompressed blob written on the way
        "$CUBUILD" --root "$CB_TMP/a" save --format oci-dir -o "$CB_TMP/out-a" dl
        "$CUBUILD" --root "$CB_TMP/b" save --format oci-dir -o "$CB_TMP/out-b" dl
        diff -r "$CB_TMP/out-a" "$CB_TMP/out-b"
        for l in "${ls[@]}"; do
                [ ! -e "$CB_TMP/a/blobs/sha256/${l#sha256:}" ]
                [ -f "$CB_TMP/a/dirlayers/${l#sha256:}" ]
        done
        # a docker-archive holds the tars themselves: now the blobs are written
        "$CUBUILD" --root "$CB_TMP/a" save -o "$CB_TMP/a.tar" dl
        "$CUBUILD" --root "$CB_TMP/b" save -o "$CB_TMP/b.tar" dl
        cmp "$CB_TMP/a.tar" "$CB_TMP/b.tar"
        for l in "${ls[@]}"; do
                # written now, from the directory: the blob store b wrote at build time, byte for byte
                cmp "$CB_TMP/a/blobs/sha256/${l#sha256:}" "$CB_TMP/b/blobs/sha256/${l#sha256:}"
                [ "$(sha256sum <"$CB_TMP/a/blobs/sha256/${l#sha256:}" | cut -d' ' -f1)" = "${l#sha256:}" ]
                [ ! -e "$CB_TMP/a/dirlayers/${l#sha256:}" ]
        done
        tar -tf "$CB_TMP/a/blobs/sha256/${ls[0]#sha256:}" | grep -qx 'etc/.wh.debian_version'
        tar -tf "$CB_TMP/a/blobs/sha256/${ls[0]#sha256:}" | grep -qx 'usr/share/doc/.wh..wh..opq'
}

@test "the tree is synced to disk before its layer is recorded" {
        # LeakSanitizer cannot run under ptrace: the sanitizer build's other tests check leaks
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" CUBUILD_DIR_LAYER_MIN=0 \
                strace -f -qq -e trace=syncfs,rename,renameat,renameat2 -o "$CB_TMP/sync.strace" \
                "$CUBUILD" --root "$CB_TMP/s" load -t debian:bookworm "$(fixture_oci bookworm):bookworm" >/dev/null
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" CUBUILD_DIR_LAYER_MIN=0 \
                strace -f -qq -e trace=syncfs,rename,renameat,renameat2 -o "$CB_TMP/sync.strace" \
                "$CUBUILD" --root "$CB_TMP/s" build --verify skip -q --no-cache -t dl "$CB_TMP/ctx"
        # per RUN step: syncfs, then the record renamed into dirlayers/, then the upper dir into layers/
        run grep -nE 'syncfs\(|"dirlayers/|/upper"' "$CB_TMP/sync.strace"
        echo "$output"
        [ "$(grep -c 'syncfs(' <<<"$output")" -ge 2 ]
        mapfile -t kinds < <(sed -E 's/.*(syncfs\(|"dirlayers\/|\/upper").*/\1/' <<<"$output" | grep -v '^$')
        order=$(printf '%s ' "${kinds[@]}")
        [[ "$order" == *'syncfs( "dirlayers/ /upper" syncfs( "dirlayers/ /upper"'* ]]
}

@test "a changed layer directory is refused by fsck and when its blob is needed; prune drops unused layers" {
        build "$CB_TMP/c" 0 >/dev/null
        mapfile -t ls < <(run_layers "$CB_TMP/c")
        top=${ls[1]#sha256:}
        echo tampered >>"$CB_TMP/c/layers/$top/opt/x/second"
        run "$CUBUILD" --root "$CB_TMP/c" fsck
        echo "$output"
        [ "$status" -eq 1 ]
        [[ "$output" == *"sha256:$top: "*"was changed since it was committed"* ]]
        [[ "$output" == *"and 2 layers kept as directories checked, 1 bad"* ]]
        run "$CUBUILD" --root "$CB_TMP/c" save --format oci-dir -o "$CB_TMP/out-c" dl
        [ "$status" -ne 0 ]
        [[ "$output" == *"layer 'sha256:$top': its directory '$CB_TMP/c/layers/$top' was changed since it was committed"* ]]
        [ ! -e "$CB_TMP/c/blobs/sha256/$top" ]
        # fsck --repair removes the changed layer's directory and record
        run "$CUBUILD" --root "$CB_TMP/c" fsck --repair
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"sha256:$top: removed"* ]]
        [ ! -e "$CB_TMP/c/layers/$top" ]
        [ ! -e "$CB_TMP/c/dirlayers/$top" ]
        [ -d "$CB_TMP/c/layers/${ls[0]#sha256:}" ]
        # the image goes, and prune takes its directory-backed layers with it
        "$CUBUILD" --root "$CB_TMP/c" rm dl
        "$CUBUILD" --root "$CB_TMP/c" prune --all
        for l in "${ls[@]}"; do
                [ ! -e "$CB_TMP/c/dirlayers/${l#sha256:}" ]
                [ ! -e "$CB_TMP/c/layers/${l#sha256:}" ]
        done
}
