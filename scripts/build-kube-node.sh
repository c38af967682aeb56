#!/usr/bin/env bash
# Builds the node half of the node tests' one-node cluster from Go modules (docs/kube-node.md):
#   kube-node                  kubelet, kube-controller-manager, kube-scheduler, kube-proxy and
#                              the node sandbox (test/kube-testenv/node, the same module and
#                              Kubernetes version as kube-testenv)
#   pause                      the pods' sandbox container (test/kube-testenv/pause)
#   containerd, containerd-shim-runc-v2, ctr   containerd 2.x (test/kube-testenv/containerd)
# into ${EOP_CACHE_DIR:-~/.cache/ebpf-operator}/kube-node/<key>/bin, where <key> hashes the
# modules' go.mod/go.sum, their Go sources and this script: a checkout whose inputs are unchanged
# reuses the binaries (fresh clones too). Go's build and module caches make a rebuild after a
# change incremental. Prints the bin directory on stdout.
#
# Usage: scripts/build-kube-node.sh [--force]
# Env:   EOP_CACHE_DIR, GO (default: go on PATH, else /usr/local/go/bin/go)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mod="$repo/test/kube-testenv"
ctrd_mod="$mod/containerd"
force=0
[[ "${1:-}" == "--force" ]] && force=1

log() { echo "[build-kube-node] $*" >&2; }

go_cmd="${GO:-}"
if [[ -z "$go_cmd" ]]; then
  if command -v go >/dev/null 2>&1; then go_cmd="$(command -v go)"
  elif [[ -x /usr/local/go/bin/go ]]; then go_cmd=/usr/local/go/bin/go
  else log "error: no Go toolchain (need Go >= 1.26; set GO=/path/to/go)"; exit 1
  fi
fi

key="$(cd "$repo" && cat "${BASH_SOURCE[0]}" "$mod/go.mod" "$mod/go.sum" "$mod"/node/*.go "$mod"/pause/*.go \
  "$ctrd_mod/go.mod" "$ctrd_mod/go.sum" | sha256sum | cut -c1-16)"
cache="${EOP_CACHE_DIR:-$HOME/.cache/ebpf-operator}/kube-node"
bin="$cache/$key/bin"
mkdir -p "$cache"
exec 9>"$cache/.build.lock"
flock 9

if [[ $force == 0 && -f "$bin/.complete" ]]; then
  log "up to date: $bin"
  echo "$bin"
  exit 0
fi

tmp="$(mktemp -d "$cache/.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS

# Kubernetes: the version kube-testenv pins, stamped as scripts/build-kube-testenv.sh does.
kv="$(cd "$mod" && "$go_cmd" list -m -f '{{.Version}}' k8s.io/kubernetes)"
kdate="$(cd "$mod" && "$go_cmd" list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes)"
major="${kv#v}"; major="${major%%.*}"
minor="${kv#v*.}"; minor="${minor%%.*}"
ld=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld+=" -X $pkg.gitVersion=$kv -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ld+=" -X $pkg.gitTreeState=clean${kdate:+ -X $pkg.buildDate=$kdate}"
done
log "go build kube-node ($kv: kubelet, controller-manager, scheduler, proxy, sandbox) and pause (cold on 2 cores: ~10 min; warm: seconds)"
(cd "$mod" && CGO_ENABLED=0 "$go_cmd" build -trimpath -buildvcs=false -ldflags "-s -w $ld" -o "$tmp/kube-node" ./node)
(cd "$mod" && CGO_ENABLED=0 "$go_cmd" build -trimpath -buildvcs=false -ldflags "-s -w" -o "$tmp/pause" ./pause)

# containerd: static, without the snapshotters that need cgo or kernel features we do not use.
cv="$(cd "$ctrd_mod" && "$go_cmd" list -m -f '{{.Version}}' github.com/containerd/containerd/v2)"
log "go build containerd $cv (cold: ~4 min)"
(cd "$ctrd_mod" && CGO_ENABLED=0 "$go_cmd" build -trimpath -buildvcs=false \
  -tags "no_btrfs no_devmapper no_zfs urfave_cli_no_docs" \
  -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$cv -X github.com/containerd/containerd/v2/version.Revision=module" \
  -o "$tmp/" github.com/containerd/containerd/v2/cmd/containerd \
  github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 github.com/containerd/containerd/v2/cmd/ctr)

"$tmp/kube-node" version >/dev/null
touch "$tmp/.complete"
rm -rf "$cache/$key"
mkdir -p "$cache/$key"
mv "$tmp" "$bin"
trap - EXIT
log "built in $((SECONDS - start)) s: $bin"
# Older keys: keep the newest three.
ls -1dt "$cache"/*/ 2>/dev/null | tail -n +4 | xargs -r rm -rf
echo "$bin"
