#!/usr/bin/env bash
# npm run bench [-- --quick] [-- --only scrape|footprint|events|operator|compile|auth|tenant|churn|gate|report]
# Builds what the benchmarks run (packages, bench/dist, the C floor reader), runs them and writes
# bench/results/*.json, docs/benchmarks.md and docs/benchmarks-*.svg. Needs root (BPF).
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=0
ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --only) ONLY="$2"; shift ;;
    *) echo "usage: bash bench/run.sh [--quick] [--only scrape|footprint|events|operator|compile|auth|tenant|churn|gate|report]" >&2; exit 2 ;;
  esac
  shift
done
export EOP_BENCH_QUICK=$QUICK

if [ "$(id -u)" != 0 ]; then echo "bench: run as root (the benchmarks load BPF programs)" >&2; exit 1; fi
for tool in clang bpftool gcc pkg-config; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (npm run setup installs it)" >&2; exit 1; }
done
if ! command -v perf >/dev/null || ! command -v strace >/dev/null; then
  apt-get install -y -qq strace linux-perf >/dev/null || echo "bench: could not install strace/perf" >&2
fi
[ -x .cache/kube-testenv/bin/kube-testenv ] || bash scripts/build-kube-testenv.sh

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
uptime_before=$(uptime)

if [ "$ONLY" != report ]; then
  npm run build --silent >/dev/null
  npx tsup --config bench/tsup.config.ts --silent
  mkdir -p bench/.cache
  if [ ! -x bench/.cache/batch-read ] || [ bench/c/batch-read.c -nt bench/.cache/batch-read ]; then
    gcc -O2 -Wall -o bench/.cache/batch-read bench/c/batch-read.c $(pkg-config --cflags --libs libbpf)
  fi
else
  npx tsup --config bench/tsup.config.ts --silent
fi

run_part() {
  if [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; then
    echo "bench: $1" >&2
    node "bench/dist/$1.js"
  fi
}
run_part scrape
run_part events
run_part footprint
run_part operator
run_part compile
run_part auth
run_part tenant
run_part churn
run_part gate

if [ -z "$ONLY" ]; then
  dirty=false
  git diff --quiet HEAD -- packages || dirty=true
  node -e '
    const [command, quick, started, before, after, commit, dirty] = process.argv.slice(1);
    require("fs").writeFileSync("bench/results/run.json", JSON.stringify({ command, quick: quick === "1", started, finished: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      uptimeBefore: before, uptimeAfter: after, commit, dirty: dirty === "true" }, null, 2) + "\n");
  ' "npm run bench$([ "$QUICK" = 1 ] && echo ' -- --quick')" "$QUICK" "$started" "$uptime_before" "$(uptime)" "$(git rev-parse --short HEAD)" "$dirty"
fi
node bench/dist/report.js
