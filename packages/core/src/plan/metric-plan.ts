/**
 * Turns one metric of a resource (a `spec.metrics[]` entry, or the flat spec's metric) and its
 * map's types (BTF) into a plan the collector runs on every scrape: where each label is cut from
 * the key and how it is decoded, where the bucket index and the value are. Built once per load,
 * when the program's maps exist and before it is attached, so a field that does not exist or a
 * histogram without an integer bucket fails the resource with a message naming the spec field
 * and listing what the map really has.
 */
import type { BtfMember, BtfType, MapInfo } from "@ebpf-operator/libbpf";
import type { ResourceRef } from "../api/manifest.js";
import { CPU_LABEL, isValidLabelName, reservedLabelReason } from "../api/metric-names.js";
import { podLabelProblem } from "../api/metrics-check.js";
import type { LabelSpec, MetricSpec } from "../api/metrics-schema.js";
import { runChain, type DecoderRegistry } from "../decoders/registry.js";
import { operatorError } from "../errors.js";
import type { SKIP } from "../plugin/sdk.js";
import {
  defaultDecode,
  defaultDecodeAt,
  isCharArray,
  isInteger,
  isSigned,
  memberList,
  sizedDecode,
  sizedDecodeAt,
  typeName,
  type FieldDecodeAt,
} from "./btf-fields.js";
import { bucketLayout, type BucketLayout } from "./histogram.js";
import type { MetricConfig } from "./metric-config.js";

/** What the plan needs of a map: BpfMap fits. */
export interface MapView {
  readonly info: MapInfo;
  readonly isPerCpu: boolean;
  describeKey(): BtfType | undefined;
  describeValue(): BtfType | undefined;
}

export interface Slice {
  offset: number;
  size: number;
}

export interface LabelPlan {
  name: string;
  slice: Slice;
  decode: (bytes: Buffer) => string | typeof SKIP;
  /** The same as `decode`, read in place at `offset` of the keys buffer; set for the BTF defaults. */
  decodeAt?: FieldDecodeAt;
  /** Distinct bytes always give distinct text (integers, hex): no two rows can merge. */
  injective: boolean;
  /** The text may hold a quote, backslash or newline (strings, decoders): escape it. */
  needsEscape: boolean;
  /**
   * The text is the field's decimal value (BTF integers, the flat key): scrape-time rendering
   * may print the number's digits itself instead of calling `decode`. Absent for anything else.
   */
  integer?: { size: 1 | 2 | 4 | 8; signed: boolean };
  /** The text is a C string: the field's bytes up to the first NUL, as UTF-8 (BTF char arrays). */
  cString?: boolean;
}

/**
 * When the rows of a plan that is not `uniqueRows` are still distinct series: if every key is in
 * canonical form (C strings zero after their NUL, bools 0 or 1, bytes no label reads zero), its
 * default labels tell every key apart, and a kernel map's keys are distinct. Checked per scrape,
 * row by row, before choosing to skip summing.
 */
export interface DistinctWhen {
  nulPadded: Slice[];
  bools: Slice[];
  zero: Slice[];
}

export interface NumberPlan {
  slice: Slice;
  signed: boolean;
}

export interface MetricPlan {
  config: MetricConfig;
  labels: LabelPlan[];
  value: NumberPlan;
  /** Histograms: where the bucket index is, and the buckets. */
  bucket?: NumberPlan;
  layout?: BucketLayout;
  valueSize: number;
  perCpu: boolean;
  /** `perCpu: true`: each CPU's slot is a series of its own with a `cpu` label, not summed. */
  cpuLabel: boolean;
  /**
   * The flat spec's rule: a read whose only row has an all-zero key (the usual single counter)
   * is served without its `key` label.
   */
  unlabelledZeroKey: boolean;
  /**
   * Every row gives a series of its own (the labels are injective and cover every key byte, no
   * histogram): the scrape can skip summing rows with equal labels.
   */
  uniqueRows: boolean;
  /** Set when rows in canonical form are distinct series (see DistinctWhen); absent for uniqueRows plans. */
  distinctWhen?: DistinctWhen;
}

type Source = { slice: Slice; type?: BtfType };

/** Value sizes the flat spec can export: the C integer types. */
const INTEGER_SIZES: ReadonlySet<number> = new Set([1, 2, 4, 8]);

