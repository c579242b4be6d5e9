// Runs a completed run's saved model over images, off the main thread: the images are decoded
// into the run's pixel pack (the same input size, channels and 'cover' fit as training), then
// worker threads (one per core, each a contiguous share) predict every class probability.
//
// A transfer run's model is predicted differently: each image's backbone features (extracted
// once, from the project's cache) go through the run's trained head, in onnxruntime. The same
// numbers as the run's full model on the image, at the cost of the head alone once the features
// are cached.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { LoupeError } from '../../../shared/errors';
import { cancelledError, throwIfCancelled } from '../../jobs/jobs';
import type { Project } from '../../store/project';
import { loupeVersion } from '../../version';
import { spawnWorker, watchExit } from '../../workers/spawn';
import { convertToOnnx } from '../onnx/convert';
import { readLayersModelDir } from '../onnx/layers-model';
import { createSession, onnxruntime } from '../onnx/runtime';
import { ensurePixelPack, readRows, type PackImage } from '../pixels/pixel-pack';
import { MODEL_JSON } from '../tfjs/checkpoint';
import { isFineTuned, prepareFeatures } from '../training';
import type { RunInfo } from './evaluate';
import type { FromInfer, InferInit } from './infer';

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
  // A run trained by PyTorch (loupe import-run): its ONNX model, on the same pixels (a transfer
  // run's too: its backbone may have trained there, and it has no head of its own here).
  if (run.backend === 'pytorch') return predictWithOnnx(project, run, images, options);
  // A transfer run: the cached backbone features through its head (no backbone pass per image twice).
  // A fine-tuned one changed its backbone: its whole model runs on the pixels, like a run from scratch.
  if (run.config.backbone && !isFineTuned(run.config)) return predictFromFeatures(project, run, images, options);
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
    const exits: ReturnType<typeof watchExit>[] = [];
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
          // A worker that said it was done ends while the others may still predict their share.
          const exit = watchExit(worker, (code) => reject(new LoupeError('INTERNAL', `A prediction worker stopped unexpectedly (exit code ${code}).`)));
          exits.push(exit);
          worker.on('message', (msg: FromInfer) => {
            if (msg.type === 'probs') {
              probs.set(msg.probs, msg.offset * classes);
              done += msg.count;
              onProgress?.(done, total, 'Predicting');
            } else if (msg.type === 'done') {
              exit.done();
              if (++finished === count) resolve();
            } else reject(new LoupeError('INTERNAL', `Prediction failed: ${msg.message}`));
          });
          worker.on('error', (err) => reject(new LoupeError('INTERNAL', `A prediction worker failed: ${err.message}`)));
        }
      });
    } finally {
      signal?.removeEventListener('abort', abort);
      await Promise.all(workers.map((w) => w.terminate()));
      for (const exit of exits) exit.dispose();
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

/** Feature rows per onnxruntime call of a transfer run's head. */
const HEAD_BATCH = 1024;

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
      for (let start = 0; start < readable.length; start += HEAD_BATCH) {
        if (signal) throwIfCancelled(signal);
        const part = readable.slice(start, start + HEAD_BATCH);
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

/** A run trained by PyTorch from a training bundle: its model.onnx (pixels 0..255 NHWC in, probabilities out) through onnxruntime. */
export async function predictWithOnnx(project: Project, run: RunInfo, images: PredictImage[], options: PredictOptions = {}): Promise<Predicted> {
  const { signal, onProgress } = options;
  const classes = run.classes.length;
  const file = path.join(project.paths.models, String(run.id), 'model.onnx');
  if (!fs.existsSync(file)) throw new LoupeError('NOT_FOUND', `The model of run #${run.id} is missing (models/${run.id}/model.onnx).`);
  const { width, height, channels } = run.config;
  onProgress?.(0, images.length, 'Preparing images');
  const pack = await ensurePixelPack(project, images, { width, height, channels, fit: 'cover' }, { signal, onProgress: (d, t) => onProgress?.(d, t, 'Preparing images') });
  const readable = images.filter((im) => pack.rows.has(im.hash));
  const probs = new Float32Array(readable.length * classes);
  if (readable.length > 0) {
    const ort = await onnxruntime();
    const { session } = await createSession(fs.readFileSync(file));
    const fd = fs.openSync(pack.file, 'r');
    try {
      onProgress?.(0, readable.length, 'Predicting');
      for (let start = 0; start < readable.length; start += 256) {
        if (signal) throwIfCancelled(signal);
        const part = readable.slice(start, start + 256);
        const raw = readRows(fd, pack, Int32Array.from(part, (im) => pack.rows.get(im.hash)!));
        const out = await session.run({ pixels: new ort.Tensor('float32', Float32Array.from(raw), [part.length, height, width, channels]) });
        probs.set(out.probabilities.data as Float32Array, start * classes);
        onProgress?.(start + part.length, readable.length, 'Predicting');
      }
    } finally {
      fs.closeSync(fd);
      await session.release();
    }
  }
  return { imageIds: readable.map((im) => im.imageId), probs, classes, failed: images.length - readable.length };
}
