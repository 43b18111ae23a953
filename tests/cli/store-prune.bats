#!/usr/bin/env bats
# `cubuild prune` with the build cache's garbage collection: --cache, --keep-storage, --filter until=,
# least recently used first (a record's mtime is its last use); images keep working afterwards.

load helpers

# ctx NAME BYTES: a FROM scratch context whose COPY layer is about BYTES of incompressible data
ctx() {
        mkdir -p "$CB_TMP/$1"
        printf 'FROM scratch\nCOPY f /f\n' >"$CB_TMP/$1/Dockerfile"
        head -c "$2" /dev/urandom >"$CB_TMP/$1/f"
}

layer_of() {
        cb inspect "$1" | jq -r '.manifest.layers[0].digest'
}

# how many build cache records there are (cache/ also holds the static reports' memo, cache/compat/)
records() {
        ls "$CB_ROOT/cache" | grep -cE '^[0-9a-f]{64}$' || true
}

# the cache record that points to layer digest $1
record_of() {
        grep -ls "\"$1\"" "$CB_ROOT"/cache/* | head -1
}

setup() {
        cb_setup_store
        mkdir -p "$CB_TMP/rootfs/etc"
        echo hello >"$CB_TMP/rootfs/etc/greeting"
        tar -C "$CB_TMP/rootfs" -cf "$CB_TMP/rootfs.tar" .
        cb import "$CB_TMP/rootfs.tar" tiny:1 >/dev/null
        for n in a b c; do
                ctx $n 300000
                cb build -q -t app-$n:1 "$CB_TMP/$n" >/dev/null 2>&1
        done
        A=$(layer_of app-a:1) B=$(layer_of app-b:1) C=$(layer_of app-c:1)
        # only the cache keeps b's and c's layers; a is also an image; oldest use: b, then c, then a
        cb rm app-b:1 app-c:1 >/dev/null
        touch -d '3 days ago' "$(record_of "$B")"
        touch -d '2 days ago' "$(record_of "$C")"
        touch -d '1 day ago' "$(record_of "$A")"
        mkdir -p "$CB_ROOT/cache-mounts/0123456789abcdef" "$CB_ROOT/cache-mounts/fedcba9876543210"
        head -c 100000 /dev/urandom >"$CB_ROOT/cache-mounts/0123456789abcdef/pip.whl"
        touch -d '4 days ago' "$CB_ROOT/cache-mounts/0123456789abcdef"
}

teardown() {
        cb_teardown_store
}

# the store total the last `run cb prune` reported
after() {
        echo "$output" | sed -n 's/^store total: \([0-9]*\) bytes.*/\1/p'
}

blob() {
        [ -e "$CB_ROOT/blobs/sha256/${1#sha256:}" ]
}

@test "plain prune keeps the build cache; --filter alone is a usage error" {
        run cb prune
        [ "$status" -eq 0 ]
        blob "$B" && blob "$C" && blob "$A"
        [ "$(records)" -eq 3 ]
        [ -d "$CB_ROOT/cache-mounts/0123456789abcdef" ]
        run cb prune --filter until=1h
        [ "$status" -eq 2 ]
        run cb prune --filter since=1h --cache
        [ "$status" -eq 2 ]
        run cb prune --keep-storage lots
        [ "$status" -eq 2 ]
}

@test "--cache --filter until= removes only what was not used for that long" {
        run cb prune --cache --filter until=60h
        [ "$status" -eq 0 ]
        [[ "$output" == *"removed 1 build cache records and 1 cache mounts"* ]]
        ! blob "$B"
        blob "$C" && blob "$A"
        [ ! -e "$CB_ROOT/cache-mounts/0123456789abcdef" ]
        [ -d "$CB_ROOT/cache-mounts/fedcba9876543210" ]
        run cb prune --cache
        [ "$status" -eq 0 ]
        [[ "$output" == *"removed 2 build cache records and 1 cache mounts"* ]]
        ! blob "$C"
        blob "$A"
        [ "$(records)" -eq 0 ]
        # the image still works, and a rebuild runs the step again and records it
        cb inspect app-a:1 >/dev/null
        cb import "$CB_TMP/rootfs.tar" tiny:2 >/dev/null
        run cb build -t app-a:1 "$CB_TMP/a"
        [ "$status" -eq 0 ]
        [[ "$output" == *"1 layer steps ran, 0 came from the cache"* ]]
        [ "$(records)" -eq 1 ]
}

