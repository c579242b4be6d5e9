// The wasm training kernels are checked against tfjs's plain-JS cpu backend: every gradient a
// small CNN needs, on odd shapes, both paddings, strides 1-3, batch and channels > 1. The
// upstream gradient is random, so a wrong kernel cannot pass by symmetry.

import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { initWasmBackend, registerWasmTrainingKernels } from '../../../src/main/services/tfjs/wasm-kernels';

/** Max abs difference allowed, relative to the largest expected magnitude. */
const TOLERANCE = 1e-4;

interface Arg {
  shape: number[];
  values: Float32Array;
}

type Fn = (...xs: tf.Tensor[]) => tf.Tensor;

/** mulberry32: the same numbers on every backend and run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform in [lo, hi). */
function arg(shape: number[], seed: number, lo = -1, hi = 1): Arg {
  const next = random(seed);
  const values = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => lo + (hi - lo) * next());
  return { shape, values };
}

function args(shapes: number[][]): Arg[] {
  return shapes.map((shape, i) => arg(shape, 1000 + i));
}

function dataIds(): number {
  return tf.engine().backend.numDataIds();
}

/**
 * The gradients of sum(f(...xs) * w), w random, on `backend`, as plain arrays; fails if the
 * computation leaves tensors or backend data behind.
 */
async function gradsOn(backend: string, f: Fn, xs: Arg[]): Promise<Float32Array[]> {
  expect(await tf.setBackend(backend)).toBe(true);
  const tensorsBefore = tf.memory().numTensors;
  const dataBefore = dataIds();
  const grads = tf.tidy(() => {
    const inputs = xs.map((x) => tf.tensor(x.values, x.shape));
    return tf.grads((...ys: tf.Tensor[]) => {
      const y = f(...ys);
      return tf.sum(tf.mul(y, tf.tensor(arg(y.shape, 7).values, y.shape)));
    })(inputs);
  });
  const out = grads.map((g) => g.dataSync().slice() as Float32Array);
  tf.dispose(grads);
  expect(tf.memory().numTensors).toBe(tensorsBefore);
  expect(dataIds()).toBe(dataBefore);
  return out;
}

/** The largest |a - b|, relative to the largest |b|. */
function relativeError(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / Math.max(scale, 1e-6);
}

async function expectParity(f: Fn, xs: Arg[]): Promise<void> {
  const expected = await gradsOn('cpu', f, xs);
  const actual = await gradsOn('wasm', f, xs);
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    expect(relativeError(a, expected[i]), `gradient ${i}`).toBeLessThan(TOLERANCE);
  });
}

type Pad = 'same' | 'valid';
const PADS: Pad[] = ['same', 'valid'];
const STRIDES: (number | [number, number])[] = [1, 2, [2, 1], 3];

/** Every combination of `shapes` with PADS and STRIDES, skipping those with an empty output. */
function convCases(shapes: [number[], number[]][]): [string, number[], number[], Pad, number | [number, number]][] {
  const cases: [string, number[], number[], Pad, number | [number, number]][] = [];
  for (const [x, f] of shapes) {
    for (const pad of PADS) {
      for (const stride of STRIDES) {
        if (pad === 'valid' && (x[1] < f[0] || x[2] < f[1])) continue;
        cases.push([`x ${x.join('x')}, filter ${f.join('x')}, ${pad}, stride ${String(stride)}`, x, f, pad, stride]);
      }
    }
  }
  return cases;
}

beforeAll(async () => {
  await initWasmBackend();
});

