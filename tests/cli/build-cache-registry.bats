#!/usr/bin/env bats
# The build cache shared by runners that share nothing: --cache-to / --cache-from through a registry
# (Debian's docker-registry on loopback) and through a local OCI layout. Each "runner" is its own
# store root that starts empty; the base comes from the registry too. Proof from outside cubuild: every
# RUN writes the time in nanoseconds, so a layer digest that comes back unchanged is a RUN that did
# not run again.

load helpers
load "$CUBUILD_SOURCE_DIR/tests/fixtures/registry.bash"

setup_file() {
        cb_setup_store
        registry_start plain
        # a base of a few MB (the host's dash, date and libc): each runner pulls it, so a Debian base
        # would cost most of this file's time
        local r="$CB_TMP/minirootfs"
        mkdir -p "$r/bin" "$r/lib/x86_64-linux-gnu" "$r/lib64" "$r/etc"
        cp /bin/dash "$r/bin/sh"
        cp /bin/date /bin/cat "$r/bin/"
        cp "$(readlink -f /lib/x86_64-linux-gnu/libc.so.6)" "$r/lib/x86_64-linux-gnu/libc.so.6"
        cp "$(readlink -f /lib64/ld-linux-x86-64.so.2)" "$r/lib64/ld-linux-x86-64.so.2"
        tar -C "$r" -cf "$CB_TMP/mini.tar" .
        export BASE="$REGISTRY_HOST/base/mini:1"
        cb import "$CB_TMP/mini.tar" "$BASE" >/dev/null
        cb push "$BASE" >/dev/null
        mkdir -p "$CB_TMP/ctx" "$CB_TMP/multi"
        echo one >"$CB_TMP/ctx/a.txt"
        cat >"$CB_TMP/ctx/Dockerfile" <<DF
FROM $BASE
RUN date +%s%N >/stamp1
COPY a.txt /a.txt
RUN date +%s%N >/stamp2
LABEL x=y
DF
        cat >"$CB_TMP/multi/Dockerfile" <<DF
FROM $BASE AS builder
RUN echo built >/built
FROM $BASE
COPY --from=builder /built /copied
RUN date +%s%N >/final
DF
}

teardown_file() {
        registry_stop
        cb_teardown_store
}

# runner NAME ARGS...: cubuild with a store of its own
runner() {
        local name=$1
        shift
        "$CUBUILD" --root "$CB_TMP/runner-$name" "$@"
}

layers_of() {
        runner "$1" inspect "$2" | jq -r '.manifest.layers[].digest'
}

@test "registry cache: a second runner with an empty store runs no RUN step and gets the same layers" {
        cache="$REGISTRY_HOST/cache/app:buildcache"
        d1=$(runner a build -q --cache-to "type=registry,ref=$cache,mode=max" -t app:1 "$CB_TMP/ctx")
        # the cache is a valid OCI image manifest with our artifactType, config and layers
        run skopeo inspect --raw --tls-verify=false "docker://$cache"
        [ "$status" -eq 0 ]
        [ "$(echo "$output" | jq -r .mediaType)" = "application/vnd.oci.image.manifest.v1+json" ]
        [ "$(echo "$output" | jq -r .artifactType)" = "application/vnd.cubuild.cache.v1+json" ]
        [ "$(echo "$output" | jq -r .config.mediaType)" = "application/vnd.cubuild.cache.config.v1+json" ]
        [ "$(echo "$output" | jq '.layers | length')" -eq 3 ]
        sleep 0.1
        run runner b build --cache-from "type=registry,ref=$cache" --metadata-file "$CB_TMP/b.json" -t app:1 \
                "$CB_TMP/ctx"
        [ "$status" -eq 0 ]
        [[ "$output" == *"0 layer steps ran, 3 came from the cache"* ]]
        [ "$(jq -r .layer_steps_run "$CB_TMP/b.json")" = 0 ]
        d2=$(jq -r '."containerimage.digest"' "$CB_TMP/b.json")
        # from outside: the same image, the same timestamp layers, the same /stamp2 bytes
        [ "$d1" = "$d2" ]
        [ "$(layers_of a app:1)" = "$(layers_of b app:1)" ]
        # /stamp2, read from each runner's own copy of the layer, holds the first runner's time
        l4=$(layers_of b app:1 | sed -n 4p)
        stamp_a=$(tar -xOf "$CB_TMP/runner-a/blobs/sha256/${l4#sha256:}" stamp2)
        stamp_b=$(tar -xOf "$CB_TMP/runner-b/blobs/sha256/${l4#sha256:}" stamp2)
        [[ "$stamp_a" =~ ^[0-9]{19}$ ]]
        [ "$stamp_a" = "$stamp_b" ]
        runner a save --format oci-archive -o "$CB_TMP/a.tar" app:1
        runner b save --format oci-archive -o "$CB_TMP/b.tar" app:1
        [ "$(sha256sum <"$CB_TMP/a.tar")" = "$(sha256sum <"$CB_TMP/b.tar")" ]
        # a changed file misses from its COPY on: the RUN before it still hits
        echo two >"$CB_TMP/ctx/a.txt"
        run runner c build --cache-from "type=registry,ref=$cache" -t app:2 "$CB_TMP/ctx"
        echo one >"$CB_TMP/ctx/a.txt"
        [ "$status" -eq 0 ]
        [[ "$output" == *"2 layer steps ran, 1 came from the cache"* ]]
        [ "$(layers_of a app:1 | sed -n 2p)" = "$(layers_of c app:2 | sed -n 2p)" ]
        [ "$(layers_of a app:1 | sed -n 4p)" != "$(layers_of c app:2 | sed -n 4p)" ]
}

