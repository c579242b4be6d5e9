// Full-integer (int8) TensorFlow Lite models, as TensorFlow's converter makes them with a
// representative dataset: every activation int8 with a scale and zero point calibrated on the
// run's own training images, convolution filters int8 per output channel (symmetric, zero point
// 0), dense weights int8 per tensor, biases int32 at input scale x weight scale, and the input and
// output int8 too, so a microcontroller runtime (TFLite Micro) runs the file as it is. The input
// is the pixels (scale 1, zero point -128: q = pixel - 128); a softmax output has TFLite's fixed
// scale 1/256 and zero point -128.
//
// Calibration runs the float model in the interpreter with every activation tensor made an output,
// image by image; its ranges are min/max, a percentile clip or the clip of least squared error
// (onnx/calibration.ts).

import { setImmediate as nextTurn } from 'node:timers/promises';
import { LoupeError } from '../../../shared/errors';
import type { CalibrationMethod } from '../../../shared/types';
import { throwIfCancelled } from '../../jobs/jobs';
import { RangeObserver, type Range } from '../onnx/calibration';
import { TfliteInterpreter } from './interpreter';
import { Op, writeTflite, type Operator, type Quantization, type Tensor, type TfliteModel } from './schema';
import { quantizeInput, type Images } from './run';

export type { Range };

/** The float model with every activation tensor an output, and which tensors those are. */
export function calibrationModel(model: TfliteModel): { bytes: Uint8Array; tensors: number[] } {
  const tensors = model.operators.flatMap((o) => o.outputs).filter((t, i, all) => all.indexOf(t) === i);
  return { bytes: writeTflite({ ...model, outputs: tensors }), tensors };
}

/** Activation ranges of every tensor over the calibration images. */
export async function calibrate(
  model: TfliteModel,
  images: Images,
  options: { method?: CalibrationMethod; percentile?: number; signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
): Promise<Map<number, Range>> {
  const { bytes, tensors } = calibrationModel(model);
  const observer = new RangeObserver<number>(options.method ?? 'minmax', options.percentile);
  const interpreter = await TfliteInterpreter.load(bytes);
  try {
    const size = interpreter.inputs[0].shape.reduce((a, b) => a * b, 1);
    for (let pass = 0; pass < observer.passes; pass++) {
      for (let i = 0; i < images.count; i++) {
        if (options.signal) throwIfCancelled(options.signal);
        const outputs = interpreter.run(quantizeInput(images.pixels.subarray(i * size, (i + 1) * size), null));
        outputs.forEach((values, o) => observer.observe(pass, tensors[o], values));
        options.onProgress?.(pass * images.count + i + 1, observer.passes * images.count);
        await nextTurn();
      }
    }
    return observer.ranges();
  } finally {
    interpreter.close();
  }
}

/** Asymmetric int8 parameters of a range (which always holds 0, so that 0 is exact). */
export function activationParams(range: Range): { scale: number; zeroPoint: number } {
  const min = Math.min(0, range.min);
  const max = Math.max(0, range.max);
  const scale = max - min > 0 ? (max - min) / 255 : 1e-8;
  const zeroPoint = Math.max(-128, Math.min(127, Math.round(-128 - min / scale)));
  return { scale, zeroPoint };
}

const floats = (t: Tensor) => new Float32Array(t.data!.buffer.slice(t.data!.byteOffset, t.data!.byteOffset + t.data!.byteLength));
const bytesOf = (a: Int8Array | Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Symmetric int8 weights, one scale per slice along `axis` (or one for all when axis is null). */
function quantizeWeights(t: Tensor, axis: number | null): Tensor {
  const data = floats(t);
  const channels = axis === null ? 1 : t.shape[axis];
  const inner = axis === null ? 1 : t.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const channelOf = (i: number) => (axis === null ? 0 : Math.floor(i / inner) % channels);
  const peak = new Float64Array(channels);
  for (let i = 0; i < data.length; i++) peak[channelOf(i)] = Math.max(peak[channelOf(i)], Math.abs(data[i]));
  const scale = Array.from(peak, (p) => (p > 0 ? p / 127 : 1));
  const q = new Int8Array(data.length);
  for (let i = 0; i < data.length; i++) q[i] = Math.max(-127, Math.min(127, Math.round(data[i] / scale[channelOf(i)])));
  return { ...t, type: 'int8', data: bytesOf(q), quantization: { scale, zeroPoint: scale.map(() => 0), dimension: axis ?? 0 } };
}

/** Biases as int32 at input scale x weight scale: one scale per channel with per-channel weights, one in all with per-tensor ones (as TensorFlow writes them; XNNPACK refuses a mix). */
function quantizeBias(t: Tensor, inputScale: number, weightScales: number[]): Tensor {
  const data = floats(t);
  const scale = weightScales.map((w) => inputScale * w);
  const q = new Int32Array(data.length);
  for (let c = 0; c < data.length; c++) q[c] = Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, Math.round(data[c] / scale[scale.length === 1 ? 0 : c])));
  return { ...t, type: 'int32', data: bytesOf(q), quantization: { scale, zeroPoint: scale.map(() => 0), dimension: 0 } };
}

