// The onnxruntime trainer compiles each architecture's training step to ONNX by hand: its
// gradients must be TF.js's own. One SGD step with learning rate 1 turns w into w - grad, so
// the change of every weight is compared with tf.variableGrads on the cpu backend, with the same
// inputs and the same dropout masks.

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ARCH_NAMES, type ArchName } from '../../../src/shared/types';
import { ARCHITECTURES } from '../../../src/main/services/training/architectures';
import { OrtTrainer, SUBNORMAL_FLUSH_STEPS } from '../../../src/main/services/training/ort-trainer';
import { seededRandom } from '../../../src/main/services/rng';
import { NCHWC_DOMAIN, nchwcBlock } from '../../../src/main/services/onnx/nchwc';
import { trainingGraph } from '../../../src/main/services/onnx/training-graph';
import { onnx } from '../../../src/main/services/onnx/proto';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Odd sizes on purpose: 'same' padding with stride 2 and pooling must handle the remainders. */
function inputFor(arch: ArchName): [number, number] {
  return arch === 'resnet-small' || arch === 'keras-cifar' ? [15, 3] : [15, 1];
}

/** TF.js loss of the batch with the given dropout masks (drawn in the trainer's order). */
function tfjsLoss(model: tf.LayersModel, x: tf.Tensor, y: tf.Tensor, random: () => number): tf.Scalar {
  let t: tf.Tensor = x;
  if (model.layers.some((l) => l.getClassName() === 'Add')) t = model.apply(x, { training: true }) as tf.Tensor;
  else {
    for (const layer of model.layers) {
      const cls = layer.getClassName();
      if (cls === 'InputLayer') continue;
      if (cls === 'Dropout') {
        const keep = 1 - (layer.getConfig().rate as number);
        const mask = Float32Array.from({ length: t.size }, () => (random() < keep ? 1 / keep : 0));
        t = tf.mul(t, tf.tensor(mask, t.shape));
      } else t = layer.apply(t, { training: true }) as tf.Tensor;
    }
  }
  return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.log(t)), 1))) as tf.Scalar;
}

/**
 * After one SGD step at rate 1 from `before`, each trainable weight moved by minus its TF.js
 * gradient (within 1e-4 of the largest gradient entry); returns how many weights were checked.
 */
function expectStepFollowsGradients(model: tf.LayersModel, before: Float32Array[], after: Float32Array[], grads: tf.NamedTensorMap): number {
  let checked = 0;
  model.weights.forEach((w, i) => {
    if (!w.trainable) return;
    const expected = grads[(w.read() as tf.Variable).name].dataSync();
    let scale = 1e-6;
    for (const g of expected) scale = Math.max(scale, Math.abs(g));
    let worst = 0;
    for (let j = 0; j < expected.length; j++) worst = Math.max(worst, Math.abs(before[i][j] - after[i][j] - expected[j]));
    expect(worst / scale, w.originalName).toBeLessThan(1e-4);
    checked++;
  });
  return checked;
}

/**
 * One SGD step at rate 1 through onnxruntime on `pixels` ([batch, h, w, c]; labels cycling
 * through 3 classes) moves every weight by minus its TF.js gradient. Disposes the model.
 */
async function expectStepLikeTfjs(model: tf.LayersModel, pixels: Float32Array, [batch, h, w, c]: [number, number, number, number]): Promise<void> {
  const labels = Int32Array.from({ length: batch }, (_, i) => i % 3);
  const trainer = await OrtTrainer.create(model, { kind: 'sgd', weightDecay: 0 }, 2);
  try {
    const before = trainer.weights.map((v) => v.slice());
    await trainer.step(pixels, labels, batch, 1, seededRandom(1));
    const x = tf.tensor4d(pixels, [batch, h, w, c]);
    const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 3);
    const { grads } = tf.variableGrads(() => tfjsLoss(model, x, y, seededRandom(1)), model.trainableWeights.map((v) => v.read() as tf.Variable));
    expect(expectStepFollowsGradients(model, before, trainer.weights, grads)).toBe(model.weights.length);
    tf.dispose([x, y, ...Object.values(grads)]);
  } finally {
    await trainer.release();
    model.dispose();
  }
}

