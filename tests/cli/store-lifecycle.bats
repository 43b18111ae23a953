#!/usr/bin/env bats
# Store lifecycle: `system df` accounts for what the store holds, `fsck` finds a corrupted blob and
# --repair removes it.

load helpers

setup_file() {
        cb_setup_store
        mkdir -p "$CB_TMP/rootfs/etc"
        echo hello >"$CB_TMP/rootfs/etc/greeting"
        tar -C "$CB_TMP/rootfs" -cf "$CB_TMP/rootfs.tar" .
        cb import "$CB_TMP/rootfs.tar" tiny:1 >/dev/null
}

teardown_file() {
        cb_teardown_store
}

@test "system df counts images, blobs and their bytes" {
        run cb system df --format json
        [ "$status" -eq 0 ]
        [ "$(echo "$output" | jq .images)" -eq 1 ]
        [ "$(echo "$output" | jq .blobs.entries)" -eq "$(ls "$CB_ROOT/blobs/sha256" | wc -l)" ]
        [ "$(echo "$output" | jq .blobs.bytes)" -gt 0 ]
        run cb system df
        [ "$status" -eq 0 ]
        [[ "${lines[0]}" == "KIND"*"ENTRIES"*"SIZE" ]]
        run cb system
        [ "$status" -eq 2 ]
}

@test "fsck passes a sound store, names a corrupted blob, and --repair removes it" {
        run cb fsck
        [ "$status" -eq 0 ]
        [[ "$output" == *"0 bad"* ]]
        cfg=$(cb inspect tiny:1 | jq -r .manifest.config.digest)
        chmod u+w "$CB_ROOT/blobs/sha256/${cfg#sha256:}"
        echo x >>"$CB_ROOT/blobs/sha256/${cfg#sha256:}"
        run cb fsck
        [ "$status" -eq 1 ]
        [[ "$output" == *"$cfg: content does not match"* ]]
        [[ "$output" == *"1 bad"* ]]
        run cb fsck --repair
        [ "$status" -eq 0 ]
        [ ! -e "$CB_ROOT/blobs/sha256/${cfg#sha256:}" ]
        run cb fsck
        [ "$status" -eq 0 ]
}
