// Running a .tflite model on decoded images through the interpreter: float or int8 input (int8:
// q = pixel - 128 when the input is pixels with scale 1 and zero point -128, in general
// round(pixel / scale) + zero point), outputs dequantized back to probabilities. The interpreter
// is synchronous (one image at a time on this thread), so the loops yield to the event loop after
// every image and stop when cancelled.

import { setImmediate as nextTurn } from 'node:timers/promises';
import { LoupeError } from '../../../shared/errors';
import { throwIfCancelled } from '../../jobs/jobs';
import { TfliteInterpreter } from './interpreter';
import { readTflite, type Quantization } from './schema';

export interface TfliteIo {
  input: Quantization | null;
  outputs: (Quantization | null)[];
}

/** The quantization of the model's input and outputs (null where float). */
export function ioQuantization(bytes: Uint8Array): TfliteIo {
  const model = readTflite(bytes);
  const q = (i: number) => (model.tensors[i].type === 'int8' ? (model.tensors[i].quantization ?? null) : null);
  return { input: q(model.inputs[0]), outputs: model.outputs.map(q) };
}

/** Pixels (0..255) as the model's input: as they are for a float model, quantized for an int8 one. */
export function quantizeInput(pixels: Uint8Array | Float32Array, q: Quantization | null): Float32Array | Int8Array {
  if (!q) return Float32Array.from(pixels);
  const out = new Int8Array(pixels.length);
  const [scale, zero] = [q.scale[0], q.zeroPoint[0]];
  for (let i = 0; i < pixels.length; i++) out[i] = Math.max(-128, Math.min(127, Math.round(pixels[i] / scale) + zero));
  return out;
}

export function dequantize(values: ArrayLike<number>, q: Quantization | null): Float32Array {
  if (!q) return Float32Array.from(values);
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = (values[i] - q.zeroPoint[0]) * q.scale[0];
  return out;
}

export interface Images {
  pixels: Uint8Array;
  count: number;
}

/**
 * Every output of the model for each image, dequantized, concatenated over the images
 * (output o of image i at [i * size_o, (i + 1) * size_o)).
 */
export async function runTflite(bytes: Uint8Array, images: Images, options: { signal?: AbortSignal; onImage?: (done: number) => void } = {}): Promise<Float32Array[]> {
  const io = ioQuantization(bytes);
  const interpreter = await TfliteInterpreter.load(bytes);
  try {
    const size = interpreter.inputs[0].shape.reduce((a, b) => a * b, 1);
    if (images.pixels.length !== images.count * size) throw new LoupeError('INTERNAL', `The model takes ${size} values an image; the images hold ${images.pixels.length / Math.max(1, images.count)}.`);
    const sizes = interpreter.outputs.map((o) => o.shape.reduce((a, b) => a * b, 1));
    const outputs = sizes.map((s) => new Float32Array(s * images.count));
    for (let i = 0; i < images.count; i++) {
      if (options.signal) throwIfCancelled(options.signal);
      const result = interpreter.run(quantizeInput(images.pixels.subarray(i * size, (i + 1) * size), io.input));
      result.forEach((r, o) => outputs[o].set(dequantize(r, io.outputs[o]), i * sizes[o]));
      options.onImage?.(i + 1);
      await nextTurn();
    }
    return outputs;
  } finally {
    interpreter.close();
  }
}

/** Median time of one image through the interpreter (one thread), over at least `minMs` and 5 runs. */
export async function tfliteLatency(bytes: Uint8Array, images: Images, options: { signal?: AbortSignal; minMs?: number } = {}): Promise<number> {
  const io = ioQuantization(bytes);
  const interpreter = await TfliteInterpreter.load(bytes);
  try {
    const size = interpreter.inputs[0].shape.reduce((a, b) => a * b, 1);
    const input = quantizeInput(images.pixels.subarray(0, size), io.input);
    interpreter.run(input); // warm-up: the first run allocates and packs weights
    const times: number[] = [];
    const started = performance.now();
    while (times.length < 5 || performance.now() - started < (options.minMs ?? 1000)) {
      if (options.signal) throwIfCancelled(options.signal);
      const t = performance.now();
      interpreter.run(input);
      times.push(performance.now() - t);
      await nextTurn();
    }
    return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
  } finally {
    interpreter.close();
  }
}
