#!/usr/bin/env bash
# Soak: a steady token load for a long time, with keys created and revoked alongside. Not a test.
#
#   bench/soak.sh                          # 8,000 tokens/s for 600 s, 5 churn cycles/s, SQLite
#   RATE=4000 DURATION=120 bench/soak.sh
#   BACKEND=postgres bench/soak.sh         # on a throwaway PostgreSQL (bench/pg.sh)
#
# RATE defaults to half the measured pinned peak of POST /oauth/token (~16,900/s on one core,
# see bench/oauth.sh). The driver (bench/soak.rs, release build) sends at that constant rate over
# CONNS keep-alive connections, open-loop (a slow answer makes it late, not slower: lateness is
# reported), and runs a churn loop CHURN times a second: create a key, get a token with it,
# revoke it, check its secret is then refused (401 invalid_client "revoked", the expected
# denial; CHECK_REVOKED=0 skips that check). Every SAMPLE seconds it records the server's VmRSS
# (and RssAnon, the heap), open fds, threads and CPU time.
# PIN=1 (default): server on core 0, driver on core 1, as in the pinned benchmark.
#
# Output: per-sample lines while it runs, then a JSON summary (start/end/max RSS and fds, token
# requests and achieved rate, latency percentiles, status-code histogram, unexpected errors),
# also written to bench/out/soak-<time>.json with the samples in bench/out/soak-<time>.csv.
# Exits non-zero when any response was unexpected.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE="${RATE:-8000}" DURATION="${DURATION:-600}" CONNS="${CONNS:-64}" CHURN="${CHURN:-5}"
CHECK_REVOKED="${CHECK_REVOKED:-1}" SAMPLE="${SAMPLE:-10}" PORT="${PORT:-18090}" PIN="${PIN:-1}"
BACKEND="${BACKEND:-sqlite}"
cargo build --release --quiet --example soak
DRIVER="$PWD/target/release/examples/soak"
. bench/provision.sh
KEY_ID=$ID KEY_SECRET=$SECRET
SRV=""
stop_server() {
  [[ -n $SRV ]] && kill -TERM "$SRV" 2>/dev/null && wait "$SRV" 2>/dev/null || true
  SRV=""
}
trap 'stop_server; provision_cleanup' EXIT

srv_prefix=() drv_prefix=()
[[ $PIN == 1 ]] && { srv_prefix=(taskset -c 0); drv_prefix=(taskset -c 1); }
"${srv_prefix[@]}" "$BIN" serve --listen "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
SRV=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break
  kill -0 "$SRV" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
  sleep 0.1
done

mkdir -p bench/out
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
echo "soak: $RATE tokens/s for ${DURATION}s, churn $CHURN/s, $BACKEND, server pid $SRV (pin=$PIN)"
rc=0
"${drv_prefix[@]}" "$DRIVER" --url "http://127.0.0.1:$PORT" --pid "$SRV" --admin "$ADMIN" \
  --key-id "$KEY_ID" --key-secret "$KEY_SECRET" --rate "$RATE" --duration "$DURATION" \
  --conns "$CONNS" --churn "$CHURN" --check-revoked "$CHECK_REVOKED" --sample "$SAMPLE" \
  --csv "bench/out/soak-$STAMP.csv" --json "bench/out/soak-$STAMP.json" || rc=$?
stop_server
if grep -qiE 'panic|error' "$WORK/server.log"; then
  echo "server log has errors:"; grep -iE 'panic|error' "$WORK/server.log" | head -20
fi
python3 - "bench/out/soak-$STAMP.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
# A run shorter than one sample interval has no start/end/max samples: show them as 0.
for group in ("rss_kb", "rss_anon_kb", "fds"):
    d[group] = {k: (v or 0) for k, v in d[group].items()}
d["server_cpu_cores"] = d["server_cpu_cores"] or 0
r, f = d["rss_kb"], d["fds"]
print(f"\nsoak summary ({sys.argv[1]}):")
print(f"  token requests {d['token_requests']:,} at {d['achieved_token_rate_per_s']:,.0f}/s "
      f"(target {d['target_rate_per_s']:,.0f}/s; mean lateness {d['mean_late_ms']:.2f} ms), "
      f"p50 {d['token_latency_ms']['p50']:.1f} ms, p99 {d['token_latency_ms']['p99']:.1f} ms; "
      f"server CPU {d['server_cpu_cores']:.2f} cores, driver CPU {d['driver_cpu_cores']:.2f} cores")
print(f"  RSS idle {r['idle']/1024:.1f} MiB, start {r['start']/1024:.1f} MiB, "
      f"end {r['end']/1024:.1f} MiB, max {r['max']/1024:.1f} MiB")
a = d["rss_anon_kb"]
print(f"  of which anonymous (heap): idle {a['idle']/1024:.1f} MiB, "
      f"start {a['start']/1024:.1f} MiB, end {a['end']/1024:.1f} MiB, max {a['max']/1024:.1f} MiB")
print(f"  fds idle {f['idle']}, start {f['start']}, end {f['end']}, max {f['max']}")
print(f"  churn cycles {d['churn_cycles']:,}; statuses: "
      + ", ".join(f"{k}: {v:,}" for k, v in d["statuses"].items()))
print(f"  unexpected responses: {d['unexpected']}")
for s in d["unexpected_samples"]:
    print("    " + s)
PY
if (( rc == 0 )); then
  python3 -c 'import json,sys; sys.exit(1 if json.load(open(sys.argv[1]))["unexpected"] else 0)' \
    "bench/out/soak-$STAMP.json" || rc=1
fi
exit "$rc"
