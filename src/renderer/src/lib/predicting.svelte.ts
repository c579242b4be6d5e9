// What the Predict view knows: which model predicts, and the images predicted so far with their
// top classes. Dropped or picked files are read here and sent in small batches; a folder on the
// machine Loupe runs on is listed and predicted there by path. Either can be cancelled between
// batches. Results can be saved as CSV without another round trip.

import { byteSize } from '../../../shared/format';
import { MAX_PREDICT_IMAGE_BYTES } from '../../../shared/api';
import { LoupeError } from '../../../shared/errors';
import type { ClassScore, PredictModel, PredictResult } from '../../../shared/types';
import { api, errorMessage } from './client';
import { onLeaveProject } from './project-scope';
import type { PickedFile } from './upload';

export interface PredictRow {
  id: number;
  name: string;
  /** An object URL of the file, for a thumbnail (files read in this window only). */
  thumb: string | null;
  /** Every class, most probable first; empty when the image could not be read. */
  scores: ClassScore[];
  error: string | null;
}

const IMAGE_EXTENSIONS = /\.(jpe?g|png|webp|gif|tiff?|avif|bmp)$/i;
/** What one predictImages call carries at most: well under a WebSocket message. */
const BATCH_BYTES = 6 * 1024 * 1024;
const BATCH_FILES = 16;
const PATHS_PER_CALL = 32;
/** The server gives at most this many classes per image; enough for every class of a project. */
const ALL_CLASSES = 100;

function base64(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

/** One CSV field: quoted when needed, and never read as a formula by a spreadsheet. */
export function csvField(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/**
 * Predicting changes nothing, so a batch cut off by a dropped connection is asked again (the
 * call waits for the connection to come back) rather than ending the whole prediction.
 */
async function askAgainIfCutOff<T>(call: () => Promise<T>, signal: AbortSignal, tries = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof LoupeError && err.code === 'DISCONNECTED') || attempt >= tries || signal.aborted) throw err;
    }
  }
}

class PredictState {
  model = $state<PredictModel | null>(null);
  rows = $state<PredictRow[]>([]);
  labels = $state<string[]>([]);
  provider = $state<string | null>(null);
  /** The model the results came from, for people. */
  modelTitle = $state<string | null>(null);
  running = $state(false);
  done = $state(0);
  total = $state(0);
  error = $state<string | null>(null);
  /** When the current prediction started (performance.now()), for its rate. */
  #startedAt = $state(0);
  /** How far the prediction is, as a job reports it: images per second so far, time left. */
  readonly progress = $derived.by(() => {
    const rate = this.done > 0 ? this.done / Math.max(0.001, (performance.now() - this.#startedAt) / 1000) : null;
    return { phase: 'Predicting', done: this.done, total: this.total, ratePerSecond: rate, etaSeconds: rate ? (this.total - this.done) / rate : null };
  });

  #abort: AbortController | null = null;
  #nextId = 1;
  #projectPath: string | null = null;

  constructor() {
    onLeaveProject(() => {
      this.clear();
      this.model = null;
      this.#projectPath = null;
    });
  }

  /** Results belong to the project they were made in: another project starts empty. */
  show(projectPath: string): void {
    if (projectPath !== this.#projectPath) this.clear();
    this.#projectPath = projectPath;
  }

  setModel(model: PredictModel | null): void {
    this.model = model;
  }

  /** Predicts files read in this window (dropped or picked). */
  async predictFiles(files: PickedFile[]): Promise<void> {
    const wanted = files.filter((f) => !f.path.split('/').some((part) => part.startsWith('.')));
    await this.#run(wanted.length, async (signal) => {
      let batch: { file: PickedFile; row: PredictRow }[] = [];
      let bytes = 0;
      const flush = async () => {
        if (batch.length === 0) return;
        const current = batch;
        batch = [];
        bytes = 0;
        const images = await Promise.all(current.map(async ({ file }) => ({ name: file.path, data: base64(new Uint8Array(await file.file.arrayBuffer())) })));
        if (signal.aborted) return;
        const model = $state.snapshot(this.model!) as PredictModel;
        const result = await askAgainIfCutOff(() => api.predictImages({ model, images, top: ALL_CLASSES }), signal);
        this.#take(result, current.map((c) => c.row));
      };
      for (const file of wanted) {
        if (signal.aborted) return;
        const row = this.#row(file.path, URL.createObjectURL(file.file));
        if (file.file.size > MAX_PREDICT_IMAGE_BYTES) {
          row.error = `Larger than ${byteSize(MAX_PREDICT_IMAGE_BYTES, { unit: 'MB', digits: 0 })}.`;
          this.done++;
          continue;
        }
        if (batch.length >= BATCH_FILES || bytes + file.file.size > BATCH_BYTES) await flush();
        batch.push({ file, row });
        bytes += file.file.size;
      }
      await flush();
    });
  }

  /** Predicts the images of a folder on the machine Loupe runs on (not its subfolders). */
  async predictFolder(folder: string): Promise<void> {
    let paths: string[];
    try {
      const listing = await api.listDirectory({ path: folder });
      const sep = listing.path.includes('\\') && !listing.path.includes('/') ? '\\' : '/';
      const base = listing.path.endsWith(sep) ? listing.path : listing.path + sep;
      paths = listing.entries.filter((e) => e.kind === 'file' && IMAGE_EXTENSIONS.test(e.name)).map((e) => base + e.name);
    } catch (err) {
      this.error = errorMessage(err);
      return;
    }
    if (paths.length === 0) {
      this.error = `There are no images in ${folder}.`;
      return;
    }
    await this.#run(paths.length, async (signal) => {
      for (let start = 0; start < paths.length && !signal.aborted; start += PATHS_PER_CALL) {
        const slice = paths.slice(start, start + PATHS_PER_CALL);
        const rows = slice.map((p) => this.#row(p, null));
        const model = $state.snapshot(this.model!) as PredictModel;
        const result = await askAgainIfCutOff(() => api.predictPaths({ model, paths: slice, top: ALL_CLASSES }), signal);
        this.#take(result, rows);
      }
    });
  }

