/**
 * The core decoders' shape: the plugin SDK's `Decoder` (bytes in, text/bytes/SKIP out) plus
 * what the agent checks when a metric is configured, so a bad option fails the resource at
 * load time rather than every scrape.
 */
import type { Decoder } from "../plugin/sdk.js";

export type DecoderOptions = Readonly<Record<string, unknown>>;

export interface CoreDecoder extends Decoder {
  /** Why the options are unusable, or undefined when they are fine. */
  checkOptions?(options: DecoderOptions): string | undefined;
}

/**
 * Per-options state (a compiled regexp, a lookup table) computed once: options objects live as
 * long as the metric configuration, so a WeakMap keyed by them never leaks.
 */
export function perOptions<T>(build: (options: DecoderOptions) => T): (options: DecoderOptions) => T {
  const cache = new WeakMap<DecoderOptions, T>();
  return (options) => {
    let value = cache.get(options);
    if (value === undefined) {
      value = build(options);
      cache.set(options, value);
    }
    return value;
  };
}
