// The named architectures a run can train. Each builder takes the input shape and class count
// and returns an uncompiled tf.LayersModel ending in a softmax. Inputs are pixels scaled to
// [0, 1] (see preprocess.ts); nothing in the graph depends on the backend. A training run passes
// its seeded generators, which the initial weights and dropout masks draw from (seeded-layers.ts).

import * as tf from '@tensorflow/tfjs';
import '../tfjs/quiet-tf';
import { ARCH_INFO, type ArchName } from '../../../shared/types';
import { randomLayers, type ModelRandom } from './seeded-layers';

export interface ArchInput {
  height: number;
  width: number;
  channels: number;
  classes: number;
  /** A head's input: the backbone's feature count. */
  features?: number;
}

export interface ArchInfo {
  name: ArchName;
  title: string;
  /** One sentence for the plan and the docs. */
  description: string;
  /** Without `random`, initial weights and dropout masks are seeded from Math.random (TF.js's default). */
  build(input: ArchInput, random?: ModelRandom): tf.LayersModel;
}

/** Makers of the layers that draw random numbers (`L.dense`, `L.conv2d`, `L.dropout`): the builders take every such layer from them. */
type Layers = ReturnType<typeof randomLayers>;

const relu = 'relu' as const;
const heNormal = () => tf.initializers.heNormal({});

/** The seed articles' multilayer perceptron: Dense 128, Dropout 0.2. */
function mlp({ height, width, channels, classes }: ArchInput, L: Layers): tf.LayersModel {
  return tf.sequential({
    name: 'mlp',
    layers: [
      tf.layers.flatten({ inputShape: [height, width, channels] }),
      L.dense({ units: 128, activation: relu }),
      L.dropout({ rate: 0.2 }),
      L.dense({ units: classes, activation: 'softmax' }),
    ],
  });
}

/** LeNet-5 with ReLU and max pooling: two 5x5 convolutions (6 and 16 maps), dense 120 and 84. */
function lenet({ height, width, channels, classes }: ArchInput, L: Layers): tf.LayersModel {
  return tf.sequential({
    name: 'lenet',
    layers: [
      L.conv2d({ inputShape: [height, width, channels], filters: 6, kernelSize: 5, padding: 'same', activation: relu }),
      tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
      L.conv2d({ filters: 16, kernelSize: 5, padding: 'valid', activation: relu }),
      tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
      tf.layers.flatten(),
      L.dense({ units: 120, activation: relu }),
      L.dense({ units: 84, activation: relu }),
      L.dense({ units: classes, activation: 'softmax' }),
    ],
  });
}

function convBnRelu(L: Layers, filters: number): tf.layers.Layer[] {
  return [
    L.conv2d({ filters, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: heNormal() }),
    tf.layers.batchNormalization({}),
    tf.layers.activation({ activation: relu }),
  ];
}

/**
 * A small, modern convnet for small images: three 3x3 conv + batch-norm blocks (32, 64 and 128
 * maps), each halving the resolution, then dense 128 with dropout. About 7 M multiply-adds per
 * 28x28 image.
 */
function cnnSmall({ height, width, channels, classes }: ArchInput, L: Layers): tf.LayersModel {
  return tf.sequential({
    name: 'cnn_small',
    layers: [
      tf.layers.inputLayer({ inputShape: [height, width, channels] }),
      ...convBnRelu(L, 32),
      tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
      ...convBnRelu(L, 64),
      tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
      ...convBnRelu(L, 128),
      tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
      tf.layers.flatten(),
      L.dense({ units: 128, activation: relu, kernelInitializer: heNormal() }),
      L.dropout({ rate: 0.3 }),
      L.dense({ units: classes, activation: 'softmax' }),
    ],
  });
}

/** The Keras CIFAR-10 tutorial CNN: conv 32-32, pool, conv 64-64, pool, dense 512, dropout. */
function kerasCifar({ height, width, channels, classes }: ArchInput, L: Layers): tf.LayersModel {
  return tf.sequential({
    name: 'keras_cifar',
    layers: [
      L.conv2d({ inputShape: [height, width, channels], filters: 32, kernelSize: 3, padding: 'same', activation: relu }),
      L.conv2d({ filters: 32, kernelSize: 3, activation: relu }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      L.dropout({ rate: 0.25 }),
      L.conv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: relu }),
      L.conv2d({ filters: 64, kernelSize: 3, activation: relu }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      L.dropout({ rate: 0.25 }),
      tf.layers.flatten(),
      L.dense({ units: 512, activation: relu }),
      L.dropout({ rate: 0.5 }),
      L.dense({ units: classes, activation: 'softmax' }),
    ],
  });
}

