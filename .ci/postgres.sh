#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on loopback for the store tests; print its SQLAlchemy URL.
# Installs Debian's server first where the machine lacks it.
set -euo pipefail
port=${PGPORT_TEST:-$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
data=$(mktemp -d /tmp/mnistbench-pg.XXXXXX)
chown postgres "$data"
run() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
run "$bin/initdb -D $data/db -A trust -U postgres" >/dev/null
run "$bin/pg_ctl -D $data/db -l $data/log -o '-p $port -k $data -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off' -w start" >/dev/null
echo "postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
