#!/usr/bin/env bats
# The audit commands against a registry (Debian's docker-registry 2.8 on loopback, no referrers API):
# attestations travel with the image under the OCI 1.1 fallback tag, and `cubuild diff` and
# `cubuild rebuild-check` take registry references.
# A heavy file (27 s at load 20): the default suite tests the same commands on local images.

load helpers
load audit-helpers
load "$CUBUILD_SOURCE_DIR/tests/fixtures/registry.bash"

setup_file() {
        cb_setup_store
        registry_start plain
        audit_mini_base mini:1
        mkdir -p "$CB_TMP/ctx"
        echo hello >"$CB_TMP/ctx/f"
        printf 'FROM mini:1\nCOPY f /f\nRUN mkdir /d\n' >"$CB_TMP/ctx/Dockerfile"
}

teardown_file() {
        registry_stop
        cb_teardown_store
}

@test "push sends provenance and SBOM as referrers; diff and rebuild-check read the registry" {
        # the base comes from the registry too, so that rebuild-check must pull it by digest
        cb push mini:1 "$REGISTRY_HOST/audit/mini:1"
        printf 'FROM %s/audit/mini:1\nCOPY f /f\nRUN mkdir /d\n' "$REGISTRY_HOST" >"$CB_TMP/ctx/Dockerfile"
        ref="$REGISTRY_HOST/audit/app:1"
        d=$(cb build -q --source-date-epoch 1700000000 --push -t "$ref" "$CB_TMP/ctx")
        run skopeo inspect --raw --tls-verify=false "docker://$REGISTRY_HOST/audit/app:sha256-${d#sha256:}"
        [ "$status" -eq 0 ]
        [ "$(jq -r '[.manifests[].artifactType] | sort | join(",")' <<<"$output")" = \
                "application/spdx+json,application/vnd.cubuild.verify.report.v1+json,application/vnd.in-toto+json" ]
        # an empty store elsewhere: both sides pulled
        run "$CUBUILD" --root "$CB_TMP/other" diff "docker://$ref" "docker://$ref"
        echo "$output"
        [ "$status" -eq 0 ]
        run "$CUBUILD" --root "$CB_TMP/other" rebuild-check "docker://$ref" --context "$CB_TMP/ctx"
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"reproduces $d"* ]]
}
