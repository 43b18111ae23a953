# shellcheck shell=bash
# The real-build case of bake.bats (on a small base) and bake-bookworm.heavy.bats (on the bookworm fixture):
# bake_real_build BASE_REF runs in the test's directory, with CB_ROOT holding BASE_REF.

# mini_base NAME: imports a base of a few MB (the host's dash, cat, cp, date and libc) into CB_ROOT.
mini_base() {
        local r="$BATS_FILE_TMPDIR/minirootfs"
        rm -rf "$r"
        mkdir -p "$r/bin" "$r/lib/x86_64-linux-gnu" "$r/lib64"
        cp /bin/dash "$r/bin/sh"
        cp /bin/date /bin/cat /bin/cp "$r/bin/"
        cp "$(readlink -f /lib/x86_64-linux-gnu/libc.so.6)" "$r/lib/x86_64-linux-gnu/libc.so.6"
        cp "$(readlink -f /lib64/ld-linux-x86-64.so.2)" "$r/lib64/ld-linux-x86-64.so.2"
        local l
        for l in $(ldd /bin/cp | awk '/=>/ {print $3}'); do
                [ -e "$r/lib/x86_64-linux-gnu/$(basename "$l")" ] ||
                        cp "$(readlink -f "$l")" "$r/lib/x86_64-linux-gnu/$(basename "$l")"
        done
        tar -C "$r" -cf "$BATS_FILE_TMPDIR/mini.tar" .
        cb import "$BATS_FILE_TMPDIR/mini.tar" "$1" >/dev/null
}

bake_real_build() {
        mkdir -p b/base b/app b/ctx b/side
        printf 'FROM %s\nARG MSG\nRUN echo "$MSG" >/base.txt\n' "$1" >b/base/Dockerfile
        # FROM names the base target's tag: app waits for it
        printf 'FROM bake/base:${V}\nARG V\nRUN cat /base.txt >/app.txt && echo app >>/app.txt\n' >b/app/Dockerfile
        sed -i '1i ARG V=1' b/app/Dockerfile
        # contexts: basectx: target:base stands in for FROM basectx
        printf 'FROM basectx\nRUN cp /base.txt /ctx.txt\n' >b/ctx/Dockerfile
        printf 'FROM %s\nRUN echo side >/side.txt\n' "$1" >b/side/Dockerfile
        cat >b/cubuild.yaml <<'YAML'
variable:
  V:
    default: "1"
group:
  default:
    targets: [app, ctx, side]
target:
  base:
    context: b/base
    args: {MSG: hello}
    tags: ["bake/base:${V}"]
  app:
    context: b/app
    tags: ["bake/app:${V}"]
  ctx:
    context: b/ctx
    contexts:
      basectx: target:base
    tags: ["bake/ctx:${V}"]
  side:
    context: b/side
    tags: ["bake/side:${V}"]
YAML
        run "$CUBUILD" --root "$CB_ROOT" bake -f b/cubuild.yaml --metadata-file meta.json
        echo "$output"
        [ "$status" -eq 0 ]
        # base is built before the two targets that need it
        base_done=$(echo "$output" | grep -n '^bake: base sha256:' | cut -d: -f1)
        app_start=$(echo "$output" | grep -n '^bake: building app$' | cut -d: -f1)
        ctx_start=$(echo "$output" | grep -n '^bake: building ctx$' | cut -d: -f1)
        side_start=$(echo "$output" | grep -n '^bake: building side$' | cut -d: -f1)
        [ "$base_done" -lt "$app_start" ]
        [ "$base_done" -lt "$ctx_start" ]
        # side needs nothing: it starts beside base, before base is done
        [ "$side_start" -lt "$base_done" ]
        # each child's output is prefixed with its target
        [[ "$output" == *"[side] STEP"* ]]
        for t in base app ctx side; do
                [ "$(jq -r ".$t[\"containerimage.digest\"]" meta.json)" = "$(cb inspect "bake/$t:1" | jq -r .digest)" ]
        done
        # ctx is base plus one layer: FROM basectx was base's image
        base_layers=$(cb inspect bake/base:1 | jq -c '[.manifest.layers[].digest]')
        [ "$(cb inspect bake/ctx:1 | jq -c '[.manifest.layers[].digest][:-1]')" = "$base_layers" ]
        # the images hold what the chain wrote
        run cb save --format oci-archive -o app.tar bake/app:1
        [ "$status" -eq 0 ]
        mkdir x && tar -C x -xf app.tar
        top=$(jq -r '.manifests[0].digest' x/index.json)
        layer=$(jq -r '.layers[-1].digest' "x/blobs/sha256/${top#sha256:}")
        [ "$(tar -xzOf "x/blobs/sha256/${layer#sha256:}" app.txt)" = "$(printf 'hello\napp')" ]
        # a second bake builds nothing again
        run "$CUBUILD" --root "$CB_ROOT" bake -f b/cubuild.yaml
        [ "$status" -eq 0 ]
        [ "$(echo "$output" | grep -c 'layer steps ran' )" -eq 4 ]
        [ "$(echo "$output" | grep -c '0 layer steps ran' )" -eq 4 ]
}
