// Predictions of a transfer run's model on the project's images: each image's backbone features
// (extracted once, from the project's cache) through the run's trained head, in onnxruntime. The
// same numbers as the run's full model on the image, at the cost of the head alone once the
// features are cached.

import fs from 'node:fs';
import path from 'node:path';
import { LoupeError } from '../../../shared/errors';
import { throwIfCancelled } from '../../jobs/jobs';
import type { Project } from '../../store/project';
import { loupeVersion } from '../../version';
import { convertToOnnx } from '../onnx/convert';
import { readLayersModelDir } from '../onnx/layers-model';
import { createSession, onnxruntime } from '../onnx/runtime';
import { readRows } from '../pixels/pixel-pack';
import { prepareFeatures } from '../training/transfer';
import type { RunInfo } from './evaluate';
import type { Predicted, PredictImage, PredictOptions } from './run-predictions';

const BATCH = 1024;

/** A transfer run's head as an ONNX graph: features [N, F] in, probabilities [N, K] out. */
export function headOnnx(project: Project, runId: number): Uint8Array {
  const dir = path.join(project.paths.models, String(runId), 'head');
  if (!fs.existsSync(path.join(dir, 'model.json'))) throw new LoupeError('NOT_FOUND', `The head of run #${runId} is missing (models/${runId}/head).`);
  return convertToOnnx(readLayersModelDir(dir), { preprocess: null, inputName: 'features', producerVersion: loupeVersion() }).bytes;
}

export async function predictFromFeatures(project: Project, run: RunInfo, images: PredictImage[], options: PredictOptions = {}): Promise<Predicted> {
  const { signal, onProgress } = options;
  const classes = run.classes.length;
  const bytes = headOnnx(project, run.id);
  const { pack, rowOf, flipRowOf } = await prepareFeatures(project, run.config, images, { signal, onProgress });
  const average = run.config.backbone?.flipAverage === true;
  if (signal) throwIfCancelled(signal);
  const readable = images.filter((im) => rowOf(im.hash) !== undefined);
  const probs = new Float32Array(readable.length * classes);
  if (readable.length > 0) {
    const ort = await onnxruntime();
    const { session } = await createSession(bytes);
    const fd = fs.openSync(pack.file, 'r');
    try {
      onProgress?.(0, readable.length, 'Predicting');
      for (let start = 0; start < readable.length; start += BATCH) {
        if (signal) throwIfCancelled(signal);
        const part = readable.slice(start, start + BATCH);
        const raw = readRows(fd, pack, Int32Array.from(part, (im) => rowOf(im.hash)!));
        const x = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
        const out = await session.run({ features: new ort.Tensor('float32', x, [part.length, pack.features]) });
        const p = out.probabilities.data as Float32Array;
        if (average) {
          // The run's model averages each image with its mirror image.
          const flips = readRows(fd, pack, Int32Array.from(part, (im) => (flipRowOf(im.hash) >= 0 ? flipRowOf(im.hash) : rowOf(im.hash)!)));
          const mirrored = await session.run({ features: new ort.Tensor('float32', new Float32Array(flips.buffer, flips.byteOffset, flips.byteLength / 4), [part.length, pack.features]) });
          const q = mirrored.probabilities.data as Float32Array;
          for (let j = 0; j < p.length; j++) p[j] = (p[j] + q[j]) / 2;
        }
        probs.set(p, start * classes);
        onProgress?.(start + part.length, readable.length, 'Predicting');
      }
    } finally {
      fs.closeSync(fd);
      await session.release();
    }
  }
  return { imageIds: readable.map((im) => im.imageId), probs, classes, failed: images.length - readable.length };
}
