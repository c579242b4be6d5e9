// The near-duplicate candidates of a project with backbone features, found in one onnxruntime
// graph per block of rows: pairs within `nearBits` of perceptual hash (or of the other's mirror
// image's hash) whose features may reach the cosine limit, and every pair within `strongBits`.
// Judging each of the 25 million pairs within 20 bits on CIFAR-10's 60,000 images by its full
// cosine in JavaScript took most of the doctor's 284 s; here each pair costs a dot product of
// its features projected on the project's main directions (r of 1,024 dimensions, found by a
// few rounds of subspace iteration on a sample) plus a bound on the rest: for unit vectors a
// and b, split into their parts P a, P b in that subspace and the rests R a, R b outside it,
// a . b = Pa . Pb + Ra . Rb <= Pa . Pb + |Ra| |Rb| (Cauchy-Schwarz). A pair whose bound stays
// below the limit cannot reach it, so nothing the full cosine would confirm is left out; the
// few that pass are judged exactly by the caller. Only pairs j > i are computed (Gemm against
// the rows from the block on), half the products of a full square. On CIFAR-10's 60,000 images
// 246,000 pairs pass, and the doctor's second check takes 36 to 59 s (bench/README.md).

import { attribute, encodeModel, valueInfo } from '../onnx/proto';
import { createSession, onnxruntime, type OrtSession } from '../onnx/runtime';
import { FeatureMatrix } from '../features/matrix';
import { signs } from './close-hashes';
import { seededRandom } from '../rng';

const BITS = 64;
const BLOCK = 256;
/** Dimensions of the subspace the bound is taken in. */
export const SUBSPACE = 64;
/** Sample of vectors the main directions are found on, and the rounds of subspace iteration. */
const SAMPLE = 4096;
const ROUNDS = 6;
/** Slack for float rounding in the bound (the caller judges the pairs that pass exactly). */
const SLACK = 1e-3;

let graph: Promise<OrtSession> | null = null;

function session(): Promise<OrtSession> {
  graph ??= createSession(
    encodeModel({
      irVersion: 7,
      opset: 13,
      producerName: 'loupe',
      graph: {
        name: 'close-pairs',
        node: [
          { opType: 'Gemm', input: ['rows', 'hashes'], output: ['same'], attribute: [attribute('transB', 1)] },
          { opType: 'Gemm', input: ['rows', 'mirrors'], output: ['mirrored'], attribute: [attribute('transB', 1)] },
          { opType: 'Max', input: ['same', 'mirrored'], output: ['dot'] },
          // Each projected row ends in the length of its rest: one Gemm gives Pa . Pb + |Ra| |Rb|.
          { opType: 'Gemm', input: ['rowsP', 'projected'], output: ['upper'], attribute: [attribute('transB', 1)] },
          { opType: 'GreaterOrEqual', input: ['dot', 'nearDot'], output: ['near'] },
          { opType: 'GreaterOrEqual', input: ['dot', 'strongDot'], output: ['strong'] },
          { opType: 'GreaterOrEqual', input: ['upper', 'minCosine'], output: ['alike'] },
          { opType: 'Or', input: ['strong', 'alike'], output: ['either'] },
          { opType: 'And', input: ['near', 'either'], output: ['keep'] },
          { opType: 'NonZero', input: ['keep'], output: ['pairs'] },
        ],
        input: [
          valueInfo('rows', ['b', BITS]),
          valueInfo('hashes', ['n', BITS]),
          valueInfo('mirrors', ['n', BITS]),
          valueInfo('rowsP', ['b', 'w']),
          valueInfo('projected', ['n', 'w']),
          valueInfo('nearDot', []),
          valueInfo('strongDot', []),
          valueInfo('minCosine', []),
        ],
        output: [valueInfo('pairs', [2, 'k'], 7 /* INT64 */)],
      },
    }),
    { spinning: false },
  ).catch((err: unknown) => {
    graph = null;
    throw err;
  });
  return graph;
}

/** Makes the `k` rows of `q` (each `d` long) orthonormal in place (modified Gram-Schmidt); a row that vanishes becomes zero. */
function orthonormalise(q: Float32Array, k: number, d: number): void {
  for (let a = 0; a < k; a++) {
    const row = q.subarray(a * d, (a + 1) * d);
    for (let b = 0; b < a; b++) {
      const other = q.subarray(b * d, (b + 1) * d);
      let s = 0;
      for (let i = 0; i < d; i++) s += row[i] * other[i];
      for (let i = 0; i < d; i++) row[i] -= s * other[i];
    }
    let norm = 0;
    for (let i = 0; i < d; i++) norm += row[i] * row[i];
    norm = Math.sqrt(norm);
    for (let i = 0; i < d; i++) row[i] = norm > 1e-6 ? row[i] / norm : 0;
  }
}

