// TensorFlow.js layers model -> TensorFlow Lite model (float32), from the trained weights.
//
// TFLite is NHWC like Keras, so no layout moves are needed: each Keras layer becomes one builtin
// operator (two at most), its weights reordered to what TFLite's kernels read (convolution
// filters [out, kh, kw, in], depthwise [1, kh, kw, channels], dense [units, in]). Batch
// normalization is folded into the convolution or dense layer before it, and ReLU/ReLU6 become
// the fused activation of the operator before them, as TensorFlow's own converter does. The
// contract matches the ONNX export's: input `pixels` float32 [1, H, W, C] holding 0..255 (the
// model's scaling inside), output `probabilities` [1, K]. Batch 1: what phones and boards run,
// and what a microcontroller runtime can allocate ahead of time.

import { LoupeError } from '../../../shared/errors';
import { callKey, computeCall, findWeight, requireWeight, type LayerSpec, type LayersGraph, type Weight } from '../onnx/layers-model';
import { Activation, Op, OptionsUnion, Padding, type Operator, type Options, type Tensor, type TfliteModel } from './schema';

export const INPUT_NAME = 'pixels';
export const OUTPUT_NAME = 'probabilities';

export function unsupportedLayer(layer: LayerSpec, what: string): LoupeError {
  return new LoupeError('NOT_SUPPORTED', `Layer "${layer.name}" (${layer.className}) ${what}, which the TensorFlow Lite export does not support.`);
}

/** A value flowing through the graph: a tensor index and its shape without the batch. */
interface Value {
  tensor: number;
  shape: number[];
}

const FUSABLE = new Set<number>([Op.CONV_2D, Op.DEPTHWISE_CONV_2D, Op.FULLY_CONNECTED, Op.ADD]);

function floatBytes(data: Float32Array): Uint8Array {
  return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
}

function int32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(Int32Array.from(values).buffer);
}

function pair(value: unknown, fallback: number, layer: LayerSpec): [number, number] {
  if (value === undefined || value === null) return [fallback, fallback];
  if (typeof value === 'number') return [value, value];
  if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'number')) return [value[0], value[1]];
  throw unsupportedLayer(layer, `has the 2-D size ${JSON.stringify(value)}`);
}

function windowOut(size: number, kernel: number, stride: number, dilation: number, padding: number): number {
  const effective = (kernel - 1) * dilation + 1;
  return padding === Padding.SAME ? Math.ceil(size / stride) : Math.floor((size - effective) / stride) + 1;
}

export interface FloatModel {
  model: TfliteModel;
  /** Keras layer classes converted, with counts. */
  layers: Record<string, number>;
}

/** Builds the operator list; knows which tensor each operator wrote, to fuse batch norm and activations into it. */
class Builder {
  readonly tensors: Tensor[] = [];
  readonly operators: Operator[] = [];
  /** The operator that wrote each activation tensor. */
  readonly producer = new Map<number, Operator>();

  constructor(private readonly weights: Map<string, Weight>) {}

  activation(shape: number[], name: string): number {
    return this.tensors.push({ name, shape: [1, ...shape], type: 'float32' }) - 1;
  }

  floats(data: Float32Array, shape: number[], name: string): number {
    return this.tensors.push({ name, shape, type: 'float32', data: floatBytes(data) }) - 1;
  }

  ints(values: number[], name: string): number {
    return this.tensors.push({ name, shape: [values.length], type: 'int32', data: int32Bytes(values) }) - 1;
  }

  op(op: number, inputs: number[], shape: number[], name: string, options?: Options, version = 1): Value {
    const out = this.activation(shape, name);
    const operator: Operator = { op, version, inputs, outputs: [out], options };
    this.operators.push(operator);
    this.producer.set(out, operator);
    return { tensor: out, shape };
  }

  weight(layer: LayerSpec, name: string): Weight {
    return requireWeight(this.weights, layer.name, name);
  }

  optionalWeight(layer: LayerSpec, name: string): Weight | null {
    return findWeight(this.weights, layer.name, name);
  }

  /** The operator that wrote `v`, when nothing else reads `v` so that its output may be changed in place (folding, fusing). */
  soleProducer(v: Value, soleReader: boolean): Operator | null {
    return soleReader ? (this.producer.get(v.tensor) ?? null) : null;
  }
}

