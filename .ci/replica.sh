#!/usr/bin/env bash
# Start a PostgreSQL 15 hot standby of the primary (127.0.0.1:5432) on 127.0.0.1:5433, streaming through a
# physical replication slot: the replica PLANMAP_TEST_REPLICA_URL's default points at. It is a second cluster
# ("15/replica") made with pg_basebackup -R. Runs as root (server processes run as postgres); quiet and
# idempotent: a streaming replica is left alone, a stopped one started, a broken one made again.
set -euo pipefail

PG_VERSION=15
PRIMARY_PORT="${PLANMAP_PRIMARY_PORT:-5432}"
CLUSTER=replica
PORT="${PLANMAP_REPLICA_PORT:-5433}"
SLOT=planmap_replica
CONF_DIR="/etc/postgresql/${PG_VERSION}/${CLUSTER}"
DATA_DIR="/var/lib/postgresql/${PG_VERSION}/${CLUSTER}"

as_postgres() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}
primary() { as_postgres psql -Xqtw -h 127.0.0.1 -p "${PRIMARY_PORT}" -U postgres -d postgres "$@"; }
replica() { as_postgres psql -Xqtw -h 127.0.0.1 -p "${PORT}" -U postgres -d postgres "$@" 2>/dev/null; }
streaming() { [ "$(replica -Ac "SELECT status FROM pg_stat_wal_receiver" || true)" = streaming ]; }
wait_streaming() {
  for _ in $(seq 60); do
    streaming && return 0
    sleep 0.5
  done
  return 1
}

# pg_basebackup and the standby's WAL receiver connect over TCP as postgres: let replication in without a
# password from loopback (first matching line wins, so it goes on top).
hba="$(primary -Ac "SHOW hba_file")"
if ! grep -q "planmap-test-replication" "${hba}"; then
  rules="$(printf 'host replication postgres %s trust # planmap-test-replication\n' 127.0.0.1/32 ::1/128)"
  printf '%s\n%s\n' "${rules}" "$(cat "${hba}")" >"${hba}"
  primary -Ac "SELECT pg_reload_conf()" >/dev/null
fi

if [ -f "${DATA_DIR}/standby.signal" ]; then
  streaming && exit 0
  pg_ctlcluster --skip-systemctl-redirect "${PG_VERSION}" "${CLUSTER}" start >/dev/null 2>&1 || true
  wait_streaming && exit 0
  echo "replica: ${PG_VERSION}/${CLUSTER} does not stream from the primary; making it again" >&2
fi

# Make it (again): a fresh cluster configuration, its data directory replaced by a base backup.
if [ -d "${CONF_DIR}" ]; then
  pg_dropcluster --stop "${PG_VERSION}" "${CLUSTER}"
fi
primary -c "SELECT pg_drop_replication_slot('${SLOT}') FROM pg_replication_slots WHERE slot_name = '${SLOT}'" \
  >/dev/null
pg_createcluster "${PG_VERSION}" "${CLUSTER}" --port "${PORT}" >/dev/null
# A hot standby needs at least the primary's value of these settings.
{
  echo "listen_addresses = '127.0.0.1'"
  for name in max_connections max_worker_processes max_wal_senders max_prepared_transactions \
    max_locks_per_transaction; do
    echo "${name} = $(primary -Ac "SHOW ${name}")"
  done
  echo "hot_standby = on"
} >"${CONF_DIR}/conf.d/planmap-replica.conf"
# Clients reach the standby as they reach the primary.
cp "${hba}" "${CONF_DIR}/pg_hba.conf"
# Emptied, not removed: its parent may belong to root, and pg_basebackup fills an empty directory.
find "${DATA_DIR}" -mindepth 1 -delete
as_postgres pg_basebackup -h 127.0.0.1 -p "${PRIMARY_PORT}" -U postgres -w -D "${DATA_DIR}" \
  -R -X stream -C -S "${SLOT}" -c fast
pg_ctlcluster --skip-systemctl-redirect "${PG_VERSION}" "${CLUSTER}" start
wait_streaming || { echo "replica: ${PG_VERSION}/${CLUSTER} on port ${PORT} does not stream" >&2; exit 1; }