/**
 * An orthonormal basis (k rows of d, one after another) of the directions the vectors vary
 * most along: subspace iteration on their second-moment matrix over an evenly spaced sample.
 * Any orthonormal basis keeps the bound exact; a good one keeps it tight.
 */
export async function mainDirections(vectors: Float32Array[], k: number): Promise<Float32Array> {
  const d = vectors[0].length;
  k = Math.min(k, d);
  const m = Math.min(SAMPLE, vectors.length);
  // The sample as columns: row i of `columns` holds dimension i of every sampled vector.
  const columns = new Float32Array(d * m);
  for (let s = 0; s < m; s++) {
    const v = vectors[Math.floor(((s + 0.5) * vectors.length) / m)];
    for (let i = 0; i < d; i++) columns[i * m + s] = v[i];
  }
  const moments = await FeatureMatrix.fromData(columns, d, m).scores(columns); // [d, d]
  const second = FeatureMatrix.fromData(moments, d, d);
  const random = seededRandom(17);
  let q = Float32Array.from({ length: k * d }, () => random() - 0.5);
  orthonormalise(q, k, d);
  for (let round = 0; round < ROUNDS; round++) {
    const y = await second.scores(q); // [d, k]: column j is the moments times row j of q
    const next = new Float32Array(k * d);
    for (let i = 0; i < d; i++) for (let j = 0; j < k; j++) next[j * d + i] = y[i * k + j];
    orthonormalise(next, k, d);
    q = next;
  }
  return q;
}

export interface PairFeatures {
  /** Unit vectors, one per item (undefined: the item has none, and only the hash can match it). */
  vectors: (Float32Array | undefined)[];
  /** Cosine the features must reach. */
  minCosine: number;
}

/**
 * Calls `pair(i, j)` for i < j whose hashes lie within `nearBits` (of each other, or of the
 * other's mirror image's) and that either lie within `strongBits` or may have a feature cosine
 * of at least `features.minCosine`. The caller judges each pair exactly.
 */
export async function closePairs(
  words: Int32Array,
  mirrorWords: Int32Array,
  nearBits: number,
  strongBits: number,
  features: PairFeatures,
  pair: (i: number, j: number) => void,
  options: { signal?: AbortSignal; onBlock?: (done: number, total: number) => void } = {},
): Promise<void> {
  const n = words.length / 2;
  if (n < 2) return;
  const ort = await onnxruntime();
  const { session: s } = await session();
  const present = features.vectors.filter((v): v is Float32Array => v !== undefined);
  const d = present[0]?.length ?? 0;
  const r = Math.max(1, Math.min(SUBSPACE, d));
  // Rows of r projections and the rest's length (zero without features: only the hash can match).
  const w = r + 1;
  const projected = new Float32Array(n * w);
  if (present.length > 0) {
    const basis = await mainDirections(present, r);
    const matrix = FeatureMatrix.of(features.vectors.map((v) => v ?? new Float32Array(d)), d);
    const p = await matrix.scores(basis); // [n, r]
    features.vectors.forEach((v, i) => {
      if (!v) return;
      let all = 0;
      let inside = 0;
      for (let x = 0; x < d; x++) all += v[x] * v[x];
      for (let x = 0; x < r; x++) {
        projected[i * w + x] = p[i * r + x];
        inside += p[i * r + x] ** 2;
      }
      projected[i * w + r] = Math.sqrt(Math.max(0, all - inside));
    });
  }
  const hashRows = signs(words);
  const mirrorRows = signs(mirrorWords);
  const scalar = (x: number) => new ort.Tensor('float32', Float32Array.of(x), []);
  const nearDot = scalar(BITS - 2 * nearBits);
  const strongDot = scalar(BITS - 2 * strongBits);
  const minCosine = scalar(features.minCosine - SLACK);
  for (let a = 0; a < n; a += BLOCK) {
    if (options.signal?.aborted) return;
    const b = Math.min(BLOCK, n - a);
    const m = n - a;
    const out = await s.run({
      rows: new ort.Tensor('float32', hashRows.subarray(a * BITS, (a + b) * BITS), [b, BITS]),
      hashes: new ort.Tensor('float32', hashRows.subarray(a * BITS), [m, BITS]),
      mirrors: new ort.Tensor('float32', mirrorRows.subarray(a * BITS), [m, BITS]),
      rowsP: new ort.Tensor('float32', projected.subarray(a * w, (a + b) * w), [b, w]),
      projected: new ort.Tensor('float32', projected.subarray(a * w), [m, w]),
      nearDot,
      strongDot,
      minCosine,
    });
    const found = out.pairs.data as BigInt64Array;
    const k = found.length / 2;
    for (let p = 0; p < k; p++) {
      const i = a + Number(found[p]);
      const j = a + Number(found[k + p]);
      if (j > i) pair(i, j);
    }
    options.onBlock?.(a + b, n);
  }
}