function fusedActivation(options: Options | undefined): { field: { slot: number; value: number } } | null {
  if (!options) return null;
  const slot =
    options.union === OptionsUnion.Conv2DOptions ? 3 : options.union === OptionsUnion.DepthwiseConv2DOptions ? 4 : options.union === OptionsUnion.FullyConnectedOptions || options.union === OptionsUnion.AddOptions ? 0 : -1;
  if (slot < 0) return null;
  const field = options.fields.find((f) => f.slot === slot);
  return field && field.kind !== 'int32s' ? { field } : null;
}

/** `soleReader`: this layer is the only reader of its (first) input, which may then be changed in place. */
type Converter = (b: Builder, layer: LayerSpec, inputs: Value[], soleReader: boolean) => Value;

function one(layer: LayerSpec, inputs: Value[]): Value {
  if (inputs.length !== 1) throw unsupportedLayer(layer, `has ${inputs.length} inputs`);
  return inputs[0];
}

function image(layer: LayerSpec, v: Value): Value {
  if (v.shape.length !== 3) throw unsupportedLayer(layer, `gets a ${v.shape.length + 1}-D input where it needs an image (4-D)`);
  if ((layer.config.data_format ?? 'channels_last') !== 'channels_last') throw unsupportedLayer(layer, `uses data_format ${String(layer.config.data_format)}`);
  return v;
}

function padding(layer: LayerSpec): number {
  const p = layer.config.padding ?? 'valid';
  if (p === 'same') return Padding.SAME;
  if (p === 'valid') return Padding.VALID;
  throw unsupportedLayer(layer, `uses padding "${String(p)}"`);
}

/** Applies a Keras activation after an operator: fused into it when it can be, else its own operator. */
function applyActivation(b: Builder, v: Value, activation: unknown, layer: LayerSpec, soleReader: boolean): Value {
  const name = typeof activation === 'string' ? activation : 'linear';
  if (name === 'linear') return v;
  const fusedCode = name === 'relu' ? Activation.RELU : name === 'relu6' ? Activation.RELU6 : null;
  if (fusedCode !== null) {
    const producer = b.soleProducer(v, soleReader);
    const fused = producer && FUSABLE.has(producer.op) ? fusedActivation(producer.options) : null;
    if (fused && fused.field.value === Activation.NONE) {
      fused.field.value = fusedCode;
      return v;
    }
    return b.op(fusedCode === Activation.RELU ? Op.RELU : Op.RELU6, [v.tensor], v.shape, `${layer.name}/${name}`);
  }
  if (name === 'softmax') return b.op(Op.SOFTMAX, [v.tensor], v.shape, `${layer.name}/softmax`, { union: OptionsUnion.SoftmaxOptions, fields: [{ slot: 0, kind: 'float32', value: 1 }] });
  if (name === 'sigmoid') return b.op(Op.LOGISTIC, [v.tensor], v.shape, `${layer.name}/sigmoid`);
  if (name === 'tanh') return b.op(Op.TANH, [v.tensor], v.shape, `${layer.name}/tanh`);
  throw unsupportedLayer(layer, `uses the activation "${name}"`);
}

const conv2d: Converter = (b, layer, inputs) => {
  const x = image(layer, one(layer, inputs));
  const kernel = b.weight(layer, 'kernel');
  const [kh, kw, cin, filters] = kernel.shape;
  if (Number(layer.config.groups ?? 1) !== 1) throw unsupportedLayer(layer, 'is a grouped convolution');
  if (cin !== x.shape[2]) throw unsupportedLayer(layer, `has a kernel for ${cin} channels but gets ${x.shape[2]}`);
  // [kh, kw, in, out] -> [out, kh, kw, in]
  const w = new Float32Array(kernel.data.length);
  for (let h = 0; h < kh; h++) for (let x2 = 0; x2 < kw; x2++) for (let i = 0; i < cin; i++) for (let o = 0; o < filters; o++) w[((o * kh + h) * kw + x2) * cin + i] = kernel.data[((h * kw + x2) * cin + i) * filters + o];
  const bias = layer.config.use_bias === false ? new Float32Array(filters) : Float32Array.from(b.weight(layer, 'bias').data);
  const { sh, sw, dh, dw, pad, height, width } = convWindow(layer, x, kh, kw);
  const options: Options = {
    union: OptionsUnion.Conv2DOptions,
    fields: [
      { slot: 0, kind: 'int8', value: pad },
      { slot: 1, kind: 'int32', value: sw },
      { slot: 2, kind: 'int32', value: sh },
      { slot: 3, kind: 'int8', value: Activation.NONE },
      { slot: 4, kind: 'int32', value: dw },
      { slot: 5, kind: 'int32', value: dh },
    ],
  };
  const y = b.op(Op.CONV_2D, [x.tensor, b.floats(w, [filters, kh, kw, cin], `${layer.name}/kernel`), b.floats(bias, [filters], `${layer.name}/bias`)], [height, width, filters], layer.name, options);
  return applyActivation(b, y, layer.config.activation, layer, true);
};

