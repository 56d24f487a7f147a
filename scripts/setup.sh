#!/usr/bin/env bash
# Installs the Debian packages Beta 500 needs to build, run and test; with --test also Node.js and
# the tests' OpenID provider (npm).
# Idempotent: when everything is present it only checks and returns in about a second.
set -euo pipefail

packages=(
    build-essential cmake ninja-build ccache pkg-config
    libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
    libssl-dev libsqlite3-dev sqlite3 libtoml11-dev libcli11-dev libspdlog-dev libfmt-dev
    libcurl4-openssl-dev libxapian-dev libeigen3-dev libpq-dev
    libpocketsphinx-dev libsphinxbase-dev pocketsphinx-en-us
    apertium apertium-dev lttoolbox-dev apertium-lex-tools-dev apertium-eng-spa
    libespeak-ng-dev espeak-ng-data libsoxr-dev libxml2-dev libicu-dev
    libgtest-dev libgmock-dev googletest libbenchmark-dev
    python3 python3-aiosmtpd python3-websockets wrk curl
)
for_tests=0
[[ "${1:-}" == "--test" ]] && for_tests=1
# The tests' OpenID providers run on Node.js: Debian's nodejs and npm, unless a node is present.
# The tests' speech: flite speaks known sentences (a voice other than the server's espeak-ng);
# their PostgreSQL runs as a private cluster (scripts/postgres-cluster.sh).
((for_tests)) && packages+=(flite postgresql-15)
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

# The demo catalog: vega-datasets' movies.json (3,201 films, BSD-3-Clause) from the npm registry,
# checked against the registry's integrity hash, converted to the import format.
demo_dir="$(dirname "$0")/../data/demo"
if [[ ! -s "$demo_dir/catalog.json" ]]; then
    echo "setup: building the demo catalog from vega-datasets"
    mkdir -p "$demo_dir"
    tarball="$demo_dir/vega-datasets-3.2.1.tgz"
    curl -fsSL --retry 3 -o "$tarball.part" https://registry.npmjs.org/vega-datasets/-/vega-datasets-3.2.1.tgz
    integrity="sha512-$(openssl dgst -sha512 -binary "$tarball.part" | base64 -w0)"
    if [[ "$integrity" != "sha512-lTSwZA6yq6qSU2YZm+6bqILiIvTPPxn4itir7jPGFmHIdPvUfQ9pCzzcrklYywMJgLUbaIeSkZQdiJd6wBxPug==" ]]; then
        echo "setup: vega-datasets-3.2.1.tgz does not match the registry's integrity hash" >&2
        rm -f "$tarball.part"
        exit 1
    fi
    tar -xzf "$tarball.part" -C "$demo_dir" package/data/movies.json package/package.json
    rm -f "$tarball.part"
    python3 "$(dirname "$0")/demo_catalog.py" "$demo_dir/package/data/movies.json" "$demo_dir/catalog.json"
fi
