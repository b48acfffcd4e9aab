#!/usr/bin/env bash
# Aggregate token throughput of two `serve` nodes on one throwaway PostgreSQL: one wrk per node
# (1 thread, 16 connections each, 32 in all), run at the same time, unpinned. Prints both wrk
# summaries and the sum. Everything stays on 127.0.0.1 and stops by itself.
#   bench/two-nodes.sh            DUR=10 WARM=5 by default
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${DUR:-10}" WARM="${WARM:-5}"
cargo build --release --quiet
BIN="$PWD/target/release/latchkey"
WORK=$(mktemp -d /tmp/latchkey-bench.XXXXXX)
. bench/pg.sh
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; pg_cleanup; rm -rf "$WORK"' EXIT
export LATCHKEY_MASTER_KEY=$(head -c 32 /dev/urandom | base64) LATCHKEY_LOG=warn LATCHKEY_KEYS_DIR="$WORK/keys"
"$BIN" org create bench >/dev/null && "$BIN" org bootstrap bench --json >/dev/null
KEY_JSON=$("$BIN" keys create --org bench --name bench --scope 'read:*' --json)
ID=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["key"]["id"])' <<<"$KEY_JSON")
SECRET=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])' <<<"$KEY_JSON")
export BENCH_BASIC=$(printf '%s:%s' "$ID" "$SECRET" | base64 -w0) BENCH_BODY='grant_type=client_credentials&scope=read'
for port in 18081 18082; do
  "$BIN" serve --listen 127.0.0.1:$port --issuer http://bench.test >"$WORK/node-$port.log" 2>&1 &
  PIDS+=($!)
done
for port in 18081 18082; do
  for i in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" && break; sleep 0.1; done
done
W=()
for port in 18081 18082; do
  wrk -t1 -c16 -d"${WARM}s" -s bench/post.lua "http://127.0.0.1:$port/oauth/token" >/dev/null &
  W+=($!)
done
wait "${W[@]}"
W=()
for port in 18081 18082; do
  wrk -t1 -c16 -d"${DUR}s" --latency -s bench/post.lua "http://127.0.0.1:$port/oauth/token" >"$WORK/wrk-$port.out" &
  W+=($!)
done
wait "${W[@]}"
total=0
for port in 18081 18082; do
  line=$(sed -n 's/^WRKJSON //p' "$WORK/wrk-$port.out"); echo "node $port: $line"
  total=$(python3 -c "import json,sys; print($total + json.loads(sys.argv[1])['rps'])" "$line")
done
echo "aggregate: $total req/s"
