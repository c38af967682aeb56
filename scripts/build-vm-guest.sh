#!/usr/bin/env bash
# Builds the guest for the VM tests (see docs/vm-tests.md): Debian's stock 6.1 kernel, which has
# kprobes, and a small initramfs that mounts the host's root file system read-only over
# virtio-9p, so the guest runs the host's own node, clang, bpftool and repository build.
#
#   .cache/vm/debs/linux-image-<kver>_*.deb      the kernel package (apt-get download)
#   .cache/vm/kernel/<kver>/                     dpkg -x of it (+ modules.dep from depmod)
#   .cache/vm/initramfs-<kver>.cpio.gz           busybox, the 9p/virtio modules, /init
#   .cache/vm/guest.env                          KERNEL=, INITRD=, KVER= for the harness
#
# Idempotent and quick when cached: the kernel is fetched once per version, the initramfs is
# rebuilt only when its inputs (this script, guest-init.sh, busybox, the kernel) change.
# The kernel package is only extracted, NEVER installed onto this machine.
#
# Usage: scripts/build-vm-guest.sh [--force]
# Env:   VM_CACHE_DIR   output directory (default <repo>/.cache/vm)
#        VM_KERNEL_META kernel metapackage (default linux-image-amd64)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${VM_CACHE_DIR:-$repo/.cache/vm}"
meta="${VM_KERNEL_META:-linux-image-amd64}"
init_script="$repo/test/helpers/vm/guest-init.sh"
force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    *) echo "usage: $0 [--force]" >&2; exit 2 ;;
  esac
done

step() { echo "[build-vm-guest] $*" >&2; }

mkdir -p "$cache"
# Two test runs may build at once: one at a time.
exec 9>"$cache/.build.lock"
flock 9

# 1. Host tools. cpio and gzip pack the initramfs; busybox-static is the guest's userland
#    before it switches to the host's file system; qemu-system-x86 runs it.
apt_updated=0
apt_update_once() {
  if [[ $apt_updated -eq 0 ]]; then
    step "apt-get update"
    apt-get update -qq
    apt_updated=1
  fi
}
packages=(qemu-system-x86 busybox-static cpio gzip)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  apt_update_once
  step "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  step "host packages present (${packages[*]})"
fi

# 2. The kernel: the package the metapackage depends on, i.e. the newest 6.1 ABI apt knows.
resolve_kernel() {
  apt-cache depends "$meta" 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}
kpkg="$(resolve_kernel || true)"
if [[ -z "$kpkg" ]]; then
  apt_update_once
  kpkg="$(resolve_kernel || true)"
fi
if [[ -z "$kpkg" ]]; then
  # No apt lists at all (offline?): fall back to the newest kernel already extracted.
  kver="$(ls -1 "$cache/kernel" 2>/dev/null | sort -V | tail -1 || true)"
  [[ -n "$kver" ]] || { step "error: apt-cache cannot resolve $meta and no kernel is cached"; exit 1; }
  step "apt-cache cannot resolve $meta: using the cached kernel $kver"
else
  kver="${kpkg#linux-image-}"
fi
kdir="$cache/kernel/$kver"
if [[ $force -eq 1 || ! -f "$kdir/.complete" ]]; then
  mkdir -p "$cache/debs"
  deb="$(ls -1 "$cache/debs/${kpkg}_"*.deb 2>/dev/null | tail -1 || true)"
  if [[ -z "$deb" ]]; then
    step "downloading $kpkg (apt-get download; not installed)"
    # apt's sandbox user cannot write into a root-owned cache dir: download in a temp dir it owns.
    tmp="$(mktemp -d)"
    chmod 777 "$tmp"
    (cd "$tmp" && apt-get download -qq "$kpkg" 2>&1 | grep -v "unsandboxed" >&2 || true)
    deb="$(ls -1 "$tmp/${kpkg}_"*.deb 2>/dev/null | tail -1 || true)"
    [[ -n "$deb" ]] || { step "error: apt-get download $kpkg failed"; rm -rf "$tmp"; exit 1; }
    mv "$deb" "$cache/debs/"
    rm -rf "$tmp"
    deb="$cache/debs/$(basename "$deb")"
  fi
  step "extracting $(basename "$deb") into ${kdir#"$repo"/}"
  rm -rf "$kdir"
  mkdir -p "$kdir"
  dpkg -x "$deb" "$kdir"
  # The package ships no modules.dep (depmod runs at install time): make one here.
  step "depmod for $kver"
  busybox depmod -b "$kdir" "$kver"
  touch "$kdir/.complete"
