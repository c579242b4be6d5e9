// One converter per Keras layer class: the layers of Loupe's architectures and of Google's
// MobileNet v1. Each takes its input values and returns its output value; weights are
// reordered from Keras' layout to ONNX's here (kernels [kh, kw, in, out] -> [out, in, kh, kw]).

import { LoupeError } from '../../../shared/errors';
import { ConvertContext, unsupported, type Value } from './context';
import { HWCM_TO_CMHW, HWIO_TO_OIHW, NCHW_TO_NHWC, permute, window2d, type Padding } from './layout';
import type { LayerSpec } from './layers-model';

export type LayerConverter = (ctx: ConvertContext, layer: LayerSpec, inputs: Value[]) => Value;

function pair(value: unknown, fallback: number): [number, number] {
  if (value === undefined || value === null) return [fallback, fallback];
  if (typeof value === 'number') return [value, value];
  if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'number')) return [value[0], value[1]];
  throw new LoupeError('INVALID_INPUT', `The model cannot be read: ${JSON.stringify(value)} is not a 2-D size.`);
}

function padding(layer: LayerSpec): Padding {
  const p = layer.config.padding ?? 'valid';
  if (p !== 'valid' && p !== 'same') throw unsupported(layer, `uses padding "${String(p)}"`);
  return p;
}

function channelsLast(layer: LayerSpec): void {
  const format = layer.config.data_format ?? 'channels_last';
  if (format !== 'channels_last') throw unsupported(layer, `uses data_format ${String(format)}`);
}

function one(layer: LayerSpec, inputs: Value[]): Value {
  if (inputs.length !== 1) throw unsupported(layer, `has ${inputs.length} inputs`);
  return inputs[0];
}

/** kernel_shape, strides, dilations and explicit pads of a 2-D window over an [H, W, C] input. */
function convWindow(layer: LayerSpec, shape: number[], kernel: [number, number], strides: [number, number], dilations: [number, number], pad: Padding) {
  const { height, width, pads } = window2d([shape[0], shape[1]], kernel, strides, dilations, pad);
  if (height < 1 || width < 1) throw unsupported(layer, `gets an input (${shape.join('x')}) smaller than its window`);
  return { attrs: { kernel_shape: kernel, strides, dilations, pads }, height, width };
}

const conv2d: LayerConverter = (ctx, layer, inputs) => {
  channelsLast(layer);
  const x = ctx.channelsFirst(one(layer, inputs), layer);
  const kernel = ctx.weight(layer, 'kernel');
  const [kh, kw, inPerGroup, filters] = kernel.shape;
  const groups = Number(layer.config.groups ?? 1);
  if (inPerGroup * groups !== x.shape[2]) throw unsupported(layer, `has a kernel for ${inPerGroup * groups} channels but gets ${x.shape[2]}`);
  const win = convWindow(layer, x.shape, [kh, kw], pair(layer.config.strides, 1), pair(layer.config.dilation_rate, 1), padding(layer));
  const g = ctx.graph;
  const inputsOnnx = [x.name, g.floats(permute(kernel.data, kernel.shape, HWIO_TO_OIHW), [filters, inPerGroup, kh, kw], `${layer.name}/kernel`)];
  const bias = layer.config.use_bias === false ? null : ctx.weight(layer, 'bias');
  if (bias) inputsOnnx.push(g.floats(bias.data, [filters], `${layer.name}/bias`));
  const y = g.node('Conv', inputsOnnx, { ...win.attrs, group: groups }, layer.name);
  return ctx.activation({ name: y, shape: [win.height, win.width, filters], layout: 'nchw' }, layer.config.activation, layer);
};

