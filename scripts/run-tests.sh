#!/usr/bin/env bash
# Runs the whole suite on SQLite, then again on PostgreSQL when FMS_TEST_DATABASE_URL is set.
# Tests marked `postgres` only run in the second pass.
set -euo pipefail
bin=.venv/bin

if [ "${FMS_REQUIRE_SERVICES:-}" = 1 ]; then
  : "${FMS_TEST_DATABASE_URL:?FMS_REQUIRE_SERVICES=1 needs FMS_TEST_DATABASE_URL}"
  : "${FMS_TEST_REDIS_URL:?FMS_REQUIRE_SERVICES=1 needs FMS_TEST_REDIS_URL}"
fi

# One test process per core (pytest-xdist; a test module stays in one process, so its
# module fixtures such as the browser start once). FMS_TEST_WORKERS=1 runs in one process.
workers=${FMS_TEST_WORKERS:-$(nproc 2>/dev/null || echo 1)}
parallel=()
if [ "$workers" -gt 1 ]; then parallel=(-n "$workers" --dist loadfile); fi

echo "== pass 1: SQLite (embedded default)"
FMS_TEST_DATABASE_URL= "$bin/python" -m pytest -m "not postgres" "${parallel[@]}" --durations=25 "$@"

if [ -n "${FMS_TEST_DATABASE_URL:-}" ]; then
  echo "== pass 2: PostgreSQL ($FMS_TEST_DATABASE_URL)"
  "$bin/python" -m pytest "${parallel[@]}" --durations=25 "$@"
else
  echo "== pass 2 skipped: set FMS_TEST_DATABASE_URL to run the suite on PostgreSQL too"
fi
