// Pure helpers over a gallery's ordered id lists.

/**
 * The list after an undo or redo: `fresh` (what the filter matches now, in gallery order) with
 * the ids of `current` that no longer match kept where they were, so images labeled in the
 * Unlabeled view do not vanish because some other change was undone. Ids only in `fresh` (an
 * undone removal) are placed before the next id both lists share.
 */
export function mergeIds(current: readonly number[], fresh: readonly number[]): number[] {
  const at = new Map(fresh.map((id, i) => [id, i]));
  const out: number[] = [];
  const seen = new Set<number>();
  const push = (id: number) => {
    if (seen.has(id)) return;
    seen.add(id);
    out.push(id);
  };
  let next = 0; // the first id of `fresh` not yet placed
  for (const id of current) {
    const i = at.get(id);
    if (i === undefined) push(id);
    else for (; next <= i; next++) push(fresh[next]);
  }
  for (; next < fresh.length; next++) push(fresh[next]);
  return out;
}
