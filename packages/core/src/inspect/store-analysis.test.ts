// Programs written to change the packet or their context while returning "pass", compiled by
// the real clang: observe mode must find every such store, and stay quiet for read-only code.
import { describe, expect, it } from "vitest";
import { inspectObject } from "./inspect-object.js";
import { DEFAULT_TENANT_RULES, checkObjectAgainst, type Violation } from "./rules.js";
import { compileObject, program } from "./test-objects.js";

async function observe(source: string, name: string, type: string): Promise<Violation[]> {
  const report = inspectObject(await compileObject(source), { source });
  return checkObjectAgainst(report, { ...DEFAULT_TENANT_RULES, helpers: { sets: ["any"] }, maps: {} }, { attached: [{ name, type }], possibleCpus: 1 });
}

const lineOf = (source: string, needle: string): number => source.split("\n").findIndex((l) => l.includes(needle)) + 1;

const STASH = `
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, u32);
  __type(value, u64);
} stash SEC(".maps");
`;

describe("observe mode: stores through packet and context pointers", () => {
  it("finds a direct packet write", async () => {
    const source = program(`
SEC("xdp")
int x(struct xdp_md *ctx) {
  unsigned char *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
  if (data + 20 > end) return XDP_PASS;
  data[8] = 0; /* the IPv4 TTL of an untagged frame */
  return XDP_PASS;
}
`);
    const v = await observe(source, "x", "xdp");
    expect(v.map((x) => x.rule)).toEqual(["observe-packet-store"]);
    expect(v[0]!.source?.line).toBe(lineOf(source, "data[8] = 0"));
    expect(v[0]!.message).toMatch(/program "x" may write the packet at program\.bpf\.c:\d+ \(`data\[8\] = 0;/);
  });

  it("finds a write through a packet pointer spilled to the stack and reloaded", async () => {
    const source = program(`
SEC("xdp")
int x(struct xdp_md *ctx) {
  unsigned char *volatile slot = (void *)(long)ctx->data;
  unsigned char *end = (void *)(long)ctx->data_end;
  unsigned char *p = slot;
  if (p + 1 > end) return XDP_PASS;
  *p = 0xff;
  return XDP_PASS;
}
`);
    expect((await observe(source, "x", "xdp")).map((x) => x.rule)).toEqual(["observe-packet-store"]);
  });

  it("finds a write in a subprogram the packet pointer is passed to", async () => {
    const source = program(`
static __attribute__((noinline)) int scribble(unsigned char *p, unsigned char *end) {
  if (p + 1 > end) return 0;
  p[0] = 1;
  return 0;
}
SEC("xdp")
int x(struct xdp_md *ctx) {
  scribble((void *)(long)ctx->data, (void *)(long)ctx->data_end);
  return XDP_PASS;
}
`);
    const v = await observe(source, "x", "xdp");
    expect(v.map((x) => x.rule)).toEqual(["observe-packet-store"]);
    expect(v[0]!.message).toMatch(/\(in scribble\)/);
  });

  it("finds a write in a subprogram that returns a packet pointer", async () => {
    const source = program(`
static __attribute__((noinline)) unsigned char *start(struct xdp_md *ctx) {
  return (void *)(long)ctx->data;
}
SEC("xdp")
int x(struct xdp_md *ctx) {
  unsigned char *p = start(ctx), *end = (void *)(long)ctx->data_end;
  if (p + 1 > end) return XDP_PASS;
  *p = 1;
  return XDP_PASS;
}
`);
    expect((await observe(source, "x", "xdp")).map((x) => x.rule)).toEqual(["observe-packet-store"]);
  });

  it("finds a write in a bpf_loop callback through a context struct holding the packet pointer", async () => {
    const source = program(`
struct loop_ctx { unsigned char *p; unsigned char *end; };
static long each(u32 i, struct loop_ctx *c) {
  if (c->p + 1 > c->end) return 1;
  c->p[0] = 0;
  return 1;
}
SEC("xdp")
int x(struct xdp_md *ctx) {
  struct loop_ctx c = { (void *)(long)ctx->data, (void *)(long)ctx->data_end };
  bpf_loop(1, each, &c, 0);
  return XDP_PASS;
}
`);
    const v = await observe(source, "x", "xdp");
    expect(v.map((x) => x.rule)).toContain("observe-packet-store");
    expect(v.find((x) => x.rule === "observe-packet-store")?.message).toMatch(/\(in each\)/);
  });

  it("finds a packet pointer handed to a helper that writes through it", async () => {
    const source = program(`
SEC("xdp")
int x(struct xdp_md *ctx) {
  unsigned char *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
  if (data + 16 > end) return XDP_PASS;
  bpf_xdp_load_bytes(ctx, 0, data, 16);
  return XDP_PASS;
}
`);
    const v = await observe(source, "x", "xdp");
    expect(v.map((x) => [x.rule, x.helper])).toEqual([["observe-packet-argument", "bpf_xdp_load_bytes"]]);
    expect(v[0]!.message).toMatch(/argument 3/);
  });

  it("finds context writes: skb->mark in cgroup_skb, a socket's fields at creation", async () => {
    const skb = program(`
SEC("cgroup_skb/egress")
int e(struct __sk_buff *skb) {
  skb->mark = 0xbad;
  return 1;
}
`);
    const v = await observe(skb, "e", "cgroup_skb");
    expect(v.map((x) => x.rule)).toEqual(["observe-context-store"]);
    expect(v[0]!.source?.line).toBe(lineOf(skb, "skb->mark = 0xbad"));
    const sock = program(`
SEC("cgroup/sock_create")
int s(struct bpf_sock *sk) {
  sk->bound_dev_if = 1;
  return 1;
}
`);
    expect((await observe(sock, "s", "cgroup_sock")).map((x) => x.rule)).toEqual(["observe-context-store"]);
  });

  it("stays quiet for a program that parses the packet and counts into maps", async () => {
    const source = program(`${STASH}
struct hdr { unsigned char dst[6], src[6]; unsigned short proto; };
static __attribute__((noinline)) u64 *slot(void) {
  u32 k = 0;
  return bpf_map_lookup_elem(&stash, &k);
}
SEC("xdp")
int x(struct xdp_md *ctx) {
  unsigned char *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
  struct hdr *h = (void *)data;
  u64 *v = slot();
  unsigned char buf[8];
  if ((void *)(h + 1) > (void *)end || !v) return XDP_DROP;
  bpf_xdp_load_bytes(ctx, 0, buf, sizeof(buf));
  *v += h->proto + buf[0] + ctx->ingress_ifindex;
  __sync_fetch_and_add(v, 1);
  return XDP_DROP;
}
`);
    expect(await observe(source, "x", "xdp")).toEqual([]);
  });

  it("treats a CO-RE relocated context access as possibly the packet", async () => {
    // A local xdp_md whose field named "data" sits at another offset: CO-RE moves the load to the
    // kernel's data field at load time, so the offset in the object proves nothing.
    const source = program(
      `
struct xdp_md___fake { u32 pad0; u32 pad1; u32 pad2; u32 data; u32 data_end; } __attribute__((preserve_access_index));
SEC("xdp")
int x(struct xdp_md___fake *ctx) {
  unsigned char *p = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
  if (p + 1 > end) return XDP_PASS;
  *p = 0;
  return XDP_PASS;
}
`,
      "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n",
    );
    expect((await observe(source, "x", "xdp")).map((x) => x.rule)).toEqual(["observe-packet-store"]);
  });
});
