// Pairs of images whose perceptual hashes lie within a number of bits, found without comparing
// every pair in JavaScript: each 64-bit hash becomes a vector of ±1, so that the dot product of
// two is 64 - 2 x their Hamming distance, and onnxruntime's Gemm takes a block of rows against
// the hashes (and mirror images' hashes) from the block on (j > i: half the square);
// GreaterOrEqual and NonZero keep only the close pairs, so the products never reach JavaScript. On CIFAR-10's 60,000 images the
// plain loop over 1.8 billion pairs took most of the doctor's time.

import { attribute, encodeModel, FLOAT, valueInfo } from '../onnx/proto';
import { createSession, onnxruntime, type OrtSession } from '../onnx/runtime';

const BITS = 64;
/** Rows a Gemm takes at once: its outputs are at most BLOCK x n floats, twice. */
const BLOCK = 256;

const sessions = new Map<number, Promise<OrtSession>>();

function session(minDot: number): Promise<OrtSession> {
  let s = sessions.get(minDot);
  if (!s) {
    s = createSession(
      encodeModel({
        irVersion: 7,
        opset: 13,
        producerName: 'loupe',
        graph: {
          name: 'close-hashes',
          initializer: [{ name: 'limit', dataType: FLOAT, dims: [], floatData: [minDot] }],
          node: [
            { opType: 'Gemm', input: ['rows', 'hashes'], output: ['same'], attribute: [attribute('transB', 1)] },
            { opType: 'Gemm', input: ['rows', 'mirrors'], output: ['mirrored'], attribute: [attribute('transB', 1)] },
            { opType: 'Max', input: ['same', 'mirrored'], output: ['dot'] },
            { opType: 'GreaterOrEqual', input: ['dot', 'limit'], output: ['close'] },
            { opType: 'NonZero', input: ['close'], output: ['pairs'] },
          ],
          input: [valueInfo('rows', ['b', BITS]), valueInfo('hashes', ['n', BITS]), valueInfo('mirrors', ['n', BITS])],
          output: [valueInfo('pairs', [2, 'k'], 7 /* INT64 */)],
        },
      }),
      { spinning: false },
    ).catch((err: unknown) => {
      sessions.delete(minDot);
      throw err;
    });
    sessions.set(minDot, s);
  }
  return s;
}

/** Hashes (two 32-bit words each) as ±1 vectors, one per row ([n, 64]). */
export function signs(words: Int32Array): Float32Array {
  const n = words.length / 2;
  const out = new Float32Array(n * BITS);
  for (let i = 0; i < n; i++) {
    for (let b = 0; b < BITS; b++) out[i * BITS + b] = (words[2 * i + (b >> 5)] >>> (31 - (b & 31))) & 1 ? 1 : -1;
  }
  return out;
}

/**
 * Calls `pair(i, j)` for every i < j whose hashes lie within `bits` of each other, or of the
 * other's mirror image's hash; `onBlock` after each block of rows (rows done, of n).
 */
export async function closeHashPairs(
  words: Int32Array,
  mirrorWords: Int32Array,
  bits: number,
  pair: (i: number, j: number) => void,
  options: { signal?: AbortSignal; onBlock?: (done: number, total: number) => void } = {},
): Promise<void> {
  const n = words.length / 2;
  if (n < 2) return;
  const ort = await onnxruntime();
  const { session: s } = await session(BITS - 2 * bits);
  const rows = signs(words);
  const mirrorRows = signs(mirrorWords);
  for (let a = 0; a < n; a += BLOCK) {
    if (options.signal?.aborted) return;
    const b = Math.min(BLOCK, n - a);
    const m = n - a;
    const out = await s.run({
      rows: new ort.Tensor('float32', rows.subarray(a * BITS, (a + b) * BITS), [b, BITS]),
      hashes: new ort.Tensor('float32', rows.subarray(a * BITS), [m, BITS]),
      mirrors: new ort.Tensor('float32', mirrorRows.subarray(a * BITS), [m, BITS]),
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
