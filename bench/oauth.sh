#!/usr/bin/env bash
# Load test of Latchkey's hot endpoints with the shared harness's method (wrk, concurrency 32,
# warm-up, N runs, median; see run.sh). Builds release, provisions a temp database with an org, its
# admin key and a benchmark key through the CLI, then measures, per mode:
#
#   token       POST /oauth/token (client credentials, Basic)
#   introspect  POST /oauth/introspect of a JWT (caller: Basic)
#   check       POST /v1/check of a raw key (caller: a raw key, Bearer)
#   check-limited   the same of a key with a rate limit and a quota (each check spends 1)
#   token-limited   POST /oauth/token of that key
#   token-pkjwt     POST /oauth/token of a key without a secret, by private_key_jwt (Ed25519): one
#                   pre-signed single-use assertion per request (ASSERTIONS, default 400000)
#   keys        GET /v1/keys (caller: the admin's raw key)
#   jwks        GET /.well-known/jwks.json
#
#   bench/oauth.sh                                  # all endpoints, pinned and unpinned, 5 runs each
#   RUNS=5 DUR=5 ENDPOINTS="token introspect" bench/oauth.sh pinned
#   BACKEND=postgres ENDPOINTS=token bench/oauth.sh # on a throwaway PostgreSQL (bench/pg.sh)
#   KEYS=1000000 ENDPOINTS=token bench/oauth.sh pinned   # with 1M more keys in the table
#
# Results: JSON lines in $OUT (bench/out/oauth.jsonl), the server's RSS after each label in
# ${OUT%.jsonl}.rss.jsonl, and a table via summarize.py at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
MODES=("${@:-pinned unpinned}")
RUNS="${RUNS:-5}" DUR="${DUR:-10}" WARM="${WARM:-5}" PORT="${PORT:-18080}"
ENDPOINTS="${ENDPOINTS:-token introspect check keys jwks}"
KEYS="${KEYS:-0}"
. bench/provision.sh
SCALE=""; [[ $KEYS == 0 ]] || SCALE=" +${KEYS} keys"
mkdir -p bench/out
OUT="${OUT:-bench/out/oauth.jsonl}"
RSS_OUT="${OUT%.jsonl}.rss.jsonl"
export RSS_OUT
SERVE=("$BIN" serve --listen "127.0.0.1:$PORT")
B="http://127.0.0.1:$PORT"
run() { # run MODE LABEL URL [env assignments...]
  local mode=$1 label=$2 url=$3; shift 3
  local flag=(); [[ $mode == pinned ]] && flag=(-p)
  env "$@" RSS_LABEL="$label" bench/run.sh "${flag[@]}" -n "$RUNS" -d "$DUR" -w "$WARM" -o "$OUT" \
    -l "$label" -u "$url" -- "${SERVE[@]}"
}
for mode in ${MODES[*]}; do
  for e in $ENDPOINTS; do
    case $e in
      token) run "$mode" "latchkey /oauth/token [$BACKEND$SCALE]" "$B/oauth/token" \
        BENCH_BODY='grant_type=client_credentials&scope=read' ;;
      introspect) run "$mode" "latchkey /oauth/introspect (JWT) [$BACKEND$SCALE]" "$B/oauth/introspect" \
        BENCH_SETUP="curl -s -u '$ID:$SECRET' -d grant_type=client_credentials $B/oauth/token | python3 -c 'import json,sys; print(\"token=\"+json.load(sys.stdin)[\"access_token\"])'" ;;
      check) run "$mode" "latchkey /v1/check (raw key) [$BACKEND$SCALE]" "$B/v1/check" \
        BENCH_AUTH="Bearer $SECRET" BENCH_CTYPE=application/json \
        BENCH_BODY="{\"token\":\"$SECRET\",\"action\":\"read\",\"resource\":\"projects/42\"}" ;;
      check-limited) run "$mode" "latchkey /v1/check (raw key, limited) [$BACKEND$SCALE]" "$B/v1/check" \
        BENCH_AUTH="Bearer $SECRET" BENCH_CTYPE=application/json \
        BENCH_BODY="{\"token\":\"$LSECRET\",\"action\":\"read\",\"resource\":\"projects/42\"}" ;;
      token-limited) run "$mode" "latchkey /oauth/token (limited) [$BACKEND$SCALE]" "$B/oauth/token" \
        BENCH_BASIC="$(printf '%s:%s' "$LID" "$LSECRET" | base64 -w0)" \
        BENCH_BODY='grant_type=client_credentials&scope=read' ;;
      token-pkjwt)
        cargo build --release --quiet --example assertion_bodies
        AB=./target/release/examples/assertion_bodies
        $AB keygen "$WORK"
        PK_JSON=$("$BIN" keys create --org bench --name pkjwt --scope 'read:*' \
          --public-key "$WORK/key.jwk" --no-secret --json)
        PK_ID=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["key"]["id"])' <<<"$PK_JSON")
        $AB sign "$WORK" "$PK_ID" "$B/oauth/token" "${ASSERTIONS:-400000}"
        rm -f "$WORK/bodies.next"
        run "$mode" "latchkey /oauth/token (private_key_jwt, Ed25519) [$BACKEND$SCALE]" "$B/oauth/token" \
          BENCH_BASIC= BENCH_BODIES="$WORK/bodies" BENCH_BODY="$(head -n1 "$WORK/bodies")" ;;
      keys) run "$mode" "latchkey GET /v1/keys (raw key) [$BACKEND$SCALE]" "$B/v1/keys?limit=20" \
        BENCH_METHOD=GET BENCH_AUTH="Bearer $ADMIN" ;;
      jwks) run "$mode" "latchkey GET /.well-known/jwks.json [$BACKEND$SCALE]" "$B/.well-known/jwks.json" \
        BENCH_METHOD=GET BENCH_BASIC= ;;
      *) echo "unknown endpoint $e" >&2; exit 2 ;;
    esac
  done
done
python3 bench/summarize.py "$OUT"
