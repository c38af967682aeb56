#!/usr/bin/env bash
# One-time, idempotent set-up for `npm run demo` and `npm test` on Debian, as root:
# Debian packages, npm dependencies, the libbpf addon, the TypeScript builds and the kernel
# pseudo file systems. Every step says what it does and is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '==> %s\n' "$*"; }

# clang/llvm compile BPF C; libbpf-dev, libelf-dev, zlib1g-dev, pkg-config, make and g++ build the
# addon; bpftool generates vmlinux.h; prometheus brings promtool (tests check /metrics with it);
# iproute2 makes the test network namespaces; util-linux gives prlimit (compiler limits); openssl
# makes the test control plane's certificates; bubblewrap is the compiler's sandbox and
# libseccomp-dev lets the addon build its seccomp filter (docs/compiler.md).
APT_PACKAGES=(clang llvm libbpf-dev bpftool linux-libc-dev libelf-dev zlib1g-dev pkg-config make g++ python3 iproute2 prometheus util-linux openssl bubblewrap libseccomp-dev)

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  step "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  step "Debian packages present"
fi

# node-gyp builds against the local Node headers (nothing can be downloaded here). Passed as a
# node-gyp flag, not as npm_config_nodedir, which npm 11 warns about on every npm command.
nodedir_args=()
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ]; then
  nodedir_args=(--nodedir=/usr)
fi

lock_hash=$(sha256sum package-lock.json | cut -c1-64)
if [ ! -f node_modules/.setup-lock-hash ] || [ "$(cat node_modules/.setup-lock-hash)" != "$lock_hash" ]; then
  # Exactly the locked versions (`npm ci` refuses a lock out of sync with package.json).
  step "npm ci from package-lock.json"
  npm ci --no-audit --no-fund
  echo "$lock_hash" > node_modules/.setup-lock-hash
else
  step "npm dependencies up to date"
fi

addon=packages/libbpf/build/Release/ebpf_libbpf.node
if [ ! -f "$addon" ] || [ -n "$(find packages/libbpf/native packages/libbpf/binding.gyp -newer "$addon" 2>/dev/null | head -1)" ]; then
  step "building the libbpf addon"
  (cd packages/libbpf && npx --no-install node-gyp rebuild "${nodedir_args[@]}")
else
  step "libbpf addon up to date"
fi

# examples/plugin-uprobe is a workspace too: the demo loads it as a third-party plugin.
for package in packages/*/ examples/*/; do
  [ -f "$package/tsup.config.ts" ] || continue
  out="$package/dist/index.js"
  if [ ! -f "$out" ] || [ -n "$(find "$package/src" "$package/tsup.config.ts" "$package/package.json" tsup.base.ts -newer "$out" 2>/dev/null | head -1)" ]; then
    step "building $package"
    (cd "$package" && npx --no-install tsup --silent)
  fi
done
step "TypeScript builds up to date"

if ! mountpoint -q /sys/fs/bpf; then
  step "mounting bpffs at /sys/fs/bpf"
  mount -t bpf bpf /sys/fs/bpf
fi
if ! mountpoint -q /sys/kernel/tracing; then
  step "mounting tracefs at /sys/kernel/tracing"
  mount -t tracefs tracefs /sys/kernel/tracing
fi
# The images, the one-node cluster and the node tests: their own Debian packages.
bash scripts/setup-node.sh
step "set-up done"
