#!/usr/bin/env bash
# Installs the Debian packages Beta 500 needs to build, run and test; with --test also Node.js and
# the tests' OpenID provider (npm).
# Idempotent: when everything is present it only checks and returns in about a second.
set -euo pipefail

packages=(
    build-essential cmake ninja-build ccache pkg-config
    libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
    libssl-dev libsqlite3-dev sqlite3 libtoml11-dev libcli11-dev libspdlog-dev libfmt-dev
    libcurl4-openssl-dev
    libgtest-dev libgmock-dev googletest libbenchmark-dev
    python3 python3-aiosmtpd python3-websockets wrk curl
)
for_tests=0
[[ "${1:-}" == "--test" ]] && for_tests=1
# The tests' OpenID providers run on Node.js: Debian's nodejs and npm, unless a node is present.
if ((for_tests)) && { ! command -v node >/dev/null || ! command -v npm >/dev/null; }; then
    packages+=(nodejs npm)
fi

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$package")
    fi
done

if ((${#missing[@]} > 0)); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "setup: missing packages: ${missing[*]}; run as root or install them" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The OpenID provider the tests sign in against (npm package oidc-provider, pinned by the lock file).
oidc_dir="$(dirname "$0")/../tests/oidc"
if ((for_tests)) && [[ ! -d "$oidc_dir/node_modules/oidc-provider" || "$oidc_dir/package-lock.json" -nt "$oidc_dir/node_modules" ]]; then
    echo "setup: installing the test OpenID provider (npm ci)"
    (cd "$oidc_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
