#!/usr/bin/env bats
# cubuild bake: the plan (--print) from YAML, JSON (docker-bake.json) and compose files; variables,
# inheritance, groups, --set; errors with file, line and key; and real builds in dependency order.

load helpers
load bake-real

setup_file() {
        cb_setup_store
}

teardown_file() {
        cb_teardown_store
}

setup() {
        cd "$BATS_TEST_TMPDIR"
        cat >cubuild.yaml <<'YAML'
variable:
  TAG:
    default: dev
  REPO:
    default: ai-platform/app
  FULL:
    default: ${REPO}:${TAG}
group:
  default:
    targets: [app, tools]
  all:
    targets: [default, extra]
target:
  _common:
    context: .
    args:
      PY: "3.11"
      CUDA: "11.8"
    labels:
      team: ml
  app:
    inherits: [_common]
    tags: ["${FULL}", "${REPO}:latest"]
    args:
      CUDA: "12.4"
    verify: skip
  tools:
    inherits: [app]
    tags: ["${REPO}-tools:${TAG}"]
    contexts:
      base: target:app
    cache-to: ["type=registry,ref=localhost:5000/cache:tools,mode=max"]
  extra:
    dockerfile: Dockerfile.extra
    platforms: [linux/amd64]
    no-cache: true
YAML
}

plan() {
        "$CUBUILD" bake --print "$@"
}

@test "--print: variables, inheritance and the default group" {
        run plan
        [ "$status" -eq 0 ]
        [ "$(echo "$output" | jq -c .group.default.targets)" = '["app","tools"]' ]
        [ "$(echo "$output" | jq -c .target.app.tags)" = '["ai-platform/app:dev","ai-platform/app:latest"]' ]
        # args merge key by key down the inherits chain, the child wins
        [ "$(echo "$output" | jq -c .target.app.args)" = '{"CUDA":"12.4","PY":"3.11"}' ]
        [ "$(echo "$output" | jq -r .target.tools.args.CUDA)" = "12.4" ]
        [ "$(echo "$output" | jq -r .target.tools.labels.team)" = "ml" ]
        # lists are replaced, not merged
        [ "$(echo "$output" | jq -c .target.tools.tags)" = '["ai-platform/app-tools:dev"]' ]
        [ "$(echo "$output" | jq -r .target.tools.verify)" = "skip" ]
        [ "$(echo "$output" | jq -r .target.tools.dockerfile)" = "Dockerfile" ]
        [ "$(echo "$output" | jq -r '.target._common')" = "null" ]
}

@test "--print: variables come from the environment, groups nest, --set overrides" {
        run env TAG=2.9 REPO=reg/x "$CUBUILD" bake --print all --set 'app.args.PY=3.12' --set '*.labels.ci=1' \
                --set extra.tags=a:1 --set extra.tags=a:2 --set extra.no-cache=false
        [ "$status" -eq 0 ]
        [ "$(echo "$output" | jq -c .group.default.targets)" = '["app","tools","extra"]' ]
        [ "$(echo "$output" | jq -r '.target.app.tags[0]')" = "reg/x:2.9" ]
        [ "$(echo "$output" | jq -r .target.app.args.PY)" = "3.12" ]
        [ "$(echo "$output" | jq -r .target.tools.args.PY)" = "3.11" ]
        [ "$(echo "$output" | jq -r .target.extra.labels.ci)" = "1" ]
        [ "$(echo "$output" | jq -c .target.extra.tags)" = '["a:1","a:2"]' ]
        [ "$(echo "$output" | jq -r '.target.extra["no-cache"]')" = "false" ]
        # a target named on the command line; contexts: target:app brings app in
        run plan tools
        [ "$status" -eq 0 ]
        [ "$(echo "$output" | jq -r '.target | keys | join(",")')" = "app,tools" ]
}

@test "a docker-bake.json reads unchanged, and is found without -f" {
        mkdir j && cd j
        cat >docker-bake.json <<'JSON'
{
  "variable": { "TAG": { "default": "1.0" } },
  "group": { "default": { "targets": ["web"] } },
  "target": {
    "web": {
      "context": "./web",
      "dockerfile": "Dockerfile.web",
      "args": { "NODE": "20" },
      "tags": ["docker.io/acme/web:${TAG}"],
      "cache-from": ["type=registry,ref=acme/web:cache"],
      "cache-to": ["type=registry,ref=acme/web:cache,mode=max"],
      "output": ["type=oci,dest=out"],
      "push": false
    }
  }
}
JSON
        run "$CUBUILD" bake --print
        [ "$status" -eq 0 ]
        [ "$(echo "$output" | jq -r '.target.web.tags[0]')" = "docker.io/acme/web:1.0" ]
        [ "$(echo "$output" | jq -r '.target.web["cache-to"][0]')" = "type=registry,ref=acme/web:cache,mode=max" ]
        [ "$(echo "$output" | jq -r .target.web.push)" = "false" ]
        [ "$(echo "$output" | jq -r .target.web.context)" = "./web" ]
}

