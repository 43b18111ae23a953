#!/usr/bin/env bats
# The base-image fixtures (tests/fixtures/bases.sh): each base is checked for real, with skopeo, umoci
# and the rootfs's own tools, and the cache must not rebuild what it holds. The first run builds all
# three bases (about 2 minutes and 420 MB of wheels); later runs use the cache.

setup_file() {
        : "${CUBUILD_SOURCE_DIR:=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}"
        export CUBUILD_SOURCE_DIR
        export BASES="$CUBUILD_SOURCE_DIR/tests/fixtures/bases.sh"
        "$BASES" all >"$BATS_FILE_TMPDIR/all.out"
}

setup() {
        . "$CUBUILD_SOURCE_DIR/tests/fixtures/lib.sh"
}

manifest_digest() {
        jq -r '.manifests[0].digest' "$1/index.json"
}

# The image config of base NAME, as skopeo reads it from the layout.
config_of() {
        skopeo inspect --config "oci:$(fixture_oci "$1"):$1"
}

unpack() {
        local name=$1
        umoci unpack --image "$(fixture_oci "$name"):$name" "$BATS_TEST_TMPDIR/bundle" >&2
}

need_root() {
        [ "$(id -u)" -eq 0 ] || skip "chroot into the fixture rootfs needs root"
}

@test "bases.sh all prints one line per base, naming paths that exist" {
        run cat "$BATS_FILE_TMPDIR/all.out"
        [ "${#lines[@]}" -eq 3 ]
        local cache
        cache=$(fixtures_cache_dir)
        local i=0 name dir tar
        for want in bookworm bullseye cuda-11.8.0-runtime; do
                read -r name dir tar <<<"${lines[$i]}"
                [ "$name" = "$want" ]
                [ "$dir" = "$cache/oci/$want" ]
                [ "$tar" = "$cache/rootfs/$want.tar" ]
                [ -f "$dir/index.json" ]
                [ -f "$dir/oci-layout" ]
                [ -s "$tar" ]
                [ "$(fixture_oci "$want")" = "$dir" ]
                [ "$(fixture_rootfs "$want")" = "$tar" ]
                i=$((i + 1))
        done
}

@test "bases.sh rejects an unknown base and a missing name" {
        run "$BASES" bookworm ubuntu
        [ "$status" -ne 0 ]
        [[ "$output" == *"unknown base 'ubuntu'"* ]]
        run "$BASES"
        [ "$status" -eq 2 ]
        [[ "$output" == *usage* ]]
}

