// The int8 ONNX export: the verified float model.onnx, quantized (onnx/quantize.ts) with scales
// calibrated on up to 200 of the run's own training images (onnx/calibration.ts), then held to the float model on the
// parity images before it is written: top-1 agreement at least 99% and accuracy within 1 point,
// else the export fails with the figures. Its size and its speed through onnxruntime-node on
// this machine (batched images/s and batch-1 latency) are measured beside the float model's.

import os from 'node:os';
import { LoupeError } from '../../../shared/errors';
import { percent } from '../../../shared/format';
import type { CalibrationMethod, Int8Check, OrtSpeed, PreprocessSpec, RunDetails } from '../../../shared/types';
import { throwIfCancelled } from '../../jobs/jobs';
import type { Project } from '../../store/project';
import { onnxruntime } from '../onnx/runtime';
import { CALIBRATION_METHODS, GOOD_ENOUGH_ON_CALIBRATION, RangeObserver } from '../onnx/calibration';
import { calibrationModel, planQuantization, quantizeModel, type Range } from '../onnx/quantize';
import { parityPixels, type ParityPixels } from './parity';

export const CALIBRATION_IMAGES = 200;
/** The int8 model's top class must be the float model's on at least this share of the images. */
export const INT8_MIN_AGREEMENT = 0.99;
/** ... and its accuracy within this of the float model's. */
export const INT8_MAX_ACCURACY_GAP = 0.01;

/** The run's training images an int8 model is calibrated on (up to CALIBRATION_IMAGES), for ONNX and TFLite alike; none readable is an error. */
export async function calibrationImages(
  project: Project,
  run: RunDetails,
  spec: PreprocessSpec,
  options: { signal?: AbortSignal; onProgress?: Progress },
): Promise<ParityPixels & { split: NonNullable<ParityPixels['split']> }> {
  const images = await parityPixels(project, run.id, spec, {
    splits: ['train'],
    limit: CALIBRATION_IMAGES,
    signal: options.signal,
    onProgress: (d, t) => options.onProgress?.(d, t, 'Reading calibration images'),
  });
  const { split } = images;
  if (split === null) throw new LoupeError('NOT_FOUND', `None of run #${run.id}'s training images can be read, so the int8 model cannot be calibrated.`);
  return { ...images, split };
}

const BATCH = 32;
/** Each speed figure is timed over at least this long (and a few runs), so one hiccup does not make it. */
const TIMING_MS = 1000;

type Progress = (done: number, total: number | null, phase: string) => void;

