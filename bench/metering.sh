#!/usr/bin/env bash
# What usage metering costs on the token endpoint: the same server and key, pinned mode,
# metering on and off, alternating (on, off, on, off) so drift on a shared machine hits both.
#   RUNS=3 DUR=10 bench/metering.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}" DUR="${DUR:-10}" WARM="${WARM:-5}" PORT="${PORT:-18080}"
cargo build --release --quiet
BIN="$PWD/target/release/latchkey"
WORK=$(mktemp -d /tmp/latchkey-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export DATABASE_URL="sqlite://$WORK/bench.db" LATCHKEY_KEYS_DIR="$WORK/keys" LATCHKEY_LOG=warn
"$BIN" org create bench >/dev/null
"$BIN" org bootstrap bench --json >/dev/null
KEY_JSON=$("$BIN" keys create --org bench --name bench --scope 'read:*' --json)
ID=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["key"]["id"])' <<<"$KEY_JSON")
SECRET=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])' <<<"$KEY_JSON")
export BENCH_BASIC=$(printf '%s:%s' "$ID" "$SECRET" | base64 -w0) BENCH_BODY='grant_type=client_credentials&scope=read'
mkdir -p bench/out
OUT=bench/out/metering.jsonl
for round in 1 2; do
  for metering in true false; do
    LATCHKEY_USAGE_METERING=$metering bench/run.sh -p -n "$RUNS" -d "$DUR" -w "$WARM" -o "$OUT" \
      -l "token, metering $metering" -u "http://127.0.0.1:$PORT/oauth/token" -- "$BIN" serve --listen "127.0.0.1:$PORT"
  done
done
python3 bench/summarize.py "$OUT"
