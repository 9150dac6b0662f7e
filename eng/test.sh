#!/usr/bin/env bash
# The README's test command: builds everything and runs every test project, PostgreSQL tests
# included (they start a throwaway server themselves; see tests/PaymentsKit.Testing).
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL tests need the server binaries (initdb, pg_ctl). Install them when missing and we can.
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "PostgreSQL server binaries not found; installing them with apt-get."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "warning: PostgreSQL server binaries not found; PostgreSQL tests will fail." >&2
  fi
fi

# The checkout's browser test drives Debian's Chromium (/usr/bin/chromium); Playwright never downloads a browser.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Chromium not found; installing it with apt-get."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "warning: /usr/bin/chromium not found; the checkout browser tests will fail." >&2
  fi
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
dotnet test PaymentsKit.sln -c Release "$@" 2>&1 | tee "$log" || status=$?

# One plain closing line over every test assembly.
# A build that fails prints no counts: grep finds nothing, which must not end the script before the summary.
passed=$({ grep -oE 'Passed: +[0-9]+' "$log" || true; } | awk '{s+=$2} END {print s+0}')
failed=$({ grep -oE 'Failed: +[0-9]+' "$log" || true; } | awk '{s+=$2} END {print s+0}')
echo "tests: ${passed} passed, ${failed} failed"
if [ "$passed" = "0" ] && [ "$status" = "0" ]; then
  echo "no test ran" >&2
  exit 1
fi
exit "$status"
