// Predictions through onnxruntime-node: one session per model, kept while it is in use (a few
// at most), images decoded exactly as for training (EXIF orientation, cover resize, channels)
// and run in batches.

import fs from 'node:fs';
import { LoupeError } from '../../../shared/errors';
import type { ClassScore, ImagePrediction, PredictResult } from '../../../shared/types';
import { sniffFormat } from '../pixels/formats';
import { decodeFailureReason } from '../pixels/decode-reasons';
import { DECODE_PIXEL_LIMIT, decodeToSpec } from '../pixels/pixel-pack';
import type { PredictableModel } from './models';
import { createSession, onnxruntime, type OrtSession } from '../onnx/runtime';

export const DEFAULT_TOP = 5;
const BATCH = 64;
const DECODE_CONCURRENCY = 4;
const MAX_SESSIONS = 4;

export interface PredictInput {
  name: string;
  /** A file path or the file's bytes. */
  source: string | Buffer;
}

/** onnxruntime sessions by model key, least recently used dropped first. */
export class SessionCache {
  readonly #sessions = new Map<string, Promise<OrtSession>>();

  get(model: PredictableModel): Promise<OrtSession> {
    let entry = this.#sessions.get(model.key);
    if (entry) {
      this.#sessions.delete(model.key);
    } else {
      entry = createSession(model.source).catch((err: unknown) => {
        this.#sessions.delete(model.key);
        throw new LoupeError('INVALID_INPUT', `onnxruntime cannot load ${model.title}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
      });
      while (this.#sessions.size >= MAX_SESSIONS) {
        const [oldest, session] = this.#sessions.entries().next().value!;
        this.#sessions.delete(oldest);
        void session.then((s) => s.session.release()).catch(() => {});
      }
    }
    this.#sessions.set(model.key, entry);
    return entry;
  }

  async close(): Promise<void> {
    const all = [...this.#sessions.values()];
    this.#sessions.clear();
    await Promise.allSettled(all.map((p) => p.then((s) => s.session.release())));
  }
}

/** The top `k` classes of one probability row. */
export function topClasses(probs: Float32Array, labels: string[], k: number): ClassScore[] {
  return Array.from(probs, (p, index) => ({ index, label: labels[index] ?? String(index), probability: p }))
    .sort((a, b) => b.probability - a.probability)
    .slice(0, k);
}

export async function predict(
  cache: SessionCache,
  model: PredictableModel,
  inputs: PredictInput[],
  options: { top?: number; signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
): Promise<PredictResult> {
  const started = performance.now();
  const { session, provider } = await cache.get(model);
  const ort = await onnxruntime();
  const { width, height, channels } = model.spec;
  const size = width * height * channels;
  const top = options.top ?? DEFAULT_TOP;
  const predictions: ImagePrediction[] = inputs.map((i) => ({ name: i.name, top: [], error: null }));

  for (let start = 0; start < inputs.length; start += BATCH) {
    if (options.signal?.aborted) throw new LoupeError('CANCELLED', 'Cancelled.');
    const batch = inputs.slice(start, start + BATCH);
    const pixels = new Float32Array(batch.length * size);
    const ok: number[] = [];
    let cursor = 0;
    const lane = async () => {
      while (cursor < batch.length) {
        const i = cursor++;
        try {
          const raw = await decodeToSpec(batch[i].source, { width, height, channels, fit: model.spec.resize }, { strict: true });
          for (let j = 0; j < size; j++) pixels[i * size + j] = raw[j];
          ok.push(i);
        } catch (err) {
          predictions[start + i].error = imageError(err, batch[i].source);
        }
      }
    };
    await Promise.all(Array.from({ length: DECODE_CONCURRENCY }, lane));
    if (ok.length > 0) {
      ok.sort((a, b) => a - b);
      // Only the decoded images go through the model, packed in order.
      const packed = ok.length === batch.length ? pixels : new Float32Array(ok.length * size);
      if (packed !== pixels) ok.forEach((i, row) => packed.set(pixels.subarray(i * size, (i + 1) * size), row * size));
      const outputs = await session.run({ [model.input]: new ort.Tensor('float32', packed, [ok.length, height, width, channels]) });
      const probs = outputs[model.output].data as Float32Array;
      const k = probs.length / ok.length;
      ok.forEach((i, row) => (predictions[start + i].top = topClasses(probs.subarray(row * k, (row + 1) * k), model.labels, top)));
    }
    options.onProgress?.(Math.min(inputs.length, start + BATCH), inputs.length);
  }
  return { model: model.title, labels: model.labels, provider, predictions, seconds: (performance.now() - started) / 1000 };
}

function imageError(err: unknown, source: string | Buffer): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || /Input file is missing/.test(String((err as Error)?.message))) return 'The file does not exist.';
  if (code === 'EISDIR') return 'This is a folder, not an image.';
  const bytes = typeof source === 'string' ? contents(source) : source;
  const sniffed = sniffFormat(bytes);
  if (!sniffed || 'other' in sniffed) return 'Not an image Loupe can read.';
  return decodeFailureReason(err, bytes, sniffed.format, DECODE_PIXEL_LIMIT);
}

/** A file's bytes, to tell why it did not decode (empty when it cannot be read). */
function contents(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch {
    return Buffer.alloc(0);
  }
}
