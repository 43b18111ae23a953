#!/usr/bin/env bats
# Provenance (SLSA v1 in-toto statement) and SBOM (SPDX 2.3) as OCI referrers of the image manifest,
# beside the GPU report, listed by `cubuild attestations`.

load helpers
load audit-helpers

setup_file() {
        cb_setup_store
        audit_mini_base mini:1
        ctx="$CB_TMP/ctx"
        mkdir -p "$ctx/site/foo-1.2.3.dist-info" "$ctx/site/Bar_Baz-0.9.dist-info" "$ctx/lib"
        # 30 packages of the host's dpkg status, and one that is removed (config files only)
        awk 'BEGIN {RS = ""; ORS = "\n\n"} NR <= 30' /var/lib/dpkg/status >"$ctx/status"
        printf 'Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\n' >>"$ctx/status"
        printf 'Metadata-Version: 2.1\nName: foo\nVersion: 1.2.3\n\nVersion: 9.9 (the body)\n' >"$ctx/site/foo-1.2.3.dist-info/METADATA"
        printf 'Metadata-Version: 2.1\r\nName: Bar_Baz\r\nVersion: 0.9\r\n' >"$ctx/site/Bar_Baz-0.9.dist-info/METADATA"
        echo x >"$ctx/lib/libcudart.so.11.8.89"
        ln -s libcudart.so.11.8.89 "$ctx/lib/libcudart.so.11"
        cat >"$ctx/Dockerfile" <<'DF'
FROM mini:1
COPY status /var/lib/dpkg/status
COPY site /usr/lib/python3/dist-packages/
COPY lib/ /usr/local/cuda/lib64/
DF
        cb build -q --source-date-epoch 1700000000 -t att:1 "$ctx" >/dev/null
}

teardown_file() {
        cb_teardown_store
}

@test "cubuild attestations lists provenance, SBOM and the verification report" {
        run cb attestations att:1
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"provenance  sha256:"*"application/vnd.in-toto+json https://slsa.dev/provenance/v1"* ]]
        [[ "$output" == *"sbom        sha256:"*"application/spdx+json"* ]]
        [[ "$output" == *"verify      sha256:"* ]]
        # an ordinary OCI 1.1 referrers index under the fallback tag, each artifact with the image as subject
        d=$(cb inspect att:1 | jq -r .digest)
        [ "$(cb attestations --format json att:1 | jq length)" -eq 3 ]
        idx=$(jq -r --arg t "docker.io/library/att:sha256-${d#sha256:}" \
                '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' "$CB_ROOT/index.json")
        [ "$(jq -r '.mediaType' "$CB_ROOT/blobs/sha256/${idx#sha256:}")" = application/vnd.oci.image.index.v1+json ]
        art=$(cb attestations --format json att:1 | jq -r '.[] | select(.kind == "sbom") | .digest')
        jq -e --arg d "$d" '.subject.digest == $d and .artifactType == "application/spdx+json"' \
                "$CB_ROOT/blobs/sha256/${art#sha256:}"
}

@test "the provenance is an in-toto v1 statement with a SLSA v1 predicate that names the recorded inputs" {
        d=$(cb inspect att:1 | jq -r .digest)
        cb attestations --get provenance att:1 >"$BATS_TEST_TMPDIR/prov.json"
        base=$(cb inspect mini:1 | jq -r .digest)
        python3 - "$BATS_TEST_TMPDIR/prov.json" <<'PY'
import json, sys, jsonschema
# the required parts of https://in-toto.io/Statement/v1 and https://slsa.dev/provenance/v1
digest = {"type": "object", "minProperties": 1, "additionalProperties": {"type": "string"}}
rd = {"type": "object", "anyOf": [{"required": ["uri"]}, {"required": ["digest"]}],
      "properties": {"uri": {"type": "string"}, "digest": digest, "name": {"type": "string"}}}
schema = {"type": "object", "required": ["_type", "subject", "predicateType", "predicate"],
  "properties": {
    "_type": {"const": "https://in-toto.io/Statement/v1"},
    "subject": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["digest"],
                "properties": {"name": {"type": "string"}, "digest": digest}}},
    "predicateType": {"const": "https://slsa.dev/provenance/v1"},
    "predicate": {"type": "object", "required": ["buildDefinition", "runDetails"], "properties": {
      "buildDefinition": {"type": "object", "required": ["buildType", "externalParameters"], "properties": {
        "buildType": {"type": "string", "format": "uri"}, "externalParameters": {"type": "object"},
        "internalParameters": {"type": "object"}, "resolvedDependencies": {"type": "array", "items": rd}}},
      "runDetails": {"type": "object", "required": ["builder"], "properties": {
        "builder": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"},
                    "version": {"type": "object", "additionalProperties": {"type": "string"}}}},
        "metadata": {"type": "object", "properties": {"startedOn": {"type": "string", "format": "date-time"},
                                                       "finishedOn": {"type": "string", "format": "date-time"}}}}}}}}}
