// The map's layout: UMAP of the backbone features, in three steps.
//
// 1. PCA to `dims` dimensions (covariance of up to 4,000 sampled rows, subspace iteration), kept
//    as a basis so images added later are projected the same way.
// 2. The exact k nearest neighbours of every point in that space (ort-math.ts: batched products).
// 3. UMAP itself: umap-js's algorithm (fuzzy simplicial set, then stochastic gradient descent
//    with negative sampling; its a/b curve fit `findABParams`), run here on typed arrays. umap-js
//    as it ships keeps its graph in string-keyed Maps ("row:col") and its embedding as arrays of
//    arrays: on 10,000 points here its graph took 6.5 s and 200 epochs 11 s, and its
//    nearest-neighbour descent another 9 s, growing faster than the points; 60,000 would take
//    minutes. The same steps on flat arrays do 60,000 within the 90 s the map allows.
//
// Everything random comes from one seed, so a layout is reproducible. Starting positions are the
// first two principal components (umap-learn's `init='pca'`), not umap-js's uniform noise: the
// islands then keep their places relative to each other.

import { findABParams } from 'umap-js/dist/umap.js';
import { seededRandom } from '../rng';
import { covariance, nearest, projectRows, type Neighbours } from './ort-math';
import { defaultEpochs, type LayoutSettings } from './settings';

export { DEFAULT_SETTINGS, defaultEpochs, type LayoutSettings } from './settings';

export interface Basis {
  dims: number;
  features: number;
  mean: Float32Array;
  /** dims x features, row-major: the principal axes, largest variance first. */
  components: Float32Array;
}

export type LayoutProgress = (done: number, total: number | null, phase: string) => boolean | void;

const SAMPLE = 4000;

/** The principal axes of `rows` (n x f), from a seeded sample of up to 4,000 of them. */
export async function fitBasis(rows: Float32Array, n: number, f: number, dims: number, seed: number): Promise<Basis> {
  const random = seededRandom(seed ^ 0x5ca1ab1e);
  const take = Math.min(n, SAMPLE);
  const picks = sample(n, take, random);
  const sampled = new Float32Array(take * f);
  picks.forEach((row, i) => sampled.set(rows.subarray(row * f, (row + 1) * f), i * f));
  const mean = new Float32Array(f);
  for (let i = 0; i < take; i++) for (let c = 0; c < f; c++) mean[c] += sampled[i * f + c] / take;
  dims = Math.min(dims, f, Math.max(2, take - 1));
  const cov = await covariance(sampled, take, f, mean);
  return { dims, features: f, mean, components: topEigenvectors(cov, f, dims, random) };
}

/** `count` distinct indexes of 0..n-1 in increasing order. */
function sample(n: number, count: number, random: () => number): number[] {
  if (count >= n) return Array.from({ length: n }, (_, i) => i);
  const chosen = new Set<number>();
  while (chosen.size < count) chosen.add(Math.floor(random() * n));
  return [...chosen].sort((a, b) => a - b);
}

/** The `k` leading eigenvectors of a symmetric f x f matrix (subspace iteration, then sorted by eigenvalue). */
function topEigenvectors(a: Float32Array, f: number, k: number, random: () => number): Float32Array {
  const extra = Math.min(f - k, 10);
  const width = k + extra;
  let q = new Float64Array(width * f);
  for (let i = 0; i < q.length; i++) q[i] = random() - 0.5;
  orthonormalise(q, width, f);
  const next = new Float64Array(width * f);
  for (let iter = 0; iter < 12; iter++) {
    next.fill(0);
    for (let r = 0; r < f; r++) {
      const row = r * f;
      for (let v = 0; v < width; v++) {
        let sum = 0;
        const base = v * f;
        for (let c = 0; c < f; c++) sum += a[row + c] * q[base + c];
        next[v * f + r] = sum;
      }
    }
    q = next.slice();
    orthonormalise(q, width, f);
  }
  // Rayleigh quotients order the axes.
  const values = Array.from({ length: width }, (_, v) => {
    let sum = 0;
    for (let r = 0; r < f; r++) {
      let av = 0;
      for (let c = 0; c < f; c++) av += a[r * f + c] * q[v * f + c];
      sum += q[v * f + r] * av;
    }
    return { v, value: sum };
  }).sort((x, y) => y.value - x.value);
  const out = new Float32Array(k * f);
  values.slice(0, k).forEach(({ v }, i) => {
    // A sign convention, so the same data gives the same picture: the largest entry is positive.
    let big = 0;
    for (let c = 0; c < f; c++) if (Math.abs(q[v * f + c]) > Math.abs(big)) big = q[v * f + c];
    const sign = big < 0 ? -1 : 1;
    for (let c = 0; c < f; c++) out[i * f + c] = sign * q[v * f + c];
  });
  return out;
}

