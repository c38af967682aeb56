/**
 * The xdp plugin through the loader's kernel cycle on a veth made here (its host end, generic
 * mode): load, attach, pin; a restarted loader adopts the pinned link, which the plugin's
 * `adopted` must keep (same interface, same namespace); unload. The veth and its namespace are
 * removed afterwards, pass or fail.
 */
import { describe, expect, it } from "vitest";
import { runKernelCycle } from "@ebpf-operator/core/testing";
import { requireKernelCapabilities } from "../../../test/helpers/kernel.js";
import { createTestNetwork, type TestNetwork } from "./kernel-test-network.js";
import { xdpPlugin } from "./xdp-plugin.js";

requireKernelCapabilities();

const CODE = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, u32); __type(value, u64); } packets SEC(".maps");
SEC("xdp") int count(struct xdp_md *ctx) {
  u32 key = 0;
  u64 *n = bpf_map_lookup_elem(&packets, &key);
  if (n) __sync_fetch_and_add(n, 1);
  return XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";`;

describe("xdp plugin in the loader's kernel cycle", () => {
  it("keeps the pinned link on adoption (adopted: the same interface and namespace) and counts on through it", async () => {
    let network: TestNetwork | undefined;
    const counts: bigint[] = [];
    const report = await runKernelCycle(xdpPlugin, {
      type: "xdp",
      before: async () => {
        network = await createTestNetwork("c", 248);
      },
      after: () => network?.remove(),
      target: () => `xdp/${network!.hostIf}?mode=generic`,
      code: CODE,
      program: "count",
      map: "packets",
      exercise: async (loaded) => {
        await network!.sendUdp(4, 8);
        counts.push(loaded.maps.get("packets")!.lookup(Buffer.alloc(4))!.readBigUInt64LE(0));
      },
    });
    expect(report.attachmentKinds).toEqual(["link"]);
    expect(report.fresh).toEqual([expect.stringMatching(/^xdp eop.* \(ifindex \d+, generic mode\)$/)]);
    expect(report.adopted).toEqual(["pinned link_0"]);
    expect(counts[0]).toBeGreaterThanOrEqual(4n);
    expect(counts[1]! - counts[0]!).toBeGreaterThanOrEqual(4n); // the same map, through the same link
  });
});