@test "mode=min exports the image's steps, mode=max every stage's; hits fetch only the layers needed" {
        # the builder stage makes the same layer when it runs again (fixed content and times), so the
        # steps after it can hit; a step that made other content would invalidate them
        export SOURCE_DATE_EPOCH=1700000000
        rmin="$REGISTRY_HOST/cache/multi:min"
        rmax="$REGISTRY_HOST/cache/multi:max"
        d1=$(runner m build -q --cache-to "type=registry,ref=$rmin,mode=min" --cache-to "type=registry,ref=$rmax,mode=max" \
                -t multi:1 "$CB_TMP/multi")
        [ "$(skopeo inspect --raw --tls-verify=false "docker://$rmin" | jq '.layers | length')" -eq 2 ]
        [ "$(skopeo inspect --raw --tls-verify=false "docker://$rmax" | jq '.layers | length')" -eq 3 ]
        builder_layer=$(skopeo inspect --raw --tls-verify=false "docker://$rmax" | jq -r '.layers[].digest' |
                grep -v -F -x -f <(layers_of m multi:1))
        [ -n "$builder_layer" ]

        # max: nothing runs, and the builder stage's layer is never fetched (no later step needs it)
        run runner x build --cache-from "type=registry,ref=$rmax" --metadata-file "$CB_TMP/x.json" -t multi:1 \
                "$CB_TMP/multi"
        [ "$status" -eq 0 ]
        [ "$(jq -r .layer_steps_run "$CB_TMP/x.json")" = 0 ]
        [ "$(jq -r '."containerimage.digest"' "$CB_TMP/x.json")" = "$d1" ]
        [ ! -e "$CB_TMP/runner-x/blobs/sha256/${builder_layer#sha256:}" ]
        [ "$(jq -r '."cache.layers_fetched"' "$CB_TMP/x.json")" = 2 ]

        # min: the builder stage runs again (its record was not exported); it makes the same layer, so
        # the image's steps still hit
        run runner n build --cache-from "type=registry,ref=$rmin" --metadata-file "$CB_TMP/n.json" -t multi:1 \
                "$CB_TMP/multi"
        [ "$status" -eq 0 ]
        [ "$(jq -r .layer_steps_run "$CB_TMP/n.json")" = 1 ]
        [ "$(jq -r '."containerimage.digest"' "$CB_TMP/n.json")" = "$d1" ]

        # a runner that imported lazily can export mode=max again without holding the builder layer
        run runner x build --cache-from "type=registry,ref=$rmax" --cache-to "type=registry,ref=$rmax-2,mode=max" \
                -t multi:1 "$CB_TMP/multi"
        [ "$status" -eq 0 ]
        [ "$(skopeo inspect --raw --tls-verify=false "docker://$rmax-2" | jq '.layers | length')" -eq 3 ]
}

@test "--jobs 2: the steps of stages built in parallel children are exported too" {
        mkdir -p "$CB_TMP/par"
        cat >"$CB_TMP/par/Dockerfile" <<DF
FROM $BASE AS a
RUN date +%s%N >/a
FROM $BASE AS b
RUN date +%s%N >/b
FROM $BASE
COPY --from=a /a /a
COPY --from=b /b /b
DF
        d1=$(runner p1 build -q --jobs 2 --cache-to "type=local,dest=$CB_TMP/pcache,mode=max" -t par:1 "$CB_TMP/par")
        run runner p2 build --jobs 2 --cache-from "type=local,src=$CB_TMP/pcache" --metadata-file "$CB_TMP/p.json" \
                -t par:1 "$CB_TMP/par"
        [ "$status" -eq 0 ]
        [ "$(jq -r .layer_steps_run "$CB_TMP/p.json")" = 0 ]
        [ "$(jq -r '."containerimage.digest"' "$CB_TMP/p.json")" = "$d1" ]
}

@test "type=local: an OCI layout directory carries the cache" {
        d1=$(runner l1 build -q --cache-to "type=local,dest=$CB_TMP/lcache,mode=max" -t app:l "$CB_TMP/ctx")
        [ -f "$CB_TMP/lcache/oci-layout" ]
        [ "$(jq -r '.manifests[0].artifactType' "$CB_TMP/lcache/index.json")" = "application/vnd.cubuild.cache.v1+json" ]
        run runner l2 build --cache-from "type=local,src=$CB_TMP/lcache" --metadata-file "$CB_TMP/l.json" -t app:l \
                "$CB_TMP/ctx"
        [ "$status" -eq 0 ]
        [ "$(jq -r .layer_steps_run "$CB_TMP/l.json")" = 0 ]
        [ "$(jq -r '."containerimage.digest"' "$CB_TMP/l.json")" = "$d1" ]
        # skopeo reads the layout as an OCI image layout
        run skopeo inspect --raw "oci:$CB_TMP/lcache:latest"
        [ "$status" -eq 0 ]
}

@test "a cache that is not there yet is a warning; a bad spec is an error before any work" {
        run runner w build --cache-from "type=registry,ref=$REGISTRY_HOST/cache/none:x" -t w:1 "$CB_TMP/ctx"
        [ "$status" -eq 0 ]
        [[ "$output" == *"warning: --cache-from"* ]]
        run runner w build --cache-to "type=s3,bucket=b" -t w:1 "$CB_TMP/ctx"
        [ "$status" -eq 1 ]
        [[ "$output" == *"--cache-to 'type=s3,bucket=b': type 's3' is not supported"* ]]
        run runner w build --cache-to "type=registry,ref=$REGISTRY_HOST/c:x,mode=all" -t w:1 "$CB_TMP/ctx"
        [ "$status" -eq 1 ]
        [[ "$output" == *"mode must be min or max"* ]]
}
