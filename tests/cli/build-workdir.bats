#!/usr/bin/env bats
# WORKDIR as BuildKit applies it (dockerfile2llb dispatchWorkdir): the directory and its missing
# parents are made at the instruction, owned by the USER in effect (a name with its primary group,
# a bare uid with the same gid, name:group), in a layer of its own (empty when the directory
# exists) with a history entry that is not empty_layer; `WORKDIR /` makes no layer. The step is
# cached like RUN and COPY, and its key follows USER.

load helpers
load tiny-base

setup_file() {
        cb_setup_store
        tiny_base_load tiny:1
}

teardown_file() {
        cb_teardown_store
}

# ctx NAME LINE...: a context NAME whose Dockerfile is FROM tiny:1, a user and a group, the lines.
ctx() {
        local dir="$BATS_TEST_TMPDIR/$1"
        shift
        mkdir -p "$dir"
        printf '%s\n' "FROM tiny:1" \
                "RUN echo 'app:x:1500:1500::/home/app:/bin/sh' >>/etc/passwd && echo 'staff:x:50:' >>/etc/group" \
                "$@" >"$dir/Dockerfile"
        echo "$dir"
}

# layout_config DIR: the config JSON of the one image in the OCI layout DIR.
layout_config() {
        local m c
        m=$(jq -r '.manifests[0].digest' "$1/index.json" | cut -d: -f2)
        c=$(jq -r .config.digest "$1/blobs/sha256/$m" | cut -d: -f2)
        cat "$1/blobs/sha256/$c"
}

# owner DIR PATH: "MODE UID:GID" of PATH in the image's layers (the last layer that has it).
owner() {
        local m l out=""
        m=$(jq -r '.manifests[0].digest' "$1/index.json" | cut -d: -f2)
        for l in $(jq -r '.layers[].digest' "$1/blobs/sha256/$m" | cut -d: -f2); do
                local line
                line=$(tar --numeric-owner -tvf "$1/blobs/sha256/$l" 2>/dev/null |
                        awk -v p="${2#/}" '$NF == p || $NF == p "/" { print $1, $2 }' | tail -1)
                [ -n "$line" ] && out=$line
        done
        echo "$out"
}

@test "WORKDIR makes its directory at the instruction, owned by the USER in effect, in its own layer" {
        local d
        d=$(ctx owners 'WORKDIR /a/b' 'USER app' 'WORKDIR /home/app/w' 'USER 1600' 'WORKDIR c' \
                'USER app:staff' 'WORKDIR /g' 'USER root' 'WORKDIR /tmp' 'WORKDIR /')
        cb build --progress plain -o "type=oci,dest=$BATS_TEST_TMPDIR/out" "$d"
        local o="$BATS_TEST_TMPDIR/out"
        [ "$(owner "$o" /a)" = "drwxr-xr-x 0/0" ]
        [ "$(owner "$o" /a/b)" = "drwxr-xr-x 0/0" ]
        [ "$(owner "$o" /home)" = "drwxr-xr-x 1500/1500" ]
        [ "$(owner "$o" /home/app/w)" = "drwxr-xr-x 1500/1500" ]
        [ "$(owner "$o" /home/app/w/c)" = "drwxr-xr-x 1600/1600" ]
        [ "$(owner "$o" /g)" = "drwxr-xr-x 1500/50" ]
        layout_config "$o" >"$BATS_TEST_TMPDIR/config.json"
        # one layer per WORKDIR but the last ("/"), the one for the existing /tmp empty
        run jq -c '[.history[] | select(.created_by | startswith("WORKDIR")) | (.empty_layer // false)]' \
                "$BATS_TEST_TMPDIR/config.json"
        [ "$output" = "[false,false,false,false,false,true]" ]
        [ "$(jq '[.history[] | select(.empty_layer != true)] | length' "$BATS_TEST_TMPDIR/config.json")" -eq \
                "$(jq '.rootfs.diff_ids | length' "$BATS_TEST_TMPDIR/config.json")" ]
        [ "$(jq -r '.config.WorkingDir' "$BATS_TEST_TMPDIR/config.json")" = / ]
}

@test "a WORKDIR that makes a directory is a cached step whose key follows USER" {
        local a b
        a=$(ctx key-a 'USER app' 'WORKDIR /w')
        b=$(ctx key-b 'USER 1600' 'WORKDIR /w')
        # no SOURCE_DATE_EPOCH: a WORKDIR step that ran again would make /w with a new mtime, so an
        # equal layer a second later proves the cache answered
        cb build -o "type=oci,dest=$BATS_TEST_TMPDIR/a" "$a"
        sleep 1.1
        cb build -o "type=oci,dest=$BATS_TEST_TMPDIR/a2" "$a"
        cb build -o "type=oci,dest=$BATS_TEST_TMPDIR/b" "$b"
        local la la2 lb
        la=$(layout_config "$BATS_TEST_TMPDIR/a" | jq -r '.rootfs.diff_ids[-1]')
        la2=$(layout_config "$BATS_TEST_TMPDIR/a2" | jq -r '.rootfs.diff_ids[-1]')
        lb=$(layout_config "$BATS_TEST_TMPDIR/b" | jq -r '.rootfs.diff_ids[-1]')
        [ "$la" = "$la2" ]
        [ "$la" != "$lb" ]
        [ "$(owner "$BATS_TEST_TMPDIR/a" /w)" = "drwxr-xr-x 1500/1500" ]
        [ "$(owner "$BATS_TEST_TMPDIR/b" /w)" = "drwxr-xr-x 1600/1600" ]
}
