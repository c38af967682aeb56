import { describe, expect, it } from "vitest";
import { podContainersOf } from "./node-pods.js";

const id = (c: string) => c.repeat(64);

describe("podContainersOf", () => {
  it("names the running containers of every kind: regular, init (sidecars too) and ephemeral, by runtime id", () => {
    expect(
      podContainersOf({
        status: {
          containerStatuses: [
            { name: "app", containerID: `containerd://${id("a")}` },
            { name: "waiting" }, // not started yet: no id
          ],
          initContainerStatuses: [
            { name: "migrate", containerID: `cri-o://${id("b")}` },
            { name: "log-shipper", containerID: `containerd://${id("c")}` },
          ],
          ephemeralContainerStatuses: [{ name: "debugger-x1", containerID: `containerd://${id("d")}` }],
        },
      }),
    ).toEqual([
      { name: "app", id: id("a") },
      { name: "migrate", id: id("b") },
      { name: "log-shipper", id: id("c") },
      { name: "debugger-x1", id: id("d") },
    ]);
  });

  it("skips ids that are not a runtime's container id, and statuses without a name", () => {
    expect(
      podContainersOf({
        status: {
          initContainerStatuses: [
            { name: "bad", containerID: "containerd://../../etc" },
            { containerID: `containerd://${id("e")}` } as { name: string; containerID: string },
          ],
          ephemeralContainerStatuses: [{ name: "short", containerID: "containerd://abc" }],
        },
      }),
    ).toEqual([]);
    expect(podContainersOf({})).toEqual([]);
  });
});
