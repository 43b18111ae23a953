#!/usr/bin/env bats
# examples/seeds: the lightest seed (C: multi-stage, jupyterlab in a -devel stand-in, its site-packages
# copied into a -runtime stand-in) built as examples/README.md says. Needs PyPI (through the host's CA)
# and Debian's mirror. Seeds A and B: examples-seeds.heavy.bats.
load helpers

setup_file() {
        cb_setup_store
        export CA=/etc/ssl/certs/ca-certificates.crt
        export SEEDS="$CUBUILD_SOURCE_DIR/examples/seeds"
}

teardown_file() {
        cb_teardown_store
}

need_network() {
        curl -fsS --max-time 15 -o /dev/null https://pypi.org/simple/pip/ ||
                skip "PyPI is not reachable from here (the seeds install from it)"
}

@test "the pytorch/pytorch stand-in builds on the CUDA base and is tagged with the seeds' names" {
        need_network
        cb_load_base cuda-11.8.0-runtime nvidia/cuda:11.8.0-runtime-ubuntu20.04
        run cb build --verify skip --secret "id=ca,src=$CA" --build-arg FLAVOR=devel \
                -t pytorch/pytorch:2.9.0-cuda11.8-devel "$SEEDS/standins/pytorch"
        [ "$status" -eq 0 ] || { echo "$output" | tail -20; false; }
        cb tag pytorch/pytorch:2.9.0-cuda11.8-devel pytorch/pytorch:2.9.0-cuda11.8-runtime
        cb inspect pytorch/pytorch:2.9.0-cuda11.8-runtime >"$CB_TMP/standin.json"
        jq -e '.. | .Env? // empty | map(select(startswith("PATH=/opt/conda/bin:"))) | length == 1' \
                "$CB_TMP/standin.json" >/dev/null
}

@test "seed C builds: jupyterlab from the -devel stage importable in the -runtime image, CMD kept" {
        need_network
        cb inspect pytorch/pytorch:2.9.0-cuda11.8-runtime >/dev/null || skip "the stand-in test failed"
        run cb build --verify skip --secret "id=ca,src=$CA" -t seed-c "$SEEDS/c"
        [ "$status" -eq 0 ] || { echo "$output" | tail -20; false; }
        cb inspect seed-c >"$CB_TMP/c.json"
        jq -e '[.. | .Cmd? // empty] | any(. == ["/start.sh"])' "$CB_TMP/c.json" >/dev/null
        # the image works: a build on top imports jupyterlab with the runtime's Python; no CA in it
        mkdir -p "$CB_TMP/use"
        printf 'FROM seed-c\nRUN python -c "import jupyterlab; print(jupyterlab.__version__)" && test -x /start.sh && test ! -e /run/secrets/ca\n' \
                >"$CB_TMP/use/Dockerfile"
        run cb build --verify skip -t seed-c-use "$CB_TMP/use"
        [ "$status" -eq 0 ] || { echo "$output" | tail -20; false; }
}