@test "--keep-storage removes least recently used cache entries until the store fits" {
        run cb prune --keep-storage 1t
        [ "$status" -eq 0 ]
        [[ "$output" == *"removed 0 build cache records and 0 cache mounts"* ]]
        total=$(echo "$output" | sed -n 's/^store total: \([0-9]*\) bytes.*/\1/p')
        [ "$total" -gt 900000 ]
        # about 100 kB too much: the oldest entry (the 100 kB cache mount) goes, nothing else
        run cb prune --keep-storage $((total - 60000))
        [ "$status" -eq 0 ]
        [[ "$output" == *"removed 0 build cache records and 1 cache mounts"* ]]
        [ "$(after)" -le $((total - 60000)) ]
        blob "$B" && blob "$C"
        # about 900 kB too much: b's record and layer (600 kB: the 300 kB tar and its unpacked tree), then c's
        total=$(echo "$output" | sed -n 's/^store total: \([0-9]*\) bytes.*/\1/p')
        run cb prune --keep-storage $((total - 900000))
        [ "$status" -eq 0 ]
        [[ "$output" == *"removed 2 build cache records and 0 cache mounts"* ]]
        [ "$(after)" -le $((total - 400000)) ]
        # what the store holds is what prune said it holds
        [ "$(cb prune --keep-storage 1t | sed -n 's/^store total: \([0-9]*\) bytes.*/\1/p')" -eq "$(after)" ]
        ! blob "$B" && ! blob "$C"
        blob "$A"
        [ -d "$CB_ROOT/cache-mounts/fedcba9876543210" ]
        # a's layer is an image's: removing its record frees little, so it goes too, and the image stays
        run cb prune --keep-storage 1
        [ "$status" -eq 0 ]
        [[ "$output" == *"removed 1 build cache records and 1 cache mounts"* ]]
        blob "$A"
        cb inspect app-a:1 >/dev/null
        cb inspect tiny:1 >/dev/null
}

@test "a cache hit marks the record used" {
        rec=$(record_of "$A")
        before=$(stat -c %Y "$rec")
        run cb build -t app-a:1 "$CB_TMP/a"
        [ "$status" -eq 0 ]
        [[ "$output" == *"0 layer steps ran, 1 came from the cache"* ]]
        [ "$(stat -c %Y "$rec")" -gt "$before" ]
        # now the least recently used is c: a budget that needs one record removed takes c's
        run cb prune --keep-storage 1t
        total=$(echo "$output" | sed -n 's/^store total: \([0-9]*\) bytes.*/\1/p')
        rm -rf "$CB_ROOT/cache-mounts"
        touch -d '1 day ago' "$(record_of "$B")"
        run cb prune --keep-storage $((total - 200000))
        [ "$status" -eq 0 ]
        [[ "$output" == *"removed 1 build cache records"* ]]
        ! blob "$C"
        blob "$B" && blob "$A"
}

@test "the configuration's store budget is applied after each build, keeping the new image" {
        run cb prune --keep-storage 1t
        total=$(after)
        # a budget 150 kB under the store: b's record and layer (the least recently used) must go
        budget=$((total - 150000))
        printf 'registries: []\nstore:\n  keep_storage: %s\n' "$budget" >"$CB_TMP/config.yaml"
        ctx d 20000
        run "$CUBUILD" --root "$CB_ROOT" --config "$CB_TMP/config.yaml" build --progress plain "$CB_TMP/d"
        [ "$status" -eq 0 ]
        [[ "$output" == *"store budget $budget bytes: removed "*" build cache records"* ]]
        digest=$(echo "$output" | tail -1)
        ! blob "$B"
        blob "$A"
        # the untagged image just built survives its own budget run
        cb inspect "$digest" >/dev/null
        run cb prune --keep-storage 1t
        [ "$(after)" -le "$budget" ]
        # a bad budget is a build error naming the file and line
        printf 'store:\n  keep_storage: lots\n' >"$CB_TMP/bad.yaml"
        run "$CUBUILD" --root "$CB_ROOT" --config "$CB_TMP/bad.yaml" build "$CB_TMP/d"
        [ "$status" -eq 1 ]
        [[ "$output" == *"bad.yaml:2: store.keep_storage 'lots' is not a size like 20g"* ]]
}
