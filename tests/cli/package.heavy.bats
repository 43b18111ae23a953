#!/usr/bin/env bats
# The .deb from cpack installs on a fresh Debian 12 with apt resolving its dependencies, and the
# installed cubuild builds an image there. Heavy: a release build, mmdebstrap, apt downloads.

load helpers

setup_file() {
        export PKG_TMP
        PKG_TMP=$(mktemp -d /tmp/cubuild-pkg.XXXXXX)
        # apt reads the .deb as its sandbox user: the directories on the way must be readable
        chmod 0755 "$PKG_TMP"
}

teardown_file() {
        umount "$PKG_TMP/root/proc" 2>/dev/null || true
        rm -rf "$PKG_TMP"
}

@test "cpack's .deb installs with apt on a fresh bookworm and builds an image there" {
        cmake -S "$CUBUILD_SOURCE_DIR" -B "$PKG_TMP/build" -DCMAKE_BUILD_TYPE=Release -DCUBUILD_TESTS=OFF >/dev/null
        cmake --build "$PKG_TMP/build" -j"$(nproc)" >/dev/null
        (cd "$PKG_TMP/build" && cpack >/dev/null)
        deb=$(ls "$PKG_TMP"/build/cubuild_*_amd64.deb)
        chmod 0755 "$PKG_TMP/build"
        chmod 0644 "$deb"
        dpkg-deb -c "$deb" | grep -q ' ./usr/bin/cubuild$'
        dpkg-deb -c "$deb" | grep -q ' ./usr/libexec/cubuild/cubuild-verify$'
        dpkg-deb -c "$deb" | grep -q ' ./usr/share/man/man1/cubuild.1'
        # apt resolves the dependencies in a chroot that has none of them
        mmdebstrap --variant=apt bookworm "$PKG_TMP/root" http://deb.debian.org/debian \
                >"$PKG_TMP/mmdebstrap.log" 2>&1 || { tail -20 "$PKG_TMP/mmdebstrap.log" >&2; return 1; }
        cp "$deb" "$PKG_TMP/root/tmp/cubuild.deb"
        cp /etc/resolv.conf "$PKG_TMP/root/etc/resolv.conf"
        chroot "$PKG_TMP/root" apt-get update >/dev/null
        chroot "$PKG_TMP/root" env DEBIAN_FRONTEND=noninteractive apt-get install -y /tmp/cubuild.deb \
                >"$PKG_TMP/apt.log" 2>&1 || { tail -20 "$PKG_TMP/apt.log" >&2; return 1; }
        # what apt had to bring: the libraries the package depends on
        grep -q "libarchive13" "$PKG_TMP/apt.log"
        chroot "$PKG_TMP/root" dpkg -s cubuild | grep -q '^Status: install ok installed'
        chroot "$PKG_TMP/root" cubuild --version | grep -q '^cubuild version'
        mount -t proc proc "$PKG_TMP/root/proc"
        mkdir -p "$PKG_TMP/root/ctx"
        echo hello >"$PKG_TMP/root/ctx/hello.txt"
        printf 'FROM scratch\nCOPY hello.txt /hello.txt\nCMD ["/hello.txt"]\n' >"$PKG_TMP/root/ctx/Dockerfile"
        run chroot "$PKG_TMP/root" cubuild --root /var/lib/cubuild build -q -t pkgtest:1 /ctx
        echo "$output" >&2
        [ "$status" -eq 0 ]
        chroot "$PKG_TMP/root" cubuild --root /var/lib/cubuild images | grep -q pkgtest
}
