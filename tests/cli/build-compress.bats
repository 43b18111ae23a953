#!/usr/bin/env bats
# Where layers get compressed: a build stores its own layers uncompressed (the tar as it is: writing
# them costs what the disk costs) and a base's as they came; pushes and OCI exports carry them gzipped,
# each compressed once, with the same bytes as a build that committed gzip layers right away; and the
# image's referrers follow it to the pushed manifest.

load helpers
load tiny-base
load "$CUBUILD_SOURCE_DIR/tests/fixtures/registry.bash"

setup_file() {
        cb_setup_store
        registry_start plain
        tiny_base_load tiny:1
        mkdir -p "$CB_TMP/ctx"
        head -c 300000 /dev/urandom >"$CB_TMP/ctx/data"
        printf 'FROM tiny:1\nCOPY data /data\nRUN echo made >/made\nLABEL a=b\n' >"$CB_TMP/ctx/Dockerfile"
        export SOURCE_DATE_EPOCH=1700000000
}

teardown_file() {
        registry_stop
        cb_teardown_store
}

manifest() { cb inspect "$1" | jq -c .manifest; }

@test "a build stores its own layers uncompressed and the base's layer byte for byte" {
        base=$(manifest tiny:1 | jq -r '.layers[0].digest')
        cb build -q -t "$REGISTRY_HOST/t/app:1" "$CB_TMP/ctx" >/dev/null
        m=$(manifest "$REGISTRY_HOST/t/app:1")
        [ "$(echo "$m" | jq -r '.layers[0].digest')" = "$base" ]
        [ "$(echo "$m" | jq -r '.layers[0].mediaType')" = application/vnd.oci.image.layer.v1.tar+gzip ]
        [ "$(echo "$m" | jq -r '[.layers[1:][] | .mediaType] | unique | join(",")')" = \
                application/vnd.oci.image.layer.v1.tar ]
        # an uncompressed layer's digest is its diff_id, and the blob is a plain tar
        l=$(echo "$m" | jq -r '.layers[1].digest')
        [ "$(cb inspect "$REGISTRY_HOST/t/app:1" | jq -r '.config.rootfs.diff_ids[1]')" = "$l" ]
        tar -tf "$CB_ROOT/blobs/sha256/${l#sha256:}" | grep -qx data
}

@test "-o type=oci and --compression gzip give the same gzip bytes, and the store keeps that image" {
        # a second store, with the same base, that commits gzip layers right away
        cb save --format oci-archive -o "$CB_TMP/base.tar" tiny:1
        "$CUBUILD" --root "$CB_TMP/gz" load -t tiny:1 "$CB_TMP/base.tar" >/dev/null
        t0=$(cb inspect tiny:1 | jq -r .digest)
        [[ "$t0" =~ ^sha256: ]]
        [ "$("$CUBUILD" --root "$CB_TMP/gz" inspect tiny:1 | jq -r .digest)" = "$t0" ]
        g=$("$CUBUILD" --root "$CB_TMP/gz" build -q --compression gzip -t "$REGISTRY_HOST/t/app:1" "$CB_TMP/ctx")
        # this store: an OCI layout output compresses the cached uncompressed layers
        d=$(cb build -q -t "$REGISTRY_HOST/t/app:1" -o "type=oci,dest=$CB_TMP/layout" "$CB_TMP/ctx")
        [ "$d" = "$g" ]
        [ "$(jq -r '.manifests[0].digest' "$CB_TMP/layout/index.json")" = "$g" ]
        for l in $(jq -r '.layers[].digest' "$CB_TMP/layout/blobs/sha256/${g#sha256:}"); do
                gzip -t "$CB_TMP/layout/blobs/sha256/${l#sha256:}"
        done
        [ "$(manifest "$REGISTRY_HOST/t/app:1" | jq -r '[.layers[].mediaType] | unique | join(",")')" = \
                application/vnd.oci.image.layer.v1.tar+gzip ]
}

@test "push compresses a stored image once: the registry gets the gzip image and its referrers" {
        cb build -q -t "$REGISTRY_HOST/t/app:2" "$CB_TMP/ctx" >/dev/null
        d0=$(cb inspect "$REGISTRY_HOST/t/app:2" | jq -r .digest)
        g=$("$CUBUILD" --root "$CB_TMP/gz" inspect "$REGISTRY_HOST/t/app:1" | jq -r .digest)
        [[ "$d0" =~ ^sha256:[0-9a-f]{64}$ ]]
        [[ "$g" =~ ^sha256:[0-9a-f]{64}$ ]]
        [ "$d0" != "$g" ]
        run cb push "$REGISTRY_HOST/t/app:2"
        [ "$status" -eq 0 ]
        run skopeo inspect --raw --tls-verify=false "docker://$REGISTRY_HOST/t/app:2"
        [ "$status" -eq 0 ]
        pushed="sha256:$(printf '%s' "$output" | sha256sum | cut -d' ' -f1)"
        [ "$pushed" = "$g" ]
        [ "$(echo "$output" | jq -r '[.layers[].mediaType] | unique | join(",")')" = \
                application/vnd.oci.image.layer.v1.tar+gzip ]
        # the referrers went along, about the pushed manifest
        run skopeo inspect --raw --tls-verify=false "docker://$REGISTRY_HOST/t/app:sha256-${g#sha256:}"
        [ "$status" -eq 0 ]
        n=$(echo "$output" | jq '.manifests | length')
        [ "$n" -ge 2 ]
        for a in $(echo "$output" | jq -r '.manifests[].digest'); do
                art=$(skopeo inspect --raw --tls-verify=false "docker://$REGISTRY_HOST/t/app@$a")
                [ "$(echo "$art" | jq -r .subject.digest)" = "$g" ]
                [ "$(echo "$art" | jq -r .subject.size)" = "$(skopeo inspect --raw --tls-verify=false \
                        "docker://$REGISTRY_HOST/t/app:2" | wc -c)" ]
        done
        # the provenance names the pushed digest
        p=$(skopeo inspect --raw --tls-verify=false "docker://$REGISTRY_HOST/t/app:sha256-${g#sha256:}" |
                jq -r '.manifests[] | select(.artifactType == "application/vnd.in-toto+json") | .digest')
        [ -n "$p" ]
        pl=$(skopeo inspect --raw --tls-verify=false "docker://$REGISTRY_HOST/t/app@$p" | jq -r '.layers[0].digest')
        jq -e --arg h "${g#sha256:}" '.subject[0].digest.sha256 == $h' "$CB_ROOT/blobs/sha256/${pl#sha256:}"
        # a second push compresses nothing again: the same manifest
        run cb push "$REGISTRY_HOST/t/app:2"
        [ "$status" -eq 0 ]
        [ "$(skopeo inspect --raw --tls-verify=false "docker://$REGISTRY_HOST/t/app:2" | sha256sum | cut -d' ' -f1)" = \
                "${g#sha256:}" ]
}

@test "--compression none pushes uncompressed layers; zstd keeps the base's gzip layer" {
        d=$(cb build -q --compression zstd -t z:1 "$CB_TMP/ctx")
        m=$(manifest z:1)
        [ "$(echo "$m" | jq -r '.layers[0].mediaType')" = application/vnd.oci.image.layer.v1.tar+gzip ]
        [ "$(echo "$m" | jq -r '.layers[-1].mediaType')" = application/vnd.oci.image.layer.v1.tar+zstd ]
        [[ "$d" =~ ^sha256: ]]
}
