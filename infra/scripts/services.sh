#!/usr/bin/env bash
# Installs (if needed) and starts the real servers the tests run against, on free loopback ports:
#   moto_server (PyPI moto[server]) for DynamoDB, SQS, S3 and ElastiCache, and redis-server (Debian).
# Usage: source <(infra/scripts/services.sh start)   exports MOTO_ENDPOINT_URL, REDIS_URL, AWS_* test creds
#        infra/scripts/services.sh stop            stops what that start started (uses SERVICES_DIR)
# The venv is .venv/ in the repo root; each start keeps its pids and logs in its own .ci-work/<id>/, so
# several users of one checkout (people, agents, CI) never stop each other's servers.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
work="$root/.ci-work"
venv="$root/.venv"
mkdir -p "$work"

log() { echo "services: $*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

ensure_venv() {
  local req="$root/infra/scripts/requirements.txt"
  if [ ! -x "$venv/bin/python" ]; then
    log "creating $venv (first run only)"
    python3 -m venv "$venv" >&2
  fi
  # Re-install only when requirements.txt changed since the last install.
  if [ ! -f "$venv/.installed" ] || [ "$req" -nt "$venv/.installed" ]; then
    log "installing $(grep -cv '^#' "$req") Python requirements into $venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
    touch "$venv/.installed"
  fi
}

# airtable.js for the client suite (tests/node): `npm ci` from the committed lock file, again only when the lock
# file changed since the last install. Without node/npm nothing is installed (the suite's test then says so).
ensure_node_modules() {
  local dir="$root/tests/node"
  [ -f "$dir/package-lock.json" ] || return 0
  if ! command -v npm >/dev/null 2>&1; then
    log "npm not found: skipping npm ci in tests/node (the airtable.js suite needs node >= 18 and npm)"
    return 0
  fi
  if [ ! -f "$dir/node_modules/.installed" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.installed" ] \
    || [ "$dir/package.json" -nt "$dir/node_modules/.installed" ]; then
    log "installing tests/node dependencies with npm ci"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >&2
    touch "$dir/node_modules/.installed"
  fi
}

ensure_redis() {
  if command -v redis-server >/dev/null 2>&1; then return; fi
  if [ "$(id -u)" = 0 ]; then
    log "installing redis-server with apt-get (first run only)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >&2
  else
    log "redis-server is missing and this is not root: install it (sudo apt-get install redis-server) and re-run"
    exit 1
  fi
}

wait_for() { # name, command...
  local name=$1; shift
  for _ in $(seq 1 100); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  log "$name did not start; see $run/$name.log"; exit 1
}

start() {
  ensure_venv
  ensure_node_modules
  ensure_redis
  local moto_port redis_port
  run=$(mktemp -d "$work/run.XXXXXX")
  moto_port=$(free_port)
  redis_port=$(free_port)
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >"$run/moto.log" 2>&1 &
  echo $! >"$run/moto.pid"
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >"$run/redis.log" 2>&1 &
  echo $! >"$run/redis.pid"
  wait_for moto python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$moto_port/moto-api/')"
  wait_for redis redis-cli -p "$redis_port" ping
  log "moto_server on :$moto_port, redis-server on :$redis_port"
  cat <<ENV
export SERVICES_DIR=$run
export MOTO_ENDPOINT_URL=http://127.0.0.1:$moto_port
export REDIS_URL=redis://127.0.0.1:$redis_port
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
ENV
}

stop() {
  local dir=${SERVICES_DIR:-}
  [ -n "$dir" ] && [ -d "$dir" ] || { log "SERVICES_DIR is not set: nothing to stop"; return 0; }
  for name in moto redis; do
    if [ -f "$dir/$name.pid" ]; then
      kill "$(cat "$dir/$name.pid")" 2>/dev/null || true
    fi
  done
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  install) ensure_venv; ensure_node_modules; ensure_redis ;;
  venv) ensure_venv ;;
  *) echo "usage: $0 start|stop|install|venv" >&2; exit 2 ;;
esac
