// The data doctor's checks of the data set's shape, from standardised backbone features
// (features/standardise.ts): images far from every class (outliers), and classes whose images
// fall into two groups far apart (a class that is really two). Both judge each class by its own
// spread, so a varied class ("other", "street") is not all outliers and a tight one's stray image
// is still found. The dot products run through FeatureMatrix (onnxruntime's MatMul): on 60,000
// images of 1,024 features, plain loops took tens of seconds.

import { FeatureMatrix } from '../features/matrix';

export interface FeatureItem {
  /** Index into the caller's list, kept in the findings. */
  index: number;
  classId: number | null;
  /** Standardised, unit length. */
  vector: Float32Array;
}

/** A class is judged only with at least this many images with features. */
export const MIN_CLASS = 8;
/** Outlier: its similarity to the nearest class mode this many robust deviations below the project's median. */
export const OUTLIER_Z = 4;
/** Modes per class: at most MODES, one per MIN_PER_MODE images; a mode holding fewer than MIN_MODE images is dropped (strays do not make a mode). */
export const MODES = 8;
export const MIN_PER_MODE = 8;
export const MIN_MODE = 3;
/** Class in two: the split explains at least this share of the class's spread, and its smaller group holds at least MIN_GROUP of it. */
export const SPLIT_SHARE = 0.3;
export const MIN_GROUP = 0.15;
const KMEANS_ROUNDS = 20;

const clamp01 = (x: number) => Math.max(0, Math.min(1, x));

function median(values: ArrayLike<number>): number {
  const s = Float64Array.from(values).sort();
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The mean of some vectors (not normalised), and its squared length. */
function meanOf(vectors: Float32Array[], dim: number): { mean: Float32Array; norm2: number } {
  const mean = new Float32Array(dim);
  for (const v of vectors) for (let i = 0; i < dim; i++) mean[i] += v[i];
  let norm2 = 0;
  for (let i = 0; i < dim; i++) {
    mean[i] /= Math.max(1, vectors.length);
    norm2 += mean[i] * mean[i];
  }
  return { mean, norm2 };
}

const unit = (v: Float32Array) => {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n) || 1;
  return v.map((x) => x / n);
};

function byClass(items: FeatureItem[]): Map<number, FeatureItem[]> {
  const classes = new Map<number, FeatureItem[]>();
  for (const it of items) {
    if (it.classId === null) continue;
    const list = classes.get(it.classId);
    if (list) list.push(it);
    else classes.set(it.classId, [it]);
  }
  return new Map([...classes].filter(([, members]) => members.length >= MIN_CLASS));
}

export interface OutlierFinding {
  index: number;
  /** 0..1: how far below the limit. */
  score: number;
  /** The class of the group it is least far from (null: unlabeled images'). */
  nearestClassId: number | null;
}

/**
 * Spherical k-means from the given centres: each row joins the centre it is most like, each
 * centre moves to its rows' mean direction, until nothing moves. A centre left without rows
 * stays where it was (its count says so).
 */
async function lloyd(matrix: FeatureMatrix, start: Float32Array[], rounds: number): Promise<{ side: Int32Array; centres: Float32Array[]; counts: number[] }> {
  const k = start.length;
  const dim = matrix.dim;
  let centres = start.map((c) => c.slice());
  let side = new Int32Array(matrix.rows).fill(-1);
  let counts = centres.map(() => 0);
  for (let round = 0; round < rounds; round++) {
    const queries = new Float32Array(k * dim);
    centres.forEach((c, j) => queries.set(c, j * dim));
    const s = await matrix.scores(queries);
    const next = new Int32Array(matrix.rows);
    for (let r = 0; r < matrix.rows; r++) {
      let best = 0;
      for (let j = 1; j < k; j++) if (s[r * k + j] > s[r * k + best]) best = j;
      next[r] = best;
    }
    const moved = next.some((v, r) => v !== side[r]);
    side = next;
    const sums = centres.map(() => new Float32Array(dim));
    counts = centres.map(() => 0);
    for (let r = 0; r < matrix.rows; r++) {
      const v = matrix.row(r);
      const sum = sums[side[r]];
      for (let i = 0; i < dim; i++) sum[i] += v[i];
      counts[side[r]] += 1;
    }
    centres = centres.map((c, j) => (counts[j] > 0 ? unit(sums[j]) : c));
    if (!moved) break;
  }
  return { side, centres, counts };
}

/** A class's modes: up to MODES centres (one per MIN_PER_MODE images), started from evenly spaced members; a mode of a few strays is dropped. */
async function modesOf(members: FeatureItem[], dim: number): Promise<Float32Array[]> {
  const k = Math.max(1, Math.min(MODES, Math.floor(members.length / MIN_PER_MODE)));
  const matrix = FeatureMatrix.of(members.map((m) => m.vector), dim);
  const start = Array.from({ length: k }, (_, j) => matrix.row(Math.floor(((j + 0.5) * members.length) / k)));
  const { centres, counts } = await lloyd(matrix, start, KMEANS_ROUNDS);
  return centres.filter((_, j) => counts[j] >= MIN_MODE);
}