jsonschema.validate(json.load(open(sys.argv[1])), schema, format_checker=jsonschema.FormatChecker())
PY
        p="$BATS_TEST_TMPDIR/prov.json"
        [ "$(jq -r '.subject[0].digest.sha256' "$p")" = "${d#sha256:}" ]
        [ "$(jq -r '.subject[0].name' "$p")" = docker.io/library/att:1 ]
        [ "$(jq -r '.predicate.buildDefinition.resolvedDependencies[] | select(.uri == "pkg:docker/docker.io/library/mini:1") | .digest.sha256' "$p")" = "${base#sha256:}" ]
        [ "$(jq -r '.predicate.buildDefinition.resolvedDependencies[] | select(.name == "Dockerfile") | .digest.sha256' "$p")" = "$(sha256sum <"$CB_TMP/ctx/Dockerfile" | cut -d' ' -f1)" ]
        [ "$(jq -r '.predicate.buildDefinition.internalParameters["source-date-epoch"]' "$p")" = 1700000000 ]
        [ "$(jq -r '.predicate.runDetails.builder.version.cubuild' "$p")" = "$("$CUBUILD" version | awk 'NR == 1 {print $3}')" ]
}

@test "the SBOM is valid SPDX 2.3 and its versions are what dpkg-query and the dist-info directories say" {
        cb attestations --get sbom att:1 >"$BATS_TEST_TMPDIR/sbom.json"
        s="$BATS_TEST_TMPDIR/sbom.json"
        [ "$(jq -r .spdxVersion "$s")" = SPDX-2.3 ]
        # dpkg-query over the status file the image holds (the same bytes COPY put there)
        mkdir -p "$BATS_TEST_TMPDIR/admin"
        cp "$CB_TMP/ctx/status" "$BATS_TEST_TMPDIR/admin/status"
        dpkg-query --admindir="$BATS_TEST_TMPDIR/admin" -W -f '${db:Status-Abbrev} ${Package} ${Version}\n' |
                awk '$1 ~ /^.i/ {print $2 " " $3}' | sort >"$BATS_TEST_TMPDIR/dpkg.txt"
        jq -r '.packages[] | select(.SPDXID | startswith("SPDXRef-deb-")) | .name + " " + .versionInfo' "$s" |
                sort >"$BATS_TEST_TMPDIR/sbom-deb.txt"
        diff "$BATS_TEST_TMPDIR/dpkg.txt" "$BATS_TEST_TMPDIR/sbom-deb.txt"
        [ "$(wc -l <"$BATS_TEST_TMPDIR/sbom-deb.txt")" -eq 30 ]
        [ "$(jq -r '.packages[] | select(.name == "foo") | .versionInfo' "$s")" = 1.2.3 ]
        [ "$(jq -r '.packages[] | select(.name == "Bar_Baz") | .versionInfo' "$s")" = 0.9 ]
        [ "$(jq -r '.packages[] | select(.name == "libcudart") | .versionInfo' "$s")" = 11.8.89 ]
        [ "$(jq -r '.packages[] | select(.name == "gone") | .name' "$s")" = "" ]
        if ! command -v pyspdxtools >/dev/null; then
                skip "pyspdxtools (PyPI spdx-tools) is not installed: the SPDX validator did not run"
        fi
        pyspdxtools -i "$s"
}