/** Depthwise convolution: a grouped Conv with one group per input channel (times the multiplier). */
const depthwiseConv2d: LayerConverter = (ctx, layer, inputs) => {
  channelsLast(layer);
  const x = ctx.channelsFirst(one(layer, inputs), layer);
  const kernel = ctx.weight(layer, 'depthwise_kernel');
  const [kh, kw, channels, multiplier] = kernel.shape;
  if (channels !== x.shape[2]) throw unsupported(layer, `has a kernel for ${channels} channels but gets ${x.shape[2]}`);
  const win = convWindow(layer, x.shape, [kh, kw], pair(layer.config.strides, 1), pair(layer.config.dilation_rate, 1), padding(layer));
  const g = ctx.graph;
  // Output channel c * multiplier + m is input channel c through kernel[:, :, c, m].
  const weights = permute(kernel.data, kernel.shape, HWCM_TO_CMHW);
  const inputsOnnx = [x.name, g.floats(weights, [channels * multiplier, 1, kh, kw], `${layer.name}/kernel`)];
  const bias = layer.config.use_bias === false ? null : ctx.weight(layer, 'bias');
  if (bias) inputsOnnx.push(g.floats(bias.data, [channels * multiplier], `${layer.name}/bias`));
  const y = g.node('Conv', inputsOnnx, { ...win.attrs, group: channels }, layer.name);
  return ctx.activation({ name: y, shape: [win.height, win.width, channels * multiplier], layout: 'nchw' }, layer.config.activation, layer);
};

const dense: LayerConverter = (ctx, layer, inputs) => {
  const g = ctx.graph;
  const kernel = ctx.weight(layer, 'kernel');
  const [inUnits, units] = kernel.shape;
  const bias = layer.config.use_bias === false ? null : ctx.weight(layer, 'bias');
  const x = ctx.keras(one(layer, inputs));
  if (x.shape[x.shape.length - 1] !== inUnits) throw unsupported(layer, `has a kernel for ${inUnits} inputs but gets ${x.shape.join('x')}`);
  const w = g.floats(kernel.data, [inUnits, units], `${layer.name}/kernel`);
  let y: string;
  if (x.shape.length === 1) {
    y = g.node('Gemm', bias ? [x.name, w, g.floats(bias.data, [units], `${layer.name}/bias`)] : [x.name, w], {}, layer.name);
  } else {
    // Keras applies a dense layer to the last axis of a higher-rank input.
    y = g.node('MatMul', [x.name, w], {}, bias ? undefined : layer.name);
    if (bias) y = g.node('Add', [y, g.floats(bias.data, [units], `${layer.name}/bias`)], {}, layer.name);
  }
  return ctx.activation({ name: y, shape: [...x.shape.slice(0, -1), units], layout: 'keras' }, layer.config.activation, layer);
};

const batchNormalization: LayerConverter = (ctx, layer, inputs) => {
  const x0 = one(layer, inputs);
  const rank = x0.shape.length + 1;
  const axis = Array.isArray(layer.config.axis) ? layer.config.axis : [layer.config.axis ?? -1];
  if (axis.length !== 1 || (axis[0] !== -1 && axis[0] !== rank - 1)) throw unsupported(layer, `normalises axis ${JSON.stringify(layer.config.axis)} (only the channel axis is supported)`);
  const mean = ctx.weight(layer, 'moving_mean');
  const variance = ctx.weight(layer, 'moving_variance');
  const n = mean.data.length;
  const gamma = layer.config.scale === false ? null : ctx.optionalWeight(layer, 'gamma');
  const beta = layer.config.center === false ? null : ctx.optionalWeight(layer, 'beta');
  const epsilon = Number(layer.config.epsilon ?? 1e-3);
  const g = ctx.graph;
  if (rank === 4 || rank === 2) {
    // ONNX BatchNormalization normalises axis 1: the channels of NCHW, the features of [N, F].
    const x = rank === 4 ? ctx.channelsFirst(x0, layer) : x0;
    const y = g.node(
      'BatchNormalization',
      [
        x.name,
        g.floats(gamma?.data ?? new Float32Array(n).fill(1), [n], `${layer.name}/gamma`),
        g.floats(beta?.data ?? new Float32Array(n), [n], `${layer.name}/beta`),
        g.floats(mean.data, [n], `${layer.name}/moving_mean`),
        g.floats(variance.data, [n], `${layer.name}/moving_variance`),
      ],
      { epsilon: { float: epsilon } },
      layer.name,
    );
    return { ...x, name: y };
  }
  // Other ranks: the same affine map on the last axis.
  const x = ctx.keras(x0);
  const scale = new Float32Array(n);
  const shift = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    scale[i] = (gamma?.data[i] ?? 1) / Math.sqrt(variance.data[i] + epsilon);
    shift[i] = (beta?.data[i] ?? 0) - mean.data[i] * scale[i];
  }
  const scaled = g.node('Mul', [x.name, g.floats(scale, [n], `${layer.name}/scale`)]);
  return { ...x, name: g.node('Add', [scaled, g.floats(shift, [n], `${layer.name}/shift`)], {}, layer.name) };
};

