#!/usr/bin/env bash
# Points the wrapper module at another Kubernetes patch/minor: rewrites go.mod's require and the
# staging replace block from upstream's own go.mod, then `go mod tidy`. See docs/kube-testenv.md.
#
# Usage: test/kube-testenv/bump-kubernetes.sh 1.37.3
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
go_cmd="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"

v="${1:?usage: $0 1.X.Y}"
v="${v#v}"
staging="0.${v#1.}" # staging modules are tagged v0.X.Y for Kubernetes v1.X.Y

gomod="$("$go_cmd" mod download -json "k8s.io/kubernetes@v$v" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
[[ -f "$gomod" ]] || { echo "no go.mod for k8s.io/kubernetes@v$v" >&2; exit 1; }
goline="$(grep -m1 '^go ' "$gomod")"
godebug="$(grep -m1 '^godebug ' "$gomod" || true)"

{
  echo "// Wrapper module that builds a real kube-apiserver + etcd (and kubectl) for the"
  echo "// operator's tests. See docs/kube-testenv.md. Bump with ./bump-kubernetes.sh, which"
  echo "// rewrites the require and every staging replace below together."
  echo "module ebpf-operator/test/kube-testenv"
  echo
  echo "$goline"
  [[ -n "$godebug" ]] && { echo; echo "$godebug"; }
  echo
  echo "require k8s.io/kubernetes v$v"
  echo
  echo "// k8s.io/kubernetes requires its staging modules at v0.0.0 (served by nobody):"
  echo "// pin each to the published v$staging that matches v$v."
  echo "replace ("
  awk '/^replace \(/{f=1;next} f&&/^\)/{f=0} f&&/=> \.\/staging\//{print $1}' "$gomod" |
    while read -r m; do printf '\t%s => %s v%s\n' "$m" "$m" "$staging"; done
  echo ")"
  echo
  echo "// kubectl is built from the same module graph (scripts/build-kube-testenv.sh)."
  echo "tool k8s.io/kubernetes/cmd/kubectl"
} > go.mod
"$go_cmd" mod tidy
echo "go.mod now at k8s.io/kubernetes v$v; next: bash scripts/build-kube-testenv.sh && npx vitest run --project kube" >&2
