// The check that makes an export "done": the same pixels through TensorFlow.js (the training
// framework) and through the exported model must give the same top class on every image and
// probabilities within PARITY_TOLERANCE. Images are the run's test split (else val, else train),
// up to 200, spread evenly, decoded exactly as for training.

import path from 'node:path';
import { LoupeError } from '../../../shared/errors';
import type { ExportParity, PreprocessSpec, Split } from '../../../shared/types';
import { throwIfCancelled } from '../../jobs/jobs';
import { mediaRelPath } from '../../store/media';
import type { Project } from '../../store/project';
import { seededRandom } from '../rng';
import { decodeToSpec } from '../pixels/pixel-pack';
import { PARITY_TOLERANCE } from './files';
import { runImageFiles } from './records';

export const PARITY_IMAGES = 200;
/** Generated images used only when none of the run's images can be read any more. */
const FALLBACK_IMAGES = 32;

export interface ParityPixels {
  pixels: Uint8Array;
  count: number;
  /** The split they came from; null for generated images. */
  split: Split | null;
  /** Each image's class (the run's class id); empty for generated images. */
  classIds: number[];
  /** Each image's id; empty for generated images. */
  imageIds: number[];
}

/** Up to `limit` ids spread evenly over the list (all of them when there are fewer). */
export function spread<T>(items: T[], limit: number): T[] {
  if (items.length <= limit) return items;
  return Array.from({ length: limit }, (_, i) => items[Math.floor((i * items.length) / limit)]);
}

/** Decodes the run's parity images to the model's input size (HWC uint8, one after another). */
export async function parityPixels(
  project: Project,
  runId: number,
  spec: PreprocessSpec,
  options: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void; limit?: number; splits?: readonly Split[] } = {},
): Promise<ParityPixels> {
  const size = spec.width * spec.height * spec.channels;
  const limit = options.limit ?? PARITY_IMAGES;
  for (const split of options.splits ?? (['test', 'val', 'train'] as const)) {
    const rows = runImageFiles(project.db, runId, split);
    if (rows.length === 0) continue;
    const chosen = spread(rows, limit);
    const decoded: (Buffer | null)[] = new Array(chosen.length).fill(null);
    let cursor = 0;
    let done = 0;
    const lane = async () => {
      while (cursor < chosen.length && !options.signal?.aborted) {
        const i = cursor++;
        try {
          decoded[i] = await decodeToSpec(path.join(project.root, mediaRelPath(chosen[i].hash, chosen[i].ext)), { ...spec, fit: spec.resize });
        } catch {
          // A media file damaged or gone since training: check on the others.
        }
        options.onProgress?.(++done, chosen.length);
      }
    };
    await Promise.all(Array.from({ length: 4 }, lane));
    if (options.signal) throwIfCancelled(options.signal);
    const good = decoded.flatMap((d, i) => (d === null ? [] : [{ d, classId: chosen[i].classId, imageId: chosen[i].imageId }]));
    if (good.length === 0) continue;
    const pixels = new Uint8Array(good.length * size);
    good.forEach(({ d }, i) => pixels.set(d, i * size));
    return { pixels, count: good.length, split, classIds: good.map((g) => g.classId), imageIds: good.map((g) => g.imageId) };
  }
  // No image of the run can be read: numerical parity still means something on generated ones.
  const random = seededRandom(1);
  const pixels = Uint8Array.from({ length: FALLBACK_IMAGES * size }, () => Math.floor(random() * 256));
  return { pixels, count: FALLBACK_IMAGES, split: null, classIds: [], imageIds: [] };
}

/** Compares two [count, classes] probability matrices. */
export function compareProbabilities(reference: Float32Array, candidate: Float32Array, count: number, against: ExportParity['against']): ExportParity {
  if (reference.length !== candidate.length || count === 0 || reference.length % count !== 0) {
    throw new LoupeError('INTERNAL', `The exported model gives ${candidate.length / Math.max(1, count)} outputs per image where TensorFlow.js gives ${reference.length / Math.max(1, count)}.`);
  }
  const k = reference.length / count;
  let maxAbsDiff = 0;
  let agree = 0;
  for (let i = 0; i < count; i++) {
    let a = 0;
    let b = 0;
    for (let j = 0; j < k; j++) {
      const x = reference[i * k + j];
      const y = candidate[i * k + j];
      const d = Math.abs(x - y);
      // NaN anywhere is a failure, never a silent pass.
      maxAbsDiff = Number.isNaN(d) ? Infinity : Math.max(maxAbsDiff, d);
      if (x > reference[i * k + a]) a = j;
      if (y > candidate[i * k + b]) b = j;
    }
    if (a === b) agree++;
  }
  return { against, images: count, maxAbsDiff, top1Agreement: agree / count };
}

export function parityPassed(p: ExportParity): boolean {
  return p.top1Agreement === 1 && p.maxAbsDiff <= PARITY_TOLERANCE;
}

/** Why a parity check failed, for people; null when it passed. */
export function parityProblem(p: ExportParity): string | null {
  if (parityPassed(p)) return null;
  const what = p.against === 'onnxruntime' ? 'The ONNX model (through onnxruntime)' : p.against === 'tflite' ? 'The TFLite model (through the TFLite interpreter)' : 'The exported TF.js files';
  const differ = Math.round((1 - p.top1Agreement) * p.images);
  return (
    `${what} did not reproduce TensorFlow.js's predictions on ${p.images} images: ` +
    `${differ > 0 ? `the top class differs on ${differ}, and ` : ''}probabilities differ by up to ${Number.isFinite(p.maxAbsDiff) ? p.maxAbsDiff.toExponential(2) : 'NaN'} ` +
    `(allowed: ${PARITY_TOLERANCE.toExponential(0)}). The export was not written.`
  );
}
