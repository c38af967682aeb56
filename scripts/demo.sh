#!/usr/bin/env bash
# The standalone agent on examples/: serves http://127.0.0.1:9442/metrics until Ctrl-C, and prints
# each resource's state once the first load is done.
set -euo pipefail
cd "$(dirname "$0")/.."

listen="${EBPF_AGENT_LISTEN:-127.0.0.1:9442}"

# examples/cgroup-egress.yaml counts the bytes sent from the cgroup /ebpf-operator-demo. The demo
# makes that cgroup in the cgroup v2 hierarchy (it is kept when the demo stops, as the pinned
# program is, so a restarted demo adopts a program still attached to a live cgroup) and runs a
# small scraper in a child cgroup, so the metric has traffic to show.
cgroup2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
scraper_pid=""
if [ -n "$cgroup2" ]; then
  mkdir -p "$cgroup2/ebpf-operator-demo/scraper"
  (
    echo "$BASHPID" > "$cgroup2/ebpf-operator-demo/scraper/cgroup.procs"
    exec node -e '
      const url = `http://${process.argv[1]}/metrics`;
      setInterval(() => fetch(url).then((r) => r.arrayBuffer()).catch(() => undefined), 5000);
    ' "$listen"
  ) &
  scraper_pid=$!
else
  echo "==> no cgroup v2 hierarchy mounted: the cgroup-egress example will say so on its resource" >&2
fi

cleanup() {
  [ -n "$scraper_pid" ] && kill "$scraper_pid" 2>/dev/null || true
  [ -n "${summary_pid:-}" ] && kill "$summary_pid" 2>/dev/null || true
}
trap cleanup EXIT

cat <<MSG
==> starting the standalone agent on examples/ (Ctrl-C stops it; programs stay pinned)
    curl -s http://$listen/metrics | grep execve_counter_total
    curl -s http://$listen/status
MSG

# Once every resource has left Pending, one line per resource: phase and, unless Running, why.
node scripts/demo-summary.mjs "http://$listen" &
summary_pid=$!

# The uprobe/uretprobe example needs the example third-party plugin beside the built-in ones.
export EBPF_AGENT_PLUGINS="${EBPF_AGENT_PLUGINS:-./examples/plugin-uprobe}"
# A 2 MiB young generation keeps garbage-collection pauses short while a scrape holds many
# strings alive (docs/benchmarks.md); the agent image sets the same in NODE_OPTIONS.
node --max-semi-space-size=2 packages/core/dist/cli.js run --config examples --listen "$listen"
