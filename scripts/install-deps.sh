#!/usr/bin/env bash
# Installs what cubuild needs to build and test on Debian 12. Idempotent: quiet when all is present.
#   scripts/install-deps.sh           build and test dependencies
#   scripts/install-deps.sh --build   only what building cubuild needs
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config git
        libarchive-dev libcurl4-openssl-dev libssl-dev libzstd-dev zlib1g-dev libyaml-dev libjansson-dev)
test_pkgs=(libcmocka-dev bats docker-registry skopeo umoci mmdebstrap openssl apache2-utils jq
        python3 python3-pip ca-certificates uidmap iproute2 file binutils strace
        cppcheck clang-tidy python3-jsonschema python3-yaml)

pkgs=("${build_pkgs[@]}")
[ "${1:-}" = "--build" ] || pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# the SBOM test validates with PyPI's spdx-tools (audit-attest.bats skips that check without it)
spdx() {
        [ "${1:-}" = "--build" ] || command -v pyspdxtools >/dev/null && return 0
        python3 -m pip install -q --break-system-packages spdx-tools 2>/dev/null ||
                python3 -m pip install -q spdx-tools 2>/dev/null ||
                echo "install-deps: pip could not install spdx-tools: the SBOM validation will be skipped" >&2
}
if [ ${#missing[@]} -eq 0 ]; then
        spdx "${1:-}"
        exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
spdx "${1:-}"
