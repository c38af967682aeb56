#!/bin/busybox sh
# /init of the VM-test guest (see docs/vm-tests.md). Packed into the initramfs by
# scripts/build-vm-guest.sh; runs as PID 1 under Debian's stock 6.1 kernel in qemu.
#
#   1. mounts proc/sys/dev, loads the virtio + 9p modules (insmod, dependency order),
#   2. mounts the HOST's root file system read-only over virtio-9p (mount tag `hostroot`) at
#      /newroot, with tmpfs on /run (the writable place: TMPDIR=/run/eop/tmp, HOME=/run/eop/home)
#      and the guest's own proc, sysfs, devtmpfs, bpffs, tracefs and debugfs on top. /tmp is NOT
#      covered: a checkout under the host's /tmp (a CI clone, say) stays visible in the guest,
#      read-only like everything else of the host's,
#   3. brings up loopback (the guest has no network device),
#   4. runs the scenario script named by `eop.run=<host dir>` on the kernel command line,
#      chrooted into /newroot, so it uses exactly the host's node, clang and repository build,
#   5. prints `EOP-EXIT <status>` and powers off.
#
# Lines the harness reads start with `EOP-`; everything else on the console is for people.
/bin/busybox mkdir -p /proc /sys /dev /bin /sbin /newroot
/bin/busybox --install -s /bin
export PATH=/bin:/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

fail() {
  echo "EOP-INIT-ERROR $*"
  echo "EOP-EXIT 125"
  poweroff -f
}

echo "EOP-BOOT uptime=$(cut -d' ' -f1 /proc/uptime) kernel=$(uname -r)"
# Keep kernel messages off the console from here on: they would interleave with result lines.
dmesg -n 1

while read -r module; do
  [ -n "$module" ] || continue
  insmod "/lib/modules/$module" || fail "insmod $module"
done </lib/modules/load-order

run=""
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    eop.run=*) run="${arg#eop.run=}" ;;
  esac
done
[ -n "$run" ] || fail "no eop.run=<dir> on the kernel command line"

mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /newroot || fail "mount 9p hostroot"
mount -t tmpfs -o mode=755 tmpfs /newroot/run || fail "tmpfs /run"
mkdir -p /newroot/run/eop/tmp /newroot/run/eop/home
chmod 1777 /newroot/run/eop/tmp
mount -t proc proc /newroot/proc || fail "proc"
mount -t sysfs sysfs /newroot/sys || fail "sysfs"
mount -t devtmpfs devtmpfs /newroot/dev || fail "devtmpfs"
mount -t bpf bpf /newroot/sys/fs/bpf || fail "bpffs"
mount -t tracefs tracefs /newroot/sys/kernel/tracing || fail "tracefs"
mount -t debugfs debugfs /newroot/sys/kernel/debug || fail "debugfs"
ip link set lo up || fail "loopback"

[ -f "/newroot$run/run.sh" ] || fail "no scenario script $run/run.sh on the host"
echo "EOP-READY uptime=$(cut -d' ' -f1 /proc/uptime)"
chroot /newroot /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/run/eop/home TMPDIR=/run/eop/tmp \
  /bin/sh "$run/run.sh"
status=$?
echo "EOP-EXIT $status uptime=$(cut -d' ' -f1 /proc/uptime)"
sync
poweroff -f