/** A convolution's strides, dilations, padding and output size on `x` for a kh x kw kernel; refused where the input is smaller than the window. */
function convWindow(layer: LayerSpec, x: Value, kh: number, kw: number) {
  const [sh, sw] = pair(layer.config.strides, 1, layer);
  const [dh, dw] = pair(layer.config.dilation_rate, 1, layer);
  const pad = padding(layer);
  const height = windowOut(x.shape[0], kh, sh, dh, pad);
  const width = windowOut(x.shape[1], kw, sw, dw, pad);
  if (height < 1 || width < 1) throw unsupportedLayer(layer, `gets an input (${x.shape.join('x')}) smaller than its window`);
  return { sh, sw, dh, dw, pad, height, width };
}

const depthwiseConv2d: Converter = (b, layer, inputs) => {
  const x = image(layer, one(layer, inputs));
  const kernel = b.weight(layer, 'depthwise_kernel');
  const [kh, kw, channels, multiplier] = kernel.shape;
  if (channels !== x.shape[2]) throw unsupportedLayer(layer, `has a kernel for ${channels} channels but gets ${x.shape[2]}`);
  const out = channels * multiplier;
  const bias = layer.config.use_bias === false ? new Float32Array(out) : Float32Array.from(b.weight(layer, 'bias').data);
  const { sh, sw, dh, dw, pad, height, width } = convWindow(layer, x, kh, kw);
  const options: Options = {
    union: OptionsUnion.DepthwiseConv2DOptions,
    fields: [
      { slot: 0, kind: 'int8', value: pad },
      { slot: 1, kind: 'int32', value: sw },
      { slot: 2, kind: 'int32', value: sh },
      { slot: 3, kind: 'int32', value: multiplier },
      { slot: 4, kind: 'int8', value: Activation.NONE },
      { slot: 5, kind: 'int32', value: dw },
      { slot: 6, kind: 'int32', value: dh },
    ],
  };
  // [kh, kw, C, M] is already [1, kh, kw, C*M] in memory (output channel c*M + m).
  const y = b.op(
    Op.DEPTHWISE_CONV_2D,
    [x.tensor, b.floats(Float32Array.from(kernel.data), [1, kh, kw, out], `${layer.name}/kernel`), b.floats(bias, [out], `${layer.name}/bias`)],
    [height, width, out],
    layer.name,
    options,
    2,
  );
  return applyActivation(b, y, layer.config.activation, layer, true);
};

const dense: Converter = (b, layer, inputs) => {
  const x = one(layer, inputs);
  const kernel = b.weight(layer, 'kernel');
  const [inUnits, units] = kernel.shape;
  if (x.shape[x.shape.length - 1] !== inUnits) throw unsupportedLayer(layer, `has a kernel for ${inUnits} inputs but gets ${x.shape.join('x')}`);
  const w = new Float32Array(kernel.data.length);
  for (let i = 0; i < inUnits; i++) for (let o = 0; o < units; o++) w[o * inUnits + i] = kernel.data[i * units + o];
  const bias = layer.config.use_bias === false ? new Float32Array(units) : Float32Array.from(b.weight(layer, 'bias').data);
  // Keras applies a dense layer to the last axis of a higher-rank input: keep_num_dims.
  const keep = x.shape.length > 1;
  const options: Options = {
    union: OptionsUnion.FullyConnectedOptions,
    fields: [
      { slot: 0, kind: 'int8', value: Activation.NONE },
      { slot: 2, kind: 'bool', value: keep ? 1 : 0 },
    ],
  };
  const shape = [...x.shape.slice(0, -1), units];
  const y = b.op(Op.FULLY_CONNECTED, [x.tensor, b.floats(w, [units, inUnits], `${layer.name}/kernel`), b.floats(bias, [units], `${layer.name}/bias`)], shape, layer.name, options, keep ? 5 : 1);
  return applyActivation(b, y, layer.config.activation, layer, true);
};

