#!/usr/bin/env bats
# The RUN sandbox from outside: what a step sees (/sys, /dev, /dev/shm, /tmp, the network, the
# injected /etc files), what reaches its layer, and what a failed, timed-out or interrupted step
# leaves behind (its log; no mount, tmp/ directory or process).

load helpers
load tiny-base

setup_file() {
        cb_setup_store
        tiny_base_load tiny:1
}

teardown_file() {
        cb_teardown_store
}

# df NAME LINE...: a context NAME whose Dockerfile is FROM tiny:1 plus the lines.
df() {
        local dir="$BATS_TEST_TMPDIR/$1"
        shift
        mkdir -p "$dir"
        printf '%s\n' "FROM tiny:1" "$@" >"$dir/Dockerfile"
        echo "$dir"
}

@test "a failed RUN keeps its whole log in the store and prints its path" {
        ctx=$(df fail 'ENV A=1' 'RUN seq 1 500; echo last words >&2; exit 5')
        run cb build --progress plain "$ctx"
        [ "$status" -eq 1 ]
        [[ "$output" == *"Dockerfile:3: RUN seq 1 500; echo last words >&2; exit 5: exit status 5"* ]]
        [[ "$output" == *"  | last words"* ]]
        log=$(sed -n 's/^full log: //p' <<<"$output")
        [[ "$log" =~ ^$CB_ROOT/logs/[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}/3\.log$ ]]
        [ "$(grep -c . "$log")" -eq 501 ]
        [ "$(head -1 "$log")" = 1 ]
        [ "$(tail -1 "$log")" = "last words" ]
}

@test "--on-error shell opens a shell in the failed step's sandbox" {
        ctx=$(df shell 'ENV A=from-env' 'WORKDIR /work' 'RUN touch /failed-marker && exit 3')
        run bash -c "echo 'cat /proc/1/cmdline; echo; ls /failed-marker; echo \"cwd=\$(pwd) A=\$A\"; exit' |
                '$CUBUILD' --root '$CB_ROOT' build --progress plain --on-error shell '$ctx'"
        [ "$status" -eq 1 ]
        [[ "$output" == *"/bin/sh"* ]]
        [[ "$output" == *"/failed-marker"* ]]
        [[ "$output" == *"cwd=/work A=from-env"* ]]
        [[ "$output" == *"Dockerfile:4: RUN touch /failed-marker && exit 3: exit status 3"* ]]
}

@test "--run-timeout kills the step's whole process tree" {
        ctx=$(df timeout 'RUN sleep 7331 & sleep 7332; true')
        SECONDS=0
        run cb build --progress plain --run-timeout 500ms "$ctx"
        [ "$status" -eq 1 ]
        [[ "$output" == *"Dockerfile:2: RUN sleep 7331 & sleep 7332; true: killed after --run-timeout 500 ms"* ]]
        [ "$SECONDS" -lt 20 ]
        [ -z "$(pgrep -f 'sleep 733[12]' || true)" ]
        run cb build --run-timeout soon "$ctx"
        [ "$status" -eq 2 ]
        [[ "$output" == *"--run-timeout 'soon'"* ]]
}

@test "/sys read-only, /dev minimal, /dev/shm sized by --shm-size, /tmp present" {
        ctx=$(df fs 'RUN set -e; if touch /sys/cb-x 2>/dev/null; then exit 9; fi; grep -q " /sys sysfs ro," /proc/mounts; test "$(ls /dev | tr "\n" " ")" = "fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero "; grep " /dev/shm " /proc/mounts | grep -q size=32768k; test -d /tmp; echo x >/tmp/x; echo ok-fs')
        run cb build --progress plain --shm-size 32m "$ctx"
        [ "$status" -eq 0 ]
        [[ "$output" == *"ok-fs"* ]]
}

@test "--network none gives a network namespace with loopback only" {
        ctx=$(df net 'RUN test "$(ls /sys/class/net)" = lo && echo only-lo')
        run cb build --progress plain --network none "$ctx"
        [ "$status" -eq 0 ]
        [[ "$output" == *"only-lo"* ]]
        # RUN --network=none does the same for one step
        ctx=$(df net1 'RUN --network=none test "$(ls /sys/class/net)" = lo')
        run cb build "$ctx"
        [ "$status" -eq 0 ]
}

@test "resolv.conf, hosts and hostname are provided and never committed" {
        ctx=$(df etc 'RUN test "$(cat /etc/hostname)" = cubuild && grep -q localhost /etc/hosts && test -f /etc/resolv.conf && echo made >/marker')
        run cb build -q -t etc:1 "$ctx"
        [ "$status" -eq 0 ]
        layer=$(cb inspect etc:1 | jq -r '.manifest.layers[-1].digest' | cut -d: -f2)
        run tar -tzf "$CB_ROOT/blobs/sha256/$layer"
        [ "$status" -eq 0 ]
        [ "$output" = "marker" ]
}

# One build that must fail with exit status $3 after signal $2 reaches it mid-RUN; $1 names its log.
interrupted_build() {
        local log="$BATS_TEST_TMPDIR/$1.log" pid st=0 i=0
        : >"$log"
        "$CUBUILD" --root "$CB_ROOT" build --progress plain "$4" >/dev/null 2>"$log" &
        pid=$!
        until grep -q '^started' "$log"; do
                sleep 0.02
                i=$((i + 1))
                [ "$i" -lt 1000 ] || { kill -9 "$pid"; echo "no start: $(cat "$log")"; return 1; }
        done
        kill -"$2" "$pid"
        wait "$pid" || st=$?
        [ "$st" -eq "$3" ] || { echo "exit $st, wanted $3: $(cat "$log")"; return 1; }
}

# A build that must fail with exit status 1: $1 names it, the rest are build arguments.
failing_build() {
        local st=0 name=$1
        shift
        "$CUBUILD" --root "$CB_ROOT" build --progress plain "$@" >/dev/null 2>"$BATS_TEST_TMPDIR/$name.log" || st=$?
        [ "$st" -eq 1 ] || { echo "exit $st, wanted 1: $(cat "$BATS_TEST_TMPDIR/$name.log")"; return 1; }
}

@test "100 failing, timed-out and interrupted builds leave no mount, tmp dir or process behind" {
        fail=$(df many-fail 'RUN echo started; false')
        sleepy=$(df many-sleep 'RUN echo started; sleep 7321 & sleep 7322; true')
        mounts_before=$(wc -l </proc/self/mountinfo)
        tmp_before=$(ls -A "$CB_ROOT/tmp" | wc -l)
        # 25 rounds of four concurrent builds: RUN false, SIGINT, SIGTERM, --run-timeout
        for i in $(seq 1 25); do
                failing_build f "$fail" &
                p1=$!
                interrupted_build int INT 130 "$sleepy" &
                p2=$!
                interrupted_build term TERM 143 "$sleepy" &
                p3=$!
                failing_build t --run-timeout 100ms "$sleepy" &
                p4=$!
                for p in $p1 $p2 $p3 $p4; do wait "$p"; done
        done
        [ "$(wc -l </proc/self/mountinfo)" -eq "$mounts_before" ]
        [ "$(ls -A "$CB_ROOT/tmp" | wc -l)" -eq "$tmp_before" ]
        ! grep -q "$CB_ROOT" /proc/self/mountinfo
        [ -z "$(pgrep -f 'sleep 732[12]' || true)" ]
        # failure logs of the last 50 builds only
        [ "$(ls "$CB_ROOT/logs" | wc -l)" -le 50 ]
        # the store still builds
        ok=$(df many-ok 'RUN echo fine')
        cb build -q "$ok" >/dev/null
}
