#!/usr/bin/env bats
# The build cache, proven from outside: a RUN that writes the time changes its layer digest
# whenever it really runs, so equal digests mean the step did not run.

load helpers

setup_file() {
        cb_setup_store
        cb_load_base bookworm debian:bookworm
}

teardown_file() {
        cb_teardown_store
}

setup() {
        ctx="$BATS_TEST_TMPDIR/ctx"
        mkdir -p "$ctx"
        echo one >"$ctx/a.txt"
        echo two >"$ctx/b.txt"
        cat >"$ctx/Dockerfile" <<'DF'
FROM debian:bookworm
RUN date +%s%N >/stamp1
COPY a.txt /a.txt
RUN date +%s%N >/stamp2
COPY b.txt /b.txt
LABEL x=y
DF
}

layers() {
        cb inspect "$1" | jq -r '.manifest.layers[].digest'
}

@test "a second build reuses every layer and gives the same image digest" {
        d1=$(cb build -q -t cache:1 "$ctx")
        l1=$(layers cache:1)
        sleep 1
        d2=$(cb build -q -t cache:2 "$ctx")
        [ "$d1" = "$d2" ]
        [ "$l1" = "$(layers cache:2)" ]
}

@test "changing one context file reruns from the first step that reads it" {
        cb build -q -t cache:base "$ctx" >/dev/null
        mapfile -t before < <(layers cache:base)
        echo changed >"$ctx/b.txt"
        cb build -q -t cache:b "$ctx" >/dev/null
        mapfile -t after < <(layers cache:b)
        # base + RUN + COPY a + RUN unchanged; COPY b differs
        for i in 0 1 2 3; do [ "${before[$i]}" = "${after[$i]}" ]; done
        [ "${before[4]}" != "${after[4]}" ]
        echo changed-too >"$ctx/a.txt"
        cb build -q -t cache:a "$ctx" >/dev/null
        mapfile -t after2 < <(layers cache:a)
        [ "${before[1]}" = "${after2[1]}" ]
        # the RUN after COPY a.txt ran again: its timestamp layer differs
        [ "${before[3]}" != "${after2[3]}" ]
}

@test "--no-cache runs every step again" {
        cb build -q -t cache:nc1 "$ctx" >/dev/null
        mapfile -t before < <(layers cache:nc1)
        cb build -q --no-cache -t cache:nc2 "$ctx" >/dev/null
        mapfile -t after < <(layers cache:nc2)
        [ "${before[1]}" != "${after[1]}" ]
        [ "${before[3]}" != "${after[3]}" ]
}

@test "a build arg the stage declares invalidates, one it does not declare does not" {
        printf 'FROM debian:bookworm\nARG V=1\nRUN echo $V; date +%%s%%N >/t\n' >"$ctx/Dockerfile"
        cb build -q -t cache:arg1 "$ctx" >/dev/null
        cb build -q --build-arg V=2 -t cache:arg2 "$ctx" >/dev/null
        cb build -q --build-arg OTHER=3 -t cache:arg3 "$ctx" >/dev/null
        [ "$(layers cache:arg1 | tail -1)" != "$(layers cache:arg2 | tail -1)" ]
        [ "$(layers cache:arg1 | tail -1)" = "$(layers cache:arg3 | tail -1)" ]
}

@test "SOURCE_DATE_EPOCH: two stores, two times, one digest" {
        printf 'FROM debian:bookworm\nRUN mkdir -p /out && echo fixed >/out/f && ln -s f /out/l\nCOPY a.txt /a\nENV A=1\n' >"$ctx/Dockerfile"
        d1=$(SOURCE_DATE_EPOCH=1700000000 "$CUBUILD" --root "$CB_TMP/s1" load -t debian:bookworm "$(fixture_oci bookworm):bookworm" >/dev/null &&
                SOURCE_DATE_EPOCH=1700000000 "$CUBUILD" --root "$CB_TMP/s1" build -q "$ctx")
        sleep 1
        touch "$ctx/a.txt"
        d2=$("$CUBUILD" --root "$CB_TMP/s2" load -t debian:bookworm "$(fixture_oci bookworm):bookworm" >/dev/null &&
                "$CUBUILD" --root "$CB_TMP/s2" build -q --source-date-epoch 1700000000 "$ctx")
        [ "$d1" = "$d2" ]
        run bash -c "'$CUBUILD' --root '$CB_TMP/s1' inspect '$d1' | jq -r '.config.created, .config.history[-1].created'"
        [ "${lines[0]}" = "2023-11-14T22:13:20Z" ]
        [ "${lines[1]}" = "2023-11-14T22:13:20Z" ]
}

@test "SOURCE_DATE_EPOCH is part of the key: layers made without it are not reused" {
        printf 'FROM debian:bookworm\nRUN echo hi >/hi.txt\n' >"$ctx/Dockerfile"
        "$CUBUILD" --root "$CB_TMP/h1" load -t debian:bookworm "$(fixture_oci bookworm):bookworm" >/dev/null
        "$CUBUILD" --root "$CB_TMP/h2" load -t debian:bookworm "$(fixture_oci bookworm):bookworm" >/dev/null
        # the first store has the step cached without an epoch, the second has nothing
        "$CUBUILD" --root "$CB_TMP/h1" build -q "$ctx" >/dev/null
        sleep 1
        run "$CUBUILD" --root "$CB_TMP/h1" build --source-date-epoch 1700000000 "$ctx"
        [ "$status" -eq 0 ]
        [[ "$output" == *"1 layer steps ran, 0 came from the cache"* ]]
        d1=$(echo "$output" | tail -1)
        d2=$("$CUBUILD" --root "$CB_TMP/h2" build -q --source-date-epoch 1700000000 "$ctx")
        [ "$d1" = "$d2" ]
}

@test "--metadata-file records digests, names and how many steps ran; --iidfile the digest" {
        printf 'FROM debian:bookworm\nRUN --mount=type=tmpfs,target=/scratch sh -c "echo x >/scratch/f && test -f /scratch/f"\nRUN test ! -e /scratch/f\n' >"$ctx/Dockerfile"
        d=$(cb build -q -t meta:1 --metadata-file "$BATS_TEST_TMPDIR/meta.json" --iidfile "$BATS_TEST_TMPDIR/iid" "$ctx")
        [ "$(cat "$BATS_TEST_TMPDIR/iid")" = "$d" ]
        [ "$(jq -r '."containerimage.digest"' "$BATS_TEST_TMPDIR/meta.json")" = "$d" ]
        [ "$(jq -r '."image.name"[0]' "$BATS_TEST_TMPDIR/meta.json")" = "docker.io/library/meta:1" ]
        [ "$(jq -r '.layer_steps_run' "$BATS_TEST_TMPDIR/meta.json")" = "2" ]
        cfg=$(jq -r '."containerimage.config.digest"' "$BATS_TEST_TMPDIR/meta.json")
        [ "$(cb inspect meta:1 | jq -r .manifest.config.digest)" = "$cfg" ]
}