describe('registerWasmTrainingKernels', () => {
  it('registers the missing gradient kernels and replaces the slow or wrong ones, idempotently', () => {
    const names = [
      'Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropInput', 'DepthwiseConv2dNativeBackpropFilter',
      'Conv2DBackpropInput', 'MaxPoolGrad', 'BatchMatMul', 'Tile',
    ];
    const before = names.map((n) => tf.getKernel(n, 'wasm')?.kernelFunc);
    expect(before.every((k) => k != null)).toBe(true);
    const warn = vi.spyOn(console, 'warn');
    registerWasmTrainingKernels();
    registerWasmTrainingKernels();
    expect(warn).not.toHaveBeenCalled();
    warn.mockRestore();
    expect(names.map((n) => tf.getKernel(n, 'wasm').kernelFunc)).toEqual(before);
    expect(tf.getBackend()).toBe('wasm');
  });

  it('refuses dilated depthwise gradients rather than computing them wrong', async () => {
    await tf.setBackend('wasm');
    const x = tf.ones([1, 5, 5, 2]);
    const dy = tf.ones([1, 5, 5, 2]);
    const attrs = { strides: 1, pad: 'same', dilations: 2, filterShape: [3, 3, 2, 1] };
    expect(() => tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, attrs)).toThrow(/dilations/);
    tf.dispose([x, dy]);
  });
});

describe('convolution gradients match the cpu backend', () => {
  const conv = convCases([
    [[2, 7, 9, 3], [3, 3, 3, 4]],
    [[3, 8, 6, 2], [2, 4, 2, 5]],
    [[2, 5, 5, 3], [5, 5, 3, 2]],
    [[2, 6, 7, 4], [1, 1, 4, 3]],
  ]);
  it.each(conv)('conv2d: %s', async (_, x, f, pad, stride) => {
    await expectParity((a, b) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad), args([x, f]));
  });

  it.each(convCases([[[2, 7, 8, 3], [3, 3, 3, 4]]]))('fused conv2d + bias + relu: %s', async (_, x, f, pad, stride) => {
    await expectParity(
      (a, b, bias) => tf.fused.conv2d({ x: a as tf.Tensor4D, filter: b as tf.Tensor4D, strides: stride, pad, bias, activation: 'relu' }),
      args([x, f, [f[3]]]),
    );
  });

  const depthwise = convCases([
    [[2, 7, 9, 3], [3, 3, 3, 1]],
    [[2, 8, 7, 3], [3, 2, 3, 2]],
    [[3, 6, 6, 4], [5, 5, 4, 1]],
  ]);
  it.each(depthwise)('depthwiseConv2d: %s', async (_, x, f, pad, stride) => {
    await expectParity((a, b) => tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad), args([x, f]));
  });

  it.each(convCases([[[2, 7, 8, 3], [3, 3, 3, 2]]]))('fused depthwiseConv2d + bias + relu: %s', async (_, x, f, pad, stride) => {
    await expectParity(
      (a, b, bias) => tf.fused.depthwiseConv2d({ x: a as tf.Tensor4D, filter: b as tf.Tensor4D, strides: stride, pad, bias, activation: 'relu' }),
      args([x, f, [f[2] * f[3]]]),
    );
  });
});

describe('pooling gradients match the cpu backend', () => {
  const pools: [string, number[], number, number, Pad][] = [];
  for (const x of [[2, 7, 9, 3], [3, 8, 8, 2]]) {
    for (const [size, stride] of [[2, 2], [3, 1], [3, 2]]) {
      for (const pad of PADS) pools.push([`x ${x.join('x')}, pool ${size}, stride ${stride}, ${pad}`, x, size, stride, pad]);
    }
  }
  it.each(pools)('maxPool: %s', async (_, x, size, stride, pad) => {
    await expectParity((a) => tf.maxPool(a as tf.Tensor4D, size, stride, pad), args([x]));
  });
  it.each(pools)('avgPool: %s', async (_, x, size, stride, pad) => {
    await expectParity((a) => tf.avgPool(a as tf.Tensor4D, size, stride, pad), args([x]));
  });
  it('maxPool with ties and all-negative windows: the first maximum gets the gradient', async () => {
    const x = arg([2, 6, 7, 3], 11, -3, 1);
    x.values = x.values.map(Math.round);
    for (const [size, stride, pad] of [[2, 2, 'valid'], [3, 2, 'same'], [3, 1, 'same']] as const) {
      await expectParity((a) => tf.maxPool(a as tf.Tensor4D, size, stride, pad), [x]);
    }
  });

  it('global average pooling (mean over height and width)', async () => {
    await expectParity((a) => tf.mean(a, [1, 2]), args([[3, 5, 7, 4]]));
  });
});

