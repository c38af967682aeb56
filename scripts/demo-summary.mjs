// Prints the demo agent's resources once none is Pending any more: one line each, with the
// reason for anything not Running. Polls /status; gives up quietly after two minutes.
const base = process.argv[2];
const deadline = Date.now() + 120_000;

async function status() {
  try {
    const response = await fetch(`${base}/status`);
    return response.ok ? await response.json() : undefined;
  } catch {
    return undefined;
  }
}

for (;;) {
  const current = await status();
  const resources = current?.resources ?? [];
  if (current?.ready && resources.length > 0 && resources.every((r) => r.phase !== "Pending")) {
    const width = Math.max(...resources.map((r) => r.name.length));
    const lines = resources
      .slice()
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((r) => {
        const why = r.phase === "Running" ? (r.metric ? `serves ${r.metric}` : "") : (r.lastError?.message ?? "");
        return `    ${r.name.padEnd(width)}  ${r.phase.padEnd(11)}  ${why.split("\n")[0]}`;
      });
    process.stdout.write(`==> resources (curl -s ${base}/status for all conditions):\n${lines.join("\n")}\n`);
    break;
  }
  if (Date.now() > deadline) break;
  await new Promise((resolve) => setTimeout(resolve, 1000));
}