/**
 * Images far from every class: less like the nearest of every class's modes (a few k-means
 * centres per class, so a varied class or a class in two is judged by each of its groups) than
 * nearly all images are, by OUTLIER_Z robust deviations below the project's median. Unlabeled
 * images form a group of their own; an image of a class too small to be judged is not judged.
 */
export async function outliers(items: FeatureItem[], z = OUTLIER_Z): Promise<OutlierFinding[]> {
  if (items.length < MIN_CLASS) return [];
  const dim = items[0].vector.length;
  const groups: [number | null, FeatureItem[]][] = [...byClass(items)];
  const unlabeled = items.filter((it) => it.classId === null);
  if (unlabeled.length >= MIN_CLASS) groups.push([null, unlabeled]);
  const judged = new Set(groups.map(([id]) => id));
  const centres: Float32Array[] = [];
  const owner: (number | null)[] = [];
  for (const [id, members] of groups) {
    for (const c of await modesOf(members, dim)) {
      centres.push(c);
      owner.push(id);
    }
  }
  if (centres.length === 0) return [];
  const matrix = FeatureMatrix.of(items.map((it) => it.vector), dim);
  const queries = new Float32Array(centres.length * dim);
  centres.forEach((c, j) => queries.set(c, j * dim));
  const scores = await matrix.scores(queries);
  const C = centres.length;
  const best = new Float64Array(items.length);
  const nearest = new Int32Array(items.length);
  for (let r = 0; r < items.length; r++) {
    let b = 0;
    for (let j = 1; j < C; j++) if (scores[r * C + j] > scores[r * C + b]) b = j;
    best[r] = scores[r * C + b];
    nearest[r] = b;
  }
  const mid = median(best);
  const spread = 1.4826 * median(Array.from(best, (s) => Math.abs(s - mid))) || 1e-3;
  const limit = mid - z * spread;
  const found: OutlierFinding[] = [];
  items.forEach((it, r) => {
    if (!judged.has(it.classId)) return;
    if (best[r] < limit) found.push({ index: it.index, score: clamp01((limit - best[r]) / (z * spread)), nearestClassId: owner[nearest[r]] });
  });
  return found;
}

export interface ClassSplit {
  classId: number;
  /** The smaller group's indexes (most typical first), and the larger group's size. */
  smaller: number[];
  larger: number;
  /** Share of the class's spread the split explains (0..1). */
  share: number;
}

/**
 * Classes whose images fall into two groups far apart: spherical 2-means on each class's
 * features (started from its least typical image and the image least like that one); the
 * split counts where it explains at least SPLIT_SHARE of the class's spread (the squared
 * distances to the centre; on unit vectors 1 - |mean|^2 per image) and the smaller group is
 * not a handful of strays (those are outliers).
 */
export async function classesInTwo(items: FeatureItem[], minShare = SPLIT_SHARE): Promise<ClassSplit[]> {
  if (items.length === 0) return [];
  const dim = items[0].vector.length;
  const out: ClassSplit[] = [];
  for (const [classId, members] of byClass(items)) {
    if (members.length < 2 * MIN_CLASS) continue;
    const matrix = FeatureMatrix.of(members.map((m) => m.vector), dim);
    const whole = meanOf(members.map((m) => m.vector), dim);
    const total = members.length * (1 - whole.norm2);
    if (total <= 1e-9) continue;
    const atypical = (await matrix.nearest(unit(whole.mean).map((x) => -x), 1))[0].row;
    const other = (await matrix.nearest(matrix.row(atypical).map((x) => -x), 1))[0].row;
    const { side } = await lloyd(matrix, [matrix.row(atypical), matrix.row(other)], KMEANS_ROUNDS);
    const groups = [0, 1].map((g) => members.flatMap((m, r) => (side[r] === g ? [{ m, r }] : [])));
    const within = groups.reduce((w, g) => w + g.length * (1 - meanOf(g.map((x) => x.m.vector), dim).norm2), 0);
    const share = 1 - within / total;
    const [small, large] = groups[0].length <= groups[1].length ? [groups[0], groups[1]] : [groups[1], groups[0]];
    if (share < minShare || small.length < MIN_GROUP * members.length) continue;
    const centre = unit(meanOf(small.map((x) => x.m.vector), dim).mean);
    const typical = (x: { m: FeatureItem }) => x.m.vector.reduce((s, v, i) => s + v * centre[i], 0);
    const smaller = small
      .map((x) => ({ index: x.m.index, t: typical(x) }))
      .sort((a, b) => b.t - a.t)
      .map((x) => x.index);
    out.push({ classId, smaller, larger: large.length, share });
  }
  return out;
}
