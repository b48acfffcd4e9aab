#!/usr/bin/env bash
# Source this (after `cd` to the project root) to build the release binary and provision a temp
# database with an org "bench", its admin key, a benchmark key and a limited one (a rate limit and
# a quota) through the CLI. Sets BIN, WORK, BACKEND, ID, SECRET, LID, LSECRET, ADMIN, BENCH_BASIC and an EXIT trap that removes everything
# (`provision_cleanup`: a script with more to clean up sets its own trap and calls it).
#   BACKEND=postgres   a throwaway PostgreSQL (bench/pg.sh) instead of SQLite
#   KEYS=N             N more keys in the table (examples/seed_keys)
cargo build --release --quiet --bin latchkey
[[ ${KEYS:-0} == 0 ]] || cargo build --release --quiet --example seed_keys
BIN="$PWD/target/release/latchkey"
WORK=$(mktemp -d /tmp/latchkey-bench.XXXXXX)
BACKEND="${BACKEND:-sqlite}"
provision_cleanup() {
  if [[ $BACKEND == postgres ]]; then pg_cleanup; fi
  rm -rf "$WORK"
}
trap provision_cleanup EXIT
if [[ $BACKEND == postgres ]]; then
  . bench/pg.sh
else
  export DATABASE_URL="sqlite://$WORK/bench.db"
fi
export LATCHKEY_KEYS_DIR="$WORK/keys" LATCHKEY_LOG="${LATCHKEY_LOG:-warn}"
"$BIN" org create bench >/dev/null
BOOT=$("$BIN" org bootstrap bench --json)
ADMIN=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])' <<<"$BOOT")
KEY_JSON=$("$BIN" keys create --org bench --name bench --scope 'read:*' --json)
ID=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["key"]["id"])' <<<"$KEY_JSON")
SECRET=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])' <<<"$KEY_JSON")
# A key with a rate limit and a quota too large to run out in a run: what limits cost.
LIMITED_JSON=$("$BIN" keys create --org bench --name limited --scope 'read:*' \
  --rate-limit default=1000000000/60s --quota 1000000000000000 --json)
LID=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["key"]["id"])' <<<"$LIMITED_JSON")
LSECRET=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])' <<<"$LIMITED_JSON")
[[ ${KEYS:-0} == 0 ]] || ./target/release/examples/seed_keys "$KEYS" bench
BENCH_BASIC=$(printf '%s:%s' "$ID" "$SECRET" | base64 -w0)
export BENCH_BASIC