/** Folded into the convolution or dense layer before it where that one feeds only this; else a multiply and an add. */
const batchNormalization: Converter = (b, layer, inputs, soleReader) => {
  const x = one(layer, inputs);
  const axis = Array.isArray(layer.config.axis) ? layer.config.axis : [layer.config.axis ?? -1];
  if (axis.length !== 1 || (axis[0] !== -1 && axis[0] !== x.shape.length)) throw unsupportedLayer(layer, `normalises axis ${JSON.stringify(layer.config.axis)} (only the channel axis is supported)`);
  const mean = b.weight(layer, 'moving_mean').data;
  const variance = b.weight(layer, 'moving_variance').data;
  const gamma = layer.config.scale === false ? null : b.optionalWeight(layer, 'gamma')?.data;
  const beta = layer.config.center === false ? null : b.optionalWeight(layer, 'beta')?.data;
  const epsilon = Number(layer.config.epsilon ?? 1e-3);
  const n = mean.length;
  const scale = new Float32Array(n);
  const shift = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    scale[i] = (gamma?.[i] ?? 1) / Math.sqrt(variance[i] + epsilon);
    shift[i] = (beta?.[i] ?? 0) - mean[i] * scale[i];
  }
  const producer = b.soleProducer(x, soleReader);
  const foldable = producer && [Op.CONV_2D, Op.DEPTHWISE_CONV_2D, Op.FULLY_CONNECTED].includes(producer.op as never) && fusedActivation(producer.options)?.field.value === Activation.NONE;
  if (producer && foldable) {
    const w = b.tensors[producer.inputs[1]];
    const bias = b.tensors[producer.inputs[2]];
    const weights = new Float32Array(w.data!.buffer.slice(0));
    const biases = new Float32Array(bias.data!.buffer.slice(0));
    // Output channel c is the first axis of conv/dense filters and the last of depthwise ones.
    const perChannel = weights.length / n;
    for (let i = 0; i < weights.length; i++) weights[i] *= scale[producer.op === Op.DEPTHWISE_CONV_2D ? i % n : Math.floor(i / perChannel)];
    for (let c = 0; c < n; c++) biases[c] = biases[c] * scale[c] + shift[c];
    w.data = floatBytes(weights);
    bias.data = floatBytes(biases);
    return x;
  }
  const scaled = b.op(Op.MUL, [x.tensor, b.floats(scale, [n], `${layer.name}/scale`)], x.shape, `${layer.name}/scaled`, { union: OptionsUnion.MulOptions, fields: [{ slot: 0, kind: 'int8', value: 0 }] });
  return b.op(Op.ADD, [scaled.tensor, b.floats(shift, [n], `${layer.name}/shift`)], x.shape, layer.name, { union: OptionsUnion.AddOptions, fields: [{ slot: 0, kind: 'int8', value: 0 }] });
};

const activation: Converter = (b, layer, inputs, soleReader) => applyActivation(b, one(layer, inputs), layer.config.activation, layer, soleReader);

const relu: Converter = (b, layer, inputs, soleReader) => {
  const max = layer.config.max_value ?? layer.config.maxValue;
  if (Number(layer.config.negative_slope ?? 0) !== 0 || Number(layer.config.threshold ?? 0) !== 0) throw unsupportedLayer(layer, 'has a negative slope or threshold');
  if (max !== undefined && max !== null && max !== 6) throw unsupportedLayer(layer, `clips at ${String(max)} (only ReLU and ReLU6 are)`);
  return applyActivation(b, one(layer, inputs), max === 6 ? 'relu6' : 'relu', layer, soleReader);
};

const leakyRelu: Converter = (b, layer, inputs) => {
  const x = one(layer, inputs);
  return b.op(Op.LEAKY_RELU, [x.tensor], x.shape, layer.name, { union: OptionsUnion.LeakyReluOptions, fields: [{ slot: 0, kind: 'float32', value: Number(layer.config.alpha ?? 0.3) }] });
};