const activation: LayerConverter = (ctx, layer, inputs) => ctx.activation(one(layer, inputs), layer.config.activation, layer);

/** TF.js' ReLU layer: max_value makes it a clipped ReLU (ReLU6). */
const relu: LayerConverter = (ctx, layer, inputs) => {
  const x = one(layer, inputs);
  const max = layer.config.max_value ?? layer.config.maxValue;
  const slope = Number(layer.config.negative_slope ?? 0);
  const threshold = Number(layer.config.threshold ?? 0);
  if (slope !== 0 || threshold !== 0) throw unsupported(layer, 'has a negative slope or threshold');
  const g = ctx.graph;
  if (typeof max === 'number') return { ...x, name: g.node('Clip', [x.name, g.scalar(0, `${layer.name}/min`), g.scalar(max, `${layer.name}/max`)], {}, layer.name) };
  return { ...x, name: g.node('Relu', [x.name], {}, layer.name) };
};

const leakyRelu: LayerConverter = (ctx, layer, inputs) => {
  const x = one(layer, inputs);
  return { ...x, name: ctx.graph.node('LeakyRelu', [x.name], { alpha: { float: Number(layer.config.alpha ?? 0.3) } }, layer.name) };
};

const softmax: LayerConverter = (ctx, layer, inputs) => {
  const axis = layer.config.axis ?? -1;
  if (axis !== -1 && axis !== one(layer, inputs).shape.length) throw unsupported(layer, `takes the softmax over axis ${String(axis)}`);
  return ctx.activation(one(layer, inputs), 'softmax', layer);
};

function pooling(op: 'MaxPool' | 'AveragePool'): LayerConverter {
  return (ctx, layer, inputs) => {
    channelsLast(layer);
    const x = ctx.channelsFirst(one(layer, inputs), layer);
    const size = pair(layer.config.pool_size, 2);
    const strides = pair(layer.config.strides ?? size, 1);
    const win = convWindow(layer, x.shape, size, strides, [1, 1], padding(layer));
    const { kernel_shape, pads } = win.attrs;
    // TensorFlow leaves the padding out of an average (ONNX: count_include_pad 0).
    const attrs = op === 'AveragePool' ? { kernel_shape, strides, pads, count_include_pad: 0 } : { kernel_shape, strides, pads };
    const y = ctx.graph.node(op, [x.name], attrs, layer.name);
    return { name: y, shape: [win.height, win.width, x.shape[2]], layout: 'nchw' };
  };
}

function globalPooling(op: 'GlobalAveragePool' | 'GlobalMaxPool'): LayerConverter {
  return (ctx, layer, inputs) => {
    channelsLast(layer);
    const x = ctx.channelsFirst(one(layer, inputs), layer);
    const g = ctx.graph;
    const channels = x.shape[2];
    if (layer.config.keepdims === true) return { name: g.node(op, [x.name], {}, layer.name), shape: [1, 1, channels], layout: 'nchw' };
    const pooled = g.node(op, [x.name]);
    return { name: g.node('Flatten', [pooled], { axis: 1 }, layer.name), shape: [channels], layout: 'keras' };
  };
}