@test "the SBOM comes from a memo per layer, equal to the one read from the layers, which it then skips" {
        command -v strace >/dev/null || skip "strace is not installed (scripts/install-deps.sh installs it)"
        local base
        base=$(cb inspect mini:1 | jq -r '.config.rootfs.diff_ids[0] | ltrimstr("sha256:")')
        [ -d "$CB_ROOT/layers/$base" ]
        # every layer of att:1 left its memo
        [ "$(find "$CB_ROOT/cache/sbom" -name '*.json' | wc -l)" -ge 4 ]
        cb attestations --get sbom att:1 | jq -S '[.packages[] | select(.name | startswith("docker.io/") | not) | {name, versionInfo}] | sort_by(.name)' \
                >"$BATS_TEST_TMPDIR/memo.json"
        # without the memos, the same image's SBOM read from the layers again
        rm -rf "$CB_ROOT/cache/sbom"
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -qq -y -e trace=getdents64 \
                -o "$BATS_TEST_TMPDIR/read.strace" "$CUBUILD" --root "$CB_ROOT" build -q --no-cache \
                --source-date-epoch 1700000000 -t att:2 "$CB_TMP/ctx" >/dev/null
        [ "$(cb inspect att:2 | jq -r .digest)" = "$(cb inspect att:1 | jq -r .digest)" ]
        cb attestations --get sbom att:2 | jq -S '[.packages[] | select(.name | startswith("docker.io/") | not) | {name, versionInfo}] | sort_by(.name)' \
                >"$BATS_TEST_TMPDIR/read.json"
        diff "$BATS_TEST_TMPDIR/memo.json" "$BATS_TEST_TMPDIR/read.json"
        [ "$(jq length "$BATS_TEST_TMPDIR/read.json")" -eq 33 ]
        grep -q "layers/$base" "$BATS_TEST_TMPDIR/read.strace"
        # with them, the base's unpacked tree is not listed again
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -qq -y -e trace=getdents64 \
                -o "$BATS_TEST_TMPDIR/memo.strace" "$CUBUILD" --root "$CB_ROOT" build -q --no-cache \
                --source-date-epoch 1700000000 -t att:3 "$CB_TMP/ctx" >/dev/null
        run grep -c "layers/$base" "$BATS_TEST_TMPDIR/memo.strace"
        [ "$output" = 0 ]
        cb attestations --get sbom att:3 | jq -S '[.packages[] | select(.name | startswith("docker.io/") | not) | {name, versionInfo}] | sort_by(.name)' |
                diff "$BATS_TEST_TMPDIR/memo.json" -
}

@test "--provenance=false and --sbom=false leave them out" {
        printf 'FROM mini:1\nLABEL x=1\n' >"$BATS_TEST_TMPDIR/Dockerfile"
        cb build -q --provenance=false -t noprov:1 -f "$BATS_TEST_TMPDIR/Dockerfile" "$BATS_TEST_TMPDIR" >/dev/null
        [ "$(cb attestations --format json noprov:1 | jq -r '[.[].kind] | sort | join(",")')" = sbom,verify ]
        # another image: referrers are keyed by the image digest, so the same image built again would
        # keep the SBOM of the first build, as a registry keeps the referrers of a digest
        printf 'FROM mini:1\nLABEL x=2\n' >"$BATS_TEST_TMPDIR/Dockerfile"
        cb build -q --sbom=false --provenance=false -t none:1 -f "$BATS_TEST_TMPDIR/Dockerfile" "$BATS_TEST_TMPDIR" >/dev/null
        [ "$(cb attestations --format json none:1 | jq -r '[.[].kind] | sort | join(",")')" = verify ]
        run cb build -q --sbom=maybe "$BATS_TEST_TMPDIR"
        [ "$status" -eq 2 ]
}

@test "cubuild verify after the build replaces the report and keeps provenance and SBOM" {
        before=$(cb attestations --format json att:1 | jq -r '.[] | select(.kind == "verify") | .digest')
        run cb verify --verify auto att:1
        [ "$status" -eq 0 ]
        run cb attestations --format json att:1
        [ "$status" -eq 0 ]
        [ "$(echo "$output" | jq length)" -eq 3 ]
        [ "$(echo "$output" | jq -r '[.[].kind] | sort | join(",")')" = "provenance,sbom,verify" ]
        [ -n "$before" ]
}
