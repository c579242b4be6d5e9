// "More like this" on 100,000 images (issue 17: at most 50 ms a query): exact search over a
// feature matrix of MobileNet v1's 1,024 features per image (random vectors, standardised as
// the project's cached features are), through FeatureMatrix (onnxruntime's MatMul) and, in the
// same run, through a plain JavaScript loop, so the ratio holds under the machine's load.
//   npm run bench:similar [-- --images 100000] [--dim 1024] [--queries 20] [--limit 200]

import os from 'node:os';
import { parseArgs } from 'node:util';
import { FeatureMatrix, topK } from '../src/main/services/features/matrix';
import { standardise } from '../src/main/services/features/standardise';
import { seededRandom } from '../src/main/services/rng';

const { values } = parseArgs({ options: { images: { type: 'string' }, dim: { type: 'string' }, queries: { type: 'string' }, limit: { type: 'string' } } });
const n = Number(values.images ?? 100_000);
const dim = Number(values.dim ?? 1024);
const queries = Number(values.queries ?? 20);
const limit = Number(values.limit ?? 200);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(0.9 * xs.length))];

let started = performance.now();
const random = seededRandom(1);
// Pooled ReLU features are non-negative, as a backbone's are.
const vectors = Array.from({ length: n }, () => Float32Array.from({ length: dim }, () => Math.max(0, random() * 2 - 0.5)));
console.log(`${n.toLocaleString('en-US')} random vectors of ${dim} in ${((performance.now() - started) / 1000).toFixed(1)} s; ${os.availableParallelism()} cores, load ${os.loadavg()[0].toFixed(1)}`);
started = performance.now();
standardise(vectors);
const matrix = FeatureMatrix.of(vectors, dim);
vectors.length = 0;
console.log(`Index (standardised and packed, ${((n * dim * 4) / 2 ** 20).toFixed(0)} MiB): ${((performance.now() - started) / 1000).toFixed(1)} s, once per project while its images stay the same.`);

const native: number[] = [];
const plain: number[] = [];
await matrix.nearest(matrix.row(0), limit); // warm-up: the session is created once
for (let q = 0; q < queries; q++) {
  const row = Math.floor(random() * n);
  const query = matrix.row(row);
  let t = performance.now();
  const found = await matrix.nearest(query, limit, (r) => r === row);
  native.push(performance.now() - t);
  if (q < 3) {
    // The same query in plain JavaScript, for the ratio (and to check the answer is the same).
    t = performance.now();
    const scores = new Float32Array(n);
    for (let r = 0; r < n; r++) {
      let s = 0;
      const o = r * dim;
      for (let i = 0; i < dim; i++) s += matrix.data[o + i] * query[i];
      scores[r] = s;
    }
    const expected = topK(scores, limit, (r) => r === row);
    plain.push(performance.now() - t);
    if (expected[0].row !== found[0].row) throw new Error('MatMul and the plain loop disagree on the nearest image');
  }
}
console.log(`Query (top ${limit}) over ${n.toLocaleString('en-US')}: median ${median(native).toFixed(1)} ms, p90 ${p90(native).toFixed(1)} ms over ${queries} queries (MatMul)`);
console.log(`Plain JavaScript loop, same run: median ${median(plain).toFixed(0)} ms over ${plain.length} queries (${(median(plain) / median(native)).toFixed(1)}x slower)`);
console.log(`load ${os.loadavg()[0].toFixed(1)} at the end`);
