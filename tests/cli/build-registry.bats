#!/usr/bin/env bats
# The CLI against a real registry (Debian's docker-registry on loopback): push, pull, build --push,
# a base resolved through a registry mirror as nvidia/cuda would be, and login over TLS.

load helpers
load "$CUBUILD_SOURCE_DIR/tests/fixtures/registry.bash"

setup_file() {
        cb_setup_store
        registry_start plain
        cb_load_base bookworm debian:bookworm
        mkdir -p "$CB_TMP/ctx"
        echo hello >"$CB_TMP/ctx/f"
        printf 'FROM debian:bookworm\nCOPY f /f\nRUN echo ran >/ran\nLABEL a=b\n' >"$CB_TMP/ctx/Dockerfile"
}

teardown_file() {
        registry_stop
        cb_teardown_store
}

@test "build --push, rm, pull: the same digest comes back" {
        ref="$REGISTRY_HOST/team/app:1"
        d=$(cb build -q --push -t "$ref" "$CB_TMP/ctx")
        [[ "$d" =~ ^sha256: ]]
        run skopeo inspect --tls-verify=false "docker://$ref"
        [ "$status" -eq 0 ]
        [ "$(echo "$output" | jq -r .Digest)" = "$d" ]
        [ "$(echo "$output" | jq -r .Labels.a)" = "b" ]
        cb rm "$ref"
        run "$CUBUILD" --root "$CB_TMP/other" pull "$ref"
        [ "$status" -eq 0 ]
        [ "$(echo "$output" | tail -1)" = "$d" ]
        # the verification report went along under the OCI 1.1 fallback tag
        run skopeo inspect --raw --tls-verify=false "docker://$REGISTRY_HOST/team/app:sha256-${d#sha256:}"
        [ "$status" -eq 0 ]
        [ "$(echo "$output" | jq -r '.manifests[0].artifactType')" = "application/vnd.cubuild.verify.report.v1+json" ]
}

@test "push NAME DEST copies a store image to another repository" {
        cb build -q -t app:2 "$CB_TMP/ctx" >/dev/null
        run cb push app:2 "$REGISTRY_HOST/copies/app:2"
        [ "$status" -eq 0 ]
        run skopeo inspect --tls-verify=false "docker://$REGISTRY_HOST/copies/app:2"
        [ "$status" -eq 0 ]
}

@test "FROM nvidia/cuda:... resolves through --registry-mirror, as from an internal Docker Hub mirror" {
        skopeo copy --quiet --dest-tls-verify=false "oci:$(fixture_oci bookworm):bookworm" \
                "docker://$REGISTRY_HOST/nvidia/cuda:11.8.0-runtime-ubuntu20.04"
        mkdir -p "$CB_TMP/mctx"
        printf 'FROM nvidia/cuda:11.8.0-runtime-ubuntu20.04\nRUN test -x /usr/bin/apt-get\n' >"$CB_TMP/mctx/Dockerfile"
        run "$CUBUILD" --root "$CB_TMP/fresh" --registry-mirror "$REGISTRY_HOST" build -q "$CB_TMP/mctx"
        [ "$status" -eq 0 ]
        run "$CUBUILD" --root "$CB_TMP/fresh" images
        [[ "$output" == *"docker.io/nvidia/cuda:11.8.0-runtime-ubuntu20.04"* ]]
}

@test "a missing image names the reference and the registry, exit status 1" {
        run cb pull "$REGISTRY_HOST/no/such:tag"
        [ "$status" -eq 1 ]
        [[ "$output" == *"no/such"* ]]
        run cb push never-built:1
        [ "$status" -eq 1 ]
}

@test "save writes a docker-archive that skopeo reads" {
        cb build -q -t saved:1 "$CB_TMP/ctx" >/dev/null
        run cb save -o "$CB_TMP/saved.tar" saved:1
        [ "$status" -eq 0 ]
        run skopeo inspect "docker-archive:$CB_TMP/saved.tar"
        [ "$status" -eq 0 ]
        [ "$(echo "$output" | jq -r .Labels.a)" = "b" ]
        run cb save --format oci-archive -o "$CB_TMP/saved-oci.tar" saved:1
        [ "$status" -eq 0 ]
        run skopeo inspect "oci-archive:$CB_TMP/saved-oci.tar"
        [ "$status" -eq 0 ]
}

@test "prune keeps what images and the build cache use, removes the rest" {
        cb build -q -t prune:1 "$CB_TMP/ctx" >/dev/null
        cb rm prune:1 saved:1 app:2
        run cb prune
        [ "$status" -eq 0 ]
        [[ "$output" == "removed "* ]]
        # the base and the cached layers are still there: a rebuild runs nothing
        run cb build -t prune:2 "$CB_TMP/ctx"
        [ "$status" -eq 0 ]
        [[ "$output" == *"0 layer steps ran"* ]]
}
