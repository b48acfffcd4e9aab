#!/usr/bin/env bash
# Source this to get a throwaway PostgreSQL for a benchmark: sets DATABASE_URL and a trap that
# stops the server and removes its files when the calling script exits.
#   . bench/pg.sh
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)}
PG_DIR=$(mktemp -d /tmp/latchkey-bench-pg.XXXXXX)
PG_PORT=${PG_PORT:-15432}
as_pg=(); [[ $(id -u) == 0 ]] && { chown -R postgres: "$PG_DIR"; as_pg=(runuser -u postgres --); }
"${as_pg[@]}" "$PG_BIN/initdb" -A trust -U postgres -E UTF8 --no-sync -D "$PG_DIR/data" >/dev/null
"${as_pg[@]}" "$PG_BIN/pg_ctl" -w -D "$PG_DIR/data" -l "$PG_DIR/log" \
  -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
"${as_pg[@]}" "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres latchkey
export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/latchkey"
pg_cleanup() { "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1; rm -rf "$PG_DIR"; }
