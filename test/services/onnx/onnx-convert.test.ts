// The TF.js -> ONNX converter, on trained models: every architecture Loupe trains, a model made
// of the other layers it supports (MobileNet's among them), and Google's MobileNet v1 itself when
// ../shared/models has it. The same pixels go through TF.js (wasm) and through onnxruntime-node;
// probabilities must agree within 1e-4 and the top class must be the same.

import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { ARCH_NAMES } from '../../../src/shared/types';
import { convertToOnnx } from '../../../src/main/services/onnx/convert';
import { inspectOnnx } from '../../../src/main/services/onnx/inspect';
import { readLayersModelDir } from '../../../src/main/services/onnx/layers-model';
import { window } from '../../../src/main/services/onnx/layout';
import { compareProbabilities, parityPassed } from '../../../src/main/services/export/parity';
import { ARCHITECTURES } from '../../../src/main/services/training/architectures';
import { activateBackend } from '../../../src/main/services/tfjs/backends';
import { saveModel } from '../../../src/main/services/tfjs/checkpoint';
import { seededRandom } from '../../../src/main/services/rng';
import { tempDir } from '../../helpers';

const MOBILENET = path.resolve(import.meta.dirname, '..', '..', '..', '..', 'shared', 'models', 'mobilenet_v1_1.0_224_pw12');

beforeAll(async () => {
  await activateBackend('wasm');
});

/** Pixels 0..255 as a decoder gives them, seeded. */
function pixels(count: number, shape: number[], seed = 5): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: count * shape.reduce((a, b) => a * b, 1) }, () => Math.floor(random() * 256));
}

/** A few optimizer steps on random data, so batch-norm statistics and weights are not the initial ones. */
async function trainBriefly(model: tf.LayersModel, shape: number[], classes: number): Promise<void> {
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
  const random = seededRandom(11);
  const n = 16;
  const xs = tf.tensor(Float32Array.from({ length: n * shape.reduce((a, b) => a * b, 1) }, () => random()), [n, ...shape]);
  const ys = tf.oneHot(tf.tensor1d(Array.from({ length: n }, (_, i) => i % classes), 'int32'), classes);
  await model.fit(xs, ys, { epochs: 2, batchSize: 8, verbose: 0 });
  tf.dispose([xs, ys]);
}

/** Every weight random (variances positive), so no layer is an identity by accident. */
function randomizeWeights(model: tf.LayersModel): void {
  const random = seededRandom(17);
  model.setWeights(
    model.weights.map((w) => {
      const positive = /moving_variance|gamma/.test(w.originalName);
      return tf.tensor(Float32Array.from({ length: w.shape.reduce((a: number, b) => a * (b ?? 1), 1) }, () => (positive ? 0.5 + random() : random() - 0.5)), w.shape as number[]);
    }),
  );
}

/** TF.js and onnxruntime on the same pixels; the model's input is pixels * scale + offset. */
async function compare(model: tf.LayersModel, dir: string, shape: number[], pre: { scale: number; offset: number }, count = 6) {
  await saveModel(model, dir);
  const converted = convertToOnnx(readLayersModelDir(dir), { preprocess: pre, producerVersion: 'test' });
  const input = pixels(count, shape);
  const expected = tf.tidy(() => (model.predict(tf.tensor(input, [count, ...shape]).mul(pre.scale).add(pre.offset)) as tf.Tensor).dataSync() as Float32Array);
  const session = await ort.InferenceSession.create(converted.bytes);
  const out = await session.run({ pixels: new ort.Tensor('float32', input, [count, ...shape]) });
  await session.release();
  const actual = out.probabilities.data as Float32Array;
  return { converted, parity: compareProbabilities(expected, actual, count, 'onnxruntime'), actual };
}

