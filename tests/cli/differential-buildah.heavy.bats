#!/usr/bin/env bats
# Differential test, heavy half: every case under tests/differential/cases is built by cubuild and
# by Debian's buildah 1.28 (`buildah bud --layers` on the same bookworm fixture base, its own
# storage in a temporary directory); root filesystems and config fields must be equal apart from
# KNOWN.md, and buildah's listing must still equal the committed expected one (which the default
# suite checks cubuild against). Cases buildah cannot build use their Dockerfile.buildah twin.

load helpers

setup() {
        command -v python3 >/dev/null || skip "python3 is not installed"
        command -v buildah >/dev/null || skip "buildah is not installed"
        command -v skopeo >/dev/null || skip "skopeo is not installed"
        command -v runc >/dev/null || skip "runc is not installed"
        [ "$(id -u)" -eq 0 ] || skip "buildah with overlay storage needs root here"
}

@test "cubuild and buildah 1.28 build the same images" {
        run python3 "$CUBUILD_SOURCE_DIR/tests/differential/difftest.py" buildah
        echo "$output"
        [ "$status" -eq 0 ]
}