@test "each layout holds one manifest tagged with the base's name, and every blob matches its digest" {
        local name dir f
        for name in bookworm bullseye cuda-11.8.0-runtime; do
                dir=$(fixture_oci "$name")
                [ "$(jq '.manifests | length' "$dir/index.json")" -eq 1 ]
                [ "$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]' "$dir/index.json")" = "$name" ]
                for f in "$dir"/blobs/sha256/*; do
                        [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$(basename "$f")" ] ||
                                { echo "$f does not match its digest"; return 1; }
                done
                run skopeo inspect --raw "oci:$dir:$name"
                [ "$status" -eq 0 ]
                [ "$(jq -r '.layers[].mediaType' <<<"$output" | sort -u)" = application/vnd.oci.image.layer.v1.tar+gzip ]
        done
}

@test "Debian bases: skopeo reads PATH, Cmd and the fixed creation time" {
        local name
        for name in bookworm bullseye; do
                run skopeo inspect "oci:$(fixture_oci "$name"):$name"
                [ "$status" -eq 0 ]
                [ "$(jq -r .Created <<<"$output")" = 2024-01-01T00:00:00Z ]
                [ "$(jq -r .Architecture <<<"$output")" = amd64 ]
                [ "$(jq -c .Env <<<"$output")" = '["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]' ]
                [ "$(jq '.Layers | length' <<<"$output")" -eq 1 ]
                run config_of "$name"
                [ "$(jq -c .config.Cmd <<<"$output")" = '["bash"]' ]
        done
}

@test "cuda base: skopeo shows nvidia's Env, maintainer label and Cmd" {
        run skopeo inspect "oci:$(fixture_oci cuda-11.8.0-runtime):cuda-11.8.0-runtime"
        [ "$status" -eq 0 ]
        local env=$output
        want() { jq -e --arg v "$1" '.Env | index($v) != null' <<<"$env" >/dev/null || { echo "Env lacks $1"; return 1; }; }
        want PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        want NVARCH=x86_64
        want "NVIDIA_REQUIRE_CUDA=cuda>=11.8 brand=tesla,driver>=470,driver<471 brand=unknown,driver>=470,driver<471 brand=nvidia,driver>=470,driver<471 brand=nvidiartx,driver>=470,driver<471 brand=geforce,driver>=470,driver<471 brand=geforcertx,driver>=470,driver<471 brand=quadro,driver>=470,driver<471 brand=quadrortx,driver>=470,driver<471 brand=titan,driver>=470,driver<471 brand=titanrtx,driver>=470,driver<471"
        want NV_CUDA_CUDART_VERSION=11.8.89-1
        want CUDA_VERSION=11.8.0
        want LD_LIBRARY_PATH=/usr/local/nvidia/lib:/usr/local/nvidia/lib64
        want NVIDIA_VISIBLE_DEVICES=all
        want NVIDIA_DRIVER_CAPABILITIES=compute,utility
        want NV_LIBCUBLAS_VERSION=11.11.3.6-1
        [ "$(jq -r '.Labels.maintainer' <<<"$env")" = "NVIDIA CORPORATION <cudatools@nvidia.com>" ]
        [ "$(jq -r '.Labels["com.nvidia.cudnn.version"]' <<<"$env")" = null ]
        run config_of cuda-11.8.0-runtime
        [ "$(jq -c .config.Cmd <<<"$output")" = '["/bin/bash"]' ]
}

@test "cuda base: its first layer is the bullseye base's layer, the CUDA libraries are a layer on top" {
        local cuda bullseye
        cuda=$(skopeo inspect --raw "oci:$(fixture_oci cuda-11.8.0-runtime):cuda-11.8.0-runtime")
        bullseye=$(skopeo inspect --raw "oci:$(fixture_oci bullseye):bullseye")
        [ "$(jq '.layers | length' <<<"$cuda")" -eq 2 ]
        [ "$(jq -r '.layers[0].digest' <<<"$cuda")" = "$(jq -r '.layers[0].digest' <<<"$bullseye")" ]
}

@test "bookworm: umoci unpack gives a Debian 12 rootfs with apt" {
        unpack bookworm
        local r=$BATS_TEST_TMPDIR/bundle/rootfs
        [ -x "$r/usr/bin/apt-get" ]
        grep -q '^VERSION_ID="12"' "$r/etc/os-release"
        [ ! -e "$r/etc/hostname" ]
        [ -z "$(ls -A "$r/dev")" ]
        [ -z "$(find "$r/var/lib/apt/lists" -mindepth 1 -maxdepth 1 -type f ! -name lock)" ]
}

@test "bullseye: umoci unpack works and its glibc is 2.31" {
        unpack bullseye
        local r=$BATS_TEST_TMPDIR/bundle/rootfs
        grep -q '^VERSION_ID="11"' "$r/etc/os-release"
        [ -e "$r/lib/x86_64-linux-gnu/libc-2.31.so" ]
        need_root
        run chroot "$r" ldd --version
        [ "$status" -eq 0 ]
        [[ "${lines[0]}" == *" 2.31" ]]
}

@test "cuda base: umoci unpack works, libcudart and libcublas resolve through its ld.so.cache" {
        unpack cuda-11.8.0-runtime
        local r=$BATS_TEST_TMPDIR/bundle/rootfs lib=/usr/local/cuda-11.8/targets/x86_64-linux/lib
        [ "$(readlink "$r/usr/local/cuda")" = cuda-11.8 ]
        [ "$(readlink "$r$lib/libcudart.so.11.0")" = libcudart.so.11.8.89 ]
        [ "$(readlink "$r$lib/libcublas.so.11")" = libcublas.so.11.11.3.6 ]
        [ "$(readlink "$r$lib/libcublasLt.so.11")" = libcublasLt.so.11.11.3.6 ]
        [ -f "$r$lib/libcublasLt.so.11.11.3.6" ]
        [ "$(cat "$r/etc/ld.so.conf.d/nvidia.conf")" = "$(printf '/usr/local/nvidia/lib\n/usr/local/nvidia/lib64')" ]
        [ "$(cat "$r/etc/ld.so.conf.d/000_cuda.conf")" = /usr/local/cuda/targets/x86_64-linux/lib ]
        [ "$(cat "$r/etc/ld.so.conf.d/989_cuda-11.conf")" = /usr/local/cuda-11/targets/x86_64-linux/lib ]
        [ "$(readlink "$r/usr/local/cuda-11")" = cuda-11.8 ]
        [ "$(readlink "$r/usr/local/cuda-11.8/lib64")" = targets/x86_64-linux/lib ]
        [ -e "$r/lib/x86_64-linux-gnu/libc-2.31.so" ]
        need_root
        run chroot "$r" ldconfig -p
        [ "$status" -eq 0 ]
        [[ "$output" == *"libcudart.so.11.0 (libc6,x86-64) => /usr/local/cuda/targets/x86_64-linux/lib/libcudart.so.11.0"* ]]
        [[ "$output" == *"libcublas.so.11 (libc6,x86-64) => /usr/local/cuda/targets/x86_64-linux/lib/libcublas.so.11"* ]]
        [[ "$output" == *"libcublasLt.so.11 (libc6,x86-64) => /usr/local/cuda/targets/x86_64-linux/lib/libcublasLt.so.11"* ]]
        # The libraries load under the image's own glibc 2.31 (manylinux2014 wheels).
        run chroot "$r" /lib64/ld-linux-x86-64.so.2 --list "$lib/libcublas.so.11"
        [ "$status" -eq 0 ]
        [[ "$output" == *"libcublasLt.so.11 => $lib/libcublasLt.so.11"* ]]
        [[ "$output" != *"not found"* ]]
}

@test "rootfs tarballs list the system's files and no device nodes" {
        local name tar listing
        for name in bookworm bullseye cuda-11.8.0-runtime; do
                tar=$(fixture_rootfs "$name")
                listing=$(tar -tvf "$tar")
                grep -q ' \./usr/bin/apt-get$' <<<"$listing"
                grep -q ' \./usr/bin/dpkg$' <<<"$listing"
                grep -qE ' \./(usr/)?bin/bash$' <<<"$listing"
                if grep '^[cb]' <<<"$listing"; then
                        echo "$name: device nodes in the rootfs tar"
                        return 1
                fi
        done
        listing=$(tar -tf "$(fixture_rootfs bullseye)")
        grep -qx './lib/x86_64-linux-gnu/libc-2.31.so' <<<"$listing"
        listing=$(tar -tf "$(fixture_rootfs cuda-11.8.0-runtime)")
        grep -qx './usr/local/cuda-11.8/targets/x86_64-linux/lib/libcudart.so.11.8.89' <<<"$listing"
        grep -qx './etc/ld.so.cache' <<<"$listing"
}

@test "a second bases.sh call is fast and rebuilds nothing" {
        local cache before after t0 t1 name
        cache=$(fixtures_cache_dir)
        before=$(for name in bookworm bullseye cuda-11.8.0-runtime; do
                manifest_digest "$cache/oci/$name"
                stat -c '%i %Y' "$cache/oci/$name/index.json" "$cache/rootfs/$name.tar" "$cache/stamps/$name"
        done)
        t0=$(date +%s%N)
        run "$BASES" all
        t1=$(date +%s%N)
        [ "$status" -eq 0 ]
        [ "$output" = "$(cat "$BATS_FILE_TMPDIR/all.out")" ]
        after=$(for name in bookworm bullseye cuda-11.8.0-runtime; do
                manifest_digest "$cache/oci/$name"
                stat -c '%i %Y' "$cache/oci/$name/index.json" "$cache/rootfs/$name.tar" "$cache/stamps/$name"
        done)
        [ "$before" = "$after" ]
        echo "cached call took $(((t1 - t0) / 1000000)) ms"
        [ $(((t1 - t0) / 1000000)) -lt 1000 ]
}

# A scratch cache sharing the real cache's files through hard links: cheap, and what the script does
# there (mv, rm, new files) never touches the real cache's entries.
scratch_cache() {
        local real
        real=$(fixtures_cache_dir)
        mkdir -p "$BATS_TEST_TMPDIR/c"
        cp -al "$real/oci" "$real/rootfs" "$real/stamps" "$BATS_TEST_TMPDIR/c/"
        echo "$BATS_TEST_TMPDIR/c"
}

@test "a stale stamp rebuilds; a failed build says why and leaves no work dir" {
        local c
        c=$(scratch_cache)
        sed -i 's/^recipe=.*/recipe=0000000000000000/' "$c/stamps/bookworm"
        mkdir "$BATS_TEST_TMPDIR/bin"
        printf '#!/bin/sh\necho called >"%s/mmdebstrap.called"\nexit 1\n' "$BATS_TEST_TMPDIR" \
                >"$BATS_TEST_TMPDIR/bin/mmdebstrap"
        chmod +x "$BATS_TEST_TMPDIR/bin/mmdebstrap"
        CUBUILD_FIXTURES_DIR=$c PATH="$BATS_TEST_TMPDIR/bin:$PATH" run "$BASES" bullseye bookworm
        [ "$status" -ne 0 ]
        [ -f "$BATS_TEST_TMPDIR/mmdebstrap.called" ]
        [[ "$output" == *"error: mmdebstrap bookworm failed"* ]]
        [[ "$output" != *"bullseye minbase"* ]]
        [ -z "$(ls -A "$c/tmp")" ]
        # The fresh base is still served without running anything.
        CUBUILD_FIXTURES_DIR=$c PATH="$BATS_TEST_TMPDIR/bin:$PATH" run "$BASES" bullseye
        [ "$status" -eq 0 ]
        [ "$output" = "bullseye $c/oci/bullseye $c/rootfs/bullseye.tar" ]
}

