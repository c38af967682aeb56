/**
 * Deterministic pseudo-random inputs for the conformance suite: the same seed gives the same
 * inputs on every run and machine, so a failure found once can be replayed.
 */

/** mulberry32: a tiny, well-mixed 32-bit PRNG; returns numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Decoder inputs: the edge cases first (empty, the key sizes 1/2/4/8/16 of zeros and 0xff,
 * decimal text such as `uint` produces, text that is not decimal), then random byte strings of
 * 0-32 bytes, half of them random decimal text (what a chain after `uint`/`int` passes on).
 */
export function decoderInputs(count: number, seed: number): Buffer[] {
  const random = seededRandom(seed);
  const fixed = [
    Buffer.alloc(0),
    ...[1, 2, 4, 8, 16].flatMap((n) => [Buffer.alloc(n), Buffer.alloc(n, 0xff)]),
    ...["0", "1", "17", "-1", "4294967295", "18446744073709551615", "-9223372036854775808", "99999999999999999999999"].map((s) => Buffer.from(s)),
    Buffer.from("unknown:0x00"),
    Buffer.from([0xc3, 0x28]), // invalid UTF-8
  ];
  const inputs = fixed.slice(0, count);
  while (inputs.length < count) {
    const length = Math.floor(random() * 33);
    if (random() < 0.5) {
      const digits = Array.from({ length: Math.max(1, length % 21) }, () => String(Math.floor(random() * 10))).join("");
      inputs.push(Buffer.from(random() < 0.2 ? `-${digits}` : digits));
    } else {
      inputs.push(Buffer.from(Array.from({ length }, () => Math.floor(random() * 256))));
    }
  }
  return inputs;
}

const MUTATION_CHARACTERS = ["", " ", "/", ":", "+", "?", "=", ",", "*", ".", "..", "-", "0x", "\n", "\0", "é", "%", "a", "Z", "9", "_"];

/**
 * Malformed targets near the valid ones: characters deleted, inserted, replaced, or the target
 * cut short. parseTarget must answer each with a value or a PluginTargetError.
 */
export function targetMutations(valid: readonly string[], count: number, seed: number): string[] {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const out = new Set<string>();
  for (let attempt = 0; out.size < count && attempt < count * 10 && valid.length > 0; attempt++) {
    const base = pick(valid);
    const at = Math.floor(random() * (base.length + 1));
    const mutation = Math.floor(random() * 4);
    let mutant: string;
    if (mutation === 0) mutant = base.slice(0, at) + base.slice(at + 1);
    else if (mutation === 1) mutant = base.slice(0, at) + pick(MUTATION_CHARACTERS) + base.slice(at);
    else if (mutation === 2) mutant = base.slice(0, at) + pick(MUTATION_CHARACTERS) + base.slice(at + 1);
    else mutant = base.slice(0, at);
    if (!valid.includes(mutant)) out.add(mutant);
  }
  return [...out];
}

const PUMP_CHARACTERS = ["a", "0", "/", ".", "-", ":"];
const PUMP_SUFFIXES = ["!", " ", ":", "\0"];

/**
 * Families of ever longer targets, for catching catastrophic backtracking: a run of one
 * character pumped into a valid target (at its end and its middle), then a character that
 * makes the match fail. Each family grows by 2 characters up to 64; the caller stops a family
 * at its first slow answer, before the exponential growth gets expensive.
 */
export function pumpedTargetFamilies(valid: readonly string[]): string[][] {
  const families: string[][] = [];
  for (const base of valid) {
    for (const at of new Set([base.length, Math.floor(base.length / 2)])) {
      for (const pump of PUMP_CHARACTERS) {
        for (const suffix of PUMP_SUFFIXES) {
          const family: string[] = [];
          for (let run = 2; run <= 64; run += 2) family.push(`${base.slice(0, at)}${pump.repeat(run)}${base.slice(at)}${suffix}`);
          families.push(family);
        }
      }
    }
  }
  return families;
}
