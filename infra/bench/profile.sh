#!/usr/bin/env bash
# The cached Airtable read through the runner, measured and optionally profiled (issue 16's method; the figures
# are in infra/bench/RESULTS.md, "Profile of the cached read"). Needs wrk and, for PERF=1, perf (linux-perf).
#
#   cargo build --profile profiling -p local-runner     # release, with symbols (Cargo.toml's profile)
#   infra/bench/profile.sh                              # CONNS=64 SECS=10: req/s, latency, runner CPU µs/request
#   PERF=1 infra/bench/profile.sh                       # also `perf record` (cpu-clock, dwarf) into /tmp/perf.data
#   LOG=warn infra/bench/profile.sh                     # the runner without its line per request
#
# CPU µs/request is the runner's own user+system time (/proc/<pid>/stat) over the requests wrk completed, so it
# holds while wrk shares the cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-target/profiling/pyairtable-local}
CONNS=${CONNS:-64}; SECS=${SECS:-10}
DATA=$(mktemp -d /tmp/profdata.XXXX)
PORT=18089
unset STORAGE CACHE_URL AWS_ENDPOINT_URL AIRTABLE_ENDPOINT_URL TABLE_PREFIX RUST_LOG
export TENANT_PLANS='{"free": {"members": 5, "workspaces": 3, "airtable_connections": 2, "airtable_requests_per_month": 100000, "automations": 5, "file_storage_bytes": 1073741824, "api_requests_per_second": 1000000, "api_burst": 1000000}}'
RUST_LOG=${LOG:-info} BIND=127.0.0.1 PORT=$PORT DATA_DIR=$DATA AIRTABLE_CACHE_TTL_RECORDS_SECS=3600 $BIN > /tmp/prof-runner.log 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
URL=http://127.0.0.1:$PORT
for i in $(seq 1 300); do curl -sf $URL/health >/dev/null && break; sleep 0.1; done
EMAIL="bench-$RANDOM$RANDOM@example.com"
ACCESS=$(curl -sf -X POST $URL/api/v1/auth/register -H 'content-type: application/json' -d "{\"email\":\"$EMAIL\",\"password\":\"correct horse battery staple\",\"first_name\":\"Bench\"}" | python3 -c 'import sys,json;print(json.load(sys.stdin)["access_token"])')
KEY=$(curl -sf -X POST $URL/api/v1/auth/api-keys -H "authorization: Bearer $ACCESS" -H 'content-type: application/json' -d '{"name":"bench"}' | python3 -c 'import sys,json;print(json.load(sys.stdin)["key"])')
BASE=$(curl -sf $URL/v0/meta/bases -H "authorization: Bearer $KEY" | python3 -c 'import sys,json;print([b["id"] for b in json.load(sys.stdin)["bases"] if b["name"]=="Demo"][0])')
LIST="$URL/api/v1/airtable/bases/$BASE/tables/tblProjects000001/records?pageSize=10"
curl -sf -o /dev/null -D - "$LIST" -H "authorization: Bearer $KEY" | grep -i x-cache
curl -sf -o /dev/null -D - "$LIST" -H "authorization: Bearer $KEY" | grep -i x-cache
T0=$(awk '{print $14+$15}' /proc/$PID/stat)
if [ "${PERF:-0}" = 1 ]; then
  perf record -F 2000 -e cpu-clock -g --call-graph dwarf,16384 -p $PID -o /tmp/perf.data -- sleep $SECS > /dev/null 2>&1 &
  PERFPID=$!
fi
wrk -t1 -c$CONNS -d${SECS}s --latency -H "authorization: Bearer $KEY" "$LIST" > /tmp/wrk.out
T1=$(awk '{print $14+$15}' /proc/$PID/stat)
[ "${PERF:-0}" = 1 ] && wait $PERFPID || true
REQS=$(awk '/requests in/ {print $1}' /tmp/wrk.out)
TCK=$(getconf CLK_TCK)
echo "requests=$REQS cpu_ticks=$((T1-T0)) cpu_us_per_request=$(python3 -c "print(round(($T1-$T0)/$TCK*1e6/$REQS,1))")"
grep -E "Requests/sec|50%|99%" /tmp/wrk.out
