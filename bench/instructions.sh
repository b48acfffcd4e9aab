#!/usr/bin/env bash
# Instructions per request, counted by callgrind: the server runs under valgrind, a client sends
# WARM requests, the counters are zeroed, N more requests are sent on one keep-alive connection,
# and the counts are dumped. Unlike req/s these figures hardly move with other tenants' load (this
# machine is a VM without hardware counters, so `perf stat` cannot count them), which makes them
# the way to compare two builds of a hot path. User space only (the kernel's loopback work is
# not counted).
#
#   bench/instructions.sh                       # token introspect check keys jwks, N=2000
#   N=5000 ENDPOINTS=token bench/instructions.sh
#   LATCHKEY_LOG=info bench/instructions.sh     # with the default log level (benchmarks use warn)
#
# Prints one line per endpoint and, with TOP=k (default 25), the k functions with the most
# inclusive instructions; the callgrind files stay in bench/out/callgrind/ for callgrind_annotate
# or KCachegrind.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-2000}" WARM="${WARM:-300}" PORT="${PORT:-18090}" TOP="${TOP:-25}"
ENDPOINTS="${ENDPOINTS:-token introspect check keys jwks}"
. bench/provision.sh
B="http://127.0.0.1:$PORT"
CG_DIR="$PWD/bench/out/callgrind"; mkdir -p "$CG_DIR"

# drive METHOD URL AUTH CTYPE BODY COUNT: COUNT requests on one connection; every answer must be 200.
drive() {
  python3 - "$@" <<'PY'
import http.client, sys, urllib.parse
method, url, auth, ctype, body, count = sys.argv[1:7]
u = urllib.parse.urlsplit(url)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
headers = {}
if auth: headers["Authorization"] = auth
if method != "GET": headers["Content-Type"] = ctype
for _ in range(int(count)):
    conn.request(method, u.path + (f"?{u.query}" if u.query else ""), body=body if method != "GET" else None, headers=headers)
    r = conn.getresponse(); data = r.read()
    if r.status != 200:
        sys.exit(f"{method} {url}: HTTP {r.status}: {data[:300]!r}")
PY
}

for e in $ENDPOINTS; do
  form=application/x-www-form-urlencoded
  case $e in
    token) args=(POST "$B/oauth/token" "Basic $BENCH_BASIC" $form 'grant_type=client_credentials&scope=read') ;;
    introspect) args=(POST "$B/oauth/introspect" "Basic $BENCH_BASIC" $form TOKEN) ;;
    check) args=(POST "$B/v1/check" "Bearer $SECRET" application/json \
      "{\"token\":\"$SECRET\",\"action\":\"read\",\"resource\":\"projects/42\"}") ;;
    keys) args=(GET "$B/v1/keys?limit=20" "Bearer $ADMIN" '' '') ;;
    jwks) args=(GET "$B/.well-known/jwks.json" '' '' '') ;;
    *) echo "unknown endpoint $e" >&2; exit 2 ;;
  esac
  out="$CG_DIR/$e.out"
  rm -f "$out"*
  valgrind --tool=callgrind --callgrind-out-file="$out" "$BIN" serve --listen "127.0.0.1:$PORT" \
    2>"$WORK/valgrind.log" &
  VG=$!
  for _ in $(seq 1 600); do
    curl -s -o /dev/null "$B/healthz" && break
    kill -0 "$VG" 2>/dev/null || { cat "$WORK/valgrind.log" >&2; exit 1; }
    sleep 0.1
  done
  if [[ $e == introspect ]]; then
    args[4]="token=$(curl -s -u "$ID:$SECRET" -d grant_type=client_credentials "$B/oauth/token" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
  fi
  drive "${args[@]}" "$WARM"
  callgrind_control -z "$VG" >/dev/null
  drive "${args[@]}" "$N"
  callgrind_control -d "$e" "$VG" >/dev/null
  kill "$VG"; wait "$VG" 2>/dev/null || true
  dump=$(ls -t "$out".* | head -n1)
  total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ && !t {gsub(",", "", $1); t = $1} END {print t}')
  printf '%-11s %8d instructions/request (N=%d, LATCHKEY_LOG=%s)\n' "$e" $((total / N)) "$N" "$LATCHKEY_LOG"
  if (( TOP > 0 )); then
    callgrind_annotate --inclusive=yes "$dump" 2>/dev/null | sed -n '/file:function/,$p' | sed -n "2,$((TOP + 1))p" |
      awk -v n="$N" '{gsub(",", "", $1); c=$1; $1=""; $2=""; printf "  %9d %s\n", c / n, substr($0, 1, 160)}'
  fi
done