/** Keras flattens in NHWC order, and the next Dense layer's weights assume it. */
const flatten: LayerConverter = (ctx, layer, inputs) => {
  const x = ctx.keras(one(layer, inputs));
  if (x.shape.length === 1) return x;
  const size = x.shape.reduce((a, b) => a * b, 1);
  return { name: ctx.graph.node('Flatten', [x.name], { axis: 1 }, layer.name), shape: [size], layout: 'keras' };
};

const reshape: LayerConverter = (ctx, layer, inputs) => {
  const x = ctx.keras(one(layer, inputs));
  const target = layer.config.target_shape ?? layer.config.targetShape;
  if (!Array.isArray(target) || !target.every((d) => typeof d === 'number')) throw unsupported(layer, 'has no target shape');
  const size = x.shape.reduce((a, b) => a * b, 1);
  const known = (target as number[]).filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const shape = (target as number[]).map((d) => (d === -1 ? size / known : d));
  if (shape.reduce((a, b) => a * b, 1) !== size || !shape.every(Number.isInteger)) {
    throw unsupported(layer, `reshapes ${x.shape.join('x')} to ${target.join('x')}`);
  }
  const y = ctx.graph.node('Reshape', [x.name, ctx.graph.ints([-1, ...shape], `${layer.name}/shape`)], {}, layer.name);
  return { name: y, shape, layout: 'keras' };
};

const zeroPadding2d: LayerConverter = (ctx, layer, inputs) => {
  channelsLast(layer);
  const x = ctx.channelsFirst(one(layer, inputs), layer);
  const p = layer.config.padding ?? 1;
  let top: number, bottom: number, left: number, right: number;
  if (typeof p === 'number') [top, bottom, left, right] = [p, p, p, p];
  else if (Array.isArray(p) && p.every((v) => typeof v === 'number')) [top, bottom, left, right] = [p[0], p[0], p[1], p[1]];
  else if (Array.isArray(p) && p.every((v) => Array.isArray(v))) [[top, bottom], [left, right]] = p as [[number, number], [number, number]];
  else throw unsupported(layer, `has padding ${JSON.stringify(p)}`);
  const g = ctx.graph;
  const y = g.node('Pad', [x.name, g.ints([0, 0, top, left, 0, 0, bottom, right], `${layer.name}/pads`)], { mode: 'constant' }, layer.name);
  return { name: y, shape: [x.shape[0] + top + bottom, x.shape[1] + left + right, x.shape[2]], layout: 'nchw' };
};

/** Elementwise merges: every input in one layout (NCHW when images are involved). */
function merge(op: 'Add' | 'Mul'): LayerConverter {
  return (ctx, layer, inputs) => {
    if (inputs.length < 2) throw unsupported(layer, `has ${inputs.length} input`);
    const shape = inputs[0].shape;
    if (!inputs.every((v) => v.shape.join() === shape.join())) throw unsupported(layer, `merges different shapes (${inputs.map((v) => v.shape.join('x')).join(', ')})`);
    const nchw = shape.length === 3 && inputs.some((v) => v.layout === 'nchw');
    const xs = inputs.map((v) => (nchw ? ctx.channelsFirst(v, layer) : ctx.keras(v)));
    let y = xs[0].name;
    for (let i = 1; i < xs.length; i++) y = ctx.graph.node(op, [y, xs[i].name], {}, i === xs.length - 1 ? layer.name : undefined);
    return { name: y, shape, layout: xs[0].layout };
  };
}

