#!/usr/bin/env bats
# The docs' commands, the light part (default suite): every error block of docs/troubleshooting.md
# fails with the message the page shows; every page's blocks extract under the convention of
# tests/cli/docs-commands.py; the drift guard (every shell block of docs/ and README.md is run,
# mirrored or skipped with a reason); docs/ci.md's GitHub Actions and GitLab CI jobs and
# docs/kubernetes.md's Job run by their stand-in (tests/cli/docs-commands-standin.py) against the fixture
# registry; docs/bake.md's block, and its two synopses mirrored line by line. The heavier pages
# (getting-started, configuration, audit, compat, README's "Using it", bake's CI job on the golden
# image) run in docs-commands-pages.heavy.bats.
load helpers
load docs-commands

@test "docs/troubleshooting.md: every error block fails with the message the page shows" {
        run run_page troubleshooting.md
        # ten entries, each a failing block with its message
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"all "*" blocks of docs/troubleshooting.md ran"* ]]
}

@test "every page's blocks extract: each page has runnable blocks, each fails block its message" {
        for page in getting-started configuration troubleshooting audit compat bake; do
                python3 "$CUBUILD_SOURCE_DIR/tests/cli/docs-commands.py" "$CUBUILD_SOURCE_DIR/docs/$page.md" >"$CB_TMP/$page.sh"
                bash -n "$CB_TMP/$page.sh"
        done
        [ "$(grep -c '^echo .--- running the block' "$CB_TMP/getting-started.sh")" -eq 5 ]
        [ "$(grep -c '^echo .--- running the block' "$CB_TMP/troubleshooting.sh")" -eq 11 ]
        [ "$(grep -c 'expected .* to fail' "$CB_TMP/troubleshooting.sh")" -eq 10 ]
}

@test "drift guard: every shell block of docs/ and README.md is run, mirrored or skipped with a reason; inline cubuild commands use real options" {
        run python3 "$CUBUILD_SOURCE_DIR/tests/cli/docs-commands.py" --check
        echo "$output"
        [ "$status" -eq 0 ]
}

@test "the CI stand-in's line parser reads docs/ci.md's jobs as PyYAML does" {
        python3 -c 'import yaml' || skip "PyYAML is not installed: only the line parser is there"
        cd "$CUBUILD_SOURCE_DIR"
        run python3 tests/cli/docs-commands-standin.py compare docs/ci.md
        echo "$output"
        [ "$status" -eq 0 ]
        [ "$(grep -c ': same$' <<<"$output")" -eq 4 ]
}

@test "docs/ci.md, GitHub Actions: build on two runners that share nothing, then verify" {
        hub_mirror
        export STANDIN_GOLDEN
        STANDIN_GOLDEN=$(small_golden)
        STANDIN_RUN=gh-a run standin ci docs/ci.md github-actions build
        echo "$output"
        [ "$status" -eq 0 ]
        a="$CB_TMP/runners/gh-a/build"
        [ "$(jq -r .layer_steps_run "$a/build.json")" -ge 1 ]
        [ "$(cat "$a/iid")" = "$(jq -r '.["containerimage.digest"]' "$a/build.json")" ]
        # a second runner with an empty store: the registry cache, no RUN step again, the same image
        STANDIN_RUN=gh-b run standin ci docs/ci.md github-actions build
        echo "$output"
        [ "$status" -eq 0 ]
        b="$CB_TMP/runners/gh-b/build"
        [ "$(jq -r .layer_steps_run "$b/build.json")" = 0 ]
        [ "$(cat "$b/iid")" = "$(cat "$a/iid")" ]
        STANDIN_RUN=gh-b run standin ci docs/ci.md github-actions verify
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"standin: job verify of github-actions passed"* ]]
}

@test "docs/ci.md, GitLab CI: the build job, then the verify job on another runner" {
        hub_mirror
        export STANDIN_GOLDEN
        STANDIN_GOLDEN=$(small_golden)
        STANDIN_RUN=gl run standin ci docs/ci.md gitlab-ci build
        echo "$output"
        [ "$status" -eq 0 ]
        digest=$(jq -r '.["containerimage.digest"]' "$CB_TMP/runners/gl/build/build.json")
        [[ "$digest" == sha256:* ]]
        STANDIN_RUN=gl run standin ci docs/ci.md gitlab-ci verify
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"pulled $REGISTRY_HOST/ml/pytorch-cuda:01234567"* ]]
        [[ "$output" == *"standin: job verify of gitlab-ci passed"* ]]
}

