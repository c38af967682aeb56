/**
 * The decoders a label's `decoders:` chain may name. `CORE_DECODERS` is the documentation: every
 * word users can write, the input it expects, what it outputs. Plugins add program-type-specific
 * decoders (`xdp_action`, `ip_proto`...) through `ProgramTypePlugin.decoders`; a plugin decoder
 * whose name is already taken — by core or by an earlier plugin — is refused and reported, never
 * silently overriding what a manifest already means.
 */
import { operatorError } from "../errors.js";
import { SKIP, type Decoder } from "../plugin/sdk.js";
import { cgroup } from "./cgroup.js";
import { cgroupContainer, cgroupNamespace, cgroupPod } from "./cgroup-pod.js";
import { container } from "./container.js";
import type { CoreDecoder, DecoderOptions } from "./decoder.js";
import { errno } from "./errno.js";
import { hex } from "./hex.js";
import { ifname } from "./ifname.js";
import { inetIp } from "./inet-ip.js";
import { int } from "./int.js";
import { ksym } from "./ksym.js";
import { majorminor } from "./majorminor.js";
import { pod } from "./pod.js";
import { port } from "./port.js";
import { regexp } from "./regexp.js";
import { staticMap } from "./static-map.js";
import { string } from "./string.js";
import { syscall } from "./syscall.js";
import { uint } from "./uint.js";

/**
 * The core decoders by the name users write. Raw-byte decoders take the key field's bytes;
 * text decoders take the previous decoder's output (so they follow `uint` or `int`).
 */
export const CORE_DECODERS = {
  /** bytes (1-8, host order; `endianness: big|little`) -> unsigned decimal. */
  uint,
  /** bytes (1-8) -> signed decimal (two's complement). */
  int,
  /** C string bytes -> text up to the first NUL; invalid UTF-8 replaced. */
  string,
  /** bytes -> lower-case hex. */
  hex,
  /** 4 or 16 bytes, network order -> IPv4 / IPv6 text. */
  inet_ip: inetIp,
  /** 2 bytes, network order -> port number. */
  port,
  /** 8-byte kernel address -> kernel symbol name (/proc/kallsyms). */
  ksym,
  /** 4 or 8-byte kernel dev_t -> `major:minor`. */
  majorminor,
  /** 1-8 byte ifindex -> interface name (/sys/class/net). */
  ifname,
  /** decimal text -> x86_64 syscall name. */
  syscall,
  /** decimal text (errno or -errno) -> `E...` name. */
  errno,
  /** decimal text (cgroup v2 id) -> cgroup path. */
  cgroup,
  /** text -> `values[text]`, else `default`, else `unknown:<text>`. */
  static_map: staticMap,
  /** text -> itself when it matches `pattern`, else the row is dropped. */
  regexp,
  /** decimal text (cgroup v2 id) -> the selected pod's name; pod-scoped resources' `pod` label only (else the row is dropped). */
  pod,
  /** decimal text (cgroup v2 id) -> the name of the selected pods' container of that cgroup; pod-scoped resources' `container` label only (else the row is dropped). */
  container,
  /** decimal text (cgroup v2 id) -> the namespace of the pod that cgroup belongs to, on this node, any namespace; else the row is dropped. Needs the policy's crossNamespacePodLabels. */
  cgroup_namespace: cgroupNamespace,
  /** decimal text (cgroup v2 id) -> the name of the pod that cgroup belongs to, on this node, any namespace; else the row is dropped. Needs the policy's crossNamespacePodLabels. */
  cgroup_pod: cgroupPod,
  /** decimal text (cgroup v2 id) -> the name of the container that cgroup is (its pod's status names it), on this node, any namespace; else the row is dropped. Needs the policy's crossNamespacePodLabels. */
  cgroup_container: cgroupContainer,
} as const satisfies Record<string, CoreDecoder>;

export type CoreDecoderName = keyof typeof CORE_DECODERS;

/** A decoder as a label configures it: `{ name, ...options }`. */
export interface DecoderConfig extends DecoderOptions {
  readonly name: string;
}

/** A refused plugin decoder. */
export interface DecoderConflict {
  code: "EOP_ERR_DECODER_CONFLICT";
  plugin: string;
  decoder: string;
  message: string;
}

