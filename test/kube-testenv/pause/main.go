// Command pause is the sandbox ("pause") container of the node tests' cluster: it holds a pod's
// namespaces and does nothing else. The usual pause image cannot be pulled here, so
// scripts/images/build.mjs packages this static binary as localhost/ebpf-operator/pause.
// Like upstream's pause it exits on SIGINT/SIGTERM and reaps zombies (it is PID 1 of the pod's
// PID namespace when the pod shares one).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
