// TF.js predictions for the parity check, in a worker thread on the wasm backend (TensorFlow.js
// never runs on the main thread). One worker serves every prediction of an export; it keeps the
// models it loaded.

import type { Worker } from 'node:worker_threads';
import { LoupeError } from '../../../shared/errors';
import { spawnWorker } from '../../workers/spawn';

export interface TfjsPredictRequest {
  id: number;
  /** A folder with model.json and weights.bin (loaded through tf.loadLayersModel). */
  modelDir: string;
  /** count images of height x width x channels, HWC uint8. */
  pixels: Uint8Array;
  /** Instead of pixels: the model's input as it is (e.g. feature vectors for a head), count rows of `shape`. */
  values?: Float32Array;
  count: number;
  shape: number[];
  /** The model input is pixels * scale + offset. */
  scale: number;
  offset: number;
}

export type TfjsPredictReply =
  | { id: number; type: 'probs'; probs: Float32Array; backend: string }
  | { id: number; type: 'error'; message: string };

export class TfjsPredictor {
  #worker: Worker | null = null;
  #next = 1;
  readonly #pending = new Map<number, { resolve: (r: { probs: Float32Array; backend: string }) => void; reject: (e: Error) => void }>();

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = spawnWorker('export', { resourceLimits: { maxOldGenerationSizeMb: 4096 } });
    worker.on('message', (msg: TfjsPredictReply) => {
      const waiting = this.#pending.get(msg.id);
      if (!waiting) return;
      this.#pending.delete(msg.id);
      if (msg.type === 'probs') waiting.resolve({ probs: msg.probs, backend: msg.backend });
      else waiting.reject(new LoupeError('INTERNAL', `TensorFlow.js could not predict: ${msg.message}`));
    });
    const failAll = (err: Error) => {
      for (const w of this.#pending.values()) w.reject(err);
      this.#pending.clear();
      this.#worker = null;
    };
    worker.on('error', (err) => failAll(new LoupeError('INTERNAL', `The TensorFlow.js worker failed: ${err.message}`)));
    worker.on('exit', (code) => failAll(new LoupeError('INTERNAL', `The TensorFlow.js worker stopped (exit code ${code}).`)));
    this.#worker = worker;
    return worker;
  }

  predict(request: Omit<TfjsPredictRequest, 'id'>): Promise<{ probs: Float32Array; backend: string }> {
    const worker = this.#start();
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.postMessage({ ...request, id } satisfies TfjsPredictRequest);
    });
  }

  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = null;
    if (worker) await worker.terminate();
  }
}
