// Fine-tuning a pretrained backbone through the onnxruntime trainer: MobileNet v1's layers
// (depthwise convolution, ReLU6, batch norm in training mode and with frozen statistics),
// layers that are not trainable, and per-layer learning-rate scales, each against TF.js on the
// cpu backend. As in ort-training.test.ts, one SGD step with learning rate 1 turns w into
// w - grad, so every weight's change is compared with tf.variableGrads on the same batch.

import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { OrtTrainer } from '../../../src/main/services/training/ort-trainer';
import { trainingGraph, type TrainingOptions } from '../../../src/main/services/onnx/training-graph';
import { NCHWC_DOMAIN, nchwcBlock } from '../../../src/main/services/onnx/nchwc';
import { onnx } from '../../../src/main/services/onnx/proto';
import { seededRandom } from '../../../src/main/services/rng';

const MOBILENET = path.resolve(import.meta.dirname, '..', '..', '..', '..', 'shared', 'models', 'mobilenet_v1_1.0_224_pw12');

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Batch norm's training flag in the TF.js reference: frozen layers normalise with their moving statistics. */
function bnTraining(layer: tf.layers.Layer, options: TrainingOptions): boolean {
  return !(options.frozenBatchNorm || !layer.trainable);
}

/** The TF.js loss of a chain of layers (each reads the previous one's output), and whether a ReLU6 clipped above. */
function tfjsLoss(model: tf.LayersModel, x: tf.Tensor, y: tf.Tensor, options: TrainingOptions, clipped: Set<string>): tf.Scalar {
  let t: tf.Tensor = x;
  for (const layer of model.layers) {
    if (layer.getClassName() === 'InputLayer') continue;
    const training = layer.getClassName() === 'BatchNormalization' ? bnTraining(layer, options) : true;
    t = layer.apply(t, { training }) as tf.Tensor;
    const c = layer.getConfig();
    if (c.activation === 'relu6' || c.maxValue != null) {
      const max = (c.maxValue as number | undefined) ?? 6;
      if (tf.tidy(() => tf.any(tf.equal(t, max)).dataSync()[0])) clipped.add(layer.name);
    }
  }
  return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.log(t)), 1))) as tf.Scalar;
}

interface Case {
  model: tf.LayersModel;
  x: Float32Array;
  batch: number;
  classes: number;
  options?: TrainingOptions;
}

/** One SGD step (lr 1) of the compiled graph against TF.js: the loss, every weight's change, the moving statistics. */
async function expectParity({ model, x, batch, classes, options = {} }: Case): Promise<{ clipped: Set<string>; after: Float32Array[] }> {
  const labels = Int32Array.from({ length: batch }, (_, i) => i % classes);
  const trainer = await OrtTrainer.create(model, { kind: 'sgd', weightDecay: 0 }, 2, options);
  const clipped = new Set<string>();
  try {
    const before = trainer.weights.map((w) => w.slice());
    const step = await trainer.step(x, labels, batch, 1, seededRandom(1));
    const shape = (model.inputs[0].shape as number[]).slice(1);
    const xs = tf.tensor(x, [batch, ...shape]);
    const y = tf.oneHot(tf.tensor1d(labels, 'int32'), classes);
    const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
    // TF.js updates the moving statistics of batch norm in training mode as it runs.
    const { value, grads } = tf.variableGrads(() => tfjsLoss(model, xs, y, options, clipped), trainable);
    expect(step.loss / batch).toBeCloseTo(value.dataSync()[0], 4);
    const scaleOf = new Map<tf.LayerVariable, number>();
    for (const layer of model.layers) for (const w of layer.weights) scaleOf.set(w, options.lrScale?.[layer.name] ?? 1);
    model.weights.forEach((w, i) => {
      const now = w.read().dataSync();
      const expected = w.trainable ? grads[(w.read() as tf.Variable).name].dataSync().map((g) => g * scaleOf.get(w)!) : null;
      let scale = 1e-6;
      for (const v of expected ?? now) scale = Math.max(scale, Math.abs(v));
      let worst = 0;
      for (let j = 0; j < now.length; j++) {
        // Trainable: the change is the (scaled) gradient; not trainable: the value TF.js holds now
        // (moving statistics updated by the batch, or untouched when frozen).
        const diff = expected ? before[i][j] - trainer.weights[i][j] - expected[j] : trainer.weights[i][j] - now[j];
        worst = Math.max(worst, Math.abs(diff));
      }
      expect(worst / scale, `${w.originalName}`).toBeLessThan(w.trainable ? 2e-4 : 1e-5);
    });
    tf.dispose([xs, y, value, ...Object.values(grads)]);
    return { clipped, after: trainer.weights.map((w) => w.slice()) };
  } finally {
    await trainer.release();
  }
}

