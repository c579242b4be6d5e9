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
/** Outlier: below every class's own limit, its members' median similarity to the class's centre less OUTLIER_Z robust deviations. */
export const OUTLIER_Z = 4;
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
  /** 0..1: how far below the nearest class's limit. */
  score: number;
  /** The class it is least far from, and its similarity to that class's centre. */
  nearestClassId: number | null;
}

/**
 * Images far from every class: less like each class's centre than nearly all of that class's
 * own images are. A class in two (`splits`) is two groups, each judged by its own centre: its
 * centre between them is like none of its images. A project without labeled classes is one class
 * (its images' centre).
 */
export async function outliers(items: FeatureItem[], splits: ClassSplit[] = []): Promise<OutlierFinding[]> {
  if (items.length < MIN_CLASS) return [];
  const dim = items[0].vector.length;
  let classes: [number, FeatureItem[]][] = [];
  for (const [id, members] of byClass(items)) {
    const split = splits.find((s) => s.classId === id);
    const smaller = new Set(split?.smaller);
    if (split) classes.push([id, members.filter((m) => smaller.has(m.index))], [id, members.filter((m) => !smaller.has(m.index))]);
    else classes.push([id, members]);
  }
  if (classes.length === 0) classes = [[-1, items]];
  const centres = classes.map(([, members]) => unit(meanOf(members.map((m) => m.vector), dim).mean));
  const matrix = FeatureMatrix.of(items.map((it) => it.vector), dim);
  const queries = new Float32Array(centres.length * dim);
  centres.forEach((c, k) => queries.set(c, k * dim));
  const scores = await matrix.scores(queries);
  const C = centres.length;
  const row = new Map(items.map((it, r) => [it.index, r]));
  // Each class's limit, from its own members' similarity to its centre.
  const limits = classes.map(([id, members], k) => {
    const own = members.map((m) => scores[row.get(m.index)! * C + k]);
    const mid = median(own);
    const spread = 1.4826 * median(own.map((s) => Math.abs(s - mid))) || 1e-3;
    return { id, limit: mid - OUTLIER_Z * spread, spread };
  });
  // An image of a class too small to be judged is not judged either: too few to know the class's look.
  const small = new Set(items.filter((it) => it.classId !== null).map((it) => it.classId));
  for (const [id] of classes) small.delete(id);
  const found: OutlierFinding[] = [];
  items.forEach((it, r) => {
    if (it.classId !== null && small.has(it.classId)) return;
    let closest = -Infinity;
    let nearest = 0;
    for (let k = 0; k < C; k++) {
      const past = (scores[r * C + k] - limits[k].limit) / limits[k].spread;
      if (past > closest) {
        closest = past;
        nearest = k;
      }
    }
    if (closest < 0) found.push({ index: it.index, score: clamp01(-closest / (2 * OUTLIER_Z)), nearestClassId: limits[nearest].id < 0 ? null : limits[nearest].id });
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
export async function classesInTwo(items: FeatureItem[]): Promise<ClassSplit[]> {
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
    let centres = [matrix.row(atypical).slice(), matrix.row(other).slice()];
    let side = new Uint8Array(members.length);
    for (let round = 0; round < KMEANS_ROUNDS; round++) {
      const queries = new Float32Array(2 * dim);
      queries.set(centres[0], 0);
      queries.set(centres[1], dim);
      const s = await matrix.scores(queries);
      const next = new Uint8Array(members.length);
      for (let r = 0; r < members.length; r++) next[r] = s[2 * r + 1] > s[2 * r] ? 1 : 0;
      const same = next.every((v, r) => v === side[r]);
      side = next;
      const groups = [0, 1].map((g) => members.filter((_, r) => side[r] === g).map((m) => m.vector));
      if (groups.some((g) => g.length === 0)) break;
      centres = groups.map((g) => unit(meanOf(g, dim).mean));
      if (same && round > 0) break;
    }
    const groups = [0, 1].map((g) => members.flatMap((m, r) => (side[r] === g ? [{ m, r }] : [])));
    const within = groups.reduce((w, g) => w + g.length * (1 - meanOf(g.map((x) => x.m.vector), dim).norm2), 0);
    const share = 1 - within / total;
    const [small, large] = groups[0].length <= groups[1].length ? [groups[0], groups[1]] : [groups[1], groups[0]];
    if (share < SPLIT_SHARE || small.length < MIN_GROUP * members.length) continue;
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
