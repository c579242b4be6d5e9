// The map's heavy linear algebra through onnxruntime: a covariance, a projection and exact
// nearest neighbours are matrix products of millions of rows by thousands of columns, which
// onnxruntime's MLAS runs many times faster than JavaScript loops on the same cores (60,000
// points by 60,000 in 50 dimensions is 180 GFLOP). Each graph is tiny: a MatMul and, for the
// neighbours, a TopK over the scores; the data it searches sits in the graph as a constant.

import type * as Ort from 'onnxruntime-node';
import { GraphBuilder } from '../onnx/graph-builder';
import { INT64 } from '../onnx/proto';
import { createSession, onnxruntime } from '../onnx/runtime';

const OPSET = 13;

async function session(build: (g: GraphBuilder) => void): Promise<Ort.InferenceSession> {
  const g = new GraphBuilder({ names: 'counter', dedupeConstants: false });
  build(g);
  // The map runs beside the studio: idle threads sleep rather than spin.
  return (await createSession(g.encode({ opset: OPSET }), { spinning: false })).session;
}

/** `rows` (n x f, row-major) minus `mean`, times `components`ᵀ (d x f): n x d. */
export async function projectRows(rows: Float32Array, n: number, f: number, mean: Float32Array, components: Float32Array, d: number): Promise<Float32Array> {
  const ort = await onnxruntime();
  const s = await session((g) => {
    const x = g.input('x', ['n', f]);
    const centred = g.node('Sub', [x, g.floats(mean, [1, f], 'mean')]);
    g.output('y', g.node('MatMul', [centred, g.floats(transpose(components, d, f), [f, d], 'basis')]), ['n', d]);
  });
  try {
    const out = new Float32Array(n * d);
    const batch = Math.max(1, Math.floor((64 << 20) / (4 * f)));
    for (let start = 0; start < n; start += batch) {
      const count = Math.min(batch, n - start);
      const x = new ort.Tensor('float32', rows.subarray(start * f, (start + count) * f), [count, f]);
      const { y } = await s.run({ x });
      out.set(y.data as Float32Array, start * d);
    }
    return out;
  } finally {
    await s.release();
  }
}

/** The covariance (f x f) of `rows` (n x f) about `mean`. */
export async function covariance(rows: Float32Array, n: number, f: number, mean: Float32Array): Promise<Float32Array> {
  const ort = await onnxruntime();
  const s = await session((g) => {
    const x = g.input('x', [n, f]);
    const centred = g.node('Sub', [x, g.floats(mean, [1, f], 'mean')]);
    const gram = g.node('MatMul', [g.node('Transpose', [centred], { perm: [1, 0] }), centred]);
    g.output('c', g.node('Div', [gram, g.scalar(Math.max(1, n - 1))]), [f, f]);
  });
  try {
    const { c } = await s.run({ x: new ort.Tensor('float32', rows, [n, f]) });
    return c.data as Float32Array;
  } finally {
    await s.release();
  }
}

export interface Neighbours {
  /** k neighbour indexes per query (row-major), nearest first. */
  indices: Int32Array;
  /** Their Euclidean distances. */
  distances: Float32Array;
}

/**
 * The exact k nearest of `base` (m x d) to each of `queries` (n x d), by Euclidean distance:
 * the largest 2·q·x − |x|² in batches of queries. With `queries === base`, a point is its own first neighbour.
 */
export async function nearest(
  queries: Float32Array,
  n: number,
  base: Float32Array,
  m: number,
  d: number,
  k: number,
  onBatch?: (done: number) => boolean | void,
): Promise<Neighbours> {
  const ort = await onnxruntime();
  k = Math.min(k, m);
  const norms = new Float32Array(m);
  for (let j = 0; j < m; j++) {
    let sum = 0;
    for (let c = 0; c < d; c++) sum += base[j * d + c] * base[j * d + c];
    norms[j] = sum;
  }
  const s = await session((g) => {
    const q = g.input('q', ['b', d]);
    const scores = g.node('MatMul', [q, g.floats(transpose(base, m, d), [d, m], 'base')]);
    const ranked = g.node('Sub', [g.node('Mul', [scores, g.scalar(2)]), g.floats(norms, [1, m], 'norms')]);
    const kInput = g.typed(INT64, new Uint8Array(BigInt64Array.from([BigInt(k)]).buffer), [1], 'k');
    const [values, indices] = g.nodeN('TopK', [ranked, kInput], 2, { axis: -1, largest: 1, sorted: 1 });
    g.output('values', values, ['b', k]);
    g.output('indices', indices, ['b', k], INT64);
  });
  try {
    const out: Neighbours = { indices: new Int32Array(n * k), distances: new Float32Array(n * k) };
    // About 64 MB of scores a batch.
    const batch = Math.max(1, Math.min(n, Math.floor((16 << 20) / m)));
    for (let start = 0; start < n; start += batch) {
      const count = Math.min(batch, n - start);
      const q = new ort.Tensor('float32', queries.subarray(start * d, (start + count) * d), [count, d]);
      const result = await s.run({ q });
      const values = result.values.data as Float32Array;
      const indices = result.indices.data as BigInt64Array;
      for (let r = 0; r < count; r++) {
        let qq = 0;
        for (let c = 0; c < d; c++) qq += queries[(start + r) * d + c] ** 2;
        for (let j = 0; j < k; j++) {
          const o = (start + r) * k + j;
          out.indices[o] = Number(indices[r * k + j]);
          out.distances[o] = Math.sqrt(Math.max(0, qq - values[r * k + j]));
        }
      }
      if (onBatch?.(start + count) === false) break;
    }
    return out;
  } finally {
    await s.release();
  }
}

function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c];
  return t;
}
