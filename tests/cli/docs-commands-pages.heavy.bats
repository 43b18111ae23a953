#!/usr/bin/env bats
# The docs' commands, the heavy part: every runnable block of docs/getting-started.md,
# docs/configuration.md, docs/audit.md and docs/compat.md, run in order, one shell per page, from the
# repository root, as tests/cli/docs-commands.py extracts them (the convention is stated there);
# README.md's "Using it" block and docs/bake.md's CI job (the golden image on two runners), mirrored;
# docs/ci.md's GitHub jobs with examples/golden itself (the default suite uses a small context).
# Heavy because the pages build and fill several stores: measured at load 8 on this machine,
# getting-started 13 s, configuration 32 s, audit 56 s, README 29 s, compat 22 s (225 s for the five
# with setup and teardown; removing the stores takes long on this disk), bake's CI job 204 s (apt and
# PyPI on the first runner; the second builds from the registry cache), ci.md's golden jobs 250 s. The light part:
# docs-commands.bats.
load helpers
load docs-commands

@test "docs/getting-started.md: every sh block runs" {
        local port
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        # the page starts its own registry, on REGISTRY: a free port rather than 5000
        run run_page getting-started.md REGISTRY="127.0.0.1:$port"
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"all 5 blocks of docs/getting-started.md ran"* ]]
        # what the page says it shows: the digest, the Cmd, the pushed tag, the image in the 2nd store
        [[ "$output" =~ sha256:[0-9a-f]{64} ]]
        [[ "$output" == *"cat /hello.txt"* ]]
        [[ "$output" == *'"name":"demo/hello","tags":['*'"1"'* ]]
}

@test "docs/configuration.md: every sh block runs" {
        run run_page configuration.md
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"all "*" blocks of docs/configuration.md ran"* ]]
}

@test "docs/audit.md: every block runs and prints what the page shows" {
        run run_page audit.md
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"all 6 blocks of docs/audit.md ran"* ]]
}

