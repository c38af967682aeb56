package main

import (
	"os"
	"syscall"
)

// exitWithParent asks the kernel to SIGTERM this process when the process that started it
// dies, when KUBE_TESTENV_PDEATHSIG is set (the TypeScript helper sets it), so a crashed test
// runner leaves no node component behind.
func exitWithParent() {
	if os.Getenv("KUBE_TESTENV_PDEATHSIG") == "" {
		return
	}
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0)
	if os.Getppid() == 1 { // the parent died before prctl
		os.Exit(1)
	}
}