const softmax: Converter = (b, layer, inputs, soleReader) => {
  const x = one(layer, inputs);
  const axis = layer.config.axis ?? -1;
  if (axis !== -1 && axis !== x.shape.length) throw unsupportedLayer(layer, `takes the softmax over axis ${String(axis)}`);
  return applyActivation(b, x, 'softmax', layer, soleReader);
};

function pooling(op: number): Converter {
  return (b, layer, inputs) => {
    const x = image(layer, one(layer, inputs));
    const [kh, kw] = pair(layer.config.pool_size, 2, layer);
    const [sh, sw] = pair(layer.config.strides ?? [kh, kw], 1, layer);
    const pad = padding(layer);
    const height = windowOut(x.shape[0], kh, sh, 1, pad);
    const width = windowOut(x.shape[1], kw, sw, 1, pad);
    if (height < 1 || width < 1) throw unsupportedLayer(layer, `gets an input (${x.shape.join('x')}) smaller than its window`);
    const options: Options = {
      union: OptionsUnion.Pool2DOptions,
      fields: [
        { slot: 0, kind: 'int8', value: pad },
        { slot: 1, kind: 'int32', value: sw },
        { slot: 2, kind: 'int32', value: sh },
        { slot: 3, kind: 'int32', value: kw },
        { slot: 4, kind: 'int32', value: kh },
      ],
    };
    return b.op(op, [x.tensor], [height, width, x.shape[2]], layer.name, options);
  };
}

function globalPooling(op: number): Converter {
  return (b, layer, inputs) => {
    const x = image(layer, one(layer, inputs));
    const keep = layer.config.keepdims === true;
    return b.op(op, [x.tensor, b.ints([1, 2], `${layer.name}/axes`)], keep ? [1, 1, x.shape[2]] : [x.shape[2]], layer.name, {
      union: OptionsUnion.ReducerOptions,
      fields: [{ slot: 0, kind: 'bool', value: keep ? 1 : 0 }],
    });
  };
}

function reshapeTo(b: Builder, x: Value, shape: number[], name: string): Value {
  if (shape.join() === x.shape.join()) return x;
  return b.op(Op.RESHAPE, [x.tensor, b.ints([1, ...shape], `${name}/shape`)], shape, name, { union: OptionsUnion.ReshapeOptions, fields: [{ slot: 0, kind: 'int32s', value: [1, ...shape] }] });
}

const flatten: Converter = (b, layer, inputs) => {
  const x = one(layer, inputs);
  return reshapeTo(b, x, [x.shape.reduce((a, c) => a * c, 1)], layer.name);
};

const reshape: Converter = (b, layer, inputs) => {
  const x = one(layer, inputs);
  const target = layer.config.target_shape ?? layer.config.targetShape;
  if (!Array.isArray(target) || !target.every((d) => typeof d === 'number')) throw unsupportedLayer(layer, 'has no target shape');
  const size = x.shape.reduce((a, c) => a * c, 1);
  const known = (target as number[]).filter((d) => d !== -1).reduce((a, c) => a * c, 1);
  const shape = (target as number[]).map((d) => (d === -1 ? size / known : d));
  if (shape.reduce((a, c) => a * c, 1) !== size || !shape.every(Number.isInteger)) throw unsupportedLayer(layer, `reshapes ${x.shape.join('x')} to ${target.join('x')}`);
  return reshapeTo(b, x, shape, layer.name);
};

const zeroPadding2d: Converter = (b, layer, inputs) => {
  const x = image(layer, one(layer, inputs));
  const p = layer.config.padding ?? 1;
  let top: number, bottom: number, left: number, right: number;
  if (typeof p === 'number') [top, bottom, left, right] = [p, p, p, p];
  else if (Array.isArray(p) && p.every((v) => typeof v === 'number')) [top, bottom, left, right] = [p[0], p[0], p[1], p[1]];
  else if (Array.isArray(p) && p.every((v) => Array.isArray(v))) [[top, bottom], [left, right]] = p as [[number, number], [number, number]];
  else throw unsupportedLayer(layer, `has padding ${JSON.stringify(p)}`);
  const pads = b.tensors.push({ name: `${layer.name}/paddings`, shape: [4, 2], type: 'int32', data: int32Bytes([0, 0, top, bottom, left, right, 0, 0]) }) - 1;
  return b.op(Op.PAD, [x.tensor, pads], [x.shape[0] + top + bottom, x.shape[1] + left + right, x.shape[2]], layer.name, { union: OptionsUnion.PadOptions, fields: [] });
};