/** Modified Gram-Schmidt on `count` row vectors of length f. */
function orthonormalise(q: Float64Array, count: number, f: number): void {
  for (let v = 0; v < count; v++) {
    const vb = v * f;
    for (let u = 0; u < v; u++) {
      const ub = u * f;
      let dot = 0;
      for (let c = 0; c < f; c++) dot += q[vb + c] * q[ub + c];
      for (let c = 0; c < f; c++) q[vb + c] -= dot * q[ub + c];
    }
    let norm = 0;
    for (let c = 0; c < f; c++) norm += q[vb + c] * q[vb + c];
    norm = Math.sqrt(norm) || 1;
    for (let c = 0; c < f; c++) q[vb + c] /= norm;
  }
}

export function projectWith(basis: Basis, rows: Float32Array, n: number): Promise<Float32Array> {
  return projectRows(rows, n, basis.features, basis.mean, basis.components, basis.dims);
}

/** A graph's edges (both directions of every pair) and their weights. */
interface Graph {
  head: Int32Array;
  tail: Int32Array;
  weight: Float32Array;
}

/** UMAP's fuzzy simplicial set from the kNN (umap-js's smoothKNNDistance and computeMembershipStrengths, symmetrised). */
export function fuzzyGraph(knn: Neighbours, n: number, k: number): Graph {
  const target = Math.log2(k);
  const meanAll = knn.distances.reduce((s, d) => s + d, 0) / knn.distances.length;
  const directed = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const row = i * k;
    let rho = 0;
    for (let j = 0; j < k; j++) {
      if (knn.distances[row + j] > 0) {
        rho = knn.distances[row + j];
        break;
      }
    }
    let lo = 0;
    let hi = Infinity;
    let mid = 1;
    for (let it = 0; it < 64; it++) {
      let psum = 0;
      for (let j = 1; j < k; j++) {
        const d = knn.distances[row + j] - rho;
        psum += d > 0 ? Math.exp(-d / mid) : 1;
      }
      if (Math.abs(psum - target) < 1e-5) break;
      if (psum > target) {
        hi = mid;
        mid = (lo + hi) / 2;
      } else {
        lo = mid;
        mid = hi === Infinity ? mid * 2 : (lo + hi) / 2;
      }
    }
    let rowMean = 0;
    for (let j = 0; j < k; j++) rowMean += knn.distances[row + j] / k;
    const sigma = Math.max(mid, 1e-3 * (rho > 0 ? rowMean : meanAll));
    for (let j = 0; j < k; j++) {
      const other = knn.indices[row + j];
      if (other < 0 || other === i) continue;
      const d = knn.distances[row + j] - rho;
      directed.set(i * n + other, d <= 0 ? 1 : Math.exp(-d / sigma));
    }
  }
  // P + Pᵀ − P∘Pᵀ, both directions of each pair.
  const head: number[] = [];
  const tail: number[] = [];
  const weight: number[] = [];
  for (const [key, w] of directed) {
    const i = Math.floor(key / n);
    const j = key - i * n;
    const back = directed.get(j * n + i);
    if (back !== undefined && j < i) continue; // the pair was written from its other side
    const both = w + (back ?? 0) - w * (back ?? 0);
    head.push(i, j);
    tail.push(j, i);
    weight.push(both, both);
  }
  return { head: Int32Array.from(head), tail: Int32Array.from(tail), weight: Float32Array.from(weight) };
}

/** Starting positions: the first two principal components, scaled to ±10 (umap-js's spread), with a little seeded noise. */
function initialPositions(points: Float32Array, n: number, d: number, random: () => number): Float32Array {
  const y = new Float32Array(n * 2);
  for (let c = 0; c < 2; c++) {
    let max = 0;
    for (let i = 0; i < n; i++) max = Math.max(max, Math.abs(points[i * d + c]));
    const scale = max > 0 ? 10 / max : 1;
    for (let i = 0; i < n; i++) y[i * 2 + c] = points[i * d + c] * scale + (random() - 0.5) * 1e-2;
  }
  return y;
}

/**
 * UMAP's optimisation (umap-js's optimizeLayoutStep) on typed arrays: every edge pulls its ends
 * together as often as its weight asks, and each pull pushes the point away from a few random
 * others. Returns n x 2 coordinates, or null when `onProgress` asked to stop.
 */
