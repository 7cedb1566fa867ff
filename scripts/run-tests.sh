#!/usr/bin/env bash
# Runs the whole suite on SQLite, then again on PostgreSQL when FMS_TEST_DATABASE_URL is set.
# Tests marked `postgres` only run in the second pass.
set -euo pipefail
bin=.venv/bin

if [ "${FMS_REQUIRE_SERVICES:-}" = 1 ]; then
  : "${FMS_TEST_DATABASE_URL:?FMS_REQUIRE_SERVICES=1 needs FMS_TEST_DATABASE_URL}"
  : "${FMS_TEST_REDIS_URL:?FMS_REQUIRE_SERVICES=1 needs FMS_TEST_REDIS_URL}"
fi

echo "== pass 1: SQLite (embedded default)"
FMS_TEST_DATABASE_URL= "$bin/python" -m pytest -m "not postgres" "$@"

if [ -n "${FMS_TEST_DATABASE_URL:-}" ]; then
  echo "== pass 2: PostgreSQL ($FMS_TEST_DATABASE_URL)"
  "$bin/python" -m pytest "$@"
else
  echo "== pass 2 skipped: set FMS_TEST_DATABASE_URL to run the suite on PostgreSQL too"
fi
