// Near-duplicates: the same picture re-encoded, resized, brightened, cropped a little or mirrored.
// The perceptual hash finds the first four alone (a few bits apart; a mirrored copy matches the
// mirror image's hash). A crop moves the picture under the hash's grid, so a cropped copy lies
// further off, among unrelated images of the same layout; there the backbone's features decide,
// where the project has them cached. The features are standardised over the project (each
// dimension to mean 0 and unit spread, then to unit length) before their cosine is taken: raw
// pooled ReLU features of any two photos are alike (cosine 0.9 and more on CIFAR-10), the
// standardised ones are not. Pairs join into groups (a copy of a copy is one finding); a group
// whose images sit in different splits is a leak.
//
// The limits were set on bench:doctor's CIFAR-10 subset (MobileNet v1 at 128 px): its cropped
// copies lie 10 to 20 bits from their original with a standardised cosine of 0.75 to 0.91;
// unrelated pairs within 20 bits reach 0.75 for 15 of 3,100 images (within 24 bits, ten times as
// many pairs are compared and 17 images reach it); half-size copies lie 2 to 12
// bits off but at 0.3 to 0.75 (blur changes what the backbone sees), so features never veto a
// close hash match, and only a contradicting one (below 0.5) vetoes a match at the hash's limit.

import { closeHashPairs } from './close-hashes';
import { closePairs } from './close-pairs';
import { hamming } from './image-stats';

/** Hash bits (of 64) within which two images are near-duplicates on the hash alone. */
export const HASH_ALONE = 6;
/** Hash bits within which two images are near-duplicates unless their features contradict it. */
export const HASH_UNLESS_CONTRADICTED = 8;
export const CONTRADICTING_FEATURES = 0.5;
/** Hash bits within which two images are near-duplicates when their features agree. */
export const HASH_WITH_FEATURES = 20;
/** Standardised cosine similarity of backbone features that makes a pair within HASH_WITH_FEATURES bits near-duplicates. */
export const SAME_FEATURES = 0.75;

export interface HashedItem {
  /** Index into the caller's list, kept in the groups. */
  index: number;
  split: string;
  /** Standardised features (features/standardise.ts), where cached. */
  vector?: Float32Array;
}

export interface DuplicateGroup {
  /** Indexes of the group's items, in ascending order. */
  members: number[];
  /** The closest pair's similarity: the standardised cosine where features confirmed the pair, else 1 - bits/64. */
  similarity: number;
  crossSplit: boolean;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/**
 * Groups of near-duplicates among `items`, whose hashes are `words` (two 32-bit words per item)
 * and whose mirror images' hashes are `mirrorWords`. Exact: every pair that the rules below can
 * join is found (close-pairs.ts with features, close-hashes.ts without) and judged.
 */
export async function nearDuplicateGroups(
  items: HashedItem[],
  words: Int32Array,
  mirrorWords: Int32Array,
  options: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
): Promise<DuplicateGroup[]> {
  const { signal, onProgress } = options;
  const n = items.length;
  const parent = Int32Array.from({ length: n }, (_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]];
    return i;
  };
  const best = new Float64Array(n).fill(-1);
  const join = (i: number, j: number, similarity: number) => {
    const a = find(i);
    const b = find(j);
    const s = Math.max(best[a], best[b], similarity);
    parent[b] = a;
    best[a] = s;
  };
  const judge = (i: number, j: number) => {
    const d = Math.min(hamming(words, i, j), hamming(words, i, j, mirrorWords));
    const vi = items[i].vector;
    const vj = items[j].vector;
    const c = vi && vj ? cosine(vi, vj) : null;
    if (d <= HASH_ALONE || (d <= HASH_UNLESS_CONTRADICTED && (c === null || c >= CONTRADICTING_FEATURES))) join(i, j, 1 - d / 64);
    else if (c !== null && c >= SAME_FEATURES) join(i, j, c);
  };
  if (items.some((it) => it.vector)) {
    // Every pair within HASH_UNLESS_CONTRADICTED bits, and those within HASH_WITH_FEATURES
    // whose features may reach SAME_FEATURES (an exact bound: close-pairs.ts), reach here; each
    // is judged exactly.
    const vectors = items.map((it) => it.vector);
    await closePairs(words, mirrorWords, HASH_WITH_FEATURES, HASH_UNLESS_CONTRADICTED, { vectors, minCosine: SAME_FEATURES }, judge, { signal, onBlock: onProgress });
  } else {
    // Without features only a hash within HASH_UNLESS_CONTRADICTED bits can make a pair.
    await closeHashPairs(words, mirrorWords, HASH_UNLESS_CONTRADICTED, judge, { signal, onBlock: onProgress });
  }
  const groups = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const r = find(i);
    const members = groups.get(r);
    if (members) members.push(i);
    else groups.set(r, [i]);
  }
  return [...groups.entries()]
    .filter(([, members]) => members.length > 1)
    .map(([root, members]) => ({
      members: members.map((m) => items[m].index).sort((a, b) => a - b),
      similarity: best[root],
      crossSplit: new Set(members.map((m) => items[m].split)).size > 1,
    }));
}