function uniform(n: number, random: () => number, lo: number, hi: number): Float32Array {
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * random());
}

/** Random weights (the layers' initialisers draw from Math.random) and BN statistics away from 0/1. */
function randomise(model: tf.LayersModel, random: () => number): void {
  const values = model.weights.map((w) => {
    const n = w.shape.reduce((a: number, b) => a * (b as number), 1);
    const name = w.originalName;
    if (name.endsWith('moving_variance')) return tf.tensor(uniform(n, random, 0.5, 2), w.shape as number[]);
    if (name.endsWith('moving_mean')) return tf.tensor(uniform(n, random, -0.5, 0.5), w.shape as number[]);
    if (name.endsWith('gamma')) return tf.tensor(uniform(n, random, 0.5, 1.5), w.shape as number[]);
    return tf.tensor(uniform(n, random, -1, 1), w.shape as number[]);
  });
  model.setWeights(values);
  tf.dispose(values);
}

/** A MobileNet v1-style stack: its preprocessing, a conv, then depthwise separable blocks, each conv followed by BN and ReLU6. */
function mobileNetStyle(size: number, classes: number): tf.LayersModel {
  const input = tf.input({ shape: [size, size, 3] });
  let t = tf.layers.rescaling({ scale: 2, offset: -1, name: 'preprocess' }).apply(input) as tf.SymbolicTensor;
  t = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: 'conv1' }).apply(t) as tf.SymbolicTensor;
  t = tf.layers.batchNormalization({ epsilon: 1e-3, momentum: 0.99, name: 'conv1_bn' }).apply(t) as tf.SymbolicTensor;
  t = tf.layers.activation({ activation: 'relu6', name: 'conv1_relu' }).apply(t) as tf.SymbolicTensor;
  for (const [i, stride, filters] of [
    [1, 1, 12],
    [2, 2, 16],
  ]) {
    t = tf.layers.depthwiseConv2d({ kernelSize: 3, strides: stride, padding: 'same', useBias: false, name: `conv_dw_${i}` }).apply(t) as tf.SymbolicTensor;
    t = tf.layers.batchNormalization({ epsilon: 1e-3, momentum: 0.99, name: `conv_dw_${i}_bn` }).apply(t) as tf.SymbolicTensor;
    t = tf.layers.activation({ activation: 'relu6', name: `conv_dw_${i}_relu` }).apply(t) as tf.SymbolicTensor;
    t = tf.layers.conv2d({ filters, kernelSize: 1, padding: 'same', useBias: false, name: `conv_pw_${i}` }).apply(t) as tf.SymbolicTensor;
    t = tf.layers.batchNormalization({ epsilon: 1e-3, momentum: 0.99, name: `conv_pw_${i}_bn` }).apply(t) as tf.SymbolicTensor;
    t = tf.layers.activation({ activation: 'relu6', name: `conv_pw_${i}_relu` }).apply(t) as tf.SymbolicTensor;
  }
  t = tf.layers.globalAveragePooling2d({ name: 'features' }).apply(t) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: classes, activation: 'softmax', name: 'head' }).apply(t) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

/** Operator counts of a compiled graph. */
function ops(bytes: Uint8Array): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const node of onnx.ModelProto.decode(bytes).graph?.node ?? []) counts[node.opType!] = (counts[node.opType!] ?? 0) + 1;
  return counts;
}

async function expectSamePredictions(model: tf.LayersModel, weights: Float32Array[], x: Float32Array, batch: number, options: TrainingOptions): Promise<void> {
  const trainer = await OrtTrainer.create(model, { kind: 'sgd', weightDecay: 0 }, 2, options);
  try {
    const shape = (model.inputs[0].shape as number[]).slice(1);
    // A prediction with the weights it was created with first: the next must not reuse them.
    await trainer.predict(x, batch);
    const tensors = weights.map((w, i) => tf.tensor(w, model.weights[i].shape as number[]));
    model.setWeights(tensors);
    trainer.setWeights(weights);
    const expected = tf.tidy(() => (model.predict(tf.tensor(x, [batch, ...shape])) as tf.Tensor).dataSync());
    const actual = await trainer.predict(x, batch);
    let worst = 0;
    for (let j = 0; j < expected.length; j++) worst = Math.max(worst, Math.abs(expected[j] - actual[j]));
    expect(worst).toBeLessThan(1e-5);
    tf.dispose(tensors);
  } finally {
    await trainer.release();
  }
}

