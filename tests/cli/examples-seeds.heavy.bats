#!/usr/bin/env bats
# examples/seeds A and B (torch 2.0.1 with its CUDA wheels: several GB from PyPI; wandb, tensorboard,
# opencv), built as examples/README.md says. Heavy: minutes and GBs each. examples/pytorch-cuda is built
# by bench/builder/run.sh --torch, not here.
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

# uses IMAGE PYTHON_CODE: a build on top of IMAGE runs the code
uses() {
        mkdir -p "$CB_TMP/use"
        printf 'FROM %s\nRUN %s\n' "$1" "$2" >"$CB_TMP/use/Dockerfile"
        run cb build --verify skip "$CB_TMP/use"
        [ "$status" -eq 0 ] || { echo "$output" | tail -20; false; }
}

@test "seed A builds: torch 2.0.1, torchvision, jupyter on the CUDA 11.8 base" {
        need_network
        cb_load_base cuda-11.8.0-runtime nvidia/cuda:11.8.0-runtime-ubuntu20.04
        run cb build --verify skip --secret "id=ca,src=$CA" -t seed-a "$SEEDS/a"
        [ "$status" -eq 0 ] || { echo "$output" | tail -20; false; }
        uses seed-a "python3 -c 'import torch, torchvision, pandas, sklearn; print(torch.__version__, torch.version.cuda)' && test ! -e /run/secrets/ca"
}

@test "seed B builds on the pytorch/pytorch runtime stand-in" {
        need_network
        cb_load_base cuda-11.8.0-runtime nvidia/cuda:11.8.0-runtime-ubuntu20.04
        run cb build --verify skip --secret "id=ca,src=$CA" -t pytorch/pytorch:2.1.0-cuda11.8-cudnn8-runtime \
                "$SEEDS/standins/pytorch"
        [ "$status" -eq 0 ] || { echo "$output" | tail -20; false; }
        run cb build --verify skip --secret "id=ca,src=$CA" -t seed-b "$SEEDS/b"
        [ "$status" -eq 0 ] || { echo "$output" | tail -20; false; }
        # opencv-python's current wheel loads libxcb.so.1 at import, which the stand-in base (no X
        # libraries) lacks: cv2 is checked as installed, the other two as importable
        uses seed-b "python -c 'import wandb, tensorboard; from importlib.metadata import version; print(version(\"opencv-python\"))'"
}
