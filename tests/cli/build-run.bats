#!/usr/bin/env bats
# The RUN sandbox from outside: what a step sees (/sys, /dev, /dev/shm, /tmp, the network, the
# injected /etc files), what reaches its layer, and what a failed, timed-out or interrupted step
# leaves behind (its log; no mount, tmp/ directory or process).

load helpers
load tiny-base

setup_file() {
        cb_setup_store
        tiny_base_load tiny:1
        # sleep arguments unique to this run: pgrep must not see another run's steps
        export SLEEP_ID=$((100000 + RANDOM * 8 + $$ % 8))
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
        ctx=$(df timeout "RUN sleep ${SLEEP_ID}1 & sleep ${SLEEP_ID}2; true")
        SECONDS=0
        run cb build --progress plain --run-timeout 500ms "$ctx"
        [ "$status" -eq 1 ]
        [[ "$output" == *"Dockerfile:2: RUN sleep ${SLEEP_ID}1 & sleep ${SLEEP_ID}2; true: killed after --run-timeout 500 ms"* ]]
        [ "$SECONDS" -lt 20 ]
        [ -z "$(pgrep -f "sleep ${SLEEP_ID}[12]" || true)" ]
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
        run tar -tf "$CB_ROOT/blobs/sha256/$layer"
        [ "$status" -eq 0 ]
        [ "$output" = "marker" ]
}

@test "SIGTERM during concurrent stages (--jobs 2) stops both steps and cleans up" {
        ctx=$(df jobs 'FROM tiny:1 AS a' "RUN echo started; sleep ${SLEEP_ID}3" 'FROM tiny:1 AS b' "RUN sleep ${SLEEP_ID}4" \
                'FROM tiny:1' 'COPY --from=a /etc/passwd /a' 'COPY --from=b /etc/passwd /b')
        sed -i 1d "$ctx/Dockerfile"
        log="$BATS_TEST_TMPDIR/jobs.log"
        "$CUBUILD" --root "$CB_ROOT" build --jobs 2 --progress plain "$ctx" >/dev/null 2>"$log" &
        pid=$!
        i=0
        until grep -q '^started' "$log"; do
                sleep 0.05
                i=$((i + 1))
                [ "$i" -lt 400 ] || { kill -9 "$pid"; cat "$log"; false; }
        done
        kill -TERM "$pid"
        st=0
        wait "$pid" || st=$?
        [ "$st" -eq 143 ]
        [ -z "$(pgrep -f "sleep ${SLEEP_ID}[34]" || true)" ]
        [ -z "$(ls -A "$CB_ROOT/tmp")" ]
}

# One build that must fail with exit status $3 after signal $2 reaches it mid-RUN; $1 names its
# FIFO. The build's stderr is read through the FIFO with read(1), a builtin: no process per poll.
interrupted_build() {
        local fifo="$BATS_TEST_TMPDIR/$1.fifo" pid st=0 line="" fd
        rm -f "$fifo"
        mkfifo "$fifo"
        "$CUBUILD" --root "$CB_ROOT" build --progress plain "$4" >/dev/null 2>"$fifo" &
        pid=$!
        exec {fd}<"$fifo"
        while IFS= read -r -t 30 line <&"$fd"; do
                [ "$line" = started ] && break
        done
        [ "$line" = started ] || { kill -9 "$pid"; echo "no start: $line"; return 1; }
        kill -"$2" "$pid"
        while IFS= read -r line <&"$fd"; do :; done
        exec {fd}<&-
        wait "$pid" || st=$?
        [ "$st" -eq "$3" ] || { echo "exit $st, wanted $3: $line"; return 1; }
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
        sleepy=$(df many-sleep "RUN echo started; sleep ${SLEEP_ID}5 & sleep ${SLEEP_ID}6; true")
        # the machine may be shared: count the mounts under this test's directory, not everyone's
        mounts_before=$(grep -c "$CB_TMP" /proc/self/mountinfo || true)
        tmp_before=$(ls -A "$CB_ROOT/tmp" | wc -l)
        # RUN false, SIGINT, SIGTERM and --run-timeout in turn, eight builds in flight
        pids=()
        for i in $(seq 1 100); do
                case $((i % 4)) in
                0) failing_build "f$i" "$fail" & ;;
                1) interrupted_build "i$i" INT 130 "$sleepy" & ;;
                2) interrupted_build "t$i" TERM 143 "$sleepy" & ;;
                3) failing_build "o$i" --run-timeout 100ms "$sleepy" & ;;
                esac
                pids+=($!)
                if [ "${#pids[@]}" -ge 8 ]; then
                        wait "${pids[0]}"
                        pids=("${pids[@]:1}")
                fi
        done
        for p in "${pids[@]}"; do wait "$p"; done
        [ "$(grep -c "$CB_TMP" /proc/self/mountinfo || true)" -eq "$mounts_before" ]
        [ "$(ls -A "$CB_ROOT/tmp" | wc -l)" -eq "$tmp_before" ]
        [ -z "$(pgrep -f "sleep ${SLEEP_ID}[56]" || true)" ]
        # failure logs of the last 50 builds only
        [ "$(ls "$CB_ROOT/logs" | wc -l)" -le 50 ]
        # the store still builds
        ok=$(df many-ok 'RUN echo fine')
        cb build -q "$ok" >/dev/null
}
