#!/usr/bin/env bash
# Set-up for `npm run images`, `npm run cluster` and the `node` test project (called by
# scripts/setup.sh): the Debian packages they use. Idempotent, quiet when done.
#   mmdebstrap                   the images' Debian layer (deploy/images/build.mjs)
#   runc                         the node's OCI runtime (containerd 2.x itself is built from Go modules)
#   containernetworking-plugins  bridge, host-local, portmap, loopback (the node's CNI)
#   nftables                     kube-proxy's nftables mode (nft), inside the node's network namespace
#   skopeo                       the tests read the OCI archives with it as an independent check
set -euo pipefail
packages=(mmdebstrap runc containernetworking-plugins nftables skopeo)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing Debian packages for the images and the node cluster: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
