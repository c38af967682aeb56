/**
 * Module boundaries, checked in `npm test` (scripts/test.sh): no import cycles anywhere, and
 * inside core and the operator, folders are layered by when their code runs, lowest first; a
 * folder imports only from its own layer and below. Type-only imports count too.
 */
const CORE = "^packages/core/src/";
const OPERATOR = "^packages/operator/src/";

// core, bottom to top. Each entry: the folders (or top-level files) of one layer.
const coreLayers = [
  ["api", "util", "kernel", "pods", "errors\\.ts", "logger\\.ts"], // the EbpfMap API and basics; pod discovery
  ["plugin"], // the plugin contract
  ["decoders", "compiler"], // label decoders; clang
  ["plan", "loader"], // load time: metric plans, loading and pinning programs
  ["scrape"], // scrape time: reading maps, metric families, the text exposition
  ["server", "forwarding"], // HTTP endpoints; remote-write
  ["observability"], // the agent's own metrics and their wiring
  ["agent"], // the reconciler and its sources of desired state
  ["host"], // start-up, flags, plugin loading, shutdown
  ["cli\\.ts", "index\\.ts", "sdk", "testing"], // entry points
];

// operator, bottom to top: Kubernetes plumbing, then what the controller and the cluster agent
// share, then the compile server and its client (no Kubernetes access: the controller calls it),
// then the controller and the agent (never importing the other), then the entry points.
const operatorLayers = [
  ["kube"],
  ["shared", "crd", "serving"],
  ["compiler"],
  ["controller", "agent"],
  ["operator\\.ts", "cli\\.ts", "index\\.ts", "generate-crds\\.ts"],
];

function layerRules(prefix, layers, pkg) {
  const rules = [];
  layers.forEach((layer, i) => {
    const above = layers.slice(i + 1).flat();
    if (above.length === 0) return;
    rules.push({
      name: `${pkg}-layer-${i}-imports-up`,
      comment: `${pkg}: ${layer.join(", ")} must not import from a layer above it (${above.join(", ")}); see docs/architecture.md`,
      severity: "error",
      from: { path: `${prefix}(${layer.join("|")})` },
      to: { path: `${prefix}(${above.join("|")})` },
    });
  });
  return rules;
}

module.exports = {
  forbidden: [
    { name: "no-circular", severity: "error", comment: "import cycles make the layering meaningless", from: {}, to: { circular: true } },
    ...layerRules(CORE, coreLayers, "core"),
    ...layerRules(OPERATOR, operatorLayers, "operator"),
    {
      name: "operator-agent-and-controller-apart",
      severity: "error",
      comment: "the cluster agent and the controller share only operator/src/shared",
      from: { path: `${OPERATOR}agent/` },
      to: { path: `${OPERATOR}controller/` },
    },
    {
      name: "operator-controller-and-agent-apart",
      severity: "error",
      comment: "the cluster agent and the controller share only operator/src/shared",
      from: { path: `${OPERATOR}controller/` },
      to: { path: `${OPERATOR}agent/` },
    },
    {
      name: "plugins-use-the-sdk",
      severity: "error",
      comment: "plugins import core through its published entry points only, never its source files",
      from: { path: "^(packages/plugin-[^/]+|examples/[^/]+)/" },
      to: { path: CORE, pathNot: `${CORE}(sdk|testing)/index\\.ts$` },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)(node_modules|dist|build)/|\\.test\\.ts$|(^|/)test-support\\.ts$|kernel-test" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "types"] },
  },
};
