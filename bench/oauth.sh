#!/usr/bin/env bash
# Load test of POST /oauth/token and POST /oauth/introspect with the shared harness's method
# (wrk, concurrency 32, warm-up, N runs; see run.sh). Builds release, provisions a temp SQLite
# database with an org and a benchmark key through the CLI, then measures.
#
#   bench/oauth.sh            # pinned (server core 0, wrk core 1) and unpinned, 5 x 10 s each
#   RUNS=3 DUR=5 bench/oauth.sh pinned
#   BACKEND=postgres bench/oauth.sh pinned   # on a throwaway PostgreSQL (bench/pg.sh)
#
# Results: JSON lines in bench/out/oauth.jsonl, table via summarize.py at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
MODES=("${@:-pinned unpinned}")
RUNS="${RUNS:-5}" DUR="${DUR:-10}" WARM="${WARM:-5}" PORT="${PORT:-18080}"
cargo build --release --quiet
BIN="$PWD/target/release/latchkey"
WORK=$(mktemp -d /tmp/latchkey-bench.XXXXXX)
BACKEND="${BACKEND:-sqlite}"
if [[ $BACKEND == postgres ]]; then
  . bench/pg.sh
  trap 'pg_cleanup; rm -rf "$WORK"' EXIT
else
  trap 'rm -rf "$WORK"' EXIT
  export DATABASE_URL="sqlite://$WORK/bench.db"
fi
export LATCHKEY_KEYS_DIR="$WORK/keys" LATCHKEY_LOG=warn
"$BIN" org create bench >/dev/null
"$BIN" org bootstrap bench --json >/dev/null
KEY_JSON=$("$BIN" keys create --org bench --name bench --scope 'read:*' --json)
ID=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["key"]["id"])' <<<"$KEY_JSON")
SECRET=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])' <<<"$KEY_JSON")
export BENCH_BASIC=$(printf '%s:%s' "$ID" "$SECRET" | base64 -w0)
mkdir -p bench/out
OUT=bench/out/oauth.jsonl
SERVE=("$BIN" serve --listen "127.0.0.1:$PORT")
for mode in ${MODES[*]}; do
  flag=(); [[ $mode == pinned ]] && flag=(-p)
  BENCH_BODY='grant_type=client_credentials&scope=read' \
    bench/run.sh "${flag[@]}" -n "$RUNS" -d "$DUR" -w "$WARM" -o "$OUT" \
    -l "latchkey /oauth/token [$BACKEND]" -u "http://127.0.0.1:$PORT/oauth/token" -- "${SERVE[@]}"
  BENCH_SETUP="curl -s -u '$ID:$SECRET' -d grant_type=client_credentials http://127.0.0.1:$PORT/oauth/token | python3 -c 'import json,sys; print(\"token=\"+json.load(sys.stdin)[\"access_token\"])'" \
    bench/run.sh "${flag[@]}" -n "$RUNS" -d "$DUR" -w "$WARM" -o "$OUT" \
    -l "latchkey /oauth/introspect (JWT) [$BACKEND]" -u "http://127.0.0.1:$PORT/oauth/introspect" -- "${SERVE[@]}"
done
python3 bench/summarize.py "$OUT"
