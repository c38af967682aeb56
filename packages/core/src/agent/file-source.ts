/**
 * Standalone mode's source of resources: EbpfMap YAML files in a directory (or one file).
 * Any change re-reads the whole set and hands it to the agent, which diffs it against what runs:
 * adding, changing or deleting a file loads, replaces or unloads its resources.
 *
 * `fs.watch` (inotify) is enough for one flat directory; a debounce absorbs editors' bursts of
 * events (write temp, rename, chmod), and a periodic resync covers missed events.
 */
import { watch, type FSWatcher } from "node:fs";
import { readFile, readdir, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { parseManifests, refKey, type ManifestProblem, type ParsedManifest } from "../api/manifest.js";
import { describeError } from "../errors.js";
import type { Logger } from "../logger.js";

export type SyncHandler = (desired: ParsedManifest[], problems: ManifestProblem[]) => Promise<void>;

const MANIFEST_FILE = /\.(ya?ml)$/i;

export interface FileSourceOptions {
  path: string;
  onSync: SyncHandler;
  logger: Logger;
  debounceMs?: number;
  resyncIntervalMs?: number;
}

export class FileSource {
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private resync?: NodeJS.Timeout;
  private running: Promise<void> = Promise.resolve();
  private pending = false;

  constructor(private readonly options: FileSourceOptions) {}

  /** Reads the manifests once and starts watching. Resolves after the first sync. */
  async start(): Promise<void> {
    const info = await stat(this.options.path);
    const dir = info.isDirectory() ? this.options.path : dirname(this.options.path);
    const only = info.isDirectory() ? undefined : basename(this.options.path);
    this.watcher = watch(dir, (_event, file) => {
      if (only && file !== only) return;
      if (file && !MANIFEST_FILE.test(file)) return;
      this.schedule();
    });
    this.resync = setInterval(() => this.schedule(), this.options.resyncIntervalMs ?? 60_000);
    this.resync.unref();
    await this.syncNow();
  }

  stop(): Promise<void> {
    this.watcher?.close();
    clearTimeout(this.timer);
    clearInterval(this.resync);
    return this.running;
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.syncNow(), this.options.debounceMs ?? 200);
  }

  /** Runs one sync at a time; a change during a sync triggers exactly one more. */
  private syncNow(): Promise<void> {
    if (this.pending) return this.running;
    this.pending = true;
    this.running = this.running.then(async () => {
      this.pending = false;
      try {
        const { resources, problems } = await readManifests(this.options.path);
        await this.options.onSync(resources, problems);
      } catch (error) {
        this.options.logger.error({ path: this.options.path, error: describeError(error) }, "reading manifests failed");
      }
    });
    return this.running;
  }
}

/** Reads every manifest file; duplicates of a namespace/name are problems of the later file. */
export async function readManifests(path: string): Promise<{ resources: ParsedManifest[]; problems: ManifestProblem[] }> {
  const info = await stat(path);
  const files = info.isDirectory()
    ? (await readdir(path))
        .filter((f) => MANIFEST_FILE.test(f))
        .sort()
        .map((f) => join(path, f))
    : [path];
  const resources: ParsedManifest[] = [];
  const problems: ManifestProblem[] = [];
  const seen = new Map<string, string>();
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (error) {
      // Deleted between readdir and readFile: the next event resyncs.
      if ((error as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw error;
    }
    const parsed = parseManifests(text, file);
    problems.push(...parsed.problems);
    for (const resource of parsed.resources) {
      const key = refKey(resource.ref);
      const first = seen.get(key);
      if (first) {
        problems.push({
          source: file,
          document: resource.document,
          ref: undefined,
          code: "EOP_ERR_MANIFEST_DUPLICATE",
          message: `${file}: document ${resource.document + 1}: EbpfMap "${key}" is already defined in ${first}; ignored`,
        });
        continue;
      }
      seen.set(key, file);
      resources.push(resource);
    }
  }
  return { resources, problems };
}