function sameShapes(layer: LayerSpec, inputs: Value[], verb: string): number[] {
  if (inputs.length < 2) throw unsupportedLayer(layer, `has ${inputs.length} input`);
  const shape = inputs[0].shape;
  if (!inputs.every((v) => v.shape.join() === shape.join())) throw unsupportedLayer(layer, `${verb} different shapes (${inputs.map((v) => v.shape.join('x')).join(', ')})`);
  return shape;
}

function chain(b: Builder, op: number, union: number, inputs: Value[], shape: number[], name: string): Value {
  let y = inputs[0];
  for (let i = 1; i < inputs.length; i++) y = b.op(op, [y.tensor, inputs[i].tensor], shape, i === inputs.length - 1 ? name : `${name}/${i}`, { union, fields: [{ slot: 0, kind: 'int8', value: 0 }] });
  return y;
}

const add: Converter = (b, layer, inputs) => chain(b, Op.ADD, OptionsUnion.AddOptions, inputs, sameShapes(layer, inputs, 'adds'), layer.name);
const multiply: Converter = (b, layer, inputs) => chain(b, Op.MUL, OptionsUnion.MulOptions, inputs, sameShapes(layer, inputs, 'multiplies'), layer.name);

const average: Converter = (b, layer, inputs) => {
  const shape = sameShapes(layer, inputs, 'averages');
  const sum = chain(b, Op.ADD, OptionsUnion.AddOptions, inputs, shape, `${layer.name}/sum`);
  return b.op(Op.MUL, [sum.tensor, b.floats(Float32Array.of(1 / inputs.length), [], `${layer.name}/share`)], shape, layer.name, { union: OptionsUnion.MulOptions, fields: [{ slot: 0, kind: 'int8', value: 0 }] });
};

const concatenate: Converter = (b, layer, inputs) => {
  const rank = inputs[0].shape.length + 1;
  const raw = Number(layer.config.axis ?? -1);
  const axis = raw < 0 ? rank + raw : raw;
  if (axis < 1 || axis >= rank || !inputs.every((v) => v.shape.length === rank - 1)) throw unsupportedLayer(layer, `concatenates along axis ${raw}`);
  const shape = [...inputs[0].shape];
  shape[axis - 1] = inputs.reduce((n, v) => n + v.shape[axis - 1], 0);
  return b.op(
    Op.CONCATENATION,
    inputs.map((v) => v.tensor),
    shape,
    layer.name,
    {
      union: OptionsUnion.ConcatenationOptions,
      fields: [
        { slot: 0, kind: 'int32', value: axis },
        { slot: 1, kind: 'int8', value: 0 },
      ],
    },
  );
};

/** x * scale + offset with scalar constants (nothing for 1 and 0). */
function affine(b: Builder, x: Value, scale: number, offset: number, name: string): Value {
  let y = x;
  if (scale !== 1) y = b.op(Op.MUL, [y.tensor, b.floats(Float32Array.of(scale), [], `${name}/scale`)], y.shape, offset === 0 ? name : `${name}/scaled`, { union: OptionsUnion.MulOptions, fields: [{ slot: 0, kind: 'int8', value: 0 }] });
  if (offset !== 0) y = b.op(Op.ADD, [y.tensor, b.floats(Float32Array.of(offset), [], `${name}/offset`)], y.shape, name, { union: OptionsUnion.AddOptions, fields: [{ slot: 0, kind: 'int8', value: 0 }] });
  return y;
}

const rescaling: Converter = (b, layer, inputs) => affine(b, one(layer, inputs), Number(layer.config.scale ?? 1), Number(layer.config.offset ?? 0), layer.name);

const permuteLayer: Converter = (b, layer, inputs) => {
  const x = one(layer, inputs);
  const dims = layer.config.dims;
  if (!Array.isArray(dims) || dims.length !== x.shape.length || [...dims].sort().join() !== x.shape.map((_, i) => i + 1).join()) {
    throw unsupportedLayer(layer, `has dims ${JSON.stringify(dims)} for a ${x.shape.length}-d input`);
  }
  const perm = [0, ...dims.map(Number)];
  return b.op(Op.TRANSPOSE, [x.tensor, b.ints(perm, `${layer.name}/perm`)], perm.slice(1).map((d) => x.shape[d - 1]), layer.name, { union: OptionsUnion.TransposeOptions, fields: [] });
};

