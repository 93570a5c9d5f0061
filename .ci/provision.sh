#!/usr/bin/env bash
# Install and start the services the test suite needs: GDAL command-line tools for ogrinfo checks, and
# PostgreSQL 15 with PostGIS 3 holding the planmap_test database (PLANMAP_TEST_DATABASE_URL's default).
# Runs as root in CI; quiet and idempotent.
set -euo pipefail

PG_VERSION=15
PG_CLUSTER=main
TEST_DB=planmap_test

need=()
command -v ogrinfo >/dev/null 2>&1 || need+=(gdal-bin)
[ -f "/usr/share/postgresql/${PG_VERSION}/extension/postgis.control" ] || need+=("postgresql-${PG_VERSION}-postgis-3")
# Browser tests drive Debian's chromium through Playwright (never a downloaded browser); a CJK font renders the
# Chinese UI in their screenshots.
[ -x /usr/bin/chromium ] || need+=(chromium)
fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk" || need+=(fonts-wqy-microhei)
# Reports and printed maps are set by WeasyPrint (Pango) in a CJK font found through fontconfig; pdftoppm saves
# their page images in the tests.
fc-list 2>/dev/null | grep -qi "noto sans cjk" || need+=(fonts-noto-cjk)
ldconfig -p 2>/dev/null | grep -q "libpangoft2-1.0" || need+=(libpango-1.0-0 libpangoft2-1.0-0)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
# "Open in QGIS" projects are opened by real QGIS (3.22 on bookworm) through the system Python.
/usr/bin/python3 -c "import qgis.core" >/dev/null 2>&1 || need+=(python3-qgis qgis-providers)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Run a client as the postgres OS user when we are root (peer authentication), as ourselves otherwise.
as_postgres() {
  if [ "$(id -u)" = 0 ] && id -u postgres >/dev/null 2>&1; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}
export PGUSER=postgres

if ! pg_isready -q; then
  [ -d "/etc/postgresql/${PG_VERSION}/${PG_CLUSTER}" ] || pg_createcluster "${PG_VERSION}" "${PG_CLUSTER}" >/dev/null
  pg_ctlcluster --skip-systemctl-redirect "${PG_VERSION}" "${PG_CLUSTER}" start
  for _ in $(seq 30); do
    pg_isready -q && break
    sleep 1
  done
  pg_isready -q || { echo "provision: PostgreSQL ${PG_VERSION} did not start" >&2; exit 1; }
fi

if [ -z "$(as_postgres psql -XtAc "SELECT 1 FROM pg_database WHERE datname = '${TEST_DB}'")" ]; then
  as_postgres createdb "${TEST_DB}"
fi
as_postgres psql -Xq -d "${TEST_DB}" -c "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS postgis"

# The tests connect over TCP as postgres without a password, to the test database and to throwaway databases
# they create (fault tests kill every connection of their own database). A fresh Debian cluster asks for a
# password there, so (root only) let loopback connections of the postgres role in without one.
if [ "$(id -u)" = 0 ] && ! psql -Xqw "postgresql://postgres@127.0.0.1:5432/postgres" -c "SELECT 1" >/dev/null 2>&1 </dev/null; then
  hba="$(as_postgres psql -XtAc "SHOW hba_file")"
  if ! grep -q "planmap-test-loopback-all" "${hba}"; then
    rules="$(printf 'host all postgres %s trust # planmap-test-loopback-all\n' 127.0.0.1/32 ::1/128)"
    printf '%s\n%s\n' "${rules}" "$(cat "${hba}")" >"${hba}"
    as_postgres psql -XqtAc "SELECT pg_reload_conf()" >/dev/null
  fi
fi

# A streaming replica of this cluster on port 5433 for the read-routing tests (PLANMAP_TEST_REPLICA_URL's
# default); made after the test database so it holds it too (physical replication copies every database).
if [ "$(id -u)" = 0 ]; then
  bash "$(dirname "$0")/replica.sh"
fi
