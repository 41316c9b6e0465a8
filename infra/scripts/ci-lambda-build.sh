#!/usr/bin/env bash
# CI's Lambda build: every bootstrap of every function crate, cross-compiled for arm64 and linked by zig, in ONE
# cargo invocation (the dependency graph is compiled once; each further function costs its own crate and a
# link), then a check that every `Binary:` template.yaml names was built as an arm64 ELF executable.
#
# `sam build` (infra/scripts/sam-build.sh, what ships) runs cargo once per function, and each run re-resolves
# features for its one crate and rebuilds what differs: 922-1000 s for 7 functions on 2 cores, which would not
# fit CI's budget at 22. The template's build wiring (CodeUri = the binary's crate, `Binary:` = a [[bin]] of
# it) is checked by tests/tests/e2e/template.rs; cfn-lint checks the rest of the template.
#
# Unoptimised (opt-level 0, no LTO, 16 codegen units; `SAM_BUILD_PROFILE=ci` is opt-level 1): this proves the
# code cross-compiles and links, not how fast it runs — 308 s from a cold target dir against 662 s at opt-level 1
# (7 function crates, 2 busy cores; infra/bench measures what ships). Output: target/lambda-ci/<binary>/bootstrap.
set -euo pipefail
cd "$(dirname "$0")/../.."

log() { echo "ci-lambda-build: $*" >&2; }

infra/scripts/services.sh venv
export PATH="$PWD/.venv/bin:$PATH"

target=aarch64-unknown-linux-gnu
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx "$target"; then
  log "adding the Rust target $target (first run only)"
  rustup target add "$target" >&2
fi

export CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=0

# Every crate under functions/ (its [package] name), so a new function is built without a list to edit.
packages=()
for manifest in functions/*/Cargo.toml; do
  name=$(awk '/^\[package\]/ { p = 1; next } /^\[/ { p = 0 } p && /^name *=/ { gsub(/[" ]/, "", $0); sub(/^name=/, "", $0); print; exit }' "$manifest")
  packages+=(-p "$name")
done

out=target/lambda-ci
started=$(date +%s)
cargo lambda build --release --target "$target" --lambda-dir "$out" "${packages[@]}"
log "one cargo invocation for $(( ${#packages[@]} / 2 )) function crates took $(( $(date +%s) - started ))s"

# Every binary the template deploys is there, arm64.
mapfile -t binaries < <(sed -n 's/^ *Binary: *\([A-Za-z0-9_-]*\) *$/\1/p' template.yaml | sort -u)
if (( ${#binaries[@]} == 0 )); then log "template.yaml names no Binary:"; exit 1; fi
paths=(); for b in "${binaries[@]}"; do paths+=("$out/$b/bootstrap"); done
python3 infra/scripts/check-arm64.py "${paths[@]}"
