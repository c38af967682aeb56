/**
 * Memory back after a burst of loads. Loading programs leaves tens of MiB of garbage (BTF and ELF
 * parsing in libbpf, manifests, schemas) that V8 and glibc keep until much later, so an idle
 * agent would sit at its start-up peak (docs/benchmarks.md, "Agent footprint"). Once no program
 * has loaded or unloaded for `quietMs`, this asks for it back once (`releaseFreeMemory`: a V8
 * memory-pressure GC and malloc_trim). Never on the scrape path: only loads and unloads note work.
 */
import { releaseFreeMemory } from "@ebpf-operator/libbpf";

export class IdleMemoryRelease {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly release: () => void = () => void releaseFreeMemory(),
    private readonly quietMs = 2_000,
  ) {}

  /** A program was loaded or unloaded: release once things have been quiet for `quietMs`. */
  noteWork(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.release();
    }, this.quietMs);
    this.timer.unref();
  }

  /** Drops a pending release (shutdown). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