/** A label decoded by the defaults: BTF's when the type is known, else by size. */
function defaultLabel(name: string, slice: Slice, type: BtfType | undefined): LabelPlan {
  // Injective: decimal or hex of every byte. Not: bools (any non-zero is "true") and arrays
  // (a char array's text ends at its first NUL). Enumerator names are distinct identifiers.
  const injective = !type || type.kind === "enum" || (type.kind === "int" ? !type.bool : type.kind !== "array");
  const decimal = type ? type.kind === "int" && !type.bool && isInteger(type) : true;
  const size = type ? type.size : slice.size;
  const integer =
    decimal && (size === 1 || size === 2 || size === 4 || size === 8)
      ? { size: size as 1 | 2 | 4 | 8, signed: type?.kind === "int" && type.signed }
      : undefined;
  return {
    name,
    slice,
    decode: type ? defaultDecode(type) : sizedDecode(slice.size),
    decodeAt: type ? defaultDecodeAt(type) : sizedDecodeAt(slice.size),
    injective,
    // Numbers, hex and enumerator names are plain; only char arrays carry arbitrary text.
    needsEscape: type?.kind === "array",
    integer,
    ...(type && isCharArray(type) ? { cString: true } : {}),
  };
}

/** Whether the labels' slices together cover every byte of a `keySize`-byte key. */
function coversKey(labels: readonly LabelPlan[], keySize: number): boolean {
  return uncovered(labels, keySize).length === 0;
}

/** The ranges of a `keySize`-byte key that no label reads. */
function uncovered(labels: readonly LabelPlan[], keySize: number): Slice[] {
  const covered = new Uint8Array(keySize);
  for (const { slice } of labels) covered.fill(1, slice.offset, Math.min(keySize, slice.offset + slice.size));
  const gaps: Slice[] = [];
  for (let i = 0; i < keySize; i++) {
    if (covered[i] === 1) continue;
    const last = gaps[gaps.length - 1];
    if (last && last.offset + last.size === i) last.size++;
    else gaps.push({ offset: i, size: 1 });
  }
  return gaps;
}

/** How a label's text relates to its bytes, for DistinctWhen. */
type LabelBytes = "injective" | "cString" | "bool" | "hex" | "decoded";

function labelBytes(label: LabelPlan, type: BtfType | undefined, decoded: boolean): LabelBytes {
  if (decoded) return "decoded";
  if (label.injective) return "injective";
  if (label.cString) return "cString";
  if (type?.kind === "int" && type.bool && type.size === 1) return "bool";
  // Other arrays print every byte in hex (defaultDecode): injective too.
  if (type?.kind === "array") return "hex";
  return "decoded";
}

/**
 * DistinctWhen of labels: injective and hex ones need no check, C strings must be zero after
 * their NUL, 1-byte bools 0 or 1, unread bytes zero; decoders (or wider bools): undefined.
 */
function distinctWhen(labels: readonly LabelPlan[], kinds: readonly LabelBytes[], keySize: number): DistinctWhen | undefined {
  const when: DistinctWhen = { nulPadded: [], bools: [], zero: uncovered(labels, keySize) };
  for (let i = 0; i < labels.length; i++) {
    const kind = kinds[i]!;
    if (kind === "decoded") return undefined;
    if (kind === "cString") when.nulPadded.push(labels[i]!.slice);
    if (kind === "bool") when.bools.push(labels[i]!.slice);
  }
  return when;
}