describe('onnxruntime training graphs', () => {
  it.each(ARCH_NAMES)('%s: loss and every gradient match TF.js', async (arch) => {
    const [size, channels] = inputFor(arch);
    Math.random = seededRandom(11);
    const model = ARCHITECTURES[arch].build({ width: size, height: size, channels, classes: 5 });
    const batch = 6;
    const pixels = Float32Array.from({ length: batch * size * size * channels }, () => Math.random());
    const labels = Int32Array.from({ length: batch }, (_, i) => i % 5);
    const trainer = await OrtTrainer.create(model, { kind: 'sgd', weightDecay: 0 }, 2);
    try {
      const before = trainer.weights.map((w) => w.slice());
      const step = await trainer.step(pixels, labels, batch, 1, seededRandom(3));

      const x = tf.tensor4d(pixels, [batch, size, size, channels]);
      const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 5);
      const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const random = seededRandom(3);
      const { value, grads } = tf.variableGrads(() => tfjsLoss(model, x, y, random), trainable);
      expect(step.loss / batch).toBeCloseTo(value.dataSync()[0], 4);

      expect(expectStepFollowsGradients(model, before, trainer.weights, grads)).toBe(model.trainableWeights.length);
      tf.dispose([x, y, value, ...Object.values(grads)]);
    } finally {
      await trainer.release();
      model.dispose();
    }
  }, 120_000); // TF.js's plain-JS reference for resnet-small takes ~10 s alone, several times that on a loaded machine

  it('dense-head (feature vectors in, dropout first): loss and every gradient match TF.js', async () => {
    Math.random = seededRandom(13);
    const features = 40;
    const model = ARCHITECTURES['dense-head'].build({ width: 1, height: 1, channels: 1, classes: 5, features });
    const batch = 6;
    const x = Float32Array.from({ length: batch * features }, () => Math.random() * 3);
    const labels = Int32Array.from({ length: batch }, (_, i) => i % 5);
    const trainer = await OrtTrainer.create(model, { kind: 'sgd', weightDecay: 0 }, 2);
    try {
      const before = trainer.weights.map((w) => w.slice());
      const step = await trainer.step(x, labels, batch, 1, seededRandom(4));
      const xs = tf.tensor2d(x, [batch, features]);
      const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 5);
      const random = seededRandom(4);
      const { value, grads } = tf.variableGrads(() => tfjsLoss(model, xs, y, random), model.trainableWeights.map((w) => w.read() as tf.Variable));
      expect(step.loss / batch).toBeCloseTo(value.dataSync()[0], 4);
      expect(expectStepFollowsGradients(model, before, trainer.weights, grads)).toBe(model.weights.length);
      tf.dispose([xs, y, value, ...Object.values(grads)]);
    } finally {
      await trainer.release();
      model.dispose();
    }
  });

  it('flushes subnormal floats to zero: Adam\'s moments of weights whose gradient stays zero decay to 0, not to slow subnormals', async () => {
    Math.random = seededRandom(17);
    const features = 16;
    const model = ARCHITECTURES['dense-head'].build({ width: 1, height: 1, channels: 1, classes: 3, features });
    const batch = 4;
    const labels = Int32Array.from({ length: batch }, (_, i) => i % 3);
    const trainer = await OrtTrainer.create(model, { kind: 'adam', weightDecay: 0 }, 2);
    try {
      // One step on real inputs gives the first layer's kernel its first moment; on zero inputs
      // its gradient is exactly zero, so the moment shrinks by 0.9 a step into subnormal floats
      // (where it stays: 0.9 times the smallest one rounds back to it) unless the trainer flushes
      // them to zero. Without the flush, 11,344 of these 16,384 moments ended subnormal.
      await trainer.step(Float32Array.from({ length: batch * features }, () => Math.random()), labels, batch, 1e-3, seededRandom(5));
      const kernel = model.weights.findIndex((w) => w.trainable && w.shape.length === 2);
      const moment = () => trainer.optimizerSlots.get(kernel)![0];
      expect(moment().some((v) => Math.abs(v) > 1e-6)).toBe(true);
      const zeros = new Float32Array(batch * features);
      // Some 900 steps, ending on a step that flushes.
      for (let i = 1; i < Math.ceil(900 / SUBNORMAL_FLUSH_STEPS) * SUBNORMAL_FLUSH_STEPS; i++) await trainer.step(zeros, labels, batch, 1e-3, seededRandom(6 + i));
      const subnormal = moment().filter((v) => v !== 0 && Math.abs(v) < 1.1754943508222875e-38).length;
      expect(subnormal).toBe(0);
      expect(moment().every((v) => v === 0)).toBe(true);
    } finally {
      await trainer.release();
      model.dispose();
    }
  });

  it('max pooling over tied maxima (flat image regions) sends each window\'s gradient to one position, as TF.js', async () => {
    Math.random = seededRandom(17);
    // A 1x1 convolution with a bias, then 2x2 pooling: flat regions give every window four equal
    // maxima, whose gradient TF.js gives to the first; crediting all four would scale the conv's
    // gradients. Odd size: 'valid' pooling leaves a last row and column that no window reads.
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [7, 7, 1], filters: 2, kernelSize: 1, biasInitializer: 'ones' }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    });
    const batch = 4;
    // Rows 0-3 flat (0.5), the rest random: tied and untied windows in one image.
    const pixels = Float32Array.from({ length: batch * 49 }, (_, i) => (i % 49 < 28 ? 0.5 : Math.random()));
    await expectStepLikeTfjs(model, pixels, [batch, 7, 7, 1]);
  });

  it('kernel gradients taken image by image (large outputs: padded, strided and 1x1) match TF.js', async () => {
    Math.random = seededRandom(23);
    // The architectures above, at 15x15, take every kernel gradient over the whole batch; these
    // outputs (34x34, then 17x17 strided, then 17x17 through a 1x1 kernel) are large enough for
    // the per-image products.
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [34, 34, 2], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }),
        tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', useBias: false }),
        tf.layers.conv2d({ filters: 3, kernelSize: 1 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    });
    const { graph } = onnx.ModelProto.decode(trainingGraph(model, { kind: 'sgd', weightDecay: 0 }).bytes);
    expect(graph!.node!.filter((n) => n.opType === 'FusedMatMul')).toHaveLength(9 + 9 + 1);
    const batch = 3;
    const pixels = Float32Array.from({ length: batch * 34 * 34 * 2 }, () => Math.random());
    await expectStepLikeTfjs(model, pixels, [batch, 34, 34, 2]);
  });

  it('convolutions whose channels fill NCHWc blocks run as onnxruntime\'s blocked Conv, with TF.js\'s gradients', async (t) => {
    const block = await nchwcBlock();
    if (block === 0) t.skip('this onnxruntime has no NCHWc convolutions here (no AVX2 / AVX-512): the plain Conv runs, covered above');
    Math.random = seededRandom(19);
    // 16 channels fill whole blocks of 8 and of 16. A bias with a fused ReLU, 'valid' padding (its
    // input gradient pads 2 on every side) and a strided convolution (forward blocked, input gradient
    // ConvTranspose).
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [9, 9, 16], filters: 16, kernelSize: 3, padding: 'same', activation: 'relu' }),
        tf.layers.conv2d({ filters: 16, kernelSize: 3, useBias: false }),
        tf.layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    });
    const { graph } = onnx.ModelProto.decode(trainingGraph(model, { kind: 'sgd', weightDecay: 0 }, {}, { nchwcBlock: block }).bytes);
    // Three forward convolutions and the second's input gradient (the first needs none, the strided one's is a ConvTranspose).
    expect(graph!.node!.filter((n) => n.domain === NCHWC_DOMAIN && n.opType === 'Conv')).toHaveLength(4);
    const batch = 4;
    const pixels = Float32Array.from({ length: batch * 9 * 9 * 16 }, () => Math.random());
    await expectStepLikeTfjs(model, pixels, [batch, 9, 9, 16]);
  });

  it('predicts what the TF.js model predicts (batch-norm in inference mode)', async () => {
    Math.random = seededRandom(2);
    const model = ARCHITECTURES['resnet-small'].build({ width: 16, height: 16, channels: 3, classes: 4 });
    const trainer = await OrtTrainer.create(model, { kind: 'adam', weightDecay: 1e-4 }, 2);
    try {
      const pixels = Float32Array.from({ length: 8 * 16 * 16 * 3 }, () => Math.random());
      for (let i = 0; i < 3; i++) await trainer.step(pixels, Int32Array.from([0, 1, 2, 3, 0, 1, 2, 3]), 8, 0.01, seededRandom(i));
      const tensors = trainer.weights.map((w, i) => tf.tensor(w, model.weights[i].shape as number[]));
      model.setWeights(tensors);
      const expected = (model.predict(tf.tensor4d(pixels, [8, 16, 16, 3])) as tf.Tensor).dataSync();
      const actual = await trainer.predict(pixels, 8);
      let worst = 0;
      for (let j = 0; j < expected.length; j++) worst = Math.max(worst, Math.abs(expected[j] - actual[j]));
      expect(worst).toBeLessThan(1e-5);
      tf.dispose(tensors);
    } finally {
      await trainer.release();
      model.dispose();
    }
  });
});
