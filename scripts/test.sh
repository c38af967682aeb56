#!/usr/bin/env bash
# The whole suite: lint, type-check, then every vitest project (unit, kernel, ...).
set -uo pipefail
cd "$(dirname "$0")/.."

echo "==> lint, format and type-check"
npx --no-install eslint . || exit 1
# Code is laid out by prettier (.prettierrc.json); `npm run format` rewrites it.
npx --no-install prettier --check "**/*.{ts,js,mjs,cjs}" || exit 1
npx --no-install tsc -p tsconfig.json --noEmit || exit 1

# Module boundaries: no import cycles, folders layered by when their code runs
# (.dependency-cruiser.cjs, docs/architecture.md).
echo "==> module boundaries"
npx --no-install depcruise packages examples --config .dependency-cruiser.cjs || exit 1

# The plugin API changes only on purpose: the built declarations of @ebpf-operator/core/sdk and
# /testing must match packages/core/etc/*.api.md (`npm run api-report` rewrites them).
echo "==> API reports"
for config in packages/core/api-extractor.json packages/core/api-extractor.testing.json; do
  npx --no-install api-extractor run -c "$config" >/dev/null || { npx --no-install api-extractor run -c "$config"; exit 1; }
done

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
