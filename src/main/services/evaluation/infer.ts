// Inference in a worker thread: a saved model (TF.js layers format) predicts every class
// probability for rows of a pixel pack, with the same preprocessing as training (pixels / 255).

import fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import type { BackendName } from '../../../shared/types';
import { toInput } from '../pixels/augment';
import { activateBackend } from '../tfjs/backends';
import { loadModel } from '../tfjs/checkpoint';
import { readRows } from '../pixels/pixel-pack';

export interface InferInit {
  backend: BackendName;
  /** The folder holding model.json and weights.bin. */
  modelDir: string;
  pack: { file: string; rowBytes: number };
  /** Pack rows to predict, in order. */
  rows: Int32Array;
  shape: { height: number; width: number; channels: number };
  /** Where `rows` starts in the caller's list. */
  offset: number;
}

export type FromInfer =
  | { type: 'probs'; offset: number; count: number; probs: Float32Array }
  | { type: 'done' }
  | { type: 'error'; message: string };

const BATCH = 256;

export async function runInference(init: InferInit, post: (msg: FromInfer, transfer?: ArrayBuffer[]) => void): Promise<void> {
  await activateBackend(init.backend);
  const model = await loadModel(init.modelDir);
  const fd = fs.openSync(init.pack.file, 'r');
  const { height, width, channels } = init.shape;
  try {
    for (let b = 0; b < init.rows.length; b += BATCH) {
      const rows = init.rows.subarray(b, Math.min(init.rows.length, b + BATCH));
      const x = toInput(readRows(fd, init.pack, rows));
      const out = tf.tidy(() => model.predict(tf.tensor4d(x, [rows.length, height, width, channels])) as tf.Tensor2D);
      const probs = (await out.data()) as Float32Array;
      out.dispose();
      post({ type: 'probs', offset: init.offset + b, count: rows.length, probs }, [probs.buffer as ArrayBuffer]);
    }
  } finally {
    fs.closeSync(fd);
    model.dispose();
  }
  post({ type: 'done' });
}