describe('other training gradients match the cpu backend', () => {
  it('batchNorm with given statistics', async () => {
    const [x, mean, offset, scale] = args([[2, 5, 3, 4], [4], [4], [4]]);
    const variance = arg([4], 9, 0.5, 2);
    await expectParity((a, m, v, o, s) => tf.batchNorm(a, m, v, o, s, 1e-3), [x, mean, variance, offset, scale]);
  });

  it('batchNorm with batch statistics, as in training', async () => {
    await expectParity((a, gamma, beta) => {
      const { mean, variance } = tf.moments(a, [0, 1, 2]);
      return tf.batchNorm(a, mean, variance, beta, gamma, 1e-3);
    }, args([[3, 4, 5, 6], [6], [6]]));
  });

  it('dense: matMul + bias + relu, plain and fused', async () => {
    const xs = args([[5, 7], [7, 3], [3]]);
    await expectParity((x, w, b) => tf.relu(tf.add(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), b)), xs);
    await expectParity((x, w, b) => tf.fused.matMul({ a: x as tf.Tensor2D, b: w as tf.Tensor2D, bias: b, activation: 'relu' }), xs);
  });

  it('matMul with every transpose, batch 1 (transposed first) and batch 3 (stock)', async () => {
    for (const batch of [[], [1], [3]]) {
      for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
        const a = ta ? [...batch, 7, 5] : [...batch, 5, 7];
        const b = tb ? [...batch, 3, 7] : [...batch, 7, 3];
        await expectParity((x, y) => tf.matMul(x, y, ta, tb), args([a, b]));
      }
    }
  });

  it('tile, broadcasting (fast route) or not (stock)', async () => {
    await expectParity((x) => tf.tile(x, [2, 3, 3, 1]), args([[1, 1, 1, 4]]));
    await expectParity((x) => tf.tile(x, [2, 1, 3]), args([[1, 4, 1]]));
    await expectParity((x) => tf.tile(x, [2, 3]), args([[2, 3]]));
  });

  it('relu6 on both sides of its clip', async () => {
    await expectParity((x) => tf.relu6(x), [arg([4, 25], 3, -4, 10)]);
  });

  it('add with broadcasting', async () => {
    await expectParity((a, b) => tf.add(a, b), args([[2, 3, 4], [4]]));
  });

  it('flatten (reshape)', async () => {
    await expectParity((x, w) => tf.matMul(tf.reshape(x, [2, -1]), w as tf.Tensor2D), args([[2, 3, 3, 2], [18, 4]]));
  });

  it('dropout with a seed', async () => {
    await expectParity((x) => tf.dropout(x, 0.3, undefined, 42), args([[4, 10]]));
  });

  it('softmax cross-entropy', async () => {
    const labels = [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]];
    await expectParity((logits) => tf.losses.softmaxCrossEntropy(tf.tensor(labels), logits), [arg([3, 4], 5, -3, 3)]);
  });

  it('mean and sum', async () => {
    await expectParity((x) => tf.add(tf.mean(x, 1), tf.sum(x, [0, 2])), args([[3, 3, 3]]));
  });
});