@test "a caller waits for the lock, then takes what the other process built" {
        local c
        c=$(scratch_cache)
        mv "$c/stamps/bookworm" "$BATS_TEST_TMPDIR/stamp"
        # Stand in for a process building bookworm: hold the lock until told to finish.
        mkfifo "$BATS_TEST_TMPDIR/go"
        # shellcheck disable=SC2016 # expanded by the inner sh
        timeout 60 flock "$c/lock" sh -c 'read x <"$1"; mv "$2" "$3"' sh "$BATS_TEST_TMPDIR/go" \
                "$BATS_TEST_TMPDIR/stamp" "$c/stamps/bookworm" &
        local holder=$!
        sleep 0.5
        CUBUILD_FIXTURES_DIR=$c timeout 60 "$BASES" bookworm >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
        local caller=$!
        sleep 1
        # Still waiting: nothing printed, nothing built.
        kill -0 "$caller"
        [ ! -s "$BATS_TEST_TMPDIR/out" ]
        echo go >"$BATS_TEST_TMPDIR/go"
        wait "$holder"
        wait "$caller"
        [ "$(cat "$BATS_TEST_TMPDIR/out")" = "bookworm $c/oci/bookworm $c/rootfs/bookworm.tar" ]
        grep -q 'waiting for another process' "$BATS_TEST_TMPDIR/err"
        run grep -c '^fixtures: mmdebstrap ' "$BATS_TEST_TMPDIR/err"
        [ "$output" = 0 ]
}