describe('TF.js -> ONNX', () => {
  it.each(ARCH_NAMES)('matches TF.js on a trained %s (odd input size, opset 13, pixels in, probabilities out)', async (arch) => {
    const shape = arch === 'resnet-small' ? [50, 49, 3] : [19, 23, arch === 'mlp' || arch === 'lenet' ? 1 : 3];
    const model = ARCHITECTURES[arch].build({ height: shape[0], width: shape[1], channels: shape[2], classes: 4 });
    await trainBriefly(model, shape, 4);
    const { converted, parity, actual } = await compare(model, path.join(tempDir(), 'model'), shape, { scale: 1 / 255, offset: 0 });
    model.dispose();
    expect(parity.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    expect(parity.top1Agreement).toBe(1);
    expect(parityPassed(parity)).toBe(true);
    // Rows are probabilities.
    for (let i = 0; i < 6; i++) expect(actual.subarray(i * 4, i * 4 + 4).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    const summary = inspectOnnx(converted.bytes, 'model.onnx');
    expect(summary.opset).toBe(13);
    expect(summary.inputs).toEqual([{ name: 'pixels', dims: [null, ...shape], elemType: 1 }]);
    expect(summary.outputs).toEqual([{ name: 'probabilities', dims: [null, 4], elemType: 1 }]);
  });

  it('converts the other supported layers: depthwise (multiplier 2), ReLU6, padding, pooling, merges, reshapes', async () => {
    const shape = [17, 15, 3];
    const input = tf.input({ shape });
    const L = tf.layers;
    const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => layer.apply(x) as tf.SymbolicTensor;
    let x = apply(L.zeroPadding2d({ padding: [[1, 2], [0, 1]] }), input);
    x = apply(L.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: true }), x);
    x = apply(L.batchNormalization({}), x);
    x = apply(L.activation({ activation: 'relu6' }), x);
    const a = apply(L.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'same', useBias: true }), x);
    const b = apply(L.conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same', dilationRate: 1, activation: 'sigmoid' }), x);
    let y = apply(L.multiply(), [a, b]);
    y = apply(L.reLU({ maxValue: 6 }), y);
    const c = apply(L.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same' }), y);
    const d = apply(L.conv2d({ filters: 4, kernelSize: 1, activation: 'tanh', dilationRate: 1 }), c);
    const e = apply(L.conv2d({ filters: 4, kernelSize: 2, dilationRate: 2, padding: 'same' }), c);
    let z = apply(L.concatenate({ axis: -1 }), [d, apply(L.leakyReLU({ alpha: 0.2 }), e)]);
    const pooled = apply(L.globalMaxPooling2d({}), z);
    z = apply(L.reshape({ targetShape: [6, 8] }), z);
    z = apply(L.dense({ units: 6, activation: 'elu' }), z); // a dense layer on a 3-D tensor
    z = apply(L.flatten(), z);
    z = apply(L.concatenate(), [z, pooled]);
    z = apply(L.dense({ units: 12 }), z);
    z = apply(L.batchNormalization({}), z);
    z = apply(L.dropout({ rate: 0.3 }), z);
    z = apply(L.dense({ units: 5 }), z);
    const out = apply(L.softmax(), z);
    const model = tf.model({ inputs: input, outputs: out });
    randomizeWeights(model); // TF.js cannot train dilated convolutions: random weights instead

    const { converted, parity } = await compare(model, path.join(tempDir(), 'model'), shape, { scale: 1 / 127.5, offset: -1 });
    model.dispose();
    expect(parity.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    expect(parity.top1Agreement).toBe(1);
    expect(converted.layers).toMatchObject({ ZeroPadding2D: 1, DepthwiseConv2D: 1, ReLU: 1, AveragePooling2D: 1, Concatenate: 2, Reshape: 1, GlobalMaxPooling2D: 1, Multiply: 1, LeakyReLU: 1, Softmax: 1 });
  });

  it('refuses a layer it cannot convert, naming the layer and its class', async () => {
    const model = tf.sequential({ layers: [tf.layers.conv1d({ inputShape: [12, 2], filters: 3, kernelSize: 3 }), tf.layers.flatten(), tf.layers.dense({ units: 2 })] });
    const dir = path.join(tempDir(), 'model');
    await saveModel(model, dir);
    const name = model.layers[0].name;
    model.dispose();
    expect(() => convertToOnnx(readLayersModelDir(dir), { preprocess: null, producerVersion: 'test' })).toThrow(
      `The ONNX export does not support Conv1D layers (layer "${name}").`,
    );
  });

  it('pads like TensorFlow: "same" puts the odd pixel after, "valid" drops the rest', () => {
    expect(window(224, 3, 2, 1, 'same')).toEqual({ out: 112, begin: 0, end: 1 });
    expect(window(7, 3, 1, 1, 'same')).toEqual({ out: 7, begin: 1, end: 1 });
    expect(window(7, 3, 2, 2, 'valid')).toEqual({ out: 2, begin: 0, end: 0 });
    expect(window(8, 4, 1, 1, 'same')).toEqual({ out: 8, begin: 1, end: 2 });
  });

  it.runIf(fs.existsSync(path.join(MOBILENET, 'model.json')))('converts Google\'s MobileNet v1 (cut after block 12) with the same features', async () => {
    const graph = readLayersModelDir(MOBILENET);
    const converted = convertToOnnx(graph, { preprocess: { scale: 1 / 127.5, offset: -1 }, outputName: 'features', producerVersion: 'test' });
    expect(converted.layers).toMatchObject({ DepthwiseConv2D: 12, Conv2D: 13, BatchNormalization: 25 });
    const json = JSON.parse(fs.readFileSync(path.join(MOBILENET, 'model.json'), 'utf8')) as {
      modelTopology: object;
      weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
    };
    const bytes = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(MOBILENET, p)))));
    const model = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: json.modelTopology,
        weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
        weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
      }),
    );
    const shape = [224, 224, 3];
    const input = pixels(2, shape, 3);
    const expected = tf.tidy(() => (model.predict(tf.tensor(input, [2, ...shape]).div(127.5).sub(1)) as tf.Tensor).dataSync() as Float32Array);
    model.dispose();
    const session = await ort.InferenceSession.create(converted.bytes);
    const actual = (await session.run({ pixels: new ort.Tensor('float32', input, [2, ...shape]) })).features.data as Float32Array;
    await session.release();
    expect(actual.length).toBe(2 * 1024);
    let maxDiff = 0;
    for (let i = 0; i < actual.length; i++) maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
    expect(maxDiff).toBeLessThanOrEqual(1e-4);
  });
});