@test "docs/kubernetes.md: the Job's container, with the privileges the page gives it and without SYS_ADMIN" {
        hub_mirror
        export STANDIN_GOLDEN
        STANDIN_GOLDEN=$(small_golden k8s)
        # the narrower form: the runtime's default capabilities plus SYS_ADMIN, uid 0, cwd /; its
        # own Dockerfile, so that the RUN step runs in the sandbox rather than coming from the cache
        STANDIN_RUN=k8s run standin k8s docs/kubernetes.md
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"2 layer steps ran, 0 came from the cache"* ]]
        [[ "$output" == *"standin: capabilities: chown,"*",sys_admin"* ]]
        curl -fs "http://$REGISTRY_HOST/v2/ml/pytorch-cuda/tags/list" | grep -q '"2.9"'
        "$CUBUILD" --root "$CB_TMP/runners/k8s/pod/volumes/store" images | grep -q "^$REGISTRY_HOST/ml/pytorch-cuda:2.9 "
        # without SYS_ADMIN cubuild cannot make its mount namespace, and says what it needs
        STANDIN_RUN=k8s-nocap STANDIN_CAPS_DROP=sys_admin run standin k8s docs/kubernetes.md
        echo "$output"
        [ "$status" -ne 0 ]
        [[ "$output" != *"sys_admin"* ]]
        [[ "$output" == *"cubuild needs root or CAP_SYS_ADMIN"* ]]
        # the GPU-node variant the page describes: pull and verify; no GPU here, so exit 3
        STANDIN_RUN=k8s run standin k8s docs/kubernetes.md \
                "cubuild pull harbor.example.com/ml/pytorch-cuda:2.9 && cubuild verify harbor.example.com/ml/pytorch-cuda:2.9"
        echo "$output"
        [ "$status" -eq 3 ]
        [[ "$output" == *"no GPU"* ]]
}

@test "docs/bake.md: the golden plan prints; the synopsis, mirrored, on the page's own bake file" {
        hub_mirror
        # REGISTRY is the golden file's tag prefix: unset, as in a plain shell
        run run_page bake.md REGISTRY=
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"all 1 blocks of docs/bake.md ran"* ]]
        [[ "$output" == *'"ai-platform/pytorch-cuda:2.9-devel"'* ]]
        # the synopsis, one command over two lines: each option in it is used below
        run docs_block docs/bake.md bake-synopsis
        [ "$status" -eq 0 ]
        [ "$output" = "cubuild bake [-f FILE] [TARGET|GROUP...] [--set T.KEY=VALUE]... [--print]
             [--no-cache] [--push] [--metadata-file FILE] [-j N] [--progress auto|plain|quiet]" ]
        # FILE: the page's example file, as written; tools' Dockerfile starts FROM base (app's image)
        d="$CB_TMP/bake-page"
        mkdir -p "$d"
        awk '/^```yaml/ { n++; inside = (n == 1); next } /^```/ { inside = 0 } inside' \
                "$CUBUILD_SOURCE_DIR/docs/bake.md" >"$d/cubuild.yaml"
        printf 'FROM tiny\nARG PY\nRUN echo "$PY" >/py\n' >"$d/Dockerfile"
        printf 'FROM base\nRUN cat /py >/tools\n' >"$d/Dockerfile.tools"
        cd "$d"
        run cb bake -f cubuild.yaml app tools --set 'app.args.PY=3.12' --set tools.dockerfile=Dockerfile.tools --print
        echo "$output"
        [ "$status" -eq 0 ]
        # --set applies after inheritance: tools keeps the inherited 3.11
        [ "$(jq -r .target.app.args.PY <<<"$output")/$(jq -r .target.tools.args.PY <<<"$output")" = 3.12/3.11 ]
        [ "$(jq -r '.target.app.tags[0]' <<<"$output")" = ai-platform/app:dev ]
        # verify: require has no GPU here: skip it with --set, as the page's keys allow
        IMAGE="$REGISTRY_HOST/ai-platform/app" TAG=2.9 run cb bake -f cubuild.yaml --set '*.verify=skip' \
                --set tools.dockerfile=Dockerfile.tools --no-cache --push --metadata-file "$d/m.json" -j 2 --progress plain
        echo "$output"
        [ "$status" -eq 0 ]
        [ "$(jq -r '.tools.layer_steps_run' "$d/m.json")" = 1 ]
        curl -fs "http://$REGISTRY_HOST/v2/ai-platform/app-tools/tags/list" | grep -q '"2.9"'
}

