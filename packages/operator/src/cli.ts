#!/usr/bin/env node
/**
 * `ebpf-operator run   [flags]`  the controller (one Deployment; replicas elect a leader)
 * `ebpf-operator agent --node-name NODE [flags]`  the node agent in cluster mode (a DaemonSet)
 * `ebpf-operator compile-server --socket PATH [flags]`  the sandboxed compiler, in its own
 *    container beside the operator (no Kubernetes access, no token)
 * `ebpf-operator --version`
 *
 * In a pod they use the in-cluster service account; elsewhere $KUBECONFIG or --kubeconfig.
 * --namespace is the operator's namespace (compiled objects, the leader Lease).
 */
import { runCli } from "@ebpf-operator/core/compile-host";

// Each command's module is imported only when that command runs: `compile-server` (its own
// container, no token) then never loads @kubernetes/client-node, the controllers or the agent,
// which keeps it a small process whose clang spawns (a fork of it) stay cheap (docs/architecture.md).
const USAGE = `usage:
  ebpf-operator run [flags]                     the controller
  ebpf-operator agent --node-name NODE [flags]  the node agent (cluster mode)
  ebpf-operator compile-server --socket PATH    the sandboxed compiler (its own container, no token)
  ebpf-operator --version

Run \`ebpf-operator <command> --help\` for a command's flags.`;

runCli({
  program: "ebpf-operator",
  packageJson: new URL("../package.json", import.meta.url),
  usage: USAGE,
  commands: {
    run: async (args) => (await import("./commands/run.js")).run(args),
    agent: async (args) => (await import("./commands/agent.js")).agent(args),
    "compile-server": async (args) => (await import("./compiler/compile-server-cli.js")).compileServer(args),
  },
});
