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
        [ -z "$(ls -A "$r/var/lib/apt/lists" | grep -v -e '^lock$' -e '^partial$' || true)" ]
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
        grep -qx /usr/local/nvidia/lib64 "$r/etc/ld.so.conf.d/nvidia.conf"
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
