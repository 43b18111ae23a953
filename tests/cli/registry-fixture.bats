#!/usr/bin/env bats
# The registry fixture itself: each variant comes up on loopback, answers /v2/ (401 without
# credentials where auth is on), and is gone after registry_stop.

load "$CUBUILD_SOURCE_DIR/tests/fixtures/registry.bash"

teardown() {
        registry_stop
}

assert_stopped() {
        local pid=$1 port=$2 dir=$3
        run kill -0 "$pid"
        [ "$status" -ne 0 ]
        run curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$port/v2/"
        [ "$status" -ne 0 ]
        [ ! -e "$dir" ]
}

@test "plain: /v2/ answers 200 on 127.0.0.1 and the registry is stopped afterwards" {
        registry_start plain
        [[ "$REGISTRY_HOST" == 127.0.0.1:* ]]
        run curl -s -o /dev/null -w '%{http_code}' "$REGISTRY_URL/v2/"
        [ "$output" = 200 ]
        local pid=$REGISTRY_PID port=$REGISTRY_PORT dir=$REGISTRY_DIR
        registry_stop
        assert_stopped "$pid" "$port" "$dir"
}

@test "tls-htpasswd: 401 without credentials, 200 with them, TLS verified by the fixture's CA" {
        registry_start tls-htpasswd
        [[ "$REGISTRY_URL" == https://127.0.0.1:* ]]
        [ -f "$REGISTRY_CERTS_D/$REGISTRY_HOST/ca.crt" ]
        run curl -s -o /dev/null -w '%{http_code}' --cacert "$REGISTRY_CA" "$REGISTRY_URL/v2/"
        [ "$output" = 401 ]
        run curl -s -o /dev/null -w '%{http_code}' --cacert "$REGISTRY_CA" -u "$REGISTRY_USER:wrong" "$REGISTRY_URL/v2/"
        [ "$output" = 401 ]
        run curl -s -o /dev/null -w '%{http_code}' --cacert "$REGISTRY_CA" -u "$REGISTRY_USER:$REGISTRY_PASSWORD" "$REGISTRY_URL/v2/"
        [ "$output" = 200 ]
        # Without the CA the server certificate is not trusted.
        run curl -s -o /dev/null "$REGISTRY_URL/v2/"
        [ "$status" -eq 60 ]
        local pid=$REGISTRY_PID port=$REGISTRY_PORT dir=$REGISTRY_DIR
        registry_stop
        assert_stopped "$pid" "$port" "$dir"
}

@test "token: 401 with a Bearer challenge, a token from the token server opens /v2/" {
        registry_start token
        run curl -s -D - -o /dev/null "$REGISTRY_URL/v2/"
        [[ "$output" == *"HTTP/1.1 401"* ]]
        [[ "$output" == *"Bearer realm=\"$REGISTRY_TOKEN_URL\""* ]]
        local tok
        tok=$(curl -s -u "$REGISTRY_USER:$REGISTRY_PASSWORD" \
                "$REGISTRY_TOKEN_URL?service=cubuild-test-registry&scope=repository:t/x:pull,push" | jq -r .token)
        [ -n "$tok" ] && [ "$tok" != null ]
        run curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "$REGISTRY_URL/v2/"
        [ "$output" = 200 ]
        # A wrong password gets no token; the log records the user but never the password.
        run curl -s -o /dev/null -w '%{http_code}' -u "$REGISTRY_USER:nope" "$REGISTRY_TOKEN_URL?service=cubuild-test-registry"
        [ "$output" = 401 ]
        ! grep -q "$REGISTRY_PASSWORD" "$REGISTRY_TOKEN_LOG"
        local pid=$REGISTRY_PID port=$REGISTRY_PORT dir=$REGISTRY_DIR
        local tpid
        tpid=$(cat "$REGISTRY_DIR/token-server.pid")
        registry_stop
        assert_stopped "$pid" "$port" "$dir"
        run kill -0 "$tpid"
        [ "$status" -ne 0 ]
}

@test "the watchdog stops the registry when its owner process dies" {
        local out dir pid
        out=$(bash -c 'REGISTRY_FIXTURE_OWNER=$$ "$0" start plain' "$REGISTRY_FIXTURE_SH")
        dir=$(sed -n 's/^REGISTRY_DIR=//p' <<<"$out")
        pid=$(sed -n 's/^REGISTRY_PID=//p' <<<"$out")
        local i
        for i in $(seq 1 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
        done
        run kill -0 "$pid"
        [ "$status" -ne 0 ]
        "$REGISTRY_FIXTURE_SH" stop "$dir"
}

@test "an unknown variant is refused" {
        run "$REGISTRY_FIXTURE_SH" start nope
        [ "$status" -ne 0 ]
        [[ "$output" == *"unknown variant 'nope'"* ]]
}