# README.md's "Using it" block, mirrored one to one: each line of the block (read from the README)
# has its concrete commands here, with the placeholders filled in (NAME, CONTEXT, REGISTRY, ...); a
# line without a counterpart, or a counterpart without its line, fails the test. The context's base
# is the tiny image; REGISTRY is the fixture registry; verify has no GPU here, so it must exit 3.
@test "README.md, Using it: every line, mirrored with its placeholders filled in" {
        hub_mirror
        local -A m
        m['cubuild [--root DIR] build -f Dockerfile -t NAME[:TAG] [--build-arg K=V] [--secret id=ID,src=PATH] CONTEXT']='
cubuild --root "$CUBUILD_ROOT" build -f Dockerfile -t use/app:1 --build-arg K=V --secret id=ID,src=../secret.txt .
cubuild build -t use/plain .'
        m['cubuild -t NAME .                    # no command means build']='
SOURCE_DATE_EPOCH=1700000000 cubuild -t use/app:2 --build-arg K=2 .'
        m['cubuild images | inspect NAME | tag NAME NEW | rm NAME']='
cubuild images | grep -q "use/app:1"
cubuild inspect use/app:1 | jq -e ".config.rootfs.diff_ids"
cubuild tag use/app:1 use/app:new
cubuild rm use/app:new'
        m['cubuild import ROOTFS.tar NAME       # a rootfs tarball as a one-layer image']='
mkdir -p ../rootfs/etc && echo x >../rootfs/etc/x && tar -C ../rootfs -cf ../rootfs.tar .
cubuild import ../rootfs.tar use/rootfs:1'
        m['cubuild load [-t NAME] DIR[:REF]|ARCHIVE.tar   # an OCI layout, docker-archive or oci-archive']='
skopeo copy --quiet oci:"$BOOKWORM":bookworm docker-archive:"$CB_TMP/out/d.tar":use/loaded:2
cubuild load -t use/loaded:1 "$BOOKWORM:bookworm"
cubuild load "$CB_TMP/out/d.tar"
cubuild images | grep -q "use/loaded:2"'
        m['cubuild save [-o FILE] [--format docker-archive|oci-archive|oci-dir] NAME']='
cubuild save -o "$CB_TMP/out/app.tar" --format docker-archive use/app:1
cubuild save -o "$CB_TMP/out/app-oci.tar" --format oci-archive use/app:1
cubuild save -o "$CB_TMP/out/app-dir" --format oci-dir use/app:1
cubuild save use/app:1 >"$CB_TMP/out/stdout.tar" && tar -tf "$CB_TMP/out/stdout.tar" | grep -c manifest.json >/dev/null'
        m['cubuild pull REF | push NAME [DEST] | login -u USER --password-stdin REGISTRY']='
cubuild push use/app:1 "$REGISTRY/use/app:1"
cubuild tag use/app:1 "$REGISTRY/use/app:3" && cubuild push "$REGISTRY/use/app:3"
cubuild --root "$CB_TMP/store-pull" pull "$REGISTRY/use/app:1"
echo not-a-real-password | cubuild login -u ci --password-stdin "$REGISTRY"'
        m['cubuild check [-f Dockerfile] [--format json] [CONTEXT]   # parse and lint, CUDA rules included']='
cubuild check
cubuild check -f Dockerfile --format json . | jq -e .'
        m['cubuild verify NAME                  # GPU verification of a store image']='
r=0; cubuild verify use/app:1 || r=$?; [ "$r" = 3 ]'
        m['cubuild compat NAME                  # static CUDA report: versions, GPU architectures, minimum driver']='
cubuild compat use/app:1 | grep -q "no CUDA runtime"'
        m['cubuild --registry-mirror 127.0.0.1:5000 build ...   # FROM docker.io images through a mirror']='
cubuild --root "$CB_TMP/store-mirror" --registry-mirror "$REGISTRY" build -t use/mirrored .'
        m['cubuild build -o type=oci,dest=DIR . # also write the image as an OCI layout']='
cubuild build -o type=oci,dest="$CB_TMP/out/layout" -t use/layout:1 .
jq -e ".manifests | length > 0" "$CB_TMP/out/layout/index.json"'
        m['cubuild build --jobs 4 --cache-from type=registry,ref=R --cache-to type=registry,ref=R,mode=max .']='
cubuild build --jobs 4 --cache-from type=registry,ref="$REGISTRY/use/cache:1" --cache-to type=registry,ref="$REGISTRY/use/cache:1",mode=max .'
        m['cubuild bake [-f cubuild.yaml] [TARGET...] [--print]   # several images from one YAML/bake file']='
printf "target:\n  app:\n    context: .\n    tags: [use/baked:1]\n" >../cubuild.yaml
cubuild bake -f ../cubuild.yaml --print app | jq -e ".target.app"
cubuild bake -f ../cubuild.yaml app'
        m['cubuild diff A B | rebuild-check NAME --context DIR | attestations NAME   # audit by digest']='
r=0; cubuild diff use/app:1 use/app:2 || r=$?; [ "$r" = 1 ]
cubuild rebuild-check use/app:2 --context .
cubuild attestations use/app:2 | grep -q provenance'
        m['cubuild system df | fsck [--repair] | prune [--all]   # the store'"'"'s size and health']='
cubuild system df
cubuild fsck
cubuild fsck --repair
cubuild prune
cubuild prune --all'
        run docs_block README.md readme-using
        [ "$status" -eq 0 ]
        local block=$output line script="" n=0
        while IFS= read -r line; do
                [ -n "$line" ] || continue
                [ -n "${m[$line]+set}" ] || { echo "README.md line without a mirror here: $line"; false; }
                script+=$'\n'"echo '--- README: '$(printf '%q' "$line") >&2${m[$line]}"
                n=$((n + 1))
        done <<<"$block"
        [ "$n" -eq "${#m[@]}" ] || { echo "$n README lines, ${#m[@]} mirrored: a mirrored line left the README"; false; }
        mkdir -p "$CB_TMP/using/ctx" "$CB_TMP/out"
        printf 'FROM tiny\nARG K\nRUN --mount=type=secret,id=ID echo "k=$K" >/k.txt\nCOPY a.txt /\n' >"$CB_TMP/using/ctx/Dockerfile"
        echo a >"$CB_TMP/using/ctx/a.txt"
        echo s3cret >"$CB_TMP/using/secret.txt"
        cd "$CB_TMP/using/ctx"
        run env PATH="$CB_TMP/bin:$PATH" CUBUILD_ROOT="$CB_ROOT" REGISTRY="$REGISTRY_HOST" DOCKER_CONFIG="$CB_TMP/using/docker" \
                CB_TMP="$CB_TMP" BOOKWORM="$(fixture_oci bookworm)" bash -c "set -eo pipefail$script"
        echo "$output"
        [ "$status" -eq 0 ]
        [ "$(grep -c '^--- README: ' <<<"$output")" -eq "$n" ]
}

