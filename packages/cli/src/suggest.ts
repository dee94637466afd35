/**
 * "Did you mean": the commands and options closest to what was typed. clipanion's own candidates
 * are every command sharing a prefix, which says nothing for a typo, so swarm ranks by edit
 * distance itself.
 */

/** Edits (insert, delete, substitute, swap two neighbours) turning a into b. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j += 1) d[0]![j] = j;
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The distance of a typed word to a real one, or undefined when they are not close. */
function wordDistance(typed: string, real: string): number | undefined {
  if (typed === real) return 0;
  // A prefix (`stat` for `status`) is close, but not as close as the word itself.
  if (typed.length >= 2 && real.startsWith(typed)) return 0.5;
  const d = editDistance(typed.toLowerCase(), real);
  if (d === 1 && real.length >= 3) return d;
  // Two edits only in a longer word that starts the same: `lanch` is not `branch`, nor `foo` `fork`.
  if (d === 2 && real.length >= 6 && typed[0] === real[0]) return d;
  return undefined;
}

/**
 * The command paths closest to the typed words. A path longer than the words counts as a
 * completion (`run` → every `run …` command); a lone word may also name a sub-command without
 * its group (`lanch` → `run launch`).
 */
export function suggestCommands(words: string[], paths: string[][], limit = 10): string[][] {
  const scored: Array<{ path: string[]; score: number }> = [];
  for (const path of paths) {
    if (path.length === 0 || words.length === 0) continue;
    let score: number | undefined = 0;
    for (let i = 0; i < Math.min(words.length, path.length) && score !== undefined; i += 1) {
      const d = wordDistance(words[i]!, path[i]!);
      score = d === undefined ? undefined : score + d;
    }
    if (score === undefined && words.length === 1 && path.length > 1) {
      const d = wordDistance(words[0]!, path[path.length - 1]!);
      if (d !== undefined) score = d + 1;
    }
    if (score !== undefined) scored.push({ path, score });
  }
  if (scored.length === 0) return [];
  const best = Math.min(...scored.map((s) => s.score));
  return scored
    .filter((s) => s.score === best)
    .sort((a, b) => a.path.join(' ').localeCompare(b.path.join(' ')))
    .slice(0, limit)
    .map((s) => s.path);
}

/** The option names closest to a typed one (`--alow-host` → `--allow-host`). */
export function suggestOptions(typed: string, names: string[], limit = 5): string[] {
  const bare = (name: string) => name.replace(/^-+/, '');
  const scored = names.flatMap((name) => {
    const d = wordDistance(bare(typed), bare(name));
    return d === undefined ? [] : [{ name, d }];
  });
  if (scored.length === 0) return [];
  const best = Math.min(...scored.map((s) => s.d));
  return [...new Set(scored.filter((s) => s.d === best).map((s) => s.name))].sort().slice(0, limit);
}