const concatenate: LayerConverter = (ctx, layer, inputs) => {
  const rank = inputs[0].shape.length + 1;
  const raw = Number(layer.config.axis ?? -1);
  const axis = raw < 0 ? rank + raw : raw;
  if (axis < 1 || axis >= rank || !inputs.every((v) => v.shape.length === rank - 1)) throw unsupported(layer, `concatenates along axis ${raw}`);
  const shape = [...inputs[0].shape];
  shape[axis - 1] = inputs.reduce((n, v) => n + v.shape[axis - 1], 0);
  const nchw = rank === 4;
  const xs = inputs.map((v) => (nchw ? ctx.channelsFirst(v, layer) : ctx.keras(v)));
  // Keras axes (N, H, W, C) are axes (0, 2, 3, 1) of an NCHW tensor.
  const onnxAxis = nchw ? NCHW_TO_NHWC[axis] : axis;
  return { name: ctx.graph.node('Concat', xs.map((v) => v.name), { axis: onnxAxis }, layer.name), shape, layout: xs[0].layout };
};

const rescaling: LayerConverter = (ctx, layer, inputs) => {
  const x = one(layer, inputs);
  const scale = Number(layer.config.scale ?? 1);
  const offset = Number(layer.config.offset ?? 0);
  const g = ctx.graph;
  const scaled = g.node('Mul', [x.name, g.scalar(scale, `${layer.name}/scale`)], {}, offset === 0 ? layer.name : undefined);
  return { ...x, name: offset === 0 ? scaled : g.node('Add', [scaled, g.scalar(offset, `${layer.name}/offset`)], {}, layer.name) };
};

/** Keras Permute: reorders the axes after the batch (`dims` counts from 1). */
const permuteLayer: LayerConverter = (ctx, layer, inputs) => {
  const x = ctx.keras(one(layer, inputs));
  const dims = layer.config.dims;
  if (!Array.isArray(dims) || dims.length !== x.shape.length || [...dims].sort().join() !== x.shape.map((_, i) => i + 1).join()) {
    throw unsupported(layer, `has dims ${JSON.stringify(dims)} for a ${x.shape.length}-d input`);
  }
  const perm = [0, ...dims.map(Number)];
  const name = ctx.graph.node('Transpose', [x.name], { perm }, layer.name);
  return { name, shape: perm.slice(1).map((d) => x.shape[d - 1]), layout: 'keras' };
};

/** Keras Average: the element-wise mean of its inputs. */
const average: LayerConverter = (ctx, layer, inputs) => {
  if (inputs.length < 2) throw unsupported(layer, `has ${inputs.length} input`);
  const shape = inputs[0].shape;
  if (!inputs.every((v) => v.shape.join() === shape.join())) throw unsupported(layer, `averages different shapes (${inputs.map((v) => v.shape.join('x')).join(', ')})`);
  const xs = inputs.map((v) => ctx.keras(v));
  return { name: ctx.graph.node('Mean', xs.map((v) => v.name), {}, layer.name), shape, layout: 'keras' };
};

/** Layers that do nothing at inference. */
const identity: LayerConverter = (_ctx, layer, inputs) => one(layer, inputs);

export const LAYER_CONVERTERS: Record<string, LayerConverter> = {
  InputLayer: identity,
  Conv2D: conv2d,
  DepthwiseConv2D: depthwiseConv2d,
  Dense: dense,
  BatchNormalization: batchNormalization,
  Activation: activation,
  ReLU: relu,
  LeakyReLU: leakyRelu,
  Softmax: softmax,
  MaxPooling2D: pooling('MaxPool'),
  AveragePooling2D: pooling('AveragePool'),
  GlobalAveragePooling2D: globalPooling('GlobalAveragePool'),
  GlobalMaxPooling2D: globalPooling('GlobalMaxPool'),
  Flatten: flatten,
  Reshape: reshape,
  ZeroPadding2D: zeroPadding2d,
  Add: merge('Add'),
  Multiply: merge('Mul'),
  Concatenate: concatenate,
  Average: average,
  Permute: permuteLayer,
  Rescaling: rescaling,
  Dropout: identity,
  SpatialDropout2D: identity,
  GaussianNoise: identity,
  GaussianDropout: identity,
  AlphaDropout: identity,
};
