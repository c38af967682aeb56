//go:build linux

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// forwardFlag collects repeated --forward NAME=HOST:PORT.
type forwardFlag map[string]string

func (f forwardFlag) String() string { return fmt.Sprint(map[string]string(f)) }
func (f forwardFlag) Set(v string) error {
	name, target, ok := strings.Cut(v, "=")
	if !ok || name == "" || target == "" {
		return fmt.Errorf("want NAME=HOST:PORT, got %q", v)
	}
	if _, _, err := net.SplitHostPort(target); err != nil {
		return fmt.Errorf("--forward %s: %w", name, err)
	}
	f[name] = target
	return nil
}

// runSandbox is the host side: it starts init in new namespaces, forwards ports into the node's
// network namespace, and takes the node down on SIGTERM/SIGINT (or with its own death).
func runSandbox(args []string) int {
	// Pdeathsig fires when the *thread* that started init exits, and Go ends the threads of
	// goroutines that return while locked (dialInNetns does): start init from the main thread,
	// kept to this goroutine, which lives as long as the process.
	runtime.LockOSThread()
	fs := flag.NewFlagSet("sandbox", flag.ExitOnError)
	dir := fs.String("dir", "", "the run's directory (var-lib/ is bound at /var/lib inside)")
	nodeIP := fs.String("node-ip", "", "the node's address (on the node's loopback interface)")
	hostname := fs.String("hostname", "kube-node", "the node's host name")
	forwards := forwardFlag{}
	fs.Var(forwards, "forward", "NAME=HOST:PORT inside the node, served on a free 127.0.0.1 port of the host (repeatable)")
	_ = fs.Parse(args)
	if *dir == "" || net.ParseIP(*nodeIP) == nil {
		fmt.Fprintln(os.Stderr, "sandbox: --dir and a valid --node-ip are required")
		return 2
	}

	ready, readyW, err := os.Pipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		return 1
	}
	initCmd := exec.Command("/proc/self/exe", "sandbox-init", "--dir", *dir, "--node-ip", *nodeIP, "--hostname", *hostname)
	initCmd.Stdout, initCmd.Stderr = os.Stderr, os.Stderr
	initCmd.ExtraFiles = []*os.File{readyW} // fd 3 in init
	initCmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC,
		// init (and so the whole node) dies with this process, however this process ends.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := initCmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox: start init:", err)
		return 1
	}
	_ = readyW.Close()
	exited := make(chan error, 1)
	go func() { exited <- initCmd.Wait() }()

	line, err := bufio.NewReader(ready).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		fmt.Fprintf(os.Stderr, "sandbox: init failed to set up the node (%q, %v)\n", line, err)
		_ = initCmd.Process.Kill()
		<-exited
		return 1
	}
	pid := initCmd.Process.Pid
	netns, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		_ = initCmd.Process.Kill()
		return 1
	}
	defer netns.Close()

	served := map[string]string{}
	for name, target := range forwards {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "sandbox: listen:", err)
			_ = initCmd.Process.Kill()
			return 1
		}
		served[name] = l.Addr().String()
		go forward(l, int(netns.Fd()), target)
	}
	out, _ := json.Marshal(map[string]any{"pid": pid, "forwards": served})
	fmt.Println(string(out))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case err := <-exited:
		fmt.Fprintln(os.Stderr, "sandbox: init exited:", err)
		return 1
	case <-sig:
	}
	// init stops every process of the node (SIGTERM, then SIGKILL) and exits.
	_ = initCmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		_ = initCmd.Process.Kill()
		<-exited
	}
	return 0
}

// forward serves l, connecting each client to target inside the network namespace nsfd.
func forward(l net.Listener, nsfd int, target string) {
	for {
		client, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer client.Close()
			upstream, err := dialInNetns(nsfd, target)
			if err != nil {
				return
			}
			defer upstream.Close()
			var wg sync.WaitGroup
			wg.Add(2)
			pipe := func(dst, src net.Conn) {
				defer wg.Done()
				_, _ = io.Copy(dst, src)
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
			}
			go pipe(upstream, client)
			go pipe(client, upstream)
			wg.Wait()
		}()
	}
}

// dialInNetns connects from inside another network namespace. A socket belongs to the namespace
// of the thread that creates it, so the dial runs on a locked OS thread moved into the node's
// namespace; the goroutine returns still locked, so Go discards that thread instead of reusing it.
func dialInNetns(nsfd int, target string) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(nsfd, unix.CLONE_NEWNET); err != nil {
			ch <- result{nil, fmt.Errorf("setns: %w", err)}
			return
		}
		conn, err := net.DialTimeout("tcp", target, 5*time.Second)
		ch <- result{conn, err}
	}()
	r := <-ch
	return r.conn, r.err
}

// Kernel tunables the kubelet insists on (pkg/kubelet/cm: setupKernelTunables). Most are global
// to the machine, not per namespace: a kubelet would set kernel.panic_on_oops=1 on a machine
// other people use. Inside the node, /proc/sys/<name> shows the value the kubelet wants (a
// read-only file bound over it), and the kubelet runs with protectKernelDefaults, which checks
// and never writes.
var kubeletTunables = map[string]string{
	"vm/overcommit_memory":      "1",
	"vm/panic_on_oom":           "0",
	"kernel/panic":              "10",
	"kernel/panic_on_oops":      "1",
	"kernel/keys/root_maxkeys":  "1000000",
	"kernel/keys/root_maxbytes": "25000000",
}

