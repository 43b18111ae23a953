#!/usr/bin/env bats
# --build-context NAME=SRC with docker buildx's meaning: a local directory (COPY --from=NAME, RUN
# --mount=type=bind,from=NAME, its own .dockerignore, the cache key covering its files) and an OCI
# layout on disk (oci-layout://PATH[:TAG|@DIGEST]) as the image FROM NAME and COPY --from=NAME use.

load helpers
load tiny-base

setup_file() {
        cb_setup_store
        tiny_base_load tiny:1
        mkdir -p "$CB_TMP/ctx" "$CB_TMP/tools/sub"
        echo alpha >"$CB_TMP/tools/a.txt"
        echo beta >"$CB_TMP/tools/sub/b.txt"
        echo hidden >"$CB_TMP/tools/secret.key"
        printf '*.key\n' >"$CB_TMP/tools/.dockerignore"
        chown -R 1234:1234 "$CB_TMP/tools"
        cat >"$CB_TMP/ctx/Dockerfile" <<'DF'
FROM tiny:1
COPY --from=tools a.txt /a.txt
COPY --from=tools / /tools/
RUN --mount=type=bind,from=tools,target=/mnt ls -a /mnt >/listing && cat /mnt/sub/b.txt >/b-from-bind
DF
}

teardown_file() {
        cb_teardown_store
}

# unpack IMAGE DIR: the image's root file system under DIR/rootfs
unpack() {
        rm -rf "$2.oci" "$2"
        cb save --format oci-dir -o "$2.oci" "$1" >/dev/null
        umoci unpack --image "$2.oci:$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]' \
                "$2.oci/index.json")" "$2" >/dev/null
}

@test "a local directory context: COPY --from and RUN --mount from it, its .dockerignore applied, owned by 0:0" {
        cd "$CB_TMP"
        run cb build --progress plain --build-context tools=./tools -t nctx:1 "$CB_TMP/ctx"
        echo "$output"
        [ "$status" -eq 0 ]
        unpack nctx:1 "$CB_TMP/b1"
        r="$CB_TMP/b1/rootfs"
        [ "$(cat "$r/a.txt")" = alpha ]
        [ "$(cat "$r/tools/sub/b.txt")" = beta ]
        [ "$(cat "$r/b-from-bind")" = beta ]
        [ ! -e "$r/tools/secret.key" ]
        ! grep -q secret.key "$r/listing"
        grep -qx a.txt "$r/listing"
        [ "$(stat -c %u:%g "$r/tools/sub/b.txt")" = 0:0 ]
}

@test "the cache key covers the named directory's files, not what its .dockerignore drops" {
        run cb build --progress plain --build-context "tools=$CB_TMP/tools" -t nctx:1 "$CB_TMP/ctx"
        [ "$status" -eq 0 ]
        [[ "$output" == *"0 layer steps ran, 3 came from the cache"* ]]
        echo changed >"$CB_TMP/tools/secret.key"
        run cb build --progress plain --build-context "tools=$CB_TMP/tools" -t nctx:1 "$CB_TMP/ctx"
        [[ "$output" == *"0 layer steps ran, 3 came from the cache"* ]]
        # b.txt changes what COPY / and the RUN read; a.txt's COPY stays a hit
        echo gamma >"$CB_TMP/tools/sub/b.txt"
        run cb build --progress plain --build-context "tools=$CB_TMP/tools" -t nctx:2 "$CB_TMP/ctx"
        [ "$status" -eq 0 ]
        [[ "$output" == *"2 layer steps ran, 1 came from the cache"* ]]
        unpack nctx:2 "$CB_TMP/b2"
        [ "$(cat "$CB_TMP/b2/rootfs/b-from-bind")" = gamma ]
        echo beta >"$CB_TMP/tools/sub/b.txt"
}

