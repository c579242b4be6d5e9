// Runs a completed run's saved model over images, off the main thread: the images are decoded
// into the run's pixel pack (the same input size, channels and 'cover' fit as training), then
// worker threads (one per core, each a contiguous share) predict every class probability.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { LoupeError } from '../../../shared/errors';
import { cancelledError, throwIfCancelled } from '../../jobs/jobs';
import type { Project } from '../../store/project';
import { spawnWorker } from '../../workers/spawn';
import { ensurePixelPack, type PackImage } from '../pixels/pixel-pack';
import { MODEL_JSON } from '../tfjs/checkpoint';
import type { RunInfo } from './evaluate';
import type { FromInfer, InferInit } from './infer';
import { predictFromFeatures } from './transfer-predict';

export interface PredictImage extends PackImage {
  imageId: number;
}

export interface Predicted {
  /** The images that could be read, in the order given (minus the failed ones). */
  imageIds: number[];
  /** Rows of `classes` probabilities, one per image id. */
  probs: Float32Array;
  classes: number;
  failed: number;
}

export interface PredictOptions {
  signal?: AbortSignal;
  onProgress?: (done: number, total: number, phase: string) => void;
  /** Worker threads; one per core by default. */
  workers?: number;
}

/** Every class probability of `images` under a run's saved model. */
export async function predictImages(project: Project, run: RunInfo, images: PredictImage[], options: PredictOptions = {}): Promise<Predicted> {
  const { signal, onProgress } = options;
  // A transfer run: the cached backbone features through its head (no backbone pass per image twice).
  if (run.config.backbone) return predictFromFeatures(project, run, images, options);
  const classes = run.classes.length;
  const modelDir = path.join(project.paths.models, String(run.id), 'model');
  if (!fs.existsSync(path.join(modelDir, MODEL_JSON))) {
    throw new LoupeError('NOT_FOUND', `The model of run #${run.id} is missing (models/${run.id}/model).`);
  }
  const { width, height, channels } = run.config;
  onProgress?.(0, images.length, 'Preparing images');
  const pack = await ensurePixelPack(project, images, { width, height, channels, fit: 'cover' }, { signal, onProgress: (d, t) => onProgress?.(d, t, 'Preparing images') });
  if (signal) throwIfCancelled(signal);
  const readable = images.filter((im) => pack.rows.has(im.hash));
  const rows = Int32Array.from(readable, (im) => pack.rows.get(im.hash)!);
  const probs = new Float32Array(rows.length * classes);
  const total = rows.length;
  if (total > 0) {
    const count = Math.max(1, Math.min(options.workers ?? os.availableParallelism(), Math.ceil(total / 256)));
    const workers: Worker[] = [];
    let done = 0;
    let abort = () => {};
    onProgress?.(0, total, 'Predicting');
    try {
      await new Promise<void>((resolve, reject) => {
        let finished = 0;
        abort = () => reject(cancelledError());
        signal?.addEventListener('abort', abort, { once: true });
        for (let w = 0; w < count; w++) {
          const start = Math.floor((total * w) / count);
          const end = Math.floor((total * (w + 1)) / count);
          // wasm runs everywhere and is what the training engine itself falls back to; inference
          // on a few thousand images does not need a GPU.
          const init: InferInit = { backend: 'wasm', modelDir, pack: { file: pack.file, rowBytes: pack.rowBytes }, rows: rows.slice(start, end), shape: { width, height, channels }, offset: start };
          const worker = spawnWorker('infer', { workerData: init });
          workers.push(worker);
          worker.on('message', (msg: FromInfer) => {
            if (msg.type === 'probs') {
              probs.set(msg.probs, msg.offset * classes);
              done += msg.count;
              onProgress?.(done, total, 'Predicting');
            } else if (msg.type === 'done') {
              if (++finished === count) resolve();
            } else reject(new LoupeError('INTERNAL', `Prediction failed: ${msg.message}`));
          });
          worker.on('error', (err) => reject(new LoupeError('INTERNAL', `A prediction worker failed: ${err.message}`)));
          worker.on('exit', (code) => {
            if (finished < count) reject(new LoupeError('INTERNAL', `A prediction worker stopped unexpectedly (exit code ${code}).`));
          });
        }
      });
    } finally {
      signal?.removeEventListener('abort', abort);
      await Promise.all(workers.map((w) => w.terminate()));
    }
  }
  return { imageIds: readable.map((im) => im.imageId), probs, classes, failed: images.length - readable.length };
}

/** The most probable class of each row. */
export function argmaxRows(probs: Float32Array, classes: number): { index: Int32Array; confidence: Float32Array } {
  const n = probs.length / classes;
  const index = new Int32Array(n);
  const confidence = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let arg = 0;
    for (let k = 1; k < classes; k++) if (probs[i * classes + k] > probs[i * classes + arg]) arg = k;
    index[i] = arg;
    confidence[i] = probs[i * classes + arg];
  }
  return { index, confidence };
}