@test "a compose file's build sections are targets" {
        cat >compose.yaml <<'YAML'
services:
  api:
    image: acme/api:${API_TAG:-1}
    build:
      context: ./api
      dockerfile: api.Dockerfile
      args:
        - MODE=prod
      target: runtime
  worker:
    build: ./worker
  db:
    image: postgres:16
YAML
        run "$CUBUILD" bake -f compose.yaml --print
        [ "$status" -eq 0 ]
        [ "$(echo "$output" | jq -r '.target | keys | join(",")')" = "api,worker" ]
        [ "$(echo "$output" | jq -r '.target.api.tags[0]')" = "acme/api:1" ]
        [ "$(echo "$output" | jq -r .target.api.args.MODE)" = "prod" ]
        [ "$(echo "$output" | jq -r .target.api.target)" = "runtime" ]
        [ "$(echo "$output" | jq -r .target.worker.context)" = "./worker" ]
}

@test "errors name the file, the line and the key" {
        printf 'target:\n  a:\n    context: .\n    tagz: [x]\n' >e1.yaml
        run "$CUBUILD" bake -f e1.yaml --print
        [ "$status" -eq 1 ]
        [[ "$output" == *"e1.yaml:4: target.a: unknown key 'tagz'"* ]]
        printf 'target:\n  a:\n    args:\n      K: [1, 2]\n' >e2.yaml
        run "$CUBUILD" bake -f e2.yaml --print a
        [ "$status" -eq 1 ]
        [[ "$output" == *"e2.yaml:4: target.a.args.K: expected a string"* ]]
        printf 'target:\n  a:\n    tags:\n      - "x:${NOPE_NOT_SET}"\n' >e3.yaml
        run env -u NOPE_NOT_SET "$CUBUILD" bake -f e3.yaml --print a
        [ "$status" -eq 1 ]
        [[ "$output" == *"e3.yaml:4: target.a.tags: variable 'NOPE_NOT_SET' is not defined"* ]]
        printf 'target:\n  a:\n    inherits: [ghost]\n' >e4.yaml
        run "$CUBUILD" bake -f e4.yaml --print a
        [ "$status" -eq 1 ]
        [[ "$output" == *"e4.yaml:3: target.a.inherits: no target 'ghost'"* ]]
        printf 'target:\n  a:\n    tags: [x\n' >e5.yaml
        run "$CUBUILD" bake -f e5.yaml --print a
        [ "$status" -eq 1 ]
        [[ "$output" == *"e5.yaml:4:"* ]]
        printf 'target:\n  a:\n    contexts: {b: "target:b"}\n  b:\n    contexts: {a: "target:a"}\n' >e6.yaml
        run "$CUBUILD" bake -f e6.yaml --print a
        [ "$status" -eq 1 ]
        [[ "$output" == *"targets wait for each other"* ]]
        run "$CUBUILD" bake --print --set app.bogus=1
        [ "$status" -eq 1 ]
        [[ "$output" == *"--set 'app.bogus=1': unknown key 'bogus'"* ]]
        run "$CUBUILD" bake --frobnicate
        [ "$status" -eq 2 ]
}

@test "examples/golden/cubuild.yaml plans the golden set with semantic tags" {
        cd "$CUBUILD_SOURCE_DIR"
        run env DATE=20261123 "$CUBUILD" bake -f examples/golden/cubuild.yaml --print all
        [ "$status" -eq 0 ]
        [ "$(echo "$output" | jq -c .target.runtime.tags)" = \
                '["ai-platform/pytorch-cuda:2.9","ai-platform/pytorch-cuda:2.9-cuda11.8","ai-platform/pytorch-cuda:2.9.0-20261123"]' ]
        [ "$(echo "$output" | jq -r .target.devel.target)" = "builder" ]
        [ "$(echo "$output" | jq -r .target.runtime.args.CUDA_BASE)" = "nvidia/cuda:11.8.0-runtime-ubuntu20.04" ]
        [ "$(echo "$output" | jq -r .target.runtime.context)" = "examples/golden" ]
        run env REGISTRY=harbor.example.com/ CUDA=12.4 "$CUBUILD" bake -f examples/golden/cubuild.yaml --print
        [ "$(echo "$output" | jq -r '.target.runtime.tags[1]')" = "harbor.example.com/ai-platform/pytorch-cuda:2.9-cuda12.4" ]
        [ "$(echo "$output" | jq -r '.target | keys | join(",")')" = "runtime" ]
}

@test "a real build: targets wait for the targets whose image they use, independent ones run together" {
        # bake-bookworm.heavy.bats runs the same on the bookworm fixture
        mini_base bake/mini:1
        bake_real_build bake/mini:1
}