/** Builds the plan of a metric; throws a coded error naming the field. */
export function buildMetricPlan(config: MetricConfig, map: MapView, decoders: DecoderRegistry, ref: ResourceRef): MetricPlan {
  if (config.flat) return flatPlan(config, map, ref);
  const { spec } = config;
  const at = config.field;
  const fail = (field: string, message: string): never => {
    throw operatorError("EOP_ERR_METRIC_INVALID", `${field} of EbpfMap "${ref.namespace}/${ref.name}": ${message}`);
  };
  const info = map.info;
  const keyType = map.describeKey();
  const keyStruct = keyType?.kind === "struct" ? keyType : undefined;
  const histogram = config.type === "histogram";

  const labels: LabelPlan[] = [];
  const kinds: LabelBytes[] = [];
  const push = (label: LabelPlan, type: BtfType | undefined, decoded = false): void => {
    labels.push(label);
    kinds.push(labelBytes(label, type, decoded));
  };
  let bucketSource: Source | undefined;

  const configured = spec.labels ?? [];
  if (configured.length === 0) {
    if (keyStruct) {
      const members = keyStruct.members;
      const labelMembers = histogram ? members.slice(0, -1) : members;
      if (histogram) bucketSource = memberSource(members[members.length - 1]);
      for (const member of labelMembers) {
        const problem = labelNameProblem(member.name, histogram);
        if (problem) fail(`${at}.labels`, `key member "${member.name}" of struct ${keyStruct.name} ${problem}; list ${at}.labels to name the labels yourself`);
        if (member.bitSize > 0) fail(`${at}.labels`, `key member "${member.name}" is a bit field, which cannot be a label`);
        push(defaultLabel(member.name, { offset: member.offset, size: member.type.size }, member.type), member.type);
      }
    } else if (histogram) {
      bucketSource = { slice: { offset: 0, size: info.keySize }, type: keyType };
    } else if (info.maxEntries > 1) {
      push(defaultLabel("key", { offset: 0, size: info.keySize }, keyType), keyType);
    }
  } else {
    const sources = labelSources(configured, at, keyType, info.keySize, fail);
    configured.forEach((label, j) => {
      const source = sources[j]!;
      if (histogram && j === configured.length - 1) {
        if (label.decoders?.length) fail(`${at}.labels[${j}].decoders`, "the last label of a histogram is the bucket index: it takes no decoders");
        bucketSource = source;
        return;
      }
      // Checked here too, for a spec that skipped validation: the label pod is the agent's value.
      const podProblem = podLabelProblem(label, true);
      if (podProblem) fail(`${at}.labels[${j}].${podProblem.field}`, podProblem.message);
      const chain = label.decoders?.length ? decoders.chain(label.decoders, `${at}.labels[${j}].decoders`) : undefined;
      if (!chain) push(defaultLabel(label.name, source.slice, source.type), source.type);
      else push({ name: label.name, slice: source.slice, decode: (bytes) => runChain(chain, bytes), injective: false, needsEscape: true }, source.type, true);
    });
  }

  let bucket: NumberPlan | undefined;
  if (histogram) {
    const where = configured.length > 0 ? `${at}.labels[${configured.length - 1}]` : `${at}.labels`;
    const integral = bucketSource && (bucketSource.type ? isInteger(bucketSource.type) : bucketSource.slice.size >= 1 && bucketSource.slice.size <= 8);
    if (!bucketSource || !integral) {
      const what = bucketSource?.type ? typeName(bucketSource.type) : bucketSource ? `${bucketSource.slice.size} bytes` : "nothing";
      fail(
        where,
        `a histogram needs an integer bucket index as the last key field (or last label), but it is ${what}${keyStruct ? ` (key members: ${memberList(keyStruct.members)})` : ""}`,
      );
    }
    bucket = { slice: bucketSource!.slice, signed: isSigned(bucketSource!.type) };
  }

  const cpuLabel = spec.perCpu === true;
  if (cpuLabel) {
    if (!map.isPerCpu)
      fail(`${at}.perCpu`, `map "${spec.map}" is a ${info.type} map, not a per-CPU one (percpu_hash, percpu_array, lru_percpu_hash): it has no CPUs to label`);
    const clash = labels.find((l) => l.name === CPU_LABEL);
    if (clash) fail(`${at}.perCpu`, `the key already gives a label "${CPU_LABEL}" (the one perCpu adds); list ${at}.labels to rename it`);
  }

  const value = valuePlan(spec, at, map, fail);
  const uniqueRows = !histogram && labels.every((l) => l.injective) && coversKey(labels, info.keySize);
  return {
    config,
    labels,
    value,
    bucket,
    layout: histogram ? bucketLayout(spec.histogram!) : undefined,
    valueSize: info.valueSize,
    perCpu: map.isPerCpu,
    cpuLabel,
    unlabelledZeroKey: false,
    uniqueRows,
    ...(!histogram && !uniqueRows ? { distinctWhen: distinctWhen(labels, kinds, info.keySize) } : {}),
  };
}

/**
 * The flat spec's metric: each entry's value (an unsigned integer, summed over CPUs) is one
 * sample; the key, cut by size (BTF is not consulted), is the `key` label: decimal for 1-, 2-,
 * 4- and 8-byte keys, hex otherwise. A single-entry map has no `key` label, nor has a read whose
 * only row is key 0 (unlabelledZeroKey).
 */