// runSandboxInit is PID 1 of the node: it sets up the node's mounts and network, says "ready"
// on fd 3, then reaps orphans (containerd shims re-parent to it) until SIGTERM.
func runSandboxInit(args []string) int {
	fs := flag.NewFlagSet("sandbox-init", flag.ExitOnError)
	dir := fs.String("dir", "", "")
	nodeIP := fs.String("node-ip", "", "")
	hostname := fs.String("hostname", "kube-node", "")
	_ = fs.Parse(args)
	ready := os.NewFile(3, "ready")
	if err := setupNode(*dir, *nodeIP, *hostname); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox-init:", err)
		_, _ = fmt.Fprintln(ready, "error:", err)
		return 1
	}
	_, _ = fmt.Fprintln(ready, "ready")
	_ = ready.Close()

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sigs {
		reap()
		if s == syscall.SIGCHLD {
			continue
		}
		// Everything in the PID namespace but init: SIGTERM, a grace period, then SIGKILL.
		_ = unix.Kill(-1, unix.SIGTERM)
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) && reap() {
			time.Sleep(100 * time.Millisecond)
		}
		_ = unix.Kill(-1, unix.SIGKILL)
		for reap() {
			time.Sleep(50 * time.Millisecond)
		}
		return 0
	}
	return 0
}

// reap collects exited children; it reports whether any child is still running.
func reap() bool {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.ECHILD) {
			return false
		}
		if err != nil || pid == 0 {
			return true
		}
	}
}

func setupNode(dir, nodeIP, hostname string) error {
	mount := func(source, target, fstype string, flags uintptr, data string) error {
		if err := unix.Mount(source, target, fstype, flags, data); err != nil {
			return fmt.Errorf("mount %s on %s (%s): %w", source, target, fstype, err)
		}
		return nil
	}
	// The node's mounts never reach the host: every mount becomes a slave of the host's.
	if err := mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return err
	}
	if err := mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	if err := mount("tmpfs", "/run", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=755,size=256m"); err != nil {
		return err
	}
	// A sysfs of the node's network namespace (/sys/class/net lists the node's interfaces), with
	// the host's cgroup, tracefs and debugfs mounts carried over, and a bpffs of the node's own:
	// pins made inside are the node's, invisible to other runs, and go away with the node.
	hostSys := "/run/.host-sys"
	if err := os.MkdirAll(hostSys, 0o700); err != nil {
		return err
	}
	if err := mount("/sys", hostSys, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	if err := mount("sysfs", "/sys", "sysfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	for _, sub := range []string{"fs/cgroup", "kernel/tracing", "kernel/debug", "kernel/security"} {
		if !isMountPoint(filepath.Join(hostSys, sub)) {
			continue
		}
		if err := mount(filepath.Join(hostSys, sub), filepath.Join("/sys", sub), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return err
		}
	}
	if err := unix.Unmount(hostSys, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount %s: %w", hostSys, err)
	}
	if err := mount("bpf", "/sys/fs/bpf", "bpf", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700"); err != nil {
		return err
	}
	// /var/lib and /var/log of the node: kubelet's and containerd's state in the run's directory,
	// CNI's cache and the logs in memory, nothing written to the host's /var.
	if err := mount("tmpfs", "/var/lib", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=755,size=64m"); err != nil {
		return err
	}
	for _, sub := range []string{"kubelet", "containerd"} {
		src := filepath.Join(dir, "var-lib", sub)
		if err := os.MkdirAll(src, 0o700); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join("/var/lib", sub), 0o700); err != nil {
			return err
		}
		if err := mount(src, filepath.Join("/var/lib", sub), "", unix.MS_BIND, ""); err != nil {
			return err
		}
	}
	if err := mount("tmpfs", "/var/log", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=755,size=512m"); err != nil {
		return err
	}
	masks := filepath.Join("/run", "sysctl-masks")
	if err := os.MkdirAll(masks, 0o700); err != nil {
		return err
	}
	for name, want := range kubeletTunables {
		path := filepath.Join("/proc/sys", name)
		current, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(current)) == want {
			continue
		}
		file := filepath.Join(masks, strings.ReplaceAll(name, "/", "."))
		if err := os.WriteFile(file, []byte(want+"\n"), 0o444); err != nil {
			return err
		}
		if err := mount(file, path, "", unix.MS_BIND, ""); err != nil {
			return err
		}
		if err := mount("", path, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return err
		}
	}
	// Shared inside the node (still slaves of the host's): containerd accepts hostPath volumes
	// with HostToContainer propagation only from shared or slave mounts.
	if err := mount("", "/", "", unix.MS_REC|unix.MS_SHARED, ""); err != nil {
		return err
	}

	if err := unix.Sethostname([]byte(hostname)); err != nil {
		return fmt.Errorf("sethostname: %w", err)
	}
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		// The node's address lives on its loopback interface: reachable from inside the node (and
		// from its pods, through the bridge's gateway), from nowhere else.
		{"addr", "add", nodeIP + "/32", "dev", "lo"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

func isMountPoint(path string) bool {
	var st, parent unix.Stat_t
	if unix.Lstat(path, &st) != nil || unix.Lstat(filepath.Dir(path), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}
