#!/usr/bin/env bash
# The cost of latchkey-verify's axum middleware on a hello-world route, side by side with the
# same route without it, in one sitting, with the shared harness (run.sh + post.lua + wrk).
# The server (crates/latchkey-verify/examples/bench_axum.rs) answers both routes from one
# thread; the verified route carries the doc example's EdDSA token and `require("read",
# "projects/42")`. A repeated token is answered from the verifier's cache of verified tokens,
# as in production, where a client reuses its token for its whole life.
#
# Usage: RUNS=5 DUR=6 WARM=3 bench/verify_middleware.sh [pinned|unpinned]...
set -euo pipefail
cd "$(dirname "$0")/.."
modes=("${@:-pinned}")
out=${OUT:-/tmp/verify-middleware.jsonl}
: > "$out"
cargo build --release -q -p latchkey-verify --features axum --example bench_axum
server=target/release/examples/bench_axum
token=$(sed -n 's/^pub const TOKEN: &str = "\(.*\)";$/\1/p' crates/latchkey-verify/src/doc_example.rs)
export BENCH_METHOD=GET BENCH_BASIC=
for mode in "${modes[@]}"; do
  pin=(); [ "$mode" = pinned ] && pin=(-p)
  BENCH_AUTH= bench/run.sh "${pin[@]}" -l "axum /hello ($mode)" -u http://127.0.0.1:3000/hello \
    -n "${RUNS:-5}" -d "${DUR:-6}" -w "${WARM:-3}" -o "$out" -- "$server"
  BENCH_AUTH="Bearer $token" bench/run.sh "${pin[@]}" -l "axum /verified/hello ($mode)" \
    -u http://127.0.0.1:3000/verified/hello -n "${RUNS:-5}" -d "${DUR:-6}" -w "${WARM:-3}" \
    -o "$out" -- "$server"
done
python3 bench/summarize.py "$out"
