#!/usr/bin/env bats
# The golden image (examples/golden, through its bake file) rebuilt on a second runner with an empty
# store from the registry cache the first runner exported: no layer step runs again. Heavy: the first
# runner installs Python and pip packages (apt and PyPI), several minutes.

load helpers
load "$CUBUILD_SOURCE_DIR/tests/fixtures/registry.bash"

setup_file() {
        cb_setup_store
        registry_start plain
        # the CUDA base as an internal Docker Hub mirror would serve it
        skopeo copy --quiet --dest-tls-verify=false "oci:$(fixture_oci cuda-11.8.0-runtime):cuda-11.8.0-runtime" \
                "docker://$REGISTRY_HOST/nvidia/cuda:11.8.0-runtime-ubuntu20.04"
}

teardown_file() {
        registry_stop
        cb_teardown_store
}

@test "golden image: a second runner with an empty store runs no step, from the registry cache" {
        cd "$CUBUILD_SOURCE_DIR"
        cache="$REGISTRY_HOST/ai-platform/pytorch-cuda:buildcache"
        run "$CUBUILD" --root "$CB_TMP/runner-a" --registry-mirror "$REGISTRY_HOST" bake -f examples/golden/cubuild.yaml \
                --set "runtime.cache-to=type=registry,ref=$cache,mode=max" --set runtime.verify=skip \
                --metadata-file "$CB_TMP/a.json"
        [ "$status" -eq 0 ]
        [ "$(jq -r .runtime.layer_steps_run "$CB_TMP/a.json")" -ge 4 ]
        run "$CUBUILD" --root "$CB_TMP/runner-b" --registry-mirror "$REGISTRY_HOST" bake -f examples/golden/cubuild.yaml \
                --set "runtime.cache-from=type=registry,ref=$cache" --set runtime.verify=skip \
                --metadata-file "$CB_TMP/b.json"
        [ "$status" -eq 0 ]
        [ "$(jq -r .runtime.layer_steps_run "$CB_TMP/b.json")" = 0 ]
        [ "$(jq -r '.runtime["containerimage.digest"]' "$CB_TMP/b.json")" = \
                "$(jq -r '.runtime["containerimage.digest"]' "$CB_TMP/a.json")" ]
        # mode=max kept the builder stage's steps; the final image copies its venv through a hit, so
        # the builder stage's own layers never came to runner b
        # (each record names the gzip blob the cache carries and the uncompressed layer the build stored)
        cfg=$(skopeo inspect --raw --tls-verify=false "docker://$cache" | jq -r .config.digest)
        "$CUBUILD" --root "$CB_TMP/runner-a" inspect ai-platform/pytorch-cuda:2.9 | jq -r '.manifest.layers[].digest' \
                >"$CB_TMP/image-layers"
        builder_layers=$(jq -r '.records[] | "\(.stored.digest // .layer.digest) \(.layer.digest)"' \
                "$CB_TMP/runner-a/blobs/sha256/${cfg#sha256:}" | grep -v -F -f "$CB_TMP/image-layers" | tr ' ' '\n')
        [ -n "$builder_layers" ]
        for l in $builder_layers; do [ ! -e "$CB_TMP/runner-b/blobs/sha256/${l#sha256:}" ]; done
}
