import { describe, expect, it } from "vitest";
import { observabilitySettings, parseDuration } from "./options.js";

describe("self-observability flags", () => {
  it("hold BPF stats on and forward nothing by default", () => {
    expect(observabilitySettings({}, {})).toEqual({ bpfStats: true });
  });

  it("take remote-write settings from flags over the environment", () => {
    const settings = observabilitySettings(
      {
        "remote-write-url": "http://p:9090/api/v1/write",
        "remote-write-interval": "5s",
        "remote-write-max-pending-samples": "100",
        "remote-write-label": ["job=a", "instance=n1"],
        "bpf-stats": "false",
      },
      { EBPF_AGENT_REMOTE_WRITE_URL: "http://other/", EBPF_AGENT_REMOTE_WRITE_INTERVAL: "1m" },
    );
    expect(settings).toEqual({
      bpfStats: false,
      remoteWrite: { url: "http://p:9090/api/v1/write", intervalMs: 5000, maxPendingSamples: 100, labels: { job: "a", instance: "n1" } },
    });
    expect(observabilitySettings({}, { EBPF_AGENT_REMOTE_WRITE_URL: "https://x/w", EBPF_AGENT_REMOTE_WRITE_INTERVAL: "1m" }).remoteWrite).toEqual({
      url: "https://x/w",
      intervalMs: 60_000,
    });
  });

  it("parse durations with units, a bare number being seconds", () => {
    expect([parseDuration("f", "500ms"), parseDuration("f", "15s"), parseDuration("f", "2m"), parseDuration("f", "3")]).toEqual([500, 15_000, 120_000, 3000]);
  });

  it.each([
    [{ "remote-write-url": "prometheus:9090" }, /is not an http\(s\) URL/],
    [{ "remote-write-url": "http://p/", "remote-write-interval": "soon" }, /is not a duration/],
    [{ "remote-write-url": "http://p/", "remote-write-max-pending-samples": "-1" }, /is not a positive integer/],
    [{ "remote-write-url": "http://p/", "remote-write-label": ["__name__=x"] }, /is not name=value/],
    [{ "bpf-stats": "maybe" }, /is not true or false/],
  ])("refuse %j", (flags, message) => {
    expect(() => observabilitySettings(flags, {})).toThrow(message);
  });
});