@test "from an empty cache, two concurrent builds give one build with the same digests as the cache" {
        [ "${CUBUILD_FIXTURES_REBUILD:-}" = 1 ] ||
                skip "rebuilds every base from an empty cache (2-3 min, 420 MB download); set CUBUILD_FIXTURES_REBUILD=1"
        local c=$BATS_TEST_TMPDIR/empty name
        CUBUILD_FIXTURES_DIR=$c "$BASES" all >"$BATS_TEST_TMPDIR/a.out" 2>"$BATS_TEST_TMPDIR/a.err" &
        local a=$!
        sleep 1
        CUBUILD_FIXTURES_DIR=$c "$BASES" all >"$BATS_TEST_TMPDIR/b.out" 2>"$BATS_TEST_TMPDIR/b.err"
        wait "$a"
        cmp "$BATS_TEST_TMPDIR/a.out" "$BATS_TEST_TMPDIR/b.out"
        # bookworm and bullseye each bootstrapped once, by one of the two
        [ "$(cat "$BATS_TEST_TMPDIR/a.err" "$BATS_TEST_TMPDIR/b.err" | grep -c '^fixtures: mmdebstrap ')" -eq 2 ]
        for name in bookworm bullseye cuda-11.8.0-runtime; do
                [ "$(manifest_digest "$c/oci/$name")" = "$(manifest_digest "$(fixture_oci "$name")")" ] ||
                        { echo "$name: digest differs from the cache's (mirror changed since?)"; return 1; }
        done
}
