#!/usr/bin/env bats
# COPY and ADD as BuildKit applies them: archives unpacked by ADD, URLs with --checksum, --exclude,
# --parents, --link, --chmod, --chown by name, symlinked destinations, the trailing-slash rule,
# sources confined to the context; RUN --mount=type=bind,from=; FROM --platform, a stage named by an
# ARG, -f - and a Dockerfile outside the context.

load helpers

# Unpacks the image's last N layers (in order) from an OCI layout into DIR.
unpack_top() {
        local layout=$1 tag=$2 n=$3 dir=$4 mdg man d
        mdg=$(jq -r --arg t "$tag" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"]==$t) | .digest' \
                "$layout/index.json")
        man="$layout/blobs/sha256/${mdg#sha256:}"
        mkdir -p "$dir"
        for d in $(jq -r ".layers[-$n:][] .digest" "$man"); do
                tar -xzf "$layout/blobs/sha256/${d#sha256:}" -C "$dir"
        done
}

# Lists the entries of the image's last layer.
last_layer_list() {
        local layout=$1 tag=$2 mdg man d
        mdg=$(jq -r --arg t "$tag" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"]==$t) | .digest' \
                "$layout/index.json")
        man="$layout/blobs/sha256/${mdg#sha256:}"
        d=$(jq -r '.layers[-1].digest' "$man")
        tar -tzf "$layout/blobs/sha256/${d#sha256:}" | sort
}

# A quiet static HTTP server for DIR on 127.0.0.1 and a free port (written to $CB_TMP/http.port).
start_http() {
        python3 - "$1" "$CB_TMP/http.port" >/dev/null 2>&1 <<'PY' &
import http.server, os, sys
class H(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **k):
        super().__init__(*a, directory=sys.argv[1], **k)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(s.server_address[1]))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
s.serve_forever()
PY
        echo $! >"$CB_TMP/http.pid"
        for _ in $(seq 50); do
                [ -s "$CB_TMP/http.port" ] && return 0
                sleep 0.1
        done
        return 1
}

setup_file() {
        cb_setup_store
        cb_load_base bookworm debian:bookworm
        local c="$CB_TMP/ctx"
        mkdir -p "$c/t/in/sub" "$c/src/tmp" "$c/src/deep" "$c/x/y" "$c/p/q"
        echo hello >"$c/t/in/a.txt"
        echo deep >"$c/t/in/sub/b.txt"
        chown 1234:4321 "$c/t/in/a.txt"
        # archive names say nothing: ADD detects the format by content, as Docker does
        (cd "$c/t" && tar -cf ../arch-plain in && tar -czf ../arch-gz in && tar -cjf ../arch-bz2 in &&
                tar -cJf ../arch-xz in && tar --zstd -cf ../arch-zst in)
        rm -rf "$c/t"
        echo notatar | gzip >"$c/note.gz"
        echo keep >"$c/src/keep.txt"
        echo log >"$c/src/x.log"
        echo t >"$c/src/tmp/t"
        echo d >"$c/src/deep/d.log"
        echo a >"$c/x/y/a.txt"
        echo b >"$c/p/q/b.txt"
        chmod 0750 "$c/p/q"
        echo f >"$c/f.txt"
        printf '#!/bin/sh\n' >"$c/tool.sh"
        chmod 0664 "$c/tool.sh"
        cat >"$c/Dockerfile" <<'DF'
FROM debian:bookworm
RUN mkdir -p /opt/real && ln -s /opt/real /linkdir && ln -s ../../../../../tmp/cb-copy-escape /esc \
 && ln -s /opt/target /lnk && mkdir /opt/target && echo lower >/opt/target/lower
ADD arch-plain /arch/plain/
ADD arch-gz /arch/gz
ADD arch-bz2 arch-xz arch-zst /arch/multi/
ADD note.gz /arch/
ADD --unpack=false arch-gz /arch/packed/
ADD --chown=nobody:nogroup arch-gz /arch/owned
COPY --exclude=*.log --exclude=tmp src/ /ex/
COPY --parents ./x/./y/a.txt p/q/b.txt /par/
COPY --parents --exclude=**/b.txt ./**/*.txt /deep/
COPY --chmod=u+x,go-w tool.sh /sym/
COPY --chmod=0640 tool.sh /oct/
COPY --chown=nobody:nogroup f.txt /own/new/
COPY --chown=daemon f.txt /own/daemon.txt
COPY f.txt /linkdir/
COPY f.txt /esc/
COPY --link f.txt /lnk/f
DF
        cb build -q -t copy:a -o "type=oci,dest=$CB_TMP/la" "$c" >/dev/null
        unpack_top "$CB_TMP/la" copy:a 17 "$CB_TMP/ra"
}

teardown_file() {
        if [ -s "$CB_TMP/http.pid" ]; then
                kill "$(cat "$CB_TMP/http.pid")" 2>/dev/null || true
        fi
        cb_teardown_store
}

@test "ADD unpacks local tar archives (plain, gzip, bzip2, xz, zstd) found by content" {
        r="$CB_TMP/ra"
        for d in plain gz multi; do
                [ "$(cat "$r/arch/$d/in/a.txt")" = hello ]
                [ "$(cat "$r/arch/$d/in/sub/b.txt")" = deep ]
        done
        # ownership comes from the archive, unless --chown gives every entry its owner (BuildKit)
        [ "$(stat -c %u:%g "$r/arch/gz/in/a.txt")" = 1234:4321 ]
        [ "$(stat -c %u:%g "$r/arch/owned/in/a.txt")" = 65534:65534 ]
        [ "$(stat -c %u:%g "$r/arch/owned")" = 65534:65534 ]
        [ "$(cat "$r/arch/owned/in/sub/b.txt")" = deep ]
}

@test "ADD copies a compressed non-tar, and an archive with --unpack=false, as files" {
        r="$CB_TMP/ra"
        [ "$(zcat "$r/arch/note.gz")" = notatar ]
        [ -f "$r/arch/packed/arch-gz" ]
        tar -tzf "$r/arch/packed/arch-gz" | grep -q in/a.txt
}

@test "ADD refuses an archive whose entries leave the destination" {
        c="$CB_TMP/evil"
        mkdir -p "$c"
        python3 - "$c/evil.tar" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    data = b"pwned\n"
    i = tarfile.TarInfo("../../../../cb-copy-evil")
    i.size = len(data)
    t.addfile(i, io.BytesIO(data))
PY
        printf 'FROM debian:bookworm\nADD evil.tar /dst/\n' >"$c/Dockerfile"
        run cb build "$c"
        [ "$status" -eq 1 ]
        [[ "$output" == *"Dockerfile:2: ADD"*"escapes"* ]]
        [ ! -e /cb-copy-evil ]
        # a symlink entry cannot lead later entries out of the destination either
        python3 - "$c/link.tar" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    l = tarfile.TarInfo("up")
    l.type = tarfile.SYMTYPE
    l.linkname = "/"
    t.addfile(l)
    data = b"pwned\n"
    i = tarfile.TarInfo("up/etc/cb-copy-evil")
    i.size = len(data)
    t.addfile(i, io.BytesIO(data))
PY
        printf 'FROM debian:bookworm\nADD link.tar /dst/\n' >"$c/Dockerfile"
        cb build -q -t copy:link -o "type=oci,dest=$CB_TMP/ll" "$c" >/dev/null
        last_layer_list "$CB_TMP/ll" copy:link >"$CB_TMP/ll.txt"
        ! grep -qx 'etc/cb-copy-evil' "$CB_TMP/ll.txt"
        grep -qx 'dst/etc/cb-copy-evil' "$CB_TMP/ll.txt"
        [ ! -e /etc/cb-copy-evil ]
}

@test "COPY --exclude drops matching paths below the source" {
        r="$CB_TMP/ra"
        [ -f "$r/ex/keep.txt" ]
        [ ! -e "$r/ex/x.log" ]
        [ ! -e "$r/ex/tmp" ]
        # a pattern without ** matches at the top only, as moby/patternmatcher does
        [ -f "$r/ex/deep/d.log" ]
}

@test "COPY --parents keeps the source's directories, from the ./ pivot when there is one" {
        r="$CB_TMP/ra"
        [ "$(cat "$r/par/y/a.txt")" = a ]
        [ ! -e "$r/par/x" ]
        [ "$(cat "$r/par/p/q/b.txt")" = b ]
        [ "$(stat -c %a "$r/par/p/q")" = 750 ]
        # ** spans directories in --parents patterns (BuildKit matches them as .dockerignore does)
        [ "$(cd "$r/deep" && find . -type f | sort | tr '\n' ' ')" = "./f.txt ./src/keep.txt ./x/y/a.txt " ]
}

@test "COPY --chmod takes octal and symbolic modes" {
        r="$CB_TMP/ra"
        [ "$(stat -c %a "$r/sym/tool.sh")" = 744 ]
        [ "$(stat -c %a "$r/oct/tool.sh")" = 640 ]
        printf 'FROM debian:bookworm\nCOPY --chmod=u+q f.txt /x\n' >"$CB_TMP/ctx/Dockerfile.badmode"
        run cb build -f "$CB_TMP/ctx/Dockerfile.badmode" "$CB_TMP/ctx"
        [ "$status" -eq 1 ]
        [[ "$output" == *"Dockerfile.badmode:2: COPY: --chmod 'u+q'"* ]]
}

@test "COPY --chown resolves names in the image's /etc/passwd and /etc/group" {
        r="$CB_TMP/ra"
        [ "$(stat -c %u:%g "$r/own/new/f.txt")" = 65534:65534 ]
        # directories the copy creates get the owner too, as BuildKit does
        [ "$(stat -c %u:%g "$r/own/new")" = 65534:65534 ]
        # a user alone: its primary group from /etc/passwd (daemon is 1:1 in Debian)
        [ "$(stat -c %u:%g "$r/own/daemon.txt")" = 1:1 ]
        printf 'FROM debian:bookworm\nCOPY --chown=nosuchuser f.txt /x\n' >"$CB_TMP/ctx/Dockerfile.baduser"
        run cb build -f "$CB_TMP/ctx/Dockerfile.baduser" "$CB_TMP/ctx"
        [ "$status" -eq 1 ]
        [[ "$output" == *"Dockerfile.baduser:2: COPY"*"nosuchuser"* ]]
}

@test "a symlinked destination is followed inside the image, never outside it" {
        r="$CB_TMP/ra"
        [ "$(cat "$r/opt/real/f.txt")" = f ]
        [ -L "$r/linkdir" ] || [ ! -e "$r/linkdir/f.txt" ]
        # /esc points far above the root: it resolves to /tmp/cb-copy-escape inside the image
        [ "$(cat "$r/tmp/cb-copy-escape/f.txt")" = f ]
        [ ! -e /tmp/cb-copy-escape ]
}

@test "COPY --link writes a layer that does not depend on the layers below" {
        # /lnk is a symlink to /opt/target below; --link does not follow it: the layer holds a
        # plain directory and the file, nothing else
        [ "$(last_layer_list "$CB_TMP/la" copy:a | tr '\n' ' ')" = "lnk/ lnk/f " ]
        [ ! -e "$CB_TMP/ra/opt/target/f" ]
}

@test "several sources need a destination that ends with /" {
        printf 'FROM debian:bookworm\nCOPY f.txt tool.sh /dir\n' >"$CB_TMP/ctx/Dockerfile.multi"
        run cb build -f "$CB_TMP/ctx/Dockerfile.multi" "$CB_TMP/ctx"
        [ "$status" -eq 1 ]
        [[ "$output" == *"Dockerfile.multi:2: COPY: when using COPY with more than one source file, the destination must be a directory and end with a /"* ]]
}

@test "COPY sources cannot leave the context through .. or symlinks" {
        mkdir -p "$CB_TMP/outer/ctx/d"
        echo secret >"$CB_TMP/outer/secret"
        ln -sf ../secret "$CB_TMP/outer/ctx/rel-link"
        ln -sf "$CB_TMP/outer/secret" "$CB_TMP/outer/ctx/abs-link"
        ln -sf ../../secret "$CB_TMP/outer/ctx/d/inner-link"
        c="$CB_TMP/outer/ctx"
        for src in ../secret rel-link abs-link '../*'; do
                printf 'FROM debian:bookworm\nCOPY %s /got\n' "$src" >"$c/Dockerfile"
                run cb build "$c"
                [ "$status" -eq 1 ]
                [[ "$output" == *"Dockerfile:2: COPY"* ]]
        done
        # a symlink inside a copied directory is copied as a symlink, not followed
        printf 'FROM debian:bookworm\nCOPY d /d\n' >"$c/Dockerfile"
        cb build -q -t copy:inner -o "type=oci,dest=$CB_TMP/li" "$c" >/dev/null
        unpack_top "$CB_TMP/li" copy:inner 1 "$CB_TMP/ri"
        [ "$(readlink "$CB_TMP/ri/d/inner-link")" = ../../secret ]
        ! grep -rq secret "$CB_TMP/ri"
}

@test "ADD of a URL: not unpacked, mode 0600, Last-Modified mtime, --checksum, name from the URL" {
        w="$CB_TMP/www"
        mkdir -p "$w" "$CB_TMP/uctx"
        echo "remote content" >"$w/file.txt"
        touch -d @1600000000 "$w/file.txt"
        cp "$CB_TMP/ctx/arch-gz" "$w/arch.tgz"
        start_http "$w"
        port=$(cat "$CB_TMP/http.port")
        export no_proxy=127.0.0.1 NO_PROXY=127.0.0.1
        sum=$(sha256sum "$w/file.txt" | cut -d' ' -f1)
        cat >"$CB_TMP/uctx/Dockerfile" <<DF
FROM debian:bookworm
ADD http://127.0.0.1:$port/file.txt /u/
ADD --checksum=sha256:$sum http://127.0.0.1:$port/file.txt /u/named
ADD http://127.0.0.1:$port/arch.tgz /u/packed/
ADD --unpack=true --chmod=0644 http://127.0.0.1:$port/arch.tgz /u/unpacked/
DF
        cb build -q -t copy:url -o "type=oci,dest=$CB_TMP/lu" "$CB_TMP/uctx" >/dev/null
        unpack_top "$CB_TMP/lu" copy:url 4 "$CB_TMP/ru"
        r="$CB_TMP/ru/u"
        [ "$(stat -c '%a %u:%g %Y' "$r/file.txt")" = "600 0:0 1600000000" ]
        [ "$(cat "$r/named")" = "remote content" ]
        [ "$(stat -c %a "$r/packed/arch.tgz")" = 600 ]
        [ "$(cat "$r/unpacked/in/a.txt")" = hello ]

        # the cache key holds the downloaded content: same bytes hit, changed bytes run again
        run cb build -t copy:url "$CB_TMP/uctx"
        [ "$status" -eq 0 ]
        [[ "$output" == *"0 layer steps ran, 4 came from the cache"* ]]
        echo "changed" >"$w/file.txt"
        run cb build -t copy:url "$CB_TMP/uctx"
        [ "$status" -eq 1 ]
        [[ "$output" == *"Dockerfile:3: ADD: checksum mismatch for 'http://127.0.0.1:$port/file.txt': expected sha256:$sum, got sha256:"* ]]
        sed -i 3d "$CB_TMP/uctx/Dockerfile"
        cb build -q -t copy:url -o "type=oci,dest=$CB_TMP/lu2" "$CB_TMP/uctx" >/dev/null
        unpack_top "$CB_TMP/lu2" copy:url 3 "$CB_TMP/ru2"
        [ "$(cat "$CB_TMP/ru2/u/file.txt")" = changed ]
}

@test "RUN --mount=type=bind: from= a stage or image, read-only by default, rw writes thrown away, .dockerignore kept" {
        c="$CB_TMP/bctx"
        mkdir -p "$c/sub/big"
        echo ctxfile >"$c/in.txt"
        echo hidden >"$c/a.secret"
        echo hidden >"$c/sub/big/x"
        echo kept >"$c/sub/kept"
        printf '*.secret\nsub/big\n' >"$c/.dockerignore"
        ln -s /etc "$c/etclink"
        cat >"$c/Dockerfile" <<'DF'
FROM debian:bookworm AS builder
RUN mkdir -p /data && echo from-builder >/data/x
FROM debian:bookworm
RUN --mount=type=bind,from=builder,source=/data,target=/mnt --mount=type=bind,target=/ctx,rw \
 --mount=type=bind,from=debian:bookworm,source=/etc/debian_version,target=/dv sh -c 'cat /dv >/out-img; \
 cat /mnt/x >/out-from; (echo x >/mnt/x) 2>/dev/null && echo rw >/out-ro || echo ro >/out-ro; \
 touch /ctx/new-file && cat /ctx/in.txt >/out-ctx && cd /ctx && find . | sort >/out-ls'
RUN --mount=type=bind,from=builder,source=/data,target=/mnt,rw echo scribble >/mnt/x && cat /mnt/x >/out-rw
RUN --mount=type=bind,from=builder,source=/data,target=/mnt cat /mnt/x >/out-again
DF
        cb build -q -t copy:bind -o "type=oci,dest=$CB_TMP/lb" "$c" >/dev/null
        unpack_top "$CB_TMP/lb" copy:bind 3 "$CB_TMP/rb"
        r="$CB_TMP/rb"
        [ "$(cat "$r/out-from")" = from-builder ]
        grep -q '^12' "$r/out-img" # from= an image in the store: bookworm's /etc/debian_version
        [ "$(cat "$r/out-ro")" = ro ]
        [ "$(cat "$r/out-ctx")" = ctxfile ]
        [ "$(cat "$r/out-rw")" = scribble ]
        [ "$(cat "$r/out-again")" = from-builder ]
        [ ! -e "$c/new-file" ]
        [ ! -e "$r/mnt/x" ]
        grep -qx ./sub/kept "$r/out-ls"
        ! grep -q 'secret\|big' "$r/out-ls"
        # the source is resolved inside the context: a symlink to /etc leads to the context's etc
        printf 'FROM debian:bookworm\nRUN --mount=type=bind,source=etclink/passwd,target=/p cat /p\n' >"$c/Dockerfile.esc"
        run cb build -f "$c/Dockerfile.esc" "$c"
        [ "$status" -eq 1 ]
        [[ "$output" == *"Dockerfile.esc:2: RUN --mount=type=bind"*"etclink/passwd"*"No such file or directory"* ]]
        # the stage's content is part of the step's cache key
        sed -i 's/from-builder/changed/' "$c/Dockerfile"
        cb build -q -t copy:bind -o "type=oci,dest=$CB_TMP/lb2" "$c" >/dev/null
        rm -rf "$r"
        unpack_top "$CB_TMP/lb2" copy:bind 3 "$r"
        [ "$(cat "$r/out-from")" = changed ]
}

@test "FROM --platform: the host's platform and \$BUILDPLATFORM build, another is refused" {
        [ "$(uname -m)" = x86_64 ] || skip "the expected messages name linux/amd64"
        c="$CB_TMP/fctx"
        mkdir -p "$c" "$CB_TMP/elsewhere"
        cat >"$CB_TMP/elsewhere/Df" <<'DF'
ARG BASE=builder
FROM --platform=$BUILDPLATFORM debian:bookworm AS builder
ARG TARGETARCH
RUN echo "$TARGETARCH" >/arch
FROM --platform=linux/amd64 ${BASE}
RUN test -s /arch
DF
        # a Dockerfile outside the context, and a stage that an ARG names
        run cb build -f "$CB_TMP/elsewhere/Df" -t copy:plat "$c"
        [ "$status" -eq 0 ]
        printf 'FROM --platform=linux/arm64 debian:bookworm\n' >"$c/Dockerfile"
        run cb build "$c"
        [ "$status" -eq 1 ]
        [[ "$output" == *"Dockerfile:1: FROM --platform=linux/arm64: only the host platform linux/amd64 can be built"* ]]
}

@test "-f - reads the Dockerfile from stdin" {
        c="$CB_TMP/sctx"
        mkdir -p "$c"
        echo from-context >"$c/x"
        printf 'FROM debian:bookworm\nCOPY x /x\n' | cb build -q -f - -t copy:stdin -o "type=oci,dest=$CB_TMP/ls" "$c" >/dev/null
        unpack_top "$CB_TMP/ls" copy:stdin 1 "$CB_TMP/rs"
        [ "$(cat "$CB_TMP/rs/x")" = from-context ]
}
