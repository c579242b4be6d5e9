// Many feature vectors in one Float32Array, and their dot products with a few queries: the
// exact nearest-neighbour search behind "more like this" and the data doctor's class checks.
// onnxruntime's MatMul does the products (native, vectorised, every core): plain JavaScript
// took 600 ms and more for one query over 100,000 vectors of 1,024 on two busy cores, MatMul
// about 30 ms. Exact search is enough up to a few hundred thousand images (issue 17); an index
// would pay only beyond that.

import type * as Ort from 'onnxruntime-node';
import { encodeModel, valueInfo } from '../onnx/proto';
import { createSession, onnxruntime, type OrtSession } from '../onnx/runtime';

let matmul: Promise<OrtSession> | null = null;

/** One session for every shape: [rows, d] x [d, queries]. */
function session(): Promise<OrtSession> {
  matmul ??= createSession(
    encodeModel({
      irVersion: 7,
      opset: 13,
      producerName: 'loupe',
      graph: {
        name: 'dot-products',
        node: [{ opType: 'MatMul', input: ['matrix', 'queries'], output: ['scores'] }],
        input: [valueInfo('matrix', ['rows', 'd']), valueInfo('queries', ['d', 'k'])],
        output: [valueInfo('scores', ['rows', 'k'])],
      },
    }),
    { spinning: false },
  ).catch((err: unknown) => {
    matmul = null;
    throw err;
  });
  return matmul;
}

export interface Neighbour {
  /** Row in the matrix. */
  row: number;
  /** Dot product with the query (the cosine, for unit vectors). */
  score: number;
}

export class FeatureMatrix {
  #tensor: Ort.Tensor | null = null;

  private constructor(
    readonly data: Float32Array,
    readonly rows: number,
    readonly dim: number,
  ) {}

  static of(vectors: Float32Array[], dim = vectors[0]?.length ?? 0): FeatureMatrix {
    const data = new Float32Array(vectors.length * dim);
    vectors.forEach((v, i) => data.set(v, i * dim));
    return new FeatureMatrix(data, vectors.length, dim);
  }

  /** A matrix over `data` as it is (rows of `dim`, one after another), not copied. */
  static fromData(data: Float32Array, rows: number, dim: number): FeatureMatrix {
    return new FeatureMatrix(data, rows, dim);
  }

  row(i: number): Float32Array {
    return this.data.subarray(i * this.dim, (i + 1) * this.dim);
  }

  /**
   * Dot products of every row with each of `queries` (k vectors of dim, one after another):
   * row-major [rows, k].
   */
  async scores(queries: Float32Array): Promise<Float32Array> {
    const k = queries.length / this.dim;
    if (this.rows === 0 || k === 0) return new Float32Array(0);
    const ort = await onnxruntime();
    const { session: s } = await session();
    this.#tensor ??= new ort.Tensor('float32', this.data, [this.rows, this.dim]);
    // MatMul wants the queries as columns: [d, k].
    const columns = new Float32Array(this.dim * k);
    for (let q = 0; q < k; q++) for (let i = 0; i < this.dim; i++) columns[i * k + q] = queries[q * this.dim + i];
    const out = await s.run({ matrix: this.#tensor, queries: new ort.Tensor('float32', columns, [this.dim, k]) });
    return out.scores.data as Float32Array;
  }

  /** The `limit` rows most like `query` (highest dot product first), leaving out rows `skip` refuses. */
  async nearest(query: Float32Array, limit: number, skip?: (row: number) => boolean): Promise<Neighbour[]> {
    return topK(await this.scores(query), limit, skip);
  }
}

/** The `limit` highest of `scores`, best first (ties: lower row first). */
export function topK(scores: Float32Array, limit: number, skip?: (row: number) => boolean): Neighbour[] {
  const best: Neighbour[] = [];
  for (let row = 0; row < scores.length; row++) {
    const score = scores[row];
    if (best.length === limit && score <= best[limit - 1].score) continue;
    if (skip?.(row)) continue;
    let at = best.length;
    while (at > 0 && best[at - 1].score < score) at--;
    best.splice(at, 0, { row, score });
    if (best.length > limit) best.pop();
  }
  return best;
}
