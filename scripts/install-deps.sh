#!/usr/bin/env bash
# Installs what cubuild needs to build and test on Debian 12. Idempotent: quiet when all is present.
#   scripts/install-deps.sh           build and test dependencies
#   scripts/install-deps.sh --build   only what building cubuild needs
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config git
        libarchive-dev libcurl4-openssl-dev libssl-dev libzstd-dev zlib1g-dev libyaml-dev libjansson-dev)
test_pkgs=(libcmocka-dev bats docker-registry skopeo umoci mmdebstrap openssl apache2-utils jq
        python3 python3-pip ca-certificates uidmap iproute2 file binutils)

pkgs=("${build_pkgs[@]}")
[ "${1:-}" = "--build" ] || pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
