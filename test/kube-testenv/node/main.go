//go:build linux

// Command kube-node is the node half of the node tests' one-node cluster (docs/kube-node.md):
// the upstream kubelet, kube-controller-manager, kube-scheduler and kube-proxy built from the
// same k8s.io/kubernetes module as kube-testenv (etcd + kube-apiserver), in one multi-call
// binary, plus the sandbox that gives the node its own namespaces:
//
//	kube-node kubelet|kube-controller-manager|kube-scheduler|kube-proxy <the upstream flags>
//	kube-node sandbox --dir DIR --node-ip IP [--hostname NAME] [--forward NAME=HOST:PORT]...
//	kube-node version
//
// `sandbox` runs in the host's namespaces. It starts `sandbox-init` as PID 1 of new PID, mount,
// network, UTS and IPC namespaces (the node, as kind's node container is), prints one JSON line
// {"pid": <init's host pid>, "forwards": {NAME: "127.0.0.1:PORT"}} once the node is set up, and
// forwards each 127.0.0.1:PORT on the host to HOST:PORT inside the node's network namespace
// (the only way in: the node has no interface to the host). The test harness starts the
// components inside with `nsenter --target <pid>`. When `sandbox` exits or is killed, init dies
// with it (PDEATHSIG), and the kernel kills every process of the node's PID namespace: nothing
// the node started (containerd shims, containers) outlives the harness, and the node's mounts,
// pod network namespaces and veths go with its namespaces.
package main

import (
	"context"
	"fmt"
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format, as upstream
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as upstream
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, as upstream
	"k8s.io/component-base/version"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kube-node kubelet|kube-controller-manager|kube-scheduler|kube-proxy|sandbox|version [flags]")
		os.Exit(2)
	}
	sub, args := os.Args[1], os.Args[2:]
	if sub != "sandbox-init" { // init's parent is `sandbox`, which sets Pdeathsig itself
		exitWithParent()
	}
	switch sub {
	case "kubelet":
		cmd := kubelet.NewKubeletCommand(context.Background())
		cmd.SetArgs(args)
		os.Exit(cli.Run(cmd))
	case "kube-controller-manager":
		cmd := controllermanager.NewControllerManagerCommand()
		cmd.SetArgs(args)
		os.Exit(cli.Run(cmd))
	case "kube-scheduler":
		cmd := scheduler.NewSchedulerCommand()
		cmd.SetArgs(args)
		os.Exit(cli.Run(cmd))
	case "kube-proxy":
		cmd := proxy.NewProxyCommand()
		cmd.SetArgs(args)
		os.Exit(cli.Run(cmd))
	case "sandbox":
		os.Exit(runSandbox(args))
	case "sandbox-init":
		os.Exit(runSandboxInit(args))
	case "version":
		fmt.Println(version.Get().GitVersion)
	default:
		fmt.Fprintf(os.Stderr, "kube-node: unknown subcommand %q\n", sub)
		os.Exit(2)
	}
}