/** A float constant (a batch-norm scale, an average's share) as int8, asymmetric over its own range. */
function quantizeConstant(t: Tensor): Tensor {
  const data = floats(t);
  const { scale, zeroPoint } = activationParams({ min: Math.min(...data), max: Math.max(...data) });
  const q = Int8Array.from(data, (v) => Math.max(-128, Math.min(127, Math.round(v / scale) + zeroPoint)));
  return { ...t, type: 'int8', data: bytesOf(q), quantization: { scale: [scale], zeroPoint: [zeroPoint], dimension: 0 } };
}

/** Operators whose int8 kernels need the output to share the input's scale and zero point. */
const SAME_SCALE = new Set<number>([Op.MAX_POOL_2D, Op.AVERAGE_POOL_2D, Op.RESHAPE, Op.TRANSPOSE, Op.PAD, Op.REDUCE_MAX]);
/** Operators whose int8 output has a fixed scale and zero point in TFLite. */
const FIXED_OUTPUT: Partial<Record<number, { scale: number; zeroPoint: number }>> = {
  [Op.SOFTMAX]: { scale: 1 / 256, zeroPoint: -128 },
  [Op.LOGISTIC]: { scale: 1 / 256, zeroPoint: -128 },
  [Op.TANH]: { scale: 1 / 128, zeroPoint: 0 },
};
/** Operator versions whose kernels take int8 (TFLite's op versioning: int8 came in these). */
const INT8_VERSION: Partial<Record<number, number>> = {
  [Op.CONV_2D]: 3,
  [Op.DEPTHWISE_CONV_2D]: 3,
  [Op.FULLY_CONNECTED]: 4,
  [Op.ADD]: 2,
  [Op.MUL]: 2,
  [Op.SOFTMAX]: 2,
  [Op.MAX_POOL_2D]: 2,
  [Op.AVERAGE_POOL_2D]: 2,
  [Op.MEAN]: 2,
  [Op.TRANSPOSE]: 2,
  [Op.PAD]: 2,
  [Op.RELU]: 2,
  [Op.RELU6]: 2,
  [Op.LOGISTIC]: 2,
  [Op.TANH]: 2,
  [Op.CONCATENATION]: 2,
  [Op.LEAKY_RELU]: 2,
  [Op.REDUCE_MAX]: 2,
};

/** The input's int8 parameters: the pixels 0..255 themselves. */
export const INPUT_QUANTIZATION: Quantization = { scale: [1], zeroPoint: [-128], dimension: 0 };

export interface QuantizeOptions {
  /** Dense weights per output unit too (TFLite's per-channel fully-connected kernels; older runtimes have only per-tensor). */
  perChannelDense?: boolean;
  /**
   * Operators left in float, with DEQUANTIZE/QUANTIZE around them (mixed precision: no longer a
   * full-integer model, so not what the export writes; for measuring where int8 loses accuracy).
   */
  keepFloat?: (operator: Operator, index: number) => boolean;
}

