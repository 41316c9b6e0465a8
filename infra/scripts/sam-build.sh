#!/usr/bin/env bash
# `sam build` for arm64, offline, from a fresh clone: installs what it needs, builds every function in
# template.yaml with cargo-lambda (cross-compiled and linked by zig, no Docker), checks each bootstrap is an
# arm64 ELF executable and prints its size. Output: .aws-sam/build (the CI profile: .aws-sam/ci-build).
#
#   infra/scripts/sam-build.sh                  # the shipped build: [profile.release] (fat LTO, 1 codegen unit)
#   SAM_BUILD_PROFILE=ci infra/scripts/sam-build.sh   # CI: same code, cheaper optimisation (see below)
#   infra/scripts/sam-build.sh --config-env prod      # extra arguments go to `sam build`
#
# Needs: Rust (rustup), Python 3. Installs into .venv (infra/scripts/requirements.txt): aws-sam-cli,
# cargo-lambda, ziglang; and the aarch64-unknown-linux-gnu Rust target with rustup.
set -euo pipefail
cd "$(dirname "$0")/../.."

log() { echo "sam-build: $*" >&2; }

infra/scripts/services.sh venv
export PATH="$PWD/.venv/bin:$PATH"
# No usage reports from the SAM CLI (and no network calls for them).
export SAM_CLI_TELEMETRY=0

target=aarch64-unknown-linux-gnu
if command -v rustup >/dev/null 2>&1; then
  if ! rustup target list --installed | grep -qx "$target"; then
    log "adding the Rust target $target (first run only)"
    rustup target add "$target" >&2
  fi
else
  log "rustup not found: make sure the $target standard library is installed"
fi

build_dir=.aws-sam/build
case "${SAM_BUILD_PROFILE:-release}" in
  release) ;;
  ci)
    # Proves the cross-compiled build of every function without paying for fat LTO with one codegen unit
    # (the link of each binary is single-threaded): same code, same target, a bigger and slower bootstrap.
    export CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=1
    log "CI profile: CARGO_PROFILE_RELEASE_LTO=off CODEGEN_UNITS=16 OPT_LEVEL=1 (not what ships)"
    # Elsewhere than .aws-sam/build, where `sam deploy` and `sam local` look: these are never deployed.
    build_dir=.aws-sam/ci-build
    ;;
  *) log "SAM_BUILD_PROFILE must be release or ci"; exit 2 ;;
esac

started=$(date +%s)
sam build --build-dir "$build_dir" "$@"
log "sam build took $(( $(date +%s) - started ))s"

# Every function of the template has an arm64 bootstrap.
python3 infra/scripts/check-arm64.py "$build_dir"/*/bootstrap
