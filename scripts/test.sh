#!/usr/bin/env bash
# The whole suite: lint, type-check, then every vitest project (unit, kernel, ...).
set -uo pipefail
cd "$(dirname "$0")/.."

echo "==> lint and type-check"
npx --no-install eslint . || exit 1
npx --no-install tsc -p tsconfig.json --noEmit || exit 1

echo "==> vitest"
report=$(mktemp)
npx --no-install vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
status=$?
# One closing line in the plain form CI reads.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' "$report" 2>/dev/null || true
rm -f "$report"
exit $status