@test "docs/bake.md: the cache flags' synopsis, mirrored line by line" {
        hub_mirror
        local -A m
        m['cubuild build --cache-to type=registry,ref=REGISTRY/REPO:buildcache[,mode=min|max] ...']='
cubuild build --cache-to type=registry,ref="$REGISTRY/bake/repo:buildcache" -t bc:1 "$C"
cubuild build --cache-to type=registry,ref="$REGISTRY/bake/repo:buildcache-min",mode=min "$C"
cubuild build --cache-to type=registry,ref="$REGISTRY/bake/repo:buildcache-max",mode=max "$C"'
        m['cubuild build --cache-from type=registry,ref=REGISTRY/REPO:buildcache ...   (or just --cache-from REF)']='
cubuild --root "$CB_TMP/bc2" build --cache-from type=registry,ref="$REGISTRY/bake/repo:buildcache" --metadata-file "$CB_TMP/bc2.json" "$C"
cubuild --root "$CB_TMP/bc3" build --cache-from "$REGISTRY/bake/repo:buildcache-max" --metadata-file "$CB_TMP/bc3.json" "$C"
[ "$(jq -r .layer_steps_run "$CB_TMP/bc2.json")$(jq -r .layer_steps_run "$CB_TMP/bc3.json")" = 00 ]'
        m['cubuild build --cache-to type=local,dest=DIR[,mode=...]   --cache-from type=local,src=DIR']='
cubuild build --cache-to type=local,dest="$CB_TMP/bc-local",mode=max "$C"
cubuild --root "$CB_TMP/bc4" build --cache-from type=local,src="$CB_TMP/bc-local" --metadata-file "$CB_TMP/bc4.json" "$C"
[ "$(jq -r .layer_steps_run "$CB_TMP/bc4.json")" = 0 ]'
        run docs_block docs/bake.md bake-cache-synopsis
        [ "$status" -eq 0 ]
        local block=$output line script="" n=0
        while IFS= read -r line; do
                [ -n "${m[$line]+set}" ] || { echo "docs/bake.md line without a mirror here: $line"; false; }
                script+=$'\n'"echo '--- docs/bake.md: '$(printf '%q' "$line") >&2${m[$line]}"
                n=$((n + 1))
        done <<<"$block"
        [ "$n" -eq "${#m[@]}" ]
        mkdir -p "$CB_TMP/bc-ctx"
        printf 'FROM tiny\nRUN cat /proc/sys/kernel/random/uuid >/id\n' >"$CB_TMP/bc-ctx/Dockerfile"
        run env PATH="$CB_TMP/bin:$PATH" CUBUILD_ROOT="$CB_ROOT" REGISTRY="$REGISTRY_HOST" C="$CB_TMP/bc-ctx" CB_TMP="$CB_TMP" \
                bash -c "set -eo pipefail$script"
        echo "$output"
        [ "$status" -eq 0 ]
}

@test "docs/registry.md's and docs/configuration.md's config files, as written, are read: a blocked prefix refuses" {
        for page in registry configuration; do
                awk '/^```yaml/ { n++; inside = (n == 1); next } /^```/ { inside = 0 } inside' \
                        "$CUBUILD_SOURCE_DIR/docs/$page.md" >"$CB_TMP/$page-config.yaml"
                run cb --config "$CB_TMP/$page-config.yaml" pull evil.example.com/x:1
                echo "$output"
                [ "$status" -eq 1 ]
                [[ "$output" == *"'evil.example.com/x' is blocked by the registries config (prefix 'evil.example.com')"* ]]
        done
}