export function optimise(graph: Graph, initial: Float32Array, n: number, settings: LayoutSettings, onProgress?: LayoutProgress): Float32Array | null {
  const epochs = settings.epochs > 0 ? settings.epochs : defaultEpochs(n);
  const random = seededRandom(settings.seed);
  const { a, b } = findABParams(1, settings.minDist);
  let max = 0;
  for (const w of graph.weight) max = Math.max(max, w);
  // Edges too weak to be sampled once in all the epochs are dropped, as umap-js does.
  const keep: number[] = [];
  for (let e = 0; e < graph.weight.length; e++) if (graph.weight[e] >= max / epochs) keep.push(e);
  const m = keep.length;
  const head = new Int32Array(m);
  const tail = new Int32Array(m);
  const perSample = new Float64Array(m);
  keep.forEach((e, i) => {
    head[i] = graph.head[e];
    tail[i] = graph.tail[e];
    perSample[i] = max / graph.weight[e];
  });
  const negativeRate = 5;
  const perNegative = perSample.map((p) => p / negativeRate);
  const nextSample = perSample.slice();
  const nextNegative = perNegative.slice();
  // Doubles while optimising (V8 converts each Float32Array read and write), float32 at the end.
  const y = Float64Array.from(initial);
  for (let epoch = 0; epoch < epochs; epoch++) {
    const alpha = 1 - epoch / epochs;
    for (let i = 0; i < m; i++) {
      if (nextSample[i] > epoch) continue;
      const j = head[i] * 2;
      const k = tail[i] * 2;
      const yj0 = y[j];
      const yj1 = y[j + 1];
      let dx = yj0 - y[k];
      let dy = yj1 - y[k + 1];
      let dist = dx * dx + dy * dy;
      let gx = 0;
      let gy = 0;
      if (dist > 0) {
        const powB = Math.exp(b * Math.log(dist));
        const coeff = (-2 * a * b * (powB / dist)) / (a * powB + 1);
        gx = coeff * dx;
        gy = coeff * dy;
        gx = (gx > 4 ? 4 : gx < -4 ? -4 : gx) * alpha;
        gy = (gy > 4 ? 4 : gy < -4 ? -4 : gy) * alpha;
        y[k] -= gx;
        y[k + 1] -= gy;
      }
      let x0 = yj0 + gx;
      let x1 = yj1 + gy;
      nextSample[i] += perSample[i];
      const negatives = Math.floor((epoch - nextNegative[i]) / perNegative[i]);
      for (let p = 0; p < negatives; p++) {
        const o = Math.floor(random() * n) * 2;
        if (o === j) continue; // itself (as umap-js skips it)
        dx = x0 - y[o];
        dy = x1 - y[o + 1];
        dist = dx * dx + dy * dy;
        if (dist > 0) {
          const coeff = (2 * b) / ((0.001 + dist) * (a * Math.exp(b * Math.log(dist)) + 1));
          gx = coeff * dx;
          gy = coeff * dy;
          x0 += (gx > 4 ? 4 : gx < -4 ? -4 : gx) * alpha;
          x1 += (gy > 4 ? 4 : gy < -4 ? -4 : gy) * alpha;
        } else {
          x0 += 4 * alpha;
          x1 += 4 * alpha;
        }
      }
      y[j] = x0;
      y[j + 1] = x1;
      nextNegative[i] += negatives * perNegative[i];
    }
    if (onProgress?.(epoch + 1, epochs, 'Laying out') === false) return null;
  }
  return Float32Array.from(y);
}

export interface LayoutResult {
  basis: Basis;
  /** n x dims: each point in the PCA space (kept to place later images by their neighbours). */
  reduced: Float32Array;
  /** n x 2 */
  coords: Float32Array;
  settings: LayoutSettings;
}

/** The whole layout of n feature rows (n x f); null when `onProgress` asked to stop. */
export async function layout(rows: Float32Array, n: number, f: number, settings: LayoutSettings, onProgress?: LayoutProgress): Promise<LayoutResult | null> {
  if (onProgress?.(0, null, 'Reducing features') === false) return null;
  const basis = await fitBasis(rows, n, f, settings.dims, settings.seed);
  const reduced = await projectWith(basis, rows, n);
  const d = basis.dims;
  const k = Math.min(settings.neighbours, n);
  let stopped = false;
  const knn = await nearest(reduced, n, reduced, n, d, k, (done) => {
    if (onProgress?.(done, n, 'Finding neighbours') === false) stopped = true;
    return !stopped;
  });
  if (stopped) return null;
  if (onProgress?.(0, null, 'Building the graph') === false) return null;
  const graph = fuzzyGraph(knn, n, k);
  const coords = optimise(graph, initialPositions(reduced, n, d, seededRandom(settings.seed + 1)), n, settings, onProgress);
  return coords ? { basis, reduced, coords, settings } : null;
}

/**
 * Places new points (their PCA vectors, q x dims) among laid-out ones (m x dims, coordinates m x 2)
 * without moving those: each goes to the mean of its k nearest laid-out neighbours' positions,
 * weighted as UMAP weighs a neighbour (exp of minus the distance beyond the nearest, over the spread),
 * which is where umap-js's `transform` starts its points too.
 */
export async function placeAmong(queries: Float32Array, q: number, base: Float32Array, coords: Float32Array, m: number, d: number, k: number): Promise<Float32Array> {
  const knn = await nearest(queries, q, base, m, d, Math.min(k, m));
  const kk = knn.indices.length / Math.max(1, q);
  const out = new Float32Array(q * 2);
  for (let i = 0; i < q; i++) {
    const row = i * kk;
    const rho = knn.distances[row];
    let spread = 0;
    for (let j = 0; j < kk; j++) spread += (knn.distances[row + j] - rho) / kk;
    let total = 0;
    let x = 0;
    let y = 0;
    for (let j = 0; j < kk; j++) {
      const w = spread > 0 ? Math.exp(-(knn.distances[row + j] - rho) / spread) : 1;
      const o = knn.indices[row + j];
      x += w * coords[o * 2];
      y += w * coords[o * 2 + 1];
      total += w;
    }
    out[i * 2] = x / total;
    out[i * 2 + 1] = y / total;
  }
  return out;
}
