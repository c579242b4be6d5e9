// Backbone features made comparable: raw pooled ReLU features of any two photos are alike (cosine
// 0.9 and more on CIFAR-10), so each dimension is first brought to mean 0 and unit spread over the
// project, then each vector to unit length; the cosine of two such vectors says how alike the two
// images are compared with the rest of the project. The data doctor (near-duplicates, outliers,
// classes in two) and "more like this" all compare images this way.

export interface Standardiser {
  mean: Float64Array;
  spread: Float64Array;
  /** Standardises one vector in place (an image from outside the project, say) by the set's figures. */
  apply(v: Float32Array): Float32Array;
}

/** The figures of a set of vectors, and the transform they make. */
export function standardiser(vectors: Float32Array[]): Standardiser | null {
  if (vectors.length === 0) return null;
  const d = vectors[0].length;
  const mean = new Float64Array(d);
  const spread = new Float64Array(d);
  for (const v of vectors) for (let i = 0; i < d; i++) mean[i] += v[i] / vectors.length;
  for (const v of vectors) for (let i = 0; i < d; i++) spread[i] += (v[i] - mean[i]) ** 2 / vectors.length;
  // A floor keeps a dimension that is nearly constant over the project from amplifying noise.
  for (let i = 0; i < d; i++) spread[i] = Math.sqrt(spread[i]) + 1e-3;
  const apply = (v: Float32Array) => {
    let norm = 0;
    for (let i = 0; i < d; i++) {
      v[i] = (v[i] - mean[i]) / spread[i];
      norm += v[i] * v[i];
    }
    norm = Math.sqrt(norm) || 1;
    for (let i = 0; i < d; i++) v[i] /= norm;
    return v;
  };
  return { mean, spread, apply };
}

/** Standardises feature vectors in place over the set (per dimension to mean 0 and spread 1, then each to unit length). */
export function standardise(vectors: Float32Array[]): Standardiser | null {
  const s = standardiser(vectors);
  if (s) for (const v of vectors) s.apply(v);
  return s;
}