  cancel(): void {
    this.#abort?.abort();
  }

  clear(): void {
    this.cancel();
    for (const r of this.rows) if (r.thumb) URL.revokeObjectURL(r.thumb);
    this.rows = [];
    this.labels = [];
    this.provider = null;
    this.modelTitle = null;
    this.done = 0;
    this.total = 0;
    this.error = null;
  }

  /** image, predicted, confidence, then one probability column per class. */
  csv(): string {
    const header = ['image', 'predicted', 'confidence', ...this.labels.map((l) => `p(${l})`), 'error'];
    const lines = [header.map(csvField).join(',')];
    for (const r of this.rows) {
      const byLabel = new Map(r.scores.map((s) => [s.index, s.probability]));
      const best = r.scores[0];
      lines.push(
        [r.name, best?.label ?? '', best ? best.probability.toFixed(6) : '', ...this.labels.map((_, i) => (byLabel.has(i) ? byLabel.get(i)!.toFixed(6) : '')), r.error ?? '']
          .map(csvField)
          .join(','),
      );
    }
    return lines.join('\r\n') + '\r\n';
  }

  async #run(count: number, work: (signal: AbortSignal) => Promise<void>): Promise<void> {
    if (this.running || !this.model || count === 0) return;
    this.clear();
    const abort = new AbortController();
    this.#abort = abort;
    this.running = true;
    this.total = count;
    this.#startedAt = performance.now();
    try {
      await work(abort.signal);
    } catch (err) {
      this.error = errorMessage(err);
    } finally {
      this.running = false;
      if (this.#abort === abort) this.#abort = null;
    }
  }

  #row(name: string, thumb: string | null): PredictRow {
    this.rows.push({ id: this.#nextId++, name, thumb, scores: [], error: null });
    return this.rows[this.rows.length - 1];
  }

  #take(result: PredictResult, rows: PredictRow[]): void {
    this.labels = result.labels;
    this.provider = result.provider;
    this.modelTitle = result.model;
    result.predictions.forEach((p, i) => {
      rows[i].scores = p.top;
      rows[i].error = p.error;
    });
    this.done += rows.length;
  }
}

export const predicting = new PredictState();
