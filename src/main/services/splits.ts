// Train/validation/test assignment: stratified (each class, and the unlabeled images, is its own
// stratum), seeded by a per-project seed (reproducible for a project, different between
// projects), and stable: images that have a split keep it; new images are assigned so that each
// stratum's automatically split images stay as close to the ratios as whole numbers allow.
// Images placed by split folders (or by hand) are not counted: they are the user's choice.

import { createHash, randomBytes } from 'node:crypto';
import { SPLITS, type Split } from '../../shared/types';
import type { DB } from '../store/database';
import { addSplitSeed, autoSplitRows, splitRatiosValue, splitSeedValue, writeSplitSeed } from './records';

export type SplitCounts = Record<Split, number>;
export type SplitRatios = Record<Split, number>;

export const DEFAULT_SPLIT_RATIOS: SplitRatios = { train: 0.8, val: 0.1, test: 0.1 };

export const emptyCounts = (): SplitCounts => ({ train: 0, val: 0, test: 0 });

/**
 * How many of `n` new images go to each split, so that `existing` plus them is as close to
 * `ratios` as possible without moving an existing image (largest remainder; ties go to the split
 * listed first).
 */
export function splitQuotas(n: number, existing: SplitCounts, ratios: SplitRatios = DEFAULT_SPLIT_RATIOS): SplitCounts {
  const quotas = emptyCounts();
  if (n <= 0) return quotas;
  const ratioSum = SPLITS.reduce((a, s) => a + ratios[s], 0);
  const total = n + SPLITS.reduce((a, s) => a + existing[s], 0);
  // What each split lacks; splits already over their share get nothing.
  const lack = SPLITS.map((s) => Math.max(0, (total * ratios[s]) / ratioSum - existing[s]));
  const lackSum = lack.reduce((a, b) => a + b, 0);
  const exact = lack.map((l) => (lackSum > 0 ? (l * n) / lackSum : n / SPLITS.length));
  const floors = exact.map(Math.floor);
  let left = n - floors.reduce((a, b) => a + b, 0);
  const byRemainder = SPLITS.map((_, i) => i).sort((a, b) => exact[b] - floors[b] - (exact[a] - floors[a]) || a - b);
  for (const i of byRemainder) {
    if (left === 0) break;
    floors[i] += 1;
    left -= 1;
  }
  SPLITS.forEach((s, i) => (quotas[s] = floors[i]));
  return quotas;
}

/** A pseudo-random but reproducible order key for an image (by content hash) under a seed. */
export function seededKey(seed: string, hash: string): string {
  return createHash('sha256').update(seed).update('\0').update(hash).digest('hex');
}

export interface SplitCandidate {
  /** The image's content hash: what makes the order reproducible. */
  hash: string;
  stratum: string;
}

/**
 * Assigns each candidate a split, stratum by stratum, against the counts already in each stratum
 * (updated in place, so consecutive calls keep balancing). The same seed, candidates and counts
 * always give the same answer.
 */
export function assignSplits(
  candidates: readonly SplitCandidate[],
  counts: Map<string, SplitCounts>,
  seed: string,
  ratios: SplitRatios = DEFAULT_SPLIT_RATIOS,
): Map<string, Split> {
  const byStratum = new Map<string, SplitCandidate[]>();
  for (const c of candidates) {
    const list = byStratum.get(c.stratum);
    if (list) list.push(c);
    else byStratum.set(c.stratum, [c]);
  }
  const out = new Map<string, Split>();
  for (const [stratum, list] of byStratum) {
    const existing = counts.get(stratum) ?? emptyCounts();
    const quotas = splitQuotas(list.length, existing, ratios);
    const ordered = list.map((c) => ({ c, key: seededKey(seed, c.hash) })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    let i = 0;
    for (const split of SPLITS) {
      for (let k = 0; k < quotas[split]; k++) out.set(ordered[i++].c.hash, split);
      existing[split] += quotas[split];
    }
    counts.set(stratum, existing);
  }
  return out;
}

export const UNLABELED_STRATUM = 'unlabeled';
export const stratumOf = (classId: number | null): string => (classId === null ? UNLABELED_STRATUM : `class:${classId}`);

/** Per stratum, how many live, automatically split images each split holds. */
export function autoSplitCounts(db: DB): Map<string, SplitCounts> {
  const rows = autoSplitRows(db);
  const counts = new Map<string, SplitCounts>();
  for (const row of rows) {
    const key = stratumOf(row.classId);
    const c = counts.get(key) ?? emptyCounts();
    c[row.split] += row.n;
    counts.set(key, c);
  }
  return counts;
}

/** The project's split seed (made on first use for projects that lack one). */
export function splitSeed(db: DB): string {
  const value = splitSeedValue(db);
  if (value !== undefined) return value;
  const seed = randomBytes(8).toString('hex');
  addSplitSeed(db, seed);
  return splitSeed(db);
}

export function setSplitSeed(db: DB, seed: string): void {
  writeSplitSeed(db, seed);
}

/** The project's split ratios (meta `split_ratios`, JSON), or 80/10/10. */
export function splitRatios(db: DB): SplitRatios {
  const value = splitRatiosValue(db);
  if (value === undefined) return { ...DEFAULT_SPLIT_RATIOS };
  try {
    const parsed = JSON.parse(value) as Partial<SplitRatios>;
    const ok = SPLITS.every((s) => typeof parsed[s] === 'number' && parsed[s]! >= 0) && SPLITS.some((s) => parsed[s]! > 0);
    return ok ? (parsed as SplitRatios) : { ...DEFAULT_SPLIT_RATIOS };
  } catch {
    return { ...DEFAULT_SPLIT_RATIOS };
  }
}

const SPLIT_FOLDERS: Record<string, Split> = {
  train: 'train',
  val: 'val',
  valid: 'val',
  validation: 'val',
  test: 'test',
};

/** The split a folder name stands for (`train`, `val`/`valid`/`validation`, `test`), if any. */
export function splitOfFolder(name: string): Split | null {
  return SPLIT_FOLDERS[name.toLowerCase()] ?? null;
}