function flatPlan(config: MetricConfig, map: MapView, ref: ResourceRef): MetricPlan {
  const info = map.info;
  if (!INTEGER_SIZES.has(info.valueSize)) {
    throw operatorError(
      "EOP_ERR_MAP_VALUE_UNSUPPORTED",
      `map "${config.map}" of EbpfMap "${ref.namespace}/${ref.name}" has ${info.valueSize}-byte values; the flat spec exports 1-, 2-, 4- or 8-byte integers (a u64 counter, say)`,
    );
  }
  const labels = info.maxEntries === 1 ? [] : [defaultLabel("key", { offset: 0, size: info.keySize }, undefined)];
  return {
    config,
    labels,
    value: { slice: { offset: 0, size: info.valueSize }, signed: false },
    valueSize: info.valueSize,
    perCpu: map.isPerCpu,
    cpuLabel: false,
    unlabelledZeroKey: labels.length > 0,
    uniqueRows: true,
  };
}

function memberSource(member: BtfMember | undefined): Source | undefined {
  if (!member) return undefined;
  return { slice: { offset: member.offset, size: member.type.size }, type: member.type };
}

/** Why a name cannot be a label, or undefined. */
function labelNameProblem(name: string, histogram: boolean): string | undefined {
  if (!isValidLabelName(name)) return "is not a valid Prometheus label name";
  const reserved = reservedLabelReason(name);
  if (reserved) return `is reserved (${reserved})`;
  if (histogram && name === "le") return "is reserved for histogram buckets";
  return undefined;
}

function labelSources(
  configured: readonly LabelSpec[],
  at: string,
  keyType: BtfType | undefined,
  keySize: number,
  fail: (field: string, message: string) => never,
): Source[] {
  if (configured[0]?.size !== undefined) {
    // Cut by size, in order; the key type is not consulted.
    let offset = 0;
    const sources = configured.map((label) => {
      const slice = { offset, size: label.size! };
      offset += label.size! + (label.padding ?? 0);
      return { slice };
    });
    const last = sources[sources.length - 1]!.slice;
    if (last.offset + last.size > keySize) fail(`${at}.labels`, `the labels need ${last.offset + last.size} bytes but the key has ${keySize}`);
    return sources;
  }
  if (keyType?.kind !== "struct") {
    // One label over a scalar key: the whole key.
    if (configured.length === 1 && configured[0]!.field === undefined) return [{ slice: { offset: 0, size: keySize }, type: keyType }];
    const what = keyType ? `is ${typeName(keyType)}, not a struct` : "has no BTF type information";
    return fail(`${at}.labels`, `the map's key ${what}, so labels cannot be taken from members; cut them by size instead`);
  }
  return configured.map((label, j) => {
    const name = label.field ?? label.name;
    const member = keyType.members.find((m) => m.name === name);
    const field = `${at}.labels[${j}].${label.field !== undefined ? "field" : "name"}`;
    if (!member) return fail(field, `the key struct ${keyType.name} has no member "${name}" (members: ${memberList(keyType.members)})`);
    if (member.bitSize > 0) return fail(field, `key member "${name}" is a bit field, which cannot be a label`);
    return memberSource(member)!;
  });
}

function valuePlan(spec: MetricSpec, at: string, map: MapView, fail: (field: string, message: string) => never): NumberPlan {
  const valueType = map.describeValue();
  const valueSize = map.info.valueSize;
  const fieldName = spec.value?.field;
  if (fieldName !== undefined) {
    if (valueType?.kind !== "struct")
      return fail(`${at}.value.field`, `the map's value ${valueType ? `is ${typeName(valueType)}, not a struct` : "has no BTF type information"}`);
    const member = valueType.members.find((m) => m.name === fieldName);
    if (!member)
      return fail(`${at}.value.field`, `the value struct ${valueType.name} has no member "${fieldName}" (members: ${memberList(valueType.members)})`);
    if (!isInteger(member.type) || member.bitSize > 0)
      return fail(`${at}.value.field`, `value member "${fieldName}" is ${typeName(member.type)}; a 1-, 2-, 4- or 8-byte integer is needed`);
    return { slice: { offset: member.offset, size: member.type.size }, signed: isSigned(member.type) };
  }
  if (valueType?.kind === "struct")
    return fail(`${at}.value.field`, `the map's value is struct ${valueType.name}: name the member to export (members: ${memberList(valueType.members)})`);
  if (valueType ? !isInteger(valueType) : ![1, 2, 4, 8].includes(valueSize)) {
    throw operatorError(
      "EOP_ERR_MAP_VALUE_UNSUPPORTED",
      `${at}.map: the values of map "${spec.map}" are ${valueType ? typeName(valueType) : `${valueSize} bytes`}; a 1-, 2-, 4- or 8-byte integer (or a struct with value.field) is needed`,
    );
  }
  return { slice: { offset: 0, size: valueSize }, signed: isSigned(valueType) };
}
