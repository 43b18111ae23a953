#!/usr/bin/env bats
# cubuild diff: one line per difference, exit 0 equal / 1 different / 2 trouble. The images are
# written by hand (tests/cli/audit-mkimage.py) so each differs from the other in exactly one thing.

load helpers

setup_file() {
        cb_setup_store
}

teardown_file() {
        cb_teardown_store
}

BASE='{"name": "etc", "type": "d"}, {"name": "etc/f", "data": "hello"}'

mk() { # mk NAME LAYERS_JSON [LABELS_JSON]
        rm -rf "$CB_TMP/$1"
        python3 "$CUBUILD_SOURCE_DIR/tests/cli/audit-mkimage.py" "$CB_TMP/$1" \
                "{\"layers\": $2, \"labels\": ${3:-{\}}}"
}

@test "one byte: the file's content and the layer's" {
        mk a "[[ $BASE ]]"
        mk b '[[{"name": "etc", "type": "d"}, {"name": "etc/f", "data": "hellp"}]]'
        run cb diff "oci:$CB_TMP/a" "oci:$CB_TMP/b"
        echo "$output"
        [ "$status" -eq 1 ]
        [[ "$output" == *"file etc/f: content \"sha256:2cf24dba"*'" != "sha256:'* ]]
        [[ "$output" == *"layer A#0/B#0 etc/f: content"* ]]
        [[ "$output" == *"only in A (\"A layer 0\")"* ]]
        [ "$(grep -c '^file ' <<<"$output")" -eq 1 ]
}

@test "one mode bit" {
        mk a "[[ $BASE ]]"
        mk b '[[{"name": "etc", "type": "d"}, {"name": "etc/f", "data": "hello", "mode": 420}]]'
        mk c '[[{"name": "etc", "type": "d"}, {"name": "etc/f", "data": "hello", "mode": 421}]]'
        run cb diff "oci:$CB_TMP/b" "oci:$CB_TMP/c"
        echo "$output"
        [ "$status" -eq 1 ]
        [[ "$output" == *'file etc/f: mode "0644" != "0645"'* ]]
        [ "$(grep -c '^file ' <<<"$output")" -eq 1 ]
}

@test "one mtime" {
        mk a "[[ $BASE ]]"
        mk b '[[{"name": "etc", "type": "d"}, {"name": "etc/f", "data": "hello", "mtime": 1700000001}]]'
        run cb diff "oci:$CB_TMP/a" "oci:$CB_TMP/b"
        echo "$output"
        [ "$status" -eq 1 ]
        [[ "$output" == *'file etc/f: mtime "1700000000.000000000" != "1700000001.000000000"'* ]]
}

@test "one xattr" {
        mk a "[[ $BASE ]]"
        mk b '[[{"name": "etc", "type": "d"}, {"name": "etc/f", "data": "hello", "xattrs": {"user.origin": "x1"}}]]'
        run cb diff "oci:$CB_TMP/a" "oci:$CB_TMP/b"
        echo "$output"
        [ "$status" -eq 1 ]
        [[ "$output" == *'file etc/f: xattrs "" != "user.origin=x1"'* ]]
        [ "$(grep -c '^file ' <<<"$output")" -eq 1 ]
}

@test "one whiteout: per layer and flattened" {
        mk a "[[ $BASE, {\"name\": \"etc/g\", \"data\": \"g\"}], [{\"name\": \"etc\", \"type\": \"d\"}, {\"name\": \"etc/.wh.g\"}]]"
        mk b "[[ $BASE, {\"name\": \"etc/g\", \"data\": \"g\"}], [{\"name\": \"etc\", \"type\": \"d\"}]]"
        run cb diff "oci:$CB_TMP/a" "oci:$CB_TMP/b"
        echo "$output"
        [ "$status" -eq 1 ]
        [[ "$output" == *'layer A#1/B#1 etc/.wh.g: only in A ("whiteout")'* ]]
        [[ "$output" == *'file etc/g: only in B ("file")'* ]]
        [ "$(grep -c '^file ' <<<"$output")" -eq 1 ]
}