function residualBlock(L: Layers, x: tf.SymbolicTensor, filters: number, stride: number): tf.SymbolicTensor {
  let y = L.conv2d({ filters, kernelSize: 3, strides: stride, padding: 'same', useBias: false, kernelInitializer: heNormal() }).apply(x) as tf.SymbolicTensor;
  y = tf.layers.batchNormalization({}).apply(y) as tf.SymbolicTensor;
  y = tf.layers.activation({ activation: relu }).apply(y) as tf.SymbolicTensor;
  y = L.conv2d({ filters, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: heNormal() }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.batchNormalization({}).apply(y) as tf.SymbolicTensor;
  let shortcut = x;
  if (stride !== 1 || x.shape[3] !== filters) {
    shortcut = L.conv2d({ filters, kernelSize: 1, strides: stride, useBias: false, kernelInitializer: heNormal() }).apply(x) as tf.SymbolicTensor;
    shortcut = tf.layers.batchNormalization({}).apply(shortcut) as tf.SymbolicTensor;
  }
  const sum = tf.layers.add().apply([y, shortcut]) as tf.SymbolicTensor;
  return tf.layers.activation({ activation: relu }).apply(sum) as tf.SymbolicTensor;
}

/**
 * A ResNet-8 for colour images (He et al.'s CIFAR ResNets with one basic block per stage):
 * a 3x3 stem, then stages of 32, 64 and 128 maps (the last two at half resolution each),
 * global average pooling and a dense softmax. Inputs larger than 48 px get a strided stem.
 */
function resnetSmall({ height, width, channels, classes }: ArchInput, L: Layers): tf.LayersModel {
  const input = tf.input({ shape: [height, width, channels] });
  const stemStride = Math.min(height, width) > 48 ? 2 : 1;
  let x = L.conv2d({ filters: 32, kernelSize: 3, strides: stemStride, padding: 'same', useBias: false, kernelInitializer: heNormal() }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({}).apply(x) as tf.SymbolicTensor;
  x = tf.layers.activation({ activation: relu }).apply(x) as tf.SymbolicTensor;
  x = residualBlock(L, x, 32, 1);
  x = residualBlock(L, x, 64, 2);
  x = residualBlock(L, x, 128, 2);
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const output = L.dense({ units: classes, activation: 'softmax' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ name: 'resnet_small', inputs: input, outputs: output });
}

/**
 * The transfer-learning head on a frozen backbone's feature vector: dense 1024 with ReLU,
 * dropout 0.2, dense softmax. On CIFAR-10's MobileNet v1 features (128 px, flipped copies) it
 * reached 85.3-85.4% on the full set against 84.9% with dropouts 0.1 on the features and 0.3,
 * and 85.0% with dense 2048; on 2,000 images these are within a point of each other (about 77%). Layer names are fixed: the head is appended to the
 * backbone's layers in the run's saved model.
 */
function denseHead({ height, width, channels, classes, features }: ArchInput, L: Layers): tf.LayersModel {
  return tf.sequential({
    name: 'dense_head',
    layers: [
      L.dense({ inputShape: [features ?? height * width * channels], units: 1024, activation: relu, kernelInitializer: heNormal(), name: 'head_dense' }),
      L.dropout({ rate: 0.2, name: 'head_dropout' }),
      L.dense({ units: classes, activation: 'softmax', name: 'head_output' }),
    ],
  });
}

const BUILDERS: Record<ArchName, (input: ArchInput, layers: Layers) => tf.LayersModel> = {
  mlp,
  lenet,
  'cnn-small': cnnSmall,
  'keras-cifar': kerasCifar,
  'resnet-small': resnetSmall,
  'dense-head': denseHead,
};

export const ARCHITECTURES = Object.fromEntries(
  Object.entries(BUILDERS).map(([name, build]) => [name, { name, ...ARCH_INFO[name as ArchName], build: (input: ArchInput, random?: ModelRandom) => build(input, randomLayers(random)) }]),
) as Record<ArchName, ArchInfo>;

/**
 * Multiply-adds of one forward pass, counted from the built model's layers: convolutions and
 * dense layers (everything else is small beside them). Training costs about three times this.
 */
export function forwardMacs(model: tf.LayersModel): number {
  let macs = 0;
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    const out = (layer.outputShape as number[]).map((d) => d ?? 1);
    if (cls === 'Conv2D') {
      const kernel = layer.getWeights()[0].shape as number[]; // [kh, kw, in, out]
      macs += out[1] * out[2] * kernel[0] * kernel[1] * kernel[2] * kernel[3];
    } else if (cls === 'DepthwiseConv2D') {
      const kernel = layer.getWeights()[0].shape as number[]; // [kh, kw, in, mult]
      macs += out[1] * out[2] * kernel[0] * kernel[1] * kernel[2] * kernel[3];
    } else if (cls === 'Dense') {
      const kernel = layer.getWeights()[0].shape as number[];
      macs += kernel[0] * kernel[1];
    }
  }
  return macs;
}
