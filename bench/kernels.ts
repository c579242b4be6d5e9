// The wasm training kernels against tfjs-backend-wasm's stock ones, where it has them, then
// whole training steps of two small CNNs with the stock kernels and with ours.
// Run: npx tsx bench/kernels.ts

import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../src/main/services/tfjs/wasm-kernels';

const REPLACED = ['Conv2DBackpropInput', 'MaxPoolGrad', 'BatchMatMul', 'Tile'];

function use(config: tf.KernelConfig): void {
  tf.unregisterKernel(config.kernelName, 'wasm');
  tf.registerKernel(config);
}

/** Milliseconds per call, after one warm-up call. */
function msPer(f: () => tf.Tensor | tf.Tensor[], reps: number): number {
  tf.dispose(f());
  const t = performance.now();
  for (let i = 0; i < reps; i++) {
    const out = f();
    (Array.isArray(out) ? out : [out]).forEach((o) => o.dataSync());
    tf.dispose(out);
  }
  return (performance.now() - t) / reps;
}

type Pad = 'same' | 'valid';
type Shape4 = [number, number, number, number];

function compareKernels(stock: tf.KernelConfig[], ours: tf.KernelConfig[]): void {
  const rows: [string, () => tf.Tensor][] = [];
  const convs: [Shape4, Shape4, number, Pad][] = [
    [[32, 32, 32, 3], [3, 3, 3, 32], 1, 'same'],
    [[32, 32, 32, 32], [3, 3, 32, 32], 1, 'same'],
    [[32, 16, 16, 64], [3, 3, 64, 64], 1, 'same'],
    [[64, 13, 13, 32], [3, 3, 32, 64], 1, 'valid'],
    [[32, 32, 32, 32], [3, 3, 32, 64], 2, 'same'],
    [[32, 16, 16, 32], [3, 3, 32, 64], 2, 'valid'],
  ];
  for (const [xShape, fShape, stride, pad] of convs) {
    const dy = tf.randomNormal(tf.backend_util.computeConv2DInfo(xShape, fShape, stride, 1, pad).outShape);
    const filter = tf.randomNormal(fShape);
    const attrs = { strides: stride, pad, dataFormat: 'NHWC', inputShape: xShape };
    rows.push([`Conv2DBackpropInput x ${xShape.join('x')} f ${fShape.join('x')} s${stride} ${pad}`,
      () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, attrs) as tf.Tensor]);
  }
  for (const [xShape, size, stride] of [[[32, 32, 32, 32], 2, 2], [[64, 26, 26, 32], 2, 2], [[32, 16, 16, 64], 3, 2]] as const) {
    const input = tf.relu(tf.randomNormal([...xShape]));
    const output = tf.maxPool(input as tf.Tensor4D, size, stride, 'same');
    const dy = tf.randomNormal(output.shape);
    const attrs = { filterSize: size, strides: stride, pad: 'same' };
    rows.push([`MaxPoolGrad x ${xShape.join('x')} pool ${size} s${stride}`,
      () => tf.engine().runKernel('MaxPoolGrad', { dy, input, output }, attrs) as tf.Tensor]);
  }
  for (const [a, b, ta, tb] of [[[64, 1600], [128, 1600], false, true], [[64, 1600], [64, 128], true, false]] as const) {
    const [x, y] = [tf.randomNormal([...a]), tf.randomNormal([...b])];
    rows.push([`BatchMatMul ${a.join('x')}${ta ? 'T' : ''} . ${b.join('x')}${tb ? 'T' : ''}`,
      () => tf.tidy(() => tf.matMul(tf.add(x, 0), tf.add(y, 0), ta, tb))]);
  }
  const scale = tf.randomNormal([1, 1, 1, 64]);
  rows.push(['Tile 1x1x1x64 to 64x16x16x64', () => tf.tile(scale, [64, 16, 16, 1])]);
  console.log('kernel                                                        stock ms   ours ms');
  for (const [name, run] of rows) {
    stock.forEach(use);
    const before = msPer(run, 10);
    ours.forEach(use);
    const after = msPer(run, 10);
    console.log(`${name.padEnd(60)} ${before.toFixed(2).padStart(8)} ${after.toFixed(2).padStart(9)}`);
  }
}

/** The seed article's MLP. */
function mlp(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [28, 28, 1] }),
      tf.layers.dense({ units: 128, activation: 'relu' }),
      tf.layers.dropout({ rate: 0.2 }),
      tf.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
}

/** MNIST-style: the seed article's small CNN. */
function lenet(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 32, kernelSize: 3, activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 128, activation: 'relu' }),
      tf.layers.dropout({ rate: 0.2 }),
      tf.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
}

/** CIFAR-style, with every kind of layer the training kernels serve. */
function smallConvnet(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [32, 32, 3], filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' }),
      tf.layers.conv2d({ filters: 64, kernelSize: 3, strides: 2, padding: 'same', useBias: false }),
      tf.layers.batchNormalization(),
      tf.layers.activation({ activation: 'relu' }),
      tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu6' }),
      tf.layers.conv2d({ filters: 64, kernelSize: 1, activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
}

/** Images per second of training steps (trainOnBatch: forward, backward, SGD update) for ~1 s. */
async function trainRate(model: tf.Sequential, x: tf.Tensor, y: tf.Tensor): Promise<number> {
  for (let i = 0; i < 2; i++) await model.trainOnBatch(x, y);
  const t = performance.now();
  let steps = 0;
  while (performance.now() - t < 1000) {
    await model.trainOnBatch(x, y);
    steps++;
  }
  return (x.shape[0] * steps) / ((performance.now() - t) / 1000);
}

/** The best of two alternating rounds each, so that warm-up and noise favour neither. */
async function compareTraining(stock: tf.KernelConfig[], ours: tf.KernelConfig[]): Promise<void> {
  console.log('\ntraining step, batch 64                 stock kernels img/s   ours img/s');
  const models = [['MLP (28x28x1)', mlp], ['MNIST CNN (28x28x1)', lenet], ['small convnet (32x32x3)', smallConvnet]] as const;
  for (const [name, build] of models) {
    const model = build();
    model.compile({ optimizer: tf.train.sgd(0.01), loss: 'categoricalCrossentropy' });
    const x = tf.randomUniform([64, ...(model.inputs[0].shape.slice(1) as number[])]);
    const y = tf.oneHot(tf.randomUniform([64], 0, 10, 'int32') as tf.Tensor1D, 10);
    const best = [0, 0];
    for (let round = 0; round < 2; round++) {
      for (const [i, kernels] of [stock, ours].entries()) {
        kernels.forEach(use);
        best[i] = Math.max(best[i], await trainRate(model, x, y));
      }
    }
    console.log(`${name.padEnd(40)} ${best[0].toFixed(0).padStart(20)} ${best[1].toFixed(0).padStart(12)}  (${(best[1] / best[0]).toFixed(2)}x)`);
    tf.dispose([x, y]);
    model.dispose();
  }
}

// The backend first, so that the stock kernels' wasm bindings are set up, then ours.
await tf.setBackend('wasm');
const stock = REPLACED.map((name) => tf.getKernel(name, 'wasm'));
registerWasmTrainingKernels();
const ours = REPLACED.map((name) => tf.getKernel(name, 'wasm'));
compareKernels(stock, ours);
await compareTraining(stock, ours);