describe('fine-tuning layers in the onnxruntime trainer', () => {
  it('depthwise convolutions (stride 1 and 2, same and valid, with and without bias), ReLU6, ReLU(maxValue) and ZeroPadding2D: every gradient matches TF.js', async () => {
    const random = seededRandom(21);
    const input = tf.input({ shape: [9, 9, 4] });
    let t = tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 1, padding: 'same', useBias: true, activation: 'relu6', name: 'dw_s1_same' }).apply(input) as tf.SymbolicTensor;
    t = tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: 'dw_s2_same' }).apply(t) as tf.SymbolicTensor;
    t = tf.layers.reLU({ maxValue: 3, name: 'relu_max3' }).apply(t) as tf.SymbolicTensor;
    t = tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 1, padding: 'valid', useBias: true, name: 'dw_s1_valid' }).apply(t) as tf.SymbolicTensor;
    t = tf.layers.conv2d({ filters: 6, kernelSize: 1, activation: 'relu6', name: 'pw_relu6' }).apply(t) as tf.SymbolicTensor;
    t = tf.layers.zeroPadding2d({ padding: [[1, 1], [0, 1]], name: 'pad' }).apply(t) as tf.SymbolicTensor;
    t = tf.layers.depthwiseConv2d({ kernelSize: 2, strides: 2, padding: 'valid', useBias: true, name: 'dw_s2_valid' }).apply(t) as tf.SymbolicTensor;
    t = tf.layers.activation({ activation: 'relu6', name: 'act_relu6' }).apply(t) as tf.SymbolicTensor;
    t = tf.layers.flatten().apply(t) as tf.SymbolicTensor;
    t = tf.layers.dense({ units: 8, activation: 'relu6', name: 'dense_relu6' }).apply(t) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 3, activation: 'softmax' }).apply(t) as tf.SymbolicTensor });
    randomise(model, random);
    try {
      const batch = 5;
      const x = uniform(batch * 9 * 9 * 4, random, 0, 4);
      const { clipped } = await expectParity({ model, x, batch, classes: 3 });
      // ReLU6 and ReLU(3) clipped above somewhere, so their gradients' upper cut was exercised.
      expect([...clipped].sort()).toEqual(expect.arrayContaining(['dw_s1_same', 'relu_max3', 'pw_relu6']));
      const graph = ops(trainingGraph(model, { kind: 'sgd', weightDecay: 0 }).bytes);
      expect(graph.ConvTranspose).toBe(2); // the stride-2 depthwise layers' input gradients
    } finally {
      model.dispose();
    }
  });

  it('depthwise convolutions whose channels fill NCHWc blocks run as the blocked depthwise Conv (forward, input and kernel gradients), with TF.js\'s gradients', async (t) => {
    const block = await nchwcBlock();
    if (block === 0) t.skip('this onnxruntime has no NCHWc convolutions here (no AVX2 / AVX-512): the grouped Conv runs, covered above');
    const random = seededRandom(23);
    // 16 channels fill whole blocks of 8 and of 16. Odd sizes, so that the kernel gradients' wide
    // images are padded at the bottom and right ('same', stride 1), cut there ('valid', stride 2
    // on 10 columns) or both; strides 1 and 2, kernels 3 and 2.
    const input = tf.input({ shape: [9, 11, 16] });
    let t0 = tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 1, padding: 'same', useBias: true, activation: 'relu6', name: 'dw_s1_same' }).apply(input) as tf.SymbolicTensor;
    t0 = tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: 'dw_s2_same' }).apply(t0) as tf.SymbolicTensor;
    t0 = tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 1, padding: 'valid', useBias: true, name: 'dw_s1_valid' }).apply(t0) as tf.SymbolicTensor;
    t0 = tf.layers.zeroPadding2d({ padding: [[1, 2], [0, 1]], name: 'pad' }).apply(t0) as tf.SymbolicTensor;
    t0 = tf.layers.depthwiseConv2d({ kernelSize: 2, strides: 2, padding: 'valid', useBias: true, name: 'dw_s2_valid' }).apply(t0) as tf.SymbolicTensor;
    t0 = tf.layers.flatten().apply(t0) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 3, activation: 'softmax' }).apply(t0) as tf.SymbolicTensor });
    randomise(model, random);
    try {
      const { graph } = onnx.ModelProto.decode(trainingGraph(model, { kind: 'sgd', weightDecay: 0 }, {}, { nchwcBlock: block }).bytes);
      const depthwise = graph!.node!.filter((n) => n.domain === NCHWC_DOMAIN && n.opType === 'Conv' && n.attribute!.some((a) => a.name === 'group' && Number(a.i) > 1));
      // 4 forward, 4 kernel gradients, and the input gradient of the one stride-1 layer that needs it
      // (the first needs none; the stride-2 ones' are ConvTranspose).
      expect(depthwise).toHaveLength(9);
      const batch = 5;
      await expectParity({ model, x: uniform(batch * 9 * 11 * 16, random, 0, 4), batch, classes: 3 });
    } finally {
      model.dispose();
    }
  });

  it.each([
    ['training-mode batch norm (batch statistics, moving statistics updated)', {}],
    ['frozen batch norm (moving statistics normalise and stay unchanged; gamma and beta learn)', { frozenBatchNorm: true }],
  ] as [string, TrainingOptions][])('a MobileNet-style stack with %s matches TF.js, in training and inference', async (_, options) => {
    const random = seededRandom(5);
    const model = mobileNetStyle(11, 4);
    randomise(model, random);
    try {
      const batch = 6;
      const x = uniform(batch * 11 * 11 * 3, random, 0, 1);
      const meanIndex = model.weights.findIndex((w) => w.originalName.endsWith('conv_dw_1_bn/moving_mean'));
      const meanBefore = model.weights[meanIndex].read().dataSync().slice();
      const { after } = await expectParity({ model, x, batch, classes: 4, options });
      // The parity check compared the moving statistics with TF.js's: moved by the batch, or not at all.
      expect(after[meanIndex].some((v, j) => v !== meanBefore[j])).toBe(!options.frozenBatchNorm);
      await expectSamePredictions(model, after, x, batch, options);
    } finally {
      model.dispose();
    }
  });

  it('frozen batch norm leaves the moving statistics exactly as they were', async () => {
    const random = seededRandom(6);
    const model = mobileNetStyle(9, 3);
    randomise(model, random);
    try {
      const trainer = await OrtTrainer.create(model, { kind: 'adam', weightDecay: 1e-4 }, 2, { frozenBatchNorm: true });
      const before = trainer.weights.map((w) => w.slice());
      await trainer.step(uniform(4 * 9 * 9 * 3, random, 0, 1), Int32Array.from([0, 1, 2, 0]), 4, 0.01, seededRandom(1));
      model.weights.forEach((w, i) => {
        const moving = /moving_(mean|variance)$/.test(w.originalName);
        expect(trainer.weights[i].every((v, j) => v === before[i][j]), w.originalName).toBe(moving);
      });
      await trainer.release();
    } finally {
      model.dispose();
    }
  });

  it('layers that are not trainable stay unchanged and nothing below the first trainable layer is differentiated; per-layer learning-rate scales apply', async () => {
    const random = seededRandom(8);
    const model = mobileNetStyle(11, 4);
    randomise(model, random);
    const frozen = ['preprocess', 'conv1', 'conv1_bn', 'conv1_relu', 'conv_dw_1', 'conv_dw_1_bn'];
    for (const layer of model.layers) if (frozen.includes(layer.name)) layer.trainable = false;
    try {
      const batch = 4;
      const x = uniform(batch * 11 * 11 * 3, random, 0, 1);
      const lrScale = Object.fromEntries(model.layers.filter((l) => l.name !== 'head').map((l) => [l.name, 0.25]));
      const before = model.weights.map((w) => w.read().dataSync().slice());
      const { after } = await expectParity({ model, x, batch, classes: 4, options: { lrScale } });
      model.weights.forEach((w, i) => {
        const layer = w.originalName.split('/')[0];
        if (frozen.includes(layer)) expect(after[i], w.originalName).toEqual(before[i]);
      });
      // The frozen part's gradients are never built: of the strided layers (conv1, conv_dw_2) only
      // conv_dw_2's input gradient is a ConvTranspose; conv_dw_1's kernel gradient and its and
      // conv_pw_1's input gradients (convolutions) are not built, since nothing below them learns.
      const graph = ops(trainingGraph(model, { kind: 'sgd', weightDecay: 0 }).bytes);
      const all = ops(trainingGraph(mobileNetStyle(11, 4), { kind: 'sgd', weightDecay: 0 }).bytes);
      expect(graph.ConvTranspose).toBe(1);
      expect(all.Conv - graph.Conv).toBe(3);
      expect(graph.Gemm).toBeLessThan(all.Gemm); // conv1's and conv_dw_1's kernel gradients
    } finally {
      model.dispose();
    }
  });

  it('Adam with a per-layer learning-rate scale: one step moves each weight as Adam on the TF.js gradients', async () => {
    const random = seededRandom(12);
    const model = mobileNetStyle(9, 3);
    randomise(model, random);
    try {
      const batch = 4;
      const x = uniform(batch * 9 * 9 * 3, random, 0, 1);
      const labels = Int32Array.from({ length: batch }, (_, i) => i % 3);
      const options: TrainingOptions = { frozenBatchNorm: true, lrScale: Object.fromEntries(model.layers.filter((l) => l.name !== 'head').map((l) => [l.name, 0.1])) };
      const trainer = await OrtTrainer.create(model, { kind: 'adam', weightDecay: 0 }, 2, options);
      const before = trainer.weights.map((w) => w.slice());
      const lr = 0.01;
      await trainer.step(x, labels, batch, lr, seededRandom(1));
      await trainer.release();
      const xs = tf.tensor(x, [batch, 9, 9, 3]);
      const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 3);
      const { value, grads } = tf.variableGrads(() => tfjsLoss(model, xs, y, options, new Set()), model.trainableWeights.map((w) => w.read() as tf.Variable));
      let checked = 0;
      model.weights.forEach((w, i) => {
        if (!w.trainable) return;
        const rate = lr * (w.originalName.startsWith('head/') ? 1 : 0.1);
        const g = grads[(w.read() as tf.Variable).name].dataSync();
        for (let j = 0; j < g.length; j++) {
          // Adam's first step: lr * m^ / (sqrt(v^) + eps) = lr * g / (|g| + 1e-7).
          const expected = (rate * g[j]) / (Math.abs(g[j]) + 1e-7);
          const moved = before[i][j] - trainer.weights[i][j];
          // Where |g| is near Adam's epsilon the step is sensitive to the gradient's last bits.
          if (Math.abs(g[j]) > 1e-5) expect(Math.abs(moved - expected), `${w.originalName}[${j}]`).toBeLessThan(rate * 1e-3);
          else expect(Math.abs(moved)).toBeLessThanOrEqual(rate * 1.001);
        }
        checked++;
      });
      expect(checked).toBe(model.trainableWeights.length);
      tf.dispose([xs, y, value, ...Object.values(grads)]);
    } finally {
      model.dispose();
    }
  });

  it.runIf(fs.existsSync(path.join(MOBILENET, 'model.json')))(
    "MobileNet v1's last two blocks (real weights, 8x8x512 in) with a softmax head: gradients, one step and predictions match TF.js",
    async () => {
      const full = await loadFromDisk();
      const first = full.layers.findIndex((l) => l.name === 'conv_dw_11');
      const lastIndex = full.layers.findIndex((l) => l.name === 'conv_pw_12_relu');
      const input = tf.input({ shape: [8, 8, 512] });
      let t: tf.SymbolicTensor = input;
      const copies: [tf.layers.Layer, tf.layers.Layer][] = [];
      for (const layer of full.layers.slice(first, lastIndex + 1)) {
        // A fresh layer from the same config (applying the original to a new input would add a second node to it).
        const Cls = layer.constructor as new (config: object) => tf.layers.Layer;
        const copy = new Cls(layer.getConfig());
        t = copy.apply(t) as tf.SymbolicTensor;
        copies.push([layer, copy]);
      }
      t = tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(t) as tf.SymbolicTensor;
      const head = tf.layers.dense({ units: 5, activation: 'softmax', name: 'head', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) });
      const model = tf.model({ inputs: input, outputs: head.apply(t) as tf.SymbolicTensor });
      for (const [layer, copy] of copies) copy.setWeights(layer.getWeights());
      full.dispose();
      try {
        expect(model.layers.map((l) => l.getClassName())).toEqual(
          expect.arrayContaining(['DepthwiseConv2D', 'BatchNormalization', 'Activation', 'Conv2D', 'GlobalAveragePooling2D', 'Dense']),
        );
        const random = seededRandom(9);
        const batch = 2;
        // Like the outputs of conv_pw_10_relu: non-negative, many zeros, at most 6.
        const x = Float32Array.from({ length: batch * 8 * 8 * 512 }, () => (random() < 0.5 ? 0 : 6 * random() ** 2));
        const lrScale = Object.fromEntries(copies.map(([, c]) => [c.name, 0.1]));
        const { after } = await expectParity({ model, x, batch, classes: 5, options: { frozenBatchNorm: true, lrScale } });
        await expectSamePredictions(model, after, x, batch, { frozenBatchNorm: true });
      } finally {
        model.dispose();
      }
    },
    300_000, // TF.js's plain-JS reference takes ~20 s alone, several times that on a loaded machine
  );
});

async function loadFromDisk(): Promise<tf.LayersModel> {
  const json = JSON.parse(fs.readFileSync(path.join(MOBILENET, 'model.json'), 'utf8')) as {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  const bytes = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(MOBILENET, p)))));
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
      weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
    }),
  );
}
