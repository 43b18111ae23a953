#!/usr/bin/env bats
# Reproducibility with real package installs: a pinned `pip install --no-compile` and files a RUN
# makes, built in two stores at two times with SOURCE_DATE_EPOCH, give one manifest digest, and the
# base's layers pass through byte for byte. Heavy: apt-get and PyPI downloads.

load helpers

setup_file() {
        cb_setup_store
        cb_load_base bookworm debian:bookworm
        # a python base, made once and loaded into both stores (its own apt run is not reproducible,
        # and need not be: it is the base)
        mkdir -p "$CB_TMP/pybase"
        printf 'FROM debian:bookworm\nRUN apt-get update && apt-get install -y --no-install-recommends python3-pip ca-certificates && rm -rf /var/lib/apt/lists/*\n' \
                >"$CB_TMP/pybase/Dockerfile"
        cb build -q -t pybase:1 -o "type=oci,dest=$CB_TMP/pybase-oci" "$CB_TMP/pybase" >/dev/null
        mkdir -p "$CB_TMP/ctx"
        cat >"$CB_TMP/ctx/Dockerfile" <<'DF'
FROM pybase:1
RUN --mount=type=secret,id=ca,target=/run/ca.pem \
    PIP_CERT=/run/ca.pem pip install --no-compile --no-cache-dir --break-system-packages six==1.16.0
RUN mkdir -p /out && echo fixed >/out/f && ln -s f /out/l
COPY a.txt /a
DF
        echo a >"$CB_TMP/ctx/a.txt"
}

teardown_file() {
        cb_teardown_store
}

build_in() {
        local root=$1
        shift
        "$CUBUILD" --root "$root" load -t pybase:1 "$CB_TMP/pybase-oci" >/dev/null
        "$CUBUILD" --root "$root" build -q --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt "$@" "$CB_TMP/ctx"
}

@test "pip install --no-compile: two stores, two times, one digest; base layers unchanged" {
        d1=$(SOURCE_DATE_EPOCH=1700000000 build_in "$CB_TMP/s1" -t repro:1 -o "type=oci,dest=$CB_TMP/img")
        sleep 2
        touch "$CB_TMP/ctx/a.txt"
        # the first build's OCI output made its image the gzip one: the second exports too (a build with
        # no output keeps its layers uncompressed, another manifest of the same config)
        d2=$(build_in "$CB_TMP/s2" --source-date-epoch 1700000000 -o "type=oci,dest=$CB_TMP/img2")
        [ -n "$d1" ]
        [ "$d1" = "$d2" ]
        base=$("$CUBUILD" --root "$CB_TMP/s1" inspect pybase:1 | jq -c '[.manifest.layers[].digest]')
        mine=$("$CUBUILD" --root "$CB_TMP/s1" inspect "$d1" | jq -c "[.manifest.layers[].digest][0:$(echo "$base" | jq length)]")
        [ "$base" = "$mine" ]
        # the installed package is there, uncompiled, and the CA bundle is not
        umoci unpack --image "$CB_TMP/img:repro:1" "$CB_TMP/bundle" >/dev/null
        ls "$CB_TMP"/bundle/rootfs/usr/local/lib/python3*/dist-packages/six.py
        ! find "$CB_TMP/bundle/rootfs/usr/local/lib" -name '*.pyc' | grep -q .
        [ ! -e "$CB_TMP/bundle/rootfs/run/ca.pem" ]
}
