#!/usr/bin/env bash
# Builds the tests' control plane from Go modules (see docs/kube-testenv.md):
#   .cache/kube-testenv/bin/kube-testenv   etcd + kube-apiserver (multi-call binary)
#   .cache/kube-testenv/bin/kubectl        upstream kubectl, same k8s.io/kubernetes version
#   .cache/kube-testenv/bin/helm           upstream helm (optional, test/kube-testenv/helm/)
# Idempotent: a binary newer than its module's go.mod, go.sum, *.go and this script is kept.
# Uses the default Go build and module caches, so rebuilds after a bump are incremental.
#
# Usage: scripts/build-kube-testenv.sh [--force] [--no-helm]
# Env:   KUBE_TESTENV_BIN  output directory (default <repo>/.cache/kube-testenv/bin)
#        GO                go command (default: go on PATH, else /usr/local/go/bin/go)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mod="$repo/test/kube-testenv"
helm_mod="$mod/helm"
bin="${KUBE_TESTENV_BIN:-$repo/.cache/kube-testenv/bin}"
force=0
want_helm=1
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --no-helm) want_helm=0 ;;
    *) echo "usage: $0 [--force] [--no-helm]" >&2; exit 2 ;;
  esac
done

log() { echo "[build-kube-testenv] $*" >&2; }

go_cmd="${GO:-}"
if [[ -z "$go_cmd" ]]; then
  if command -v go >/dev/null 2>&1; then go_cmd="$(command -v go)"
  elif [[ -x /usr/local/go/bin/go ]]; then go_cmd=/usr/local/go/bin/go
  else log "error: no Go toolchain (need Go >= 1.26; set GO=/path/to/go)"; exit 1
  fi
fi

mkdir -p "$bin"
# Two test runs may start at once: build one at a time.
exec 9>"$bin/.build.lock"
flock 9

# fresh OUT DIR: OUT exists and is newer than go.mod, go.sum, DIR/*.go and this script.
fresh() {
  local out="$1" dir="$2" f
  [[ -x "$out" ]] || return 1
  for f in "$dir/go.mod" "$dir/go.sum" "$dir"/*.go "${BASH_SOURCE[0]}"; do
    [[ -e "$f" && "$f" -nt "$out" ]] && return 1
  done
  return 0
}

# Version of a module as the wrapper's go.mod pins it (no network: the graph is in go.sum).
modversion() { (cd "$1" && "$go_cmd" list -m -f '{{.Version}}' "$2"); }

# build DIR OUTDIR LDFLAGS PKG...: one `go build` into a temp dir, then move into place, so an
# interrupted build never leaves a half-written binary that looks fresh.
build() {
  local dir="$1" ldflags="$2"; shift 2
  local tmp; tmp="$(mktemp -d "$bin/.tmp.XXXXXX")"
  local start=$SECONDS
  log "go build in ${dir#"$repo"/}: $* (cold on 2 cores: ~7 min for kube-testenv + kubectl, ~2.5 min for helm; warm: seconds)"
  if ! (cd "$dir" && CGO_ENABLED=0 "$go_cmd" build -trimpath -buildvcs=false \
        -ldflags "-s -w $ldflags" -o "$tmp/" "$@"); then
    rm -rf "$tmp"; log "error: go build failed in $dir"; return 1
  fi
  local built; built="$(cd "$tmp" && ls -1 | tr '\n' ' ')"
  mv -f "$tmp"/* "$bin/"
  rm -rf "$tmp"
  log "built ${built}in $((SECONDS - start))s"
}

# --- kube-testenv (etcd + kube-apiserver) and kubectl -------------------------------------
if [[ $force == 0 ]] && fresh "$bin/kube-testenv" "$mod" && fresh "$bin/kubectl" "$mod"; then
  log "kube-testenv and kubectl are up to date in ${bin#"$repo"/}"
else
  kv="$(modversion "$mod" k8s.io/kubernetes)" # e.g. v1.37.2
  # The tag's time as the proxy reports it, for a reproducible buildDate.
  kdate="$(cd "$mod" && "$go_cmd" list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes)"
  major="${kv#v}"; major="${major%%.*}"
  minor="${kv#v*.}"; minor="${minor%%.*}"
  # Without these, /version and `kubectl version` say v0.0.0-master.
  ld=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$kv -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean${kdate:+ -X $pkg.buildDate=$kdate}"
  done
  log "building kube-testenv + kubectl at k8s.io/kubernetes $kv"
  build "$mod" "$ld" . k8s.io/kubernetes/cmd/kubectl
fi

# --- helm (optional; its own module so its dependency graph cannot clash) ------------------
if [[ $want_helm == 1 && -f "$helm_mod/go.mod" ]]; then
  if [[ $force == 0 ]] && fresh "$bin/helm" "$helm_mod"; then
    log "helm is up to date in ${bin#"$repo"/}"
  else
    hv="$(modversion "$helm_mod" helm.sh/helm/v4)"
    log "building helm $hv"
    hvpkg=helm.sh/helm/v4/internal/version
    build "$helm_mod" "-X $hvpkg.version=$hv -X $hvpkg.metadata= -X $hvpkg.gitTreeState=clean" \
      helm.sh/helm/v4/cmd/helm
  fi
fi

"$bin/kube-testenv" version >/dev/null
log "ok: $bin ($("$bin/kube-testenv" version))"
