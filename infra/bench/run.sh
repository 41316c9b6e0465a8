#!/usr/bin/env bash
# The benchmark suite, one command (not part of the test suite): builds what it needs in release, installs the
# load tool and the arm64 toolchain, starts moto, runs every benchmark, prints the tables and writes
# infra/bench/RESULTS.md with the machine described and every budget marked met or missed.
#
#   infra/bench/run.sh                      # everything; rewrites infra/bench/RESULTS.md
#   infra/bench/run.sh cold sizes           # some sections only (machine cold sizes http airtable micro);
#                                           # prints them, leaves RESULTS.md alone
#
# Needs what the README's set-up needs (Rust with rustup, Python 3, Debian). Installs: wrk (apt-get, as root),
# and for the arm64 bootstraps what infra/scripts/sam-build.sh uses (cargo-lambda and zig into .venv from
# infra/scripts/requirements.txt, the aarch64-unknown-linux-gnu target). Everything is built in release, once:
# later runs reuse target/. The arm64 bootstraps are built with the command `sam build` runs per function, so
# either build serves the other.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
started=$(date +%s)
BENCH_LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
export BENCH_LOAD_AT_START
# The benchmarks set the services' and functions' log levels themselves.
unset RUST_LOG

log() { echo "bench: $*" >&2; }

sections=("$@")
[ ${#sections[@]} -eq 0 ] && sections=(all)
wants() { # any of the named sections asked for (or all)?
  local s want
  for s in "${sections[@]}"; do
    [ "$s" = all ] && return 0
    for want in "$@"; do [ "$s" = "$want" ] && return 0; done
  done
  return 1
}

# Every function binary template.yaml deploys, as `crate:binary` (its CodeUri's crate and its Binary), so a new
# function is benchmarked without a list to edit here.
mapfile -t functions < <(python3 - <<'PY'
import re
text = open("template.yaml").read()
for block in re.split(r"\n  (?=[A-Za-z0-9]+:\n)", text):
    binary = re.search(r"^ +Binary: *([A-Za-z0-9_-]+) *$", block, re.M)
    code = re.search(r"^ +CodeUri: *functions/([A-Za-z0-9_-]+)/? *$", block, re.M)
    if binary and code:
        print(f"{code.group(1)}:{binary.group(1)}")
PY
)
(( ${#functions[@]} > 0 )) || { log "template.yaml names no function"; exit 1; }

# ---------------------------------------------------------------- tools
if wants http && ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    log "installing wrk with apt-get (first run only)"
    (apt-get install -y -qq wrk || (apt-get update -qq && apt-get install -y -qq wrk)) >&2
  else
    log "wrk is missing and this is not root: install it (sudo apt-get install wrk) and re-run"
    exit 1
  fi
fi
if wants sizes; then
  infra/scripts/services.sh venv # cargo-lambda and zig (infra/scripts/requirements.txt)
  export PATH="$root/.venv/bin:$PATH"
  if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    log "adding the Rust target aarch64-unknown-linux-gnu (first run only)"
    rustup target add aarch64-unknown-linux-gnu >&2
  fi
fi

# ---------------------------------------------------------------- builds (release, once; cargo reuses target/)
build_started=$(date +%s)
packages=(-p bench)
wants cold sizes && for crate in $(printf '%s\n' "${functions[@]%%:*}" | sort -u); do packages+=(-p "$crate"); done
wants http airtable && packages+=(-p local-runner)
log "cargo build --release ${packages[*]} --bins"
cargo build --release "${packages[@]}" --bins
if wants sizes; then
  for f in "${functions[@]}"; do
    # Exactly what `sam build` runs for each function (in its crate, CARGO_TARGET_DIR=target/).
    log "cargo lambda build --release --arm64 --bin ${f#*:}"
    (cd "functions/${f%%:*}" && CARGO_TARGET_DIR="$root/target" cargo lambda build --release --arm64 --bin "${f#*:}")
  done
fi
if wants micro; then
  export CRITERION_HOME="$root/target/criterion"
  log "cargo bench (criterion): identity, airtable, access, files"
  cargo bench -p identity -p airtable -p access -p files --bench identity --bench cache_key --bench enforcement --bench decision --bench inspect -- --warm-up-time 2 --measurement-time 4 >&2
fi
built=$(date +%s)

# ---------------------------------------------------------------- services (moto for the cold starts)
# An already-running moto (MOTO_ENDPOINT_URL, as infra/scripts/services.sh exports it) is used if it answers.
if [ -n "${MOTO_ENDPOINT_URL:-}" ] &&
  ! python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1] + '/moto-api/', timeout=2)" \
    "$MOTO_ENDPOINT_URL" >/dev/null 2>&1; then
  log "MOTO_ENDPOINT_URL=$MOTO_ENDPOINT_URL does not answer: starting a moto of our own"
  unset MOTO_ENDPOINT_URL
fi
if wants cold && [ -z "${MOTO_ENDPOINT_URL:-}" ]; then
  eval "$(infra/scripts/services.sh start)"
  trap 'infra/scripts/services.sh stop' EXIT
fi

# ---------------------------------------------------------------- run
# Scratch space: the runners' data dirs and logs (a line per request: hundreds of MB) go after the run unless
# BENCH_KEEP_WORK=1.
rm -rf target/bench-work/runner-*
if [ "${sections[0]}" = all ]; then
  export BENCH_RESULTS_FILE="$root/infra/bench/RESULTS.md"
  target/release/bench all
else
  target/release/bench "${sections[@]}"
fi
[ "${BENCH_KEEP_WORK:-}" = 1 ] || rm -rf target/bench-work/runner-*
finished=$(date +%s)
summary="wall time $((finished - started)) s (builds $((built - build_started)) s, benchmarks $((finished - built)) s)"
log "$summary"
if [ "${sections[0]}" = all ]; then
  printf '\nThis run of `infra/bench/run.sh`: %s; the builds had little left to do when earlier builds were in target/.\n' \
    "$summary" >>"$BENCH_RESULTS_FILE"
fi
