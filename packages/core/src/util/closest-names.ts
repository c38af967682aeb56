/**
 * "Did you mean" suggestions: the candidates nearest to a mistyped name by edit distance, with
 * names containing it (or contained in it) ranked first.
 */
export function closestNames(wanted: string, candidates: readonly string[], limit = 3): string[] {
  const scored = candidates.map((candidate) => {
    const contains = candidate.includes(wanted) || wanted.includes(candidate);
    return { candidate, score: editDistance(wanted, candidate) - (contains ? 100 : 0) };
  });
  const threshold = Math.max(3, Math.floor(wanted.length / 2));
  return scored
    .filter((s) => s.score <= threshold)
    .sort((a, b) => a.score - b.score || a.candidate.localeCompare(b.candidate))
    .slice(0, limit)
    .map((s) => s.candidate);
}

/** Levenshtein distance, two rows. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
