/**
 * `static_map`: replaces the input text using `values` (`{"1": "read", "2": "write"}`); text
 * not in the table becomes `default` when given, else `unknown:<input>`. Usually after `uint`.
 */
import { perOptions, type CoreDecoder, type DecoderOptions } from "./decoder.js";

interface Table {
  values: ReadonlyMap<string, string>;
  fallback: string | undefined;
}

const tableOf = perOptions<Table>((options) => {
  const raw = options.values;
  const values = new Map<string, string>();
  if (raw && typeof raw === "object") for (const [k, v] of Object.entries(raw)) if (typeof v === "string") values.set(k, v);
  return { values, fallback: typeof options.default === "string" ? options.default : undefined };
});

export const staticMap: CoreDecoder = {
  name: "static_map",
  decode(input, options) {
    const text = input.toString("utf8");
    const table = tableOf(options);
    return table.values.get(text) ?? table.fallback ?? `unknown:${text}`;
  },
  checkOptions(options: DecoderOptions) {
    const values = options.values;
    if (!values || typeof values !== "object" || Array.isArray(values)) return `needs "values", an object of input text to label text`;
    const bad = Object.entries(values).find(([, v]) => typeof v !== "string");
    if (bad) return `values.${bad[0]} must be a string`;
    if (options.default !== undefined && typeof options.default !== "string") return `default must be a string`;
    return undefined;
  },
};