const identity: Converter = (_b, layer, inputs) => one(layer, inputs);

export const TFLITE_CONVERTERS: Record<string, Converter> = {
  InputLayer: identity,
  Conv2D: conv2d,
  DepthwiseConv2D: depthwiseConv2d,
  Dense: dense,
  BatchNormalization: batchNormalization,
  Activation: activation,
  ReLU: relu,
  LeakyReLU: leakyRelu,
  Softmax: softmax,
  MaxPooling2D: pooling(Op.MAX_POOL_2D),
  AveragePooling2D: pooling(Op.AVERAGE_POOL_2D),
  GlobalAveragePooling2D: globalPooling(Op.MEAN),
  GlobalMaxPooling2D: globalPooling(Op.REDUCE_MAX),
  Flatten: flatten,
  Reshape: reshape,
  ZeroPadding2D: zeroPadding2d,
  Add: add,
  Multiply: multiply,
  Average: average,
  Concatenate: concatenate,
  Permute: permuteLayer,
  Rescaling: rescaling,
  Dropout: identity,
  SpatialDropout2D: identity,
  GaussianNoise: identity,
  GaussianDropout: identity,
  AlphaDropout: identity,
};

export interface TfliteConvertOptions {
  /** What the model expects from raw pixels: x * scale + offset. */
  preprocess: { scale: number; offset: number };
  description: string;
  /** Named metadata entries written into the file (labels, preprocessing). */
  metadata?: Record<string, string>;
}

/** The float32 TFLite model of a layers model. */
export function convertToTflite(graph: LayersGraph, options: TfliteConvertOptions): FloatModel {
  const b = new Builder(graph.weights);
  const input = b.activation(graph.input.shape, INPUT_NAME);
  const counts: Record<string, number> = {};
  // How many calls read each call's output: an operator's output is changed in place (folding, fusing) only when one does.
  const readers = new Map<string, number>();
  for (const call of graph.calls.values()) for (const i of call.inputs) readers.set(callKey(i.layer, i.index), (readers.get(callKey(i.layer, i.index)) ?? 0) + 1);
  readers.set(graph.output, (readers.get(graph.output) ?? 0) + 1);

  const values = new Map<string, Value>();
  values.set(graph.input.call, affine(b, { tensor: input, shape: graph.input.shape }, options.preprocess.scale, options.preprocess.offset, 'preprocess'));
  let out = computeCall(graph.calls, values, graph.output, ({ layer, inputs: from }, inputs) => {
    if (from.length === 0) throw unsupportedLayer(layer, 'is a second model input');
    const convert = TFLITE_CONVERTERS[layer.className];
    if (!convert) {
      const nested = layer.className === 'Sequential' || layer.className === 'Model' || layer.className === 'Functional';
      throw new LoupeError(
        'NOT_SUPPORTED',
        nested
          ? `Layer "${layer.name}" is a nested model (${layer.className}); the TensorFlow Lite export needs one flat model.`
          : `The TensorFlow Lite export does not support ${layer.className} layers (layer "${layer.name}"): it converts ${Object.keys(TFLITE_CONVERTERS).join(', ')}.`,
      );
    }
    const first = callKey(from[0].layer, from[0].index);
    const converted = convert(b, layer, inputs, readers.get(first) === 1 && first !== graph.input.call);
    counts[layer.className] = (counts[layer.className] ?? 0) + 1;
    return converted;
  });
  if (out.tensor === input || b.tensors[out.tensor].data) throw new LoupeError('NOT_SUPPORTED', 'The model computes nothing from its input.');
  // The output tensor carries the contract's name.
  if (b.tensors.filter((t, i) => i !== out.tensor && t.name === OUTPUT_NAME).length === 0) b.tensors[out.tensor].name = OUTPUT_NAME;
  else out = reshapeTo(b, out, out.shape, OUTPUT_NAME);
  const encoder = new TextEncoder();
  return {
    model: {
      description: options.description,
      tensors: b.tensors,
      operators: b.operators,
      inputs: [input],
      outputs: [out.tensor],
      metadata: Object.entries(options.metadata ?? {}).map(([name, text]) => ({ name, data: encoder.encode(text) })),
    },
    layers: counts,
  };
}