async function session(bytes: Uint8Array) {
  const ort = await onnxruntime();
  // The CPU provider with every optimization: what fuses the QDQ pairs into integer kernels.
  return ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: os.availableParallelism() }).catch((err: unknown) => {
    throw new LoupeError('INTERNAL', `onnxruntime cannot load the int8 model: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  });
}

type Session = Awaited<ReturnType<typeof session>>;

function batchInput(ort: Awaited<ReturnType<typeof onnxruntime>>, spec: PreprocessSpec, images: ParityPixels, start: number, n: number) {
  const size = spec.width * spec.height * spec.channels;
  return { pixels: new ort.Tensor('float32', Float32Array.from(images.pixels.subarray(start * size, (start + n) * size)), [n, spec.height, spec.width, spec.channels]) };
}

/** Probabilities of every image, batch by batch. */
export async function predictAll(s: Session, spec: PreprocessSpec, images: ParityPixels, signal?: AbortSignal): Promise<Float32Array> {
  const ort = await onnxruntime();
  const out: Float32Array[] = [];
  for (let start = 0; start < images.count; start += BATCH) {
    if (signal) throwIfCancelled(signal);
    const result = await s.run(batchInput(ort, spec, images, start, Math.min(BATCH, images.count - start)));
    out.push(result.probabilities.data as Float32Array);
  }
  const all = new Float32Array(out.reduce((n, a) => n + a.length, 0));
  out.reduce((offset, a) => (all.set(a, offset), offset + a.length), 0);
  return all;
}

/**
 * The int8 model of `floatBytes`, its activation scales set on up to 200 training images. The
 * calibration methods are tried in turn (min/max, then a percentile clip, then the clip of least
 * squared error) until one keeps the float model's top class on 99.5% of those same training
 * images; else the best of them. The choice never looks at the images that verify the model.
 */
export async function quantizeRun(
  project: Project,
  run: RunDetails,
  spec: PreprocessSpec,
  floatBytes: Uint8Array,
  options: { signal?: AbortSignal; onProgress?: Progress; adjustRanges?: (ranges: Map<string, Range>) => void; methods?: CalibrationMethod[] } = {},
): Promise<{ bytes: Uint8Array; calibration: Int8Check['calibration'] }> {
  const plan = planQuantization(floatBytes);
  const images = await calibrationImages(project, run, spec, options);
  const ort = await onnxruntime();
  const floatSession = await session(floatBytes);
  let floatProbabilities: Float32Array;
  try {
    floatProbabilities = await predictAll(floatSession, spec, images, options.signal);
  } finally {
    await floatSession.release();
  }
  const s = await session(calibrationModel(plan));
  let best: { bytes: Uint8Array; method: CalibrationMethod; agreement: number } | null = null;
  try {
    for (const method of options.methods ?? CALIBRATION_METHODS) {
      const observer = new RangeObserver<string>(method);
      for (let pass = 0; pass < observer.passes; pass++) {
        for (let start = 0; start < images.count; start += BATCH) {
          if (options.signal) throwIfCancelled(options.signal);
          options.onProgress?.(pass * images.count + start, observer.passes * images.count, 'Calibrating int8');
          const outputs = await s.run(batchInput(ort, spec, images, start, Math.min(BATCH, images.count - start)));
          for (const t of plan.tensors) if (outputs[t]) observer.observe(pass, t, outputs[t].data as Float32Array);
        }
      }
      const ranges = observer.ranges();
      options.adjustRanges?.(ranges);
      const bytes = quantizeModel(plan, ranges).bytes;
      const q = await session(bytes);
      let agreement: number;
      try {
        agreement = compareInt8(floatProbabilities, await predictAll(q, spec, images, options.signal), images.count, null).top1Agreement;
      } finally {
        await q.release();
      }
      if (!best || agreement > best.agreement) best = { bytes, method, agreement };
      if (agreement >= GOOD_ENOUGH_ON_CALIBRATION) break;
    }
  } finally {
    await s.release();
  }
  return { bytes: best!.bytes, calibration: { images: images.count, split: images.split, method: best!.method } };
}

function argmax(p: Float32Array, i: number, k: number): number {
  let best = 0;
  for (let j = 1; j < k; j++) if (p[i * k + j] > p[i * k + best]) best = j;
  return best;
}

/** Top-1 agreement of int8 with float, and each one's accuracy against the images' labels (output index per image). */
export function compareInt8(float: Float32Array, int8: Float32Array, count: number, truth: number[] | null): Pick<Int8Check, 'top1Agreement' | 'accuracy'> {
  const k = float.length / count;
  if (int8.length !== float.length || !Number.isInteger(k)) throw new LoupeError('INTERNAL', `The int8 model gives ${int8.length / count} outputs per image where the float model gives ${k}.`);
  let agree = 0;
  let rightFloat = 0;
  let rightInt8 = 0;
  for (let i = 0; i < count; i++) {
    const a = argmax(float, i, k);
    const b = argmax(int8, i, k);
    if (a === b) agree++;
    if (truth) {
      if (a === truth[i]) rightFloat++;
      if (b === truth[i]) rightInt8++;
    }
  }
  return { top1Agreement: agree / count, accuracy: truth ? { float: rightFloat / count, int8: rightInt8 / count } : null };
}

/** Why the int8 model is refused, for people; null when it passed. */
export function int8Problem(c: Pick<Int8Check, 'top1Agreement' | 'accuracy' | 'images'>, floatFormat: 'onnx' | 'tflite' = 'onnx'): string | null {
  const why: string[] = [];
  // A tolerance for the share's rounding (198 of 200 is exactly 99%).
  if (c.top1Agreement < INT8_MIN_AGREEMENT - 1e-9) why.push(`its top class is the float model's on ${percent(c.top1Agreement)} of ${c.images} images (at least ${percent(INT8_MIN_AGREEMENT)} needed)`);
  if (c.accuracy && Math.abs(c.accuracy.float - c.accuracy.int8) > INT8_MAX_ACCURACY_GAP + 1e-9) {
    why.push(`its accuracy is ${percent(c.accuracy.int8)} where the float model's is ${percent(c.accuracy.float)} (at most ${INT8_MAX_ACCURACY_GAP * 100} point apart allowed)`);
  }
  return why.length
    ? `The int8 model does not hold up against the float model: ${why.join(', and ')}. The export was not written; the float model exports as --format ${floatFormat}.`
    : null;
}

async function timed(s: Session, input: Record<string, unknown>, signal?: AbortSignal): Promise<number[]> {
  await s.run(input as never); // warm-up: first runs allocate and pick kernels
  const times: number[] = [];
  const started = performance.now();
  while (times.length < 5 || performance.now() - started < TIMING_MS) {
    if (signal) throwIfCancelled(signal);
    const t = performance.now();
    await s.run(input as never);
    times.push(performance.now() - t);
  }
  return times;
}

/** Batched images/s and batch-1 latency (medians over at least a second each) of a model through onnxruntime's CPU provider. */
export async function measureSpeed(bytes: Uint8Array, spec: PreprocessSpec, images: ParityPixels, signal?: AbortSignal): Promise<OrtSpeed> {
  const ort = await onnxruntime();
  const s = await session(bytes);
  try {
    const batch = Math.min(BATCH, images.count);
    // Medians: on a machine shared with other work, a run preempted now and then must not make the figure.
    const median = (times: number[]) => times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
    const batched = median(await timed(s, batchInput(ort, spec, images, 0, batch), signal));
    const single = median(await timed(s, batchInput(ort, spec, images, 0, 1), signal));
    return { imagesPerSecond: (batch * 1000) / batched, batch, latencyMs: single };
  } finally {
    await s.release();
  }
}

/**
 * Quantizes and verifies: the int8 model against the float one on the parity images (whose
 * float probabilities are given), then both timed. Throws with why when it does not hold up.
 */
export async function int8Export(
  project: Project,
  run: RunDetails,
  spec: PreprocessSpec,
  float: { bytes: Uint8Array; probabilities: Float32Array },
  images: ParityPixels,
  options: { signal?: AbortSignal; onProgress?: Progress; adjustRanges?: (ranges: Map<string, Range>) => void; methods?: CalibrationMethod[] } = {},
): Promise<{ bytes: Uint8Array; check: Int8Check }> {
  const { bytes, calibration } = await quantizeRun(project, run, spec, float.bytes, options);
  options.onProgress?.(0, null, 'Checking the int8 model');
  const s = await session(bytes);
  let probabilities: Float32Array;
  try {
    probabilities = await predictAll(s, spec, images, options.signal);
  } finally {
    await s.release();
  }
  const index = new Map(run.classes.map((c, i) => [c.id, i]));
  const truth = images.classIds.length === images.count ? images.classIds.map((id) => index.get(id) ?? -1) : null;
  const compared = compareInt8(float.probabilities, probabilities, images.count, truth);
  const problem = int8Problem({ ...compared, images: images.count });
  if (problem) throw new LoupeError('INTERNAL', problem);
  options.onProgress?.(0, null, 'Measuring speed');
  const speed = { float: await measureSpeed(float.bytes, spec, images, options.signal), int8: await measureSpeed(bytes, spec, images, options.signal), threads: os.availableParallelism() };
  return { bytes, check: { calibration, images: images.count, split: images.split, ...compared, bytes: { float: float.bytes.length, int8: bytes.length }, speed } };
}
