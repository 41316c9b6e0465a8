#!/usr/bin/env bash
# The whole test suite, from a fresh clone on a Debian machine with Rust and Python:
#   installs what it needs (a venv with moto[server], cfn-lint, pyairtable and schemathesis; airtable.js with
#   npm ci in tests/node; redis-server from apt when root),
#   starts moto_server and redis-server on free loopback ports, lints, runs every test, stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
last=$started
# Each step's heading says how long the previous one took (CI's time budget is watched per phase).
step() {
  local now; now=$(date +%s)
  printf '\n==> %s   (previous step %ss, %ss so far)\n' "$*" "$(( now - last ))" "$(( now - started ))"
  last=$now
}

step "services: moto_server + redis-server"
infra/scripts/services.sh install
eval "$(infra/scripts/services.sh start)"
trap 'infra/scripts/services.sh stop' EXIT

step "format"
cargo fmt --all -- --check

step "template: cfn-lint (errors fail; warnings are shown)"
lint=0; .venv/bin/cfn-lint template.yaml || lint=$?
if (( lint & 2 )); then echo "cfn-lint found errors" >&2; exit 1; fi

step "clippy (warnings are errors)"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "build the function binaries and test binaries (events/ are replayed through the functions)"
# The same targets as the test step below: a build of `--bins` alone resolves features without dev-dependencies,
# so every crate would be compiled twice (twice the time, and ~6 GB more disk).
cargo build --workspace --lib --bins --tests --quiet

step "tests (conformance suites, unit tests, end-to-end against the local runner)"
mkdir -p .ci-work
cargo test --workspace --lib --bins --tests --quiet 2>&1 | tee .ci-work/test-output.log
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' .ci-work/test-output.log | tee .ci-work/test-summary.txt

printf '\n==> all green in %ss (tests %ss)\n' "$(( $(date +%s) - started ))" "$(( $(date +%s) - last ))"