@test "docs/compat.md: the report of the page, on the CUDA 11.8 runtime fixture" {
        # the fixture stands in for nvidia/cuda:11.8.0-runtime-ubuntu22.04 (its libraries are NVIDIA's)
        cb_load_base cuda-11.8.0-runtime nvidia/cuda:11.8.0-runtime-ubuntu22.04
        run run_page compat.md
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"all 1 blocks of docs/compat.md ran"* ]]
}

# cuda_mirror: the fixture registry as the docker.io mirror, holding the CUDA base the golden
# Dockerfile starts from; the config file is $CB_TMP/golden-config.yaml.
cuda_mirror() {
        skopeo copy --quiet --dest-tls-verify=false "oci:$(fixture_oci cuda-11.8.0-runtime):cuda-11.8.0-runtime" \
                "docker://$REGISTRY_HOST/nvidia/cuda:11.8.0-runtime-ubuntu20.04"
        printf 'registries:\n  - prefix: docker.io\n    mirrors:\n      - location: %s\n        insecure: true\n' \
                "$REGISTRY_HOST" >"$CB_TMP/golden-config.yaml"
}

# docs/bake.md's CI job, mirrored: the block as written, run by two runners with empty stores, with
# harbor.example.com the fixture registry, Docker Hub (nvidia/cuda) that registry as a mirror, and
# the CA bundle of this network's TLS-inspecting proxy as the golden Dockerfile's `ca` secret.
@test "docs/bake.md: the CI job on two runners; the second runs no RUN step (examples/golden)" {
        cuda_mirror
        run docs_block docs/bake.md bake-ci-job
        [ "$status" -eq 0 ]
        cmd="${output//harbor.example.com/$REGISTRY_HOST}"
        # the secret goes first: cubuild takes no option after the context (docker does)
        cmd="cubuild build --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt ${cmd#cubuild build }"
        cd "$CUBUILD_SOURCE_DIR"
        for runner in a b; do
                run env PATH="$CB_TMP/bin:$PATH" CUBUILD_ROOT="$CB_TMP/runner-$runner" CUBUILD_CONFIG="$CB_TMP/golden-config.yaml" \
                        bash -c "set -eo pipefail; $cmd"
                echo "$output"
                [ "$status" -eq 0 ]
        done
        [[ "$output" == *"0 layer steps ran"* ]]
        curl -fs "http://$REGISTRY_HOST/v2/ai-platform/pytorch-cuda/tags/list" | grep -q '"2.9"'
}

# docs/ci.md's GitHub Actions file with examples/golden itself (the default suite uses a small
# context): the build job on two runners, the second building from the registry cache, then verify.
@test "docs/ci.md, GitHub Actions, examples/golden: two runners, the second runs no step; verify" {
        cuda_mirror
        export CUBUILD_CONFIG="$CB_TMP/golden-config.yaml"
        export STANDIN_BUILD_ARGS="--secret id=ca,src=/etc/ssl/certs/ca-certificates.crt"
        for runner in gh-golden-a gh-golden-b; do
                STANDIN_RUN=$runner run standin ci docs/ci.md github-actions build
                echo "$output"
                [ "$status" -eq 0 ]
        done
        a="$CB_TMP/runners/gh-golden-a/build" b="$CB_TMP/runners/gh-golden-b/build"
        [ "$(jq -r .layer_steps_run "$a/build.json")" -ge 4 ]
        [ "$(jq -r .layer_steps_run "$b/build.json")" = 0 ]
        [ "$(cat "$b/iid")" = "$(cat "$a/iid")" ]
        STANDIN_RUN=gh-golden-b run standin ci docs/ci.md github-actions verify
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"standin: job verify of github-actions passed"* ]]
}