else
  step "kernel $kver cached"
fi
kernel_image="$kdir/boot/vmlinuz-$kver"
config="$kdir/boot/config-$kver"
for option in CONFIG_KPROBES=y CONFIG_KPROBE_EVENTS=y CONFIG_BPF_EVENTS=y CONFIG_DEBUG_INFO_BTF=y CONFIG_NET_9P_VIRTIO CONFIG_9P_FS; do
  grep -q "^$option" "$config" || { step "error: $kver lacks $option"; exit 1; }
done

# 3. The initramfs: busybox, the modules 9p over virtio needs (with their dependencies, in
#    load order) and /init.
moddir="$kdir/lib/modules/$kver"
# Modules built in (=y) need no loading; the rest come from modules.dep.
wanted=(virtio_pci 9pnet_virtio 9p)
order=()
add_module() {
  local name="$1" path deps dep
  path="$(awk -F: -v n="/$name.ko" '{ i = index($1, n) } i > 0 && i == length($1) - length(n) + 1 { print $1; exit }' "$moddir/modules.dep")"
  [[ -n "$path" ]] || { step "error: module $name not in $kver's modules.dep"; exit 1; }
  for seen in "${order[@]:-}"; do [[ "$seen" == "$path" ]] && return 0; done
  deps="$(awk -F': *' -v p="$path" '$1 == p { print $2; exit }' "$moddir/modules.dep")"
  for dep in $deps; do
    dep="$(basename "$dep" .ko)"
    add_module "$dep"
  done
  order+=("$path")
}
for name in "${wanted[@]}"; do add_module "$name"; done

busybox_bin="$(command -v busybox)"
stamp_input="$(cat "${BASH_SOURCE[0]}" "$init_script"; sha256sum "$busybox_bin"; echo "$kver ${order[*]}")"
stamp="$(printf '%s' "$stamp_input" | sha256sum | cut -c1-16)"
initrd="$cache/initramfs-$kver.cpio.gz"
if [[ $force -eq 1 || ! -f "$initrd" || "$(cat "$initrd.stamp" 2>/dev/null)" != "$stamp" ]]; then
  step "building the initramfs (busybox, ${#order[@]} modules: ${order[*]##*/})"
  root="$(mktemp -d "$cache/.initramfs.XXXXXX")"
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root"/{bin,sbin,dev,proc,sys,newroot,lib/modules}
  cp "$busybox_bin" "$root/bin/busybox"
  ln -s busybox "$root/bin/sh"  # for debugging by hand: rdinit=/bin/sh (docs/vm-tests.md)
  cp "$init_script" "$root/init"
  chmod 755 "$root/init" "$root/bin/busybox"
  for path in "${order[@]}"; do
    mkdir -p "$root/lib/modules/$(dirname "$path")"
    cp "$moddir/$path" "$root/lib/modules/$path"
    echo "$path" >>"$root/lib/modules/load-order"
  done
  mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true
  (cd "$root" && find . -print0 | sort -z | cpio --null -o -H newc --quiet) | gzip -6 >"$initrd.tmp"
  mv "$initrd.tmp" "$initrd"
  echo "$stamp" >"$initrd.stamp"
  rm -rf "$root"
  trap - EXIT
else
  step "initramfs cached ($(basename "$initrd"))"
fi

cat >"$cache/guest.env.tmp" <<EOF
KVER=$kver
KERNEL=$kernel_image
INITRD=$initrd
QEMU=$(command -v qemu-system-x86_64)
EOF
mv "$cache/guest.env.tmp" "$cache/guest.env"
step "guest ready: kernel $kver, $(du -h "$initrd" | cut -f1) initramfs ($cache/guest.env)"
