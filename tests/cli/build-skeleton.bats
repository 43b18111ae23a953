#!/usr/bin/env bats
# The walking skeleton end to end: a real Debian base, a RUN that really installs python3 with apt,
# COPY/ENV/WORKDIR/LABEL/CMD, an OCI layout out, checked with skopeo and umoci.

load helpers

setup_file() {
        cb_setup_store
        cb_load_base bookworm debian:bookworm
        mkdir -p "$CB_TMP/ctx/app"
        echo 'print("hello from the image")' >"$CB_TMP/ctx/app/hello.py"
        cat >"$CB_TMP/ctx/Dockerfile" <<'DF'
FROM debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends python3 && rm -rf /var/lib/apt/lists/*
COPY app/ /opt/app/
ENV APP_HOME=/opt/app GREETING="hello world"
WORKDIR /opt/app
LABEL org.example.team="ml-platform" org.example.python="3"
CMD ["python3", "/opt/app/hello.py"]
DF
        cb build -t skeleton:1 -o "type=oci,dest=$CB_TMP/layout" "$CB_TMP/ctx" >"$CB_TMP/digest" 2>"$CB_TMP/build.log" || {
                cat "$CB_TMP/build.log" >&2
                return 1
        }
}

teardown_file() {
        cb_teardown_store
}

@test "build prints the manifest digest on stdout and the image is listed" {
        run cat "$CB_TMP/digest"
        [[ "$output" =~ ^sha256:[0-9a-f]{64}$ ]]
        run cb images
        [ "$status" -eq 0 ]
        [[ "$output" == *"docker.io/library/skeleton:1"* ]]
        [[ "$output" == *"$(cut -c8-26 "$CB_TMP/digest")"* ]]
}

@test "skopeo reads the OCI layout: labels, env, workdir, cmd" {
        run skopeo inspect --config "oci:$CB_TMP/layout:skeleton:1"
        [ "$status" -eq 0 ]
        echo "$output" >"$CB_TMP/config.json"
        [ "$(jq -r '.config.Labels["org.example.team"]' "$CB_TMP/config.json")" = "ml-platform" ]
        jq -e '.config.Env | index("APP_HOME=/opt/app")' "$CB_TMP/config.json"
        jq -e '.config.Env | index("GREETING=hello world")' "$CB_TMP/config.json"
        [ "$(jq -r '.config.WorkingDir' "$CB_TMP/config.json")" = "/opt/app" ]
        [ "$(jq -c '.config.Cmd' "$CB_TMP/config.json")" = '["python3","/opt/app/hello.py"]' ]
        # one layer for the base, one for RUN, one for COPY, one for WORKDIR (empty: COPY made
        # /opt/app; BuildKit commits a WORKDIR other than / as a layer all the same)
        [ "$(jq '.rootfs.diff_ids | length' "$CB_TMP/config.json")" -eq 4 ]
        [ "$(jq '[.history[] | select(.empty_layer != true)] | length' "$CB_TMP/config.json")" -ge 2 ]
}

@test "every blob in the layout matches its digest and the manifest is OCI" {
        cd "$CB_TMP/layout"
        for f in blobs/sha256/*; do
                [ "sha256:$(sha256sum "$f" | cut -d' ' -f1)" = "sha256:$(basename "$f")" ]
        done
        m=$(jq -r '.manifests[0].digest' index.json | cut -d: -f2)
        [ "$(jq -r .mediaType "blobs/sha256/$m")" = "application/vnd.oci.image.manifest.v1+json" ]
        # diff_ids are the sha256 of the uncompressed layers
        cfg=$(jq -r .config.digest "blobs/sha256/$m" | cut -d: -f2)
        n=$(jq '.layers | length' "blobs/sha256/$m")
        for i in $(seq 0 $((n - 1))); do
                l=$(jq -r ".layers[$i].digest" "blobs/sha256/$m" | cut -d: -f2)
                want=$(jq -r ".rootfs.diff_ids[$i]" "blobs/sha256/$cfg")
                got="sha256:$(gzip -dc "blobs/sha256/$l" | sha256sum | cut -d' ' -f1)"
                [ "$got" = "$want" ]
        done
}

@test "umoci unpacks it: python3 and the copied app present, apt lists and sandbox files absent" {
        run umoci unpack --image "$CB_TMP/layout:skeleton:1" "$CB_TMP/bundle"
        [ "$status" -eq 0 ]
        r="$CB_TMP/bundle/rootfs"
        [ -x "$r/usr/bin/python3" ] || ls -la "$r/usr/bin/" | grep python
        [ -f "$r/opt/app/hello.py" ]
        [ -z "$(ls -A "$r/var/lib/apt/lists" 2>/dev/null | grep -v '^partial$' | grep -v '^lock$' || true)" ]
        # the RUN layer carries no trace of the sandbox: no resolv.conf content from the host
        cd "$CB_TMP/layout"
        m=$(jq -r '.manifests[0].digest' index.json | cut -d: -f2)
        run_layer=$(jq -r '.layers[1].digest' "blobs/sha256/$m" | cut -d: -f2)
        run bash -c "tar -tzf blobs/sha256/$run_layer | grep -E '^(\./)?(etc/resolv.conf|etc/hostname|proc/.+|dev/.+|sys/.+)$'"
        [ "$status" -ne 0 ]
}

@test "python3 installed by the RUN step really runs in the image" {
        r="$CB_TMP/bundle/rootfs"
        [ -d "$r" ] || skip "umoci unpack test did not run"
        run chroot "$r" /usr/bin/python3 /opt/app/hello.py
        [ "$status" -eq 0 ]
        [ "$output" = "hello from the image" ]
}

@test "a failing RUN names the Dockerfile line and the exit status, exit code 1" {
        mkdir -p "$CB_TMP/bad"
        printf 'FROM debian:bookworm\nENV X=1\nRUN echo about to fail && exit 7\n' >"$CB_TMP/bad/Dockerfile"
        run cb build -t bad "$CB_TMP/bad"
        [ "$status" -eq 1 ]
        [[ "$output" == *"Dockerfile:3: RUN"*"exit status 7"* ]]
        [[ "$output" == *"about to fail"* ]]
}

@test "usage errors exit 2 with one line and a hint" {
        run cb build --no-such-flag .
        [ "$status" -eq 2 ]
        [[ "$output" == *"see 'cubuild build --help'"* ]]
        run cb frobnicate
        [ "$status" -eq 2 ]
        [[ "$output" == *"unknown command 'frobnicate'"* ]]
}

@test "import turns a rootfs tarball into an image" {
        tar=$(fixture_rootfs bullseye)
        run cb import "$tar" bullseye-imported:1
        [ "$status" -eq 0 ]
        [[ "$output" =~ ^sha256:[0-9a-f]{64}$ ]]
        run cb inspect bullseye-imported:1
        [ "$status" -eq 0 ]
        [ "$(echo "$output" | jq '.config.rootfs.diff_ids | length')" -eq 1 ]
}