@test "one label, and --format json" {
        mk a "[[ $BASE ]]" '{"v": "1"}'
        mk b "[[ $BASE ]]" '{"v": "2"}'
        run cb diff "oci:$CB_TMP/a" "oci:$CB_TMP/b"
        echo "$output"
        [ "$status" -eq 1 ]
        [[ "$output" == *'config .config.Labels.v: "1" != "2"'* ]]
        ! grep -q '^file ' <<<"$output"
        run cb diff --format json "oci:$CB_TMP/a" "oci:$CB_TMP/b"
        [ "$status" -eq 1 ]
        [ "$(jq -r '.equal' <<<"$output")" = false ]
        [ "$(jq -r '.differences[] | select(.kind == "config") | .path + "=" + .a + ":" + .b' <<<"$output")" = ".config.Labels.v=1:2" ]
}

@test "one layer order" {
        mk a '[[{"name": "x", "data": "1"}], [{"name": "y", "data": "2"}]]'
        mk b '[[{"name": "y", "data": "2"}], [{"name": "x", "data": "1"}]]'
        run cb diff "oci:$CB_TMP/a" "oci:$CB_TMP/b"
        echo "$output"
        [ "$status" -eq 1 ]
        [[ "$output" == *'position "A layer 0" != "B layer 1"'* ]]
        [[ "$output" == *'position "A layer 1" != "B layer 0"'* ]]
        ! grep -q '^file ' <<<"$output"
}

@test "identical builds in two stores are equal, across the store and an oci-archive and a docker-archive" {
        ctx="$BATS_TEST_TMPDIR/ctx"
        mkdir -p "$ctx"
        echo data >"$ctx/a.txt"
        printf 'FROM scratch\nCOPY a.txt /a\nLABEL k=v\n' >"$ctx/Dockerfile"
        # an OCI archive carries gzip layers: the first store commits gzip too (without --compression it
        # would keep its layers uncompressed, the same image in another manifest)
        "$CUBUILD" --root "$CB_TMP/s1" build -q --compression gzip --source-date-epoch 1700000000 -t same:1 "$ctx"
        "$CUBUILD" --root "$CB_TMP/s2" build -q --source-date-epoch 1700000000 -t same:1 \
                -o "type=oci-archive,dest=$CB_TMP/same.tar" -o "type=docker-archive,dest=$CB_TMP/same-docker.tar" "$ctx"
        run "$CUBUILD" --root "$CB_TMP/s1" diff same:1 "oci-archive:$CB_TMP/same.tar"
        echo "$output"
        [ "$status" -eq 0 ]
        [ -z "$output" ]
        run "$CUBUILD" --root "$CB_TMP/s1" diff --format json same:1 same:1
        [ "$status" -eq 0 ]
        [ "$(jq -r '.equal' <<<"$output")" = true ]
        # docker-archive keeps the config and layers; its manifest is a new one (uncompressed layers)
        # that keeps the recorded inputs, as the archive is an OCI layout too (Docker 25+'s docker save)
        run "$CUBUILD" --root "$CB_TMP/s1" diff same:1 "docker-archive:$CB_TMP/same-docker.tar"
        echo "$output"
        ! grep -q '^config \|^file \|^layer\|annotations' <<<"$output"
        tar -tf "$CB_TMP/same-docker.tar" | grep -qx manifest.json
        tar -tf "$CB_TMP/same-docker.tar" | grep -qx oci-layout
        want=$("$CUBUILD" --root "$CB_TMP/s1" inspect same:1 | jq -c .inputs)
        [ "$want" != null ]
        [ "$("$CUBUILD" --root "$CB_TMP/s1" inspect "docker-archive:$CB_TMP/same-docker.tar" | jq -c .inputs)" = "$want" ]
        [ "$("$CUBUILD" --root "$CB_TMP/s1" inspect "oci-archive:$CB_TMP/same-docker.tar" | jq -c .inputs)" = "$want" ]
        "$CUBUILD" --root "$CB_TMP/s3" load "$CB_TMP/same-docker.tar"
        [ "$("$CUBUILD" --root "$CB_TMP/s3" inspect same:1 | jq -c .inputs)" = "$want" ]
        if command -v skopeo >/dev/null; then
                skopeo inspect "docker-archive:$CB_TMP/same-docker.tar" >/dev/null
                skopeo inspect "oci-archive:$CB_TMP/same-docker.tar" >/dev/null
        fi
}

@test "trouble is exit status 2" {
        run cb diff "oci:$CB_TMP/nonexistent" "oci:$CB_TMP/a"
        [ "$status" -eq 2 ]
        [[ "$output" == *"nonexistent"* ]]
        run cb diff onlyone
        [ "$status" -eq 2 ]
}