@test "oci-layout://PATH:TAG and @DIGEST stand in for FROM NAME and COPY --from=NAME" {
        mkdir -p "$CB_TMP/base"
        printf 'FROM tiny:1\nRUN echo from-layout >/marker\n' >"$CB_TMP/base/Dockerfile"
        cb build -q -o "type=oci,dest=$CB_TMP/oci,name=v1" "$CB_TMP/base" >/dev/null
        mkdir -p "$CB_TMP/app"
        printf 'FROM base\nCOPY --from=base /marker /copied\nRUN cat /marker /copied >/both\n' >"$CB_TMP/app/Dockerfile"
        # a second store, empty: the layout alone supplies the image
        "$CUBUILD" --root "$CB_TMP/store2" build -q --build-context "base=oci-layout://$CB_TMP/oci:v1" \
                -t app:1 "$CB_TMP/app" >/dev/null
        CB_ROOT="$CB_TMP/store2" unpack app:1 "$CB_TMP/b3"
        [ "$(cat "$CB_TMP/b3/rootfs/both")" = "from-layout
from-layout" ]
        d=$(jq -r '.manifests[0].digest' "$CB_TMP/oci/index.json")
        run "$CUBUILD" --root "$CB_TMP/store3" build --progress plain --build-context "base=oci-layout://$CB_TMP/oci@$d" \
                -t app:1 "$CB_TMP/app"
        echo "$output"
        [ "$status" -eq 0 ]
        [ "$("$CUBUILD" --root "$CB_TMP/store3" inspect app:1 | jq -r '.manifest.layers | length')" -eq 4 ]
        run "$CUBUILD" --root "$CB_TMP/store3" build --build-context "base=oci-layout://$CB_TMP/oci:v2" "$CB_TMP/app"
        [ "$status" -eq 1 ]
        [[ "$output" == *"no manifest named v2"* ]]
}

@test "FROM a directory context: its files (after its .dockerignore) are the root file system" {
        mkdir -p "$CB_TMP/fromdir"
        printf 'FROM tools\nLABEL from=dir\n' >"$CB_TMP/fromdir/Dockerfile"
        run cb build --progress plain --build-context "tools=$CB_TMP/tools" -t fromdir:1 "$CB_TMP/fromdir"
        echo "$output"
        [ "$status" -eq 0 ]
        unpack fromdir:1 "$CB_TMP/b5"
        [ "$(cat "$CB_TMP/b5/rootfs/sub/b.txt")" = beta ]
        [ ! -e "$CB_TMP/b5/rootfs/secret.key" ]
        [ "$(cb inspect fromdir:1 | jq -r '.manifest.layers | length')" -eq 1 ]
        run cb build --progress plain --build-context "tools=$CB_TMP/tools" -t fromdir:1 "$CB_TMP/fromdir"
        [[ "$output" == *"0 layer steps ran, 1 came from the cache"* ]]
}

@test "a named context replaces the stage of the same name, as in BuildKit" {
        mkdir -p "$CB_TMP/ov"
        # pre is only read by the replaced stage tools: it is not built either
        printf 'FROM tiny:1 AS pre\nRUN false\nFROM pre AS tools\nRUN false\nFROM scratch AS base\nRUN false\nFROM base\nCOPY --from=tools a.txt /a.txt\n' \
                >"$CB_TMP/ov/Dockerfile"
        run cb build --progress plain --build-context "tools=$CB_TMP/tools" --build-context base=docker-image://tiny:1 \
                -t ov:1 "$CB_TMP/ov"
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"stage 'tools' is the named context 'tools': its 1 instructions are skipped"* ]]
        [[ "$output" == *"skipping stage 0 pre: the target does not use it"* ]]
        unpack ov:1 "$CB_TMP/b6"
        [ "$(cat "$CB_TMP/b6/rootfs/a.txt")" = alpha ]
        [ -x "$CB_TMP/b6/rootfs/bin/sh" ]
}

@test "Git and URL contexts are refused with a message; a missing directory is a build error" {
        run cb build --build-context x=https://github.com/moby/buildkit.git "$CB_TMP/ctx"
        [ "$status" -eq 2 ]
        [[ "${lines[0]}" == *"Git and URL contexts are not supported"* ]]
        run cb build --build-context x=https://example.com/ctx.tar.gz "$CB_TMP/ctx"
        [ "$status" -eq 2 ]
        run cb build --build-context x=foo://bar "$CB_TMP/ctx"
        [ "$status" -eq 2 ]
        run cb build --build-context tools=/nonexistent/dir "$CB_TMP/ctx"
        [ "$status" -eq 1 ]
        [[ "$output" == *"--build-context tools"*"/nonexistent/dir"* ]]
}

@test "bake's contexts take a directory and an OCI layout as --build-context does" {
        mkdir -p "$CB_TMP/bk"
        printf 'FROM base\nCOPY --from=tools a.txt /a.txt\n' >"$CB_TMP/bk/Dockerfile"
        [ -d "$CB_TMP/oci" ] || cb build -q -o "type=oci,dest=$CB_TMP/oci,name=v1" "$CB_TMP/ctx" >/dev/null
        cat >"$CB_TMP/bk/cubuild.yaml" <<YAML
target:
  app:
    context: bk
    tags: [bk:1]
    verify: skip
    contexts:
      tools: ./tools
      base: oci-layout://$CB_TMP/oci:v1
YAML
        cd "$CB_TMP"
        run cb bake -f bk/cubuild.yaml app
        echo "$output"
        [ "$status" -eq 0 ]
        unpack bk:1 "$CB_TMP/b4"
        [ "$(cat "$CB_TMP/b4/rootfs/a.txt")" = alpha ]
        printf 'target:\n  app:\n    context: bk\n    contexts: {tools: "git@github.com:x/y.git"}\n' >bk/bad.yaml
        run cb bake -f bk/bad.yaml app
        [ "$status" -ne 0 ]
        [[ "$output" == *"contexts.tools"*"Git and URL contexts are not supported"* ]]
}
