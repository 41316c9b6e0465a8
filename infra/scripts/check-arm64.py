#!/usr/bin/env python3
"""Checks that each path given is an arm64 ELF executable (e_machine 183 = EM_AARCH64) and prints its size.

Used by sam-build.sh (every .aws-sam/<dir>/<Function>/bootstrap) and ci-lambda-build.sh (the bootstrap of every
`Binary:` in template.yaml). A missing path fails too. Exit status 1 if any fails.
"""
import os
import sys

failed = len(sys.argv) < 2
for path in sys.argv[1:]:
    label = os.path.basename(os.path.dirname(path))
    if not os.path.isfile(path):
        print(f"check-arm64: {label}: no bootstrap at {path}", file=sys.stderr)
        failed = True
        continue
    with open(path, "rb") as f:
        head = f.read(20)
    arm64 = head[:4] == b"\x7fELF" and int.from_bytes(head[18:20], "little") == 183
    size = os.path.getsize(path) / 1_048_576
    print(f"check-arm64: {label:<28} {size:6.1f} MiB  {'arm64' if arm64 else 'NOT arm64'}", file=sys.stderr)
    failed |= not arm64
sys.exit(1 if failed else 0)