/** A decoder chain ready to run; each step's options are its config object (stable identity). */
export type DecoderChain = readonly { decoder: Decoder; options: DecoderOptions }[];

export class DecoderRegistry {
  private readonly byName = new Map<string, { decoder: Decoder; owner: string }>();
  readonly conflicts: DecoderConflict[] = [];

  constructor(core: Readonly<Record<string, Decoder>> = CORE_DECODERS) {
    for (const [name, decoder] of Object.entries(core)) this.byName.set(name, { decoder, owner: "core" });
  }

  /** Adds a plugin's decoders; returns (and keeps) the ones refused. */
  registerPlugin(plugin: string, decoders: readonly Decoder[]): DecoderConflict[] {
    const refused: DecoderConflict[] = [];
    for (const decoder of decoders) {
      const name = typeof decoder?.name === "string" ? decoder.name : "";
      const taken = this.byName.get(name);
      let reason: string | undefined;
      if (!/^[a-z][a-z0-9_]*$/.test(name) || typeof decoder.decode !== "function") reason = "is not a valid decoder (a snake_case name and a decode function)";
      else if (taken)
        reason =
          taken.owner === "core" ? "is a core decoder (plugins add only program-type-specific names)" : `is already registered by plugin "${taken.owner}"`;
      if (reason) {
        refused.push({
          code: "EOP_ERR_DECODER_CONFLICT",
          plugin,
          decoder: name,
          message: `decoder "${name}" of plugin "${plugin}" ${reason}; it is not registered`,
        });
        continue;
      }
      this.byName.set(name, { decoder, owner: plugin });
    }
    this.conflicts.push(...refused);
    return refused;
  }

  /**
   * A registry with everything this one has and `decoders` in place of same-named ones: the
   * agent's per-resource decoders (a pod-scoped resource's `pod` table).
   */
  derive(decoders: readonly Decoder[]): DecoderRegistry {
    const derived = new DecoderRegistry({});
    for (const [name, entry] of this.byName) derived.byName.set(name, entry);
    for (const decoder of decoders) derived.byName.set(decoder.name, { decoder, owner: "agent" });
    return derived;
  }

  get(name: string): Decoder | undefined {
    return this.byName.get(name)?.decoder;
  }

  /** Registered names with their owner (`core` or the plugin's name), sorted. */
  names(): { name: string; owner: string }[] {
    return [...this.byName].map(([name, { owner }]) => ({ name, owner })).sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * Resolves a label's `decoders:` list; throws EOP_ERR_DECODER_UNKNOWN / EOP_ERR_METRIC_INVALID
   * naming `field` (`spec.metrics[0].labels[1].decoders[0]`) for an unknown name or bad options.
   */
  chain(configs: readonly DecoderConfig[], field: string): DecoderChain {
    return configs.map((config, i) => {
      const decoder = this.get(config.name);
      if (!decoder) {
        const available = this.names()
          .map((n) => n.name)
          .join(", ");
        throw operatorError("EOP_ERR_DECODER_UNKNOWN", `${field}[${i}]: no decoder named "${config.name}" (available: ${available})`);
      }
      const problem = (decoder as CoreDecoder).checkOptions?.(config);
      if (problem) throw operatorError("EOP_ERR_METRIC_INVALID", `${field}[${i}]: decoder "${config.name}" ${problem}`);
      return { decoder, options: config };
    });
  }
}

/**
 * Runs a chain over a field's bytes: each output is the next input (text as UTF-8 bytes).
 * Returns the label text or SKIP. A plugin decoder that throws yields `unknown:0x<hex>`: one bad
 * decoder must not fail the scrape.
 */
export function runChain(chain: DecoderChain, input: Buffer): string | typeof SKIP {
  let current: string | Buffer = input;
  for (const step of chain) {
    let out: string | Buffer | typeof SKIP;
    try {
      out = step.decoder.decode(typeof current === "string" ? Buffer.from(current, "utf8") : current, step.options);
    } catch {
      return `unknown:0x${input.toString("hex")}`;
    }
    if (out === SKIP) return SKIP;
    current = out;
  }
  return typeof current === "string" ? current : current.toString("utf8");
}
