import { afterEach, describe, expect, it, vi } from "vitest";
import { IdleMemoryRelease } from "./idle-memory.js";

describe("IdleMemoryRelease", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("releases once after a burst of work has been quiet for quietMs, and again after the next burst", () => {
    vi.useFakeTimers();
    const release = vi.fn();
    const memory = new IdleMemoryRelease(release, 1000);
    for (let i = 0; i < 5; i++) {
      memory.noteWork();
      vi.advanceTimersByTime(900);
    }
    expect(release).not.toHaveBeenCalled();
    vi.advanceTimersByTime(100);
    expect(release).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(10_000);
    expect(release).toHaveBeenCalledTimes(1);
    memory.noteWork();
    vi.advanceTimersByTime(1000);
    expect(release).toHaveBeenCalledTimes(2);
  });

  it("drops a pending release on stop", () => {
    vi.useFakeTimers();
    const release = vi.fn();
    const memory = new IdleMemoryRelease(release, 1000);
    memory.noteWork();
    memory.stop();
    vi.advanceTimersByTime(5000);
    expect(release).not.toHaveBeenCalled();
  });
});