/** The full-integer model of a float one, given every activation tensor's range. */
export function quantizeTflite(float: TfliteModel, ranges: Map<number, Range>, options: QuantizeOptions = {}): TfliteModel {
  const tensors: Tensor[] = float.tensors.map((t) => ({ ...t }));
  const q = (i: number): Quantization => {
    const quant = tensors[i].quantization;
    if (!quant) throw new LoupeError('INTERNAL', `Tensor ${tensors[i].name} has no int8 parameters yet.`);
    return quant;
  };
  const setActivation = (i: number, params: { scale: number; zeroPoint: number }, range?: Range) => {
    tensors[i] = { ...tensors[i], type: 'int8', quantization: { scale: [params.scale], zeroPoint: [params.zeroPoint], dimension: 0, ...(range ? { min: [range.min], max: [range.max] } : {}) } };
  };
  for (const input of float.inputs) setActivation(input, { scale: INPUT_QUANTIZATION.scale[0], zeroPoint: INPUT_QUANTIZATION.zeroPoint[0] }, { min: 0, max: 255 });

  const operators: Operator[] = [];
  // Mixed precision only: activations written in float by a kept operator, and the converted copies made.
  const floatOutputs = new Set<number>();
  const copies = new Map<string, number>();
  const convert = (i: number, to: 'float' | 'int8'): number => {
    const key = `${i}>${to}`;
    let copy = copies.get(key);
    if (copy === undefined) {
      const source = float.tensors[i];
      copy = tensors.push({ name: `${source.name}/${to}`, shape: source.shape, type: 'float32' }) - 1;
      if (to === 'int8') {
        const range = ranges.get(i);
        if (!range) throw new LoupeError('INTERNAL', `No calibrated range for tensor ${source.name}.`);
        setActivation(copy, activationParams(range), range);
      }
      operators.push({ op: to === 'int8' ? Op.QUANTIZE : Op.DEQUANTIZE, version: 2, inputs: [i], outputs: [copy] });
      copies.set(key, copy);
    }
    return copy;
  };

  for (const [index, op] of float.operators.entries()) {
    const out = op.outputs[0];
    if (options.keepFloat?.(op, index)) {
      const inputs = op.inputs.map((i) => (float.tensors[i].data || floatOutputs.has(i) ? i : convert(i, 'float')));
      floatOutputs.add(out);
      operators.push({ ...op, inputs });
      continue;
    }
    const inputs = op.inputs.map((i) => (floatOutputs.has(i) ? convert(i, 'int8') : i));
    if (op.op === Op.CONV_2D || op.op === Op.DEPTHWISE_CONV_2D || op.op === Op.FULLY_CONNECTED) {
      const axis = op.op === Op.CONV_2D ? 0 : op.op === Op.DEPTHWISE_CONV_2D ? 3 : options.perChannelDense ? 0 : null;
      tensors[inputs[1]] = quantizeWeights(float.tensors[inputs[1]], axis);
      tensors[inputs[2]] = quantizeBias(float.tensors[inputs[2]], q(inputs[0]).scale[0], q(inputs[1]).scale);
    } else {
      // Float constants of elementwise operators (batch norm left unfolded, an average's share) become int8; int32 ones (axes, shapes) stay.
      for (const i of inputs) if (float.tensors[i]?.data && float.tensors[i].type === 'float32') tensors[i] = quantizeConstant(float.tensors[i]);
    }
    const fixed = FIXED_OUTPUT[op.op];
    if (fixed) setActivation(out, fixed);
    else if (SAME_SCALE.has(op.op)) setActivation(out, { scale: q(inputs[0]).scale[0], zeroPoint: q(inputs[0]).zeroPoint[0] });
    else {
      const range = ranges.get(out);
      if (!range) throw new LoupeError('INTERNAL', `No calibrated range for tensor ${float.tensors[out].name}.`);
      setActivation(out, activationParams(range), range);
    }
    const version = op.op === Op.FULLY_CONNECTED && op.options?.fields.some((f) => f.slot === 2 && f.value === 1) ? 5 : (INT8_VERSION[op.op] ?? 1);
    operators.push({ ...op, inputs, version, options: op.options && { union: op.options.union, fields: op.options.fields.map((f) => ({ ...f })) } });
  }
  if (options.keepFloat) return { ...float, tensors, operators };
  for (const t of tensors) if (t.type === 'float32') throw new LoupeError('INTERNAL', `Tensor ${t.name} was left in float in the int8 model.`);
  return { ...float, tensors, operators };
}