describe('small models built with tf.layers get the same weight gradients on wasm as on cpu', () => {
  function tinyCnn(): tf.LayersModel {
    return tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [12, 11, 3], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }),
        tf.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'valid', activation: 'relu' }),
        // No bias: before a batchNorm its gradient is zero, and comparing noise says nothing.
        tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthMultiplier: 2, useBias: false }),
        tf.layers.batchNormalization(),
        tf.layers.activation({ activation: 'relu6' }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.globalAveragePooling2d({}),
        tf.layers.dropout({ rate: 0.25, seed: 3 }),
        tf.layers.dense({ units: 5 }),
      ],
    });
  }

  /** One residual block as in the project's ResNet: strided 3x3 path plus a strided 1x1 shortcut. */
  function residual(): tf.LayersModel {
    const input = tf.input({ shape: [12, 11, 3] });
    const conv = (filters: number, kernelSize: number, strides: number) =>
      tf.layers.conv2d({ filters, kernelSize, strides, padding: 'same', useBias: false });
    const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor) => layer.apply(x) as tf.SymbolicTensor;
    let y = apply(tf.layers.activation({ activation: 'relu' }), apply(tf.layers.batchNormalization(), apply(conv(6, 3, 2), input)));
    y = apply(tf.layers.batchNormalization(), apply(conv(6, 3, 1), y));
    const shortcut = apply(tf.layers.batchNormalization(), apply(conv(6, 1, 2), input));
    const sum = tf.layers.add().apply([y, shortcut]) as tf.SymbolicTensor;
    const pooled = apply(tf.layers.globalAveragePooling2d({}), apply(tf.layers.activation({ activation: 'relu' }), sum));
    return tf.model({ inputs: input, outputs: apply(tf.layers.dense({ units: 5 }), pooled) });
  }

  /** The loss gradient of every trainable weight, with the weights and data given. */
  async function trainingGrads(backend: string, build: () => tf.LayersModel, weights: Arg[], x: Arg): Promise<Float32Array[]> {
    await tf.setBackend(backend);
    const tensorsBefore = tf.memory().numTensors;
    const model = build();
    const initial = weights.map((w) => tf.tensor(w.values, w.shape));
    model.setWeights(initial);
    tf.dispose(initial);
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const { value, grads } = tf.variableGrads(() => {
      const logits = model.apply(tf.tensor(x.values, x.shape), { training: true }) as tf.Tensor;
      return tf.losses.softmaxCrossEntropy(tf.oneHot([0, 3, 1, 4], 5), logits);
    }, vars);
    const out = vars.map((v) => grads[v.name].dataSync().slice() as Float32Array);
    tf.dispose([value, ...Object.values(grads)]);
    model.dispose();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    return out;
  }

  it.each([
    ['conv same, conv valid stride 2, depthwise, batchNorm, relu6, maxPool, global pooling, dropout, dense', tinyCnn, 9],
    ['a residual block with a strided 1x1 shortcut', residual, 11],
  ] as const)('%s', async (_, build, trainable) => {
    await tf.setBackend('cpu');
    const reference = build();
    const weights = reference.weights.map((w, i) => arg(w.shape as number[], 50 + i, w.name.includes('variance') ? 0.5 : -0.5, 1));
    reference.dispose();
    const x = arg([4, 12, 11, 3], 77, 0, 1);
    const expected = await trainingGrads('cpu', build, weights, x);
    const actual = await trainingGrads('wasm', build, weights, x);
    expect(actual.length).toBe(trainable);
    actual.forEach((a, i) => expect(relativeError(a, expected[i]), `weight ${i}`).toBeLessThan(TOLERANCE));
  });
});

describe('initWasmBackend', () => {
  it('works inside a worker thread', async () => {
    const urls = {
      tsx: import.meta.resolve('tsx/esm/api'),
      tf: import.meta.resolve('@tensorflow/tfjs'),
      kernels: new URL('../../../src/main/services/tfjs/wasm-kernels.ts', import.meta.url).href,
    };
    const code = `
      const { parentPort, workerData: urls } = require('node:worker_threads');
      (async () => {
        (await import(urls.tsx)).register();
        const tf = await import(urls.tf);
        await (await import(urls.kernels)).initWasmBackend();
        const x = tf.ones([2, 5, 5, 2]);
        const g = tf.grad((f) => tf.sum(tf.conv2d(x, f, 1, 'same')))(tf.ones([3, 3, 2, 1]));
        parentPort.postMessage({ backend: tf.getBackend(), grad: Array.from(g.dataSync()) });
      })().catch((e) => parentPort.postMessage({ error: String(e && e.stack || e) }));
    `;
    const worker = new Worker(code, { eval: true, workerData: urls });
    try {
      const reply = await new Promise<{ backend?: string; grad?: number[]; error?: string }>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      expect(reply.error).toBeUndefined();
      expect(reply.backend).toBe('wasm');
      // Per channel, each filter tap sums the 4x4 to 5x5 input pixels it reaches, in 2 images.
      expect(reply.grad?.slice(0, 4)).toEqual([32, 32, 40, 40]);
    } finally {
      await worker.terminate();
    }
  });
});
