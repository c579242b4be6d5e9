// The map of every image: a UMAP layout of the backbone features a run or Extract features
// already cached (nothing is extracted here), one per features cache, kept in the project. A
// layout runs in a worker thread (layout.ts); images added since are placed among the laid-out
// points by their nearest neighbours without moving anything, so the picture people learned
// stays put; "Lay out again" redoes the whole map.

import { LoupeError } from '../../../shared/errors';
import type { MapLayoutResult, MapPoints, Split } from '../../../shared/types';
import { cancelledError } from '../../jobs/jobs';
import { requireWritable, type Project } from '../../store/project';
import { spawnWorker } from '../../workers/spawn';
import { cachedFeatureIndex, cachedFeatures, type CachedFeatures } from '../backbones';
import type { Basis } from './layout';
import { DEFAULT_SETTINGS, defaultEpochs, type LayoutSettings } from './settings';
import type { FromMapWorker, ToMapWorker } from './protocol';
import {
  addPlacedPoints,
  latestCompletedRun,
  layoutPoints,
  layoutRow,
  layoutVectors,
  liveMapImages,
  mapClasses,
  runPredictions,
  storeLayout,
  suggestionPredictions,
  type NewPoint,
} from './records';

export const MAP_NEEDS_BACKBONE =
  'The map lays images out by what a backbone sees in them, and this project has no cached backbone features yet. ' +
  'Extract features (Train → Backbones) or train with a backbone, then lay out the map.';

/** UMAP needs a few more points than neighbours. */
const MIN_POINTS = 4;

export interface MapOptions {
  signal?: AbortSignal;
  onProgress?: (done: number, total: number | null, phase: string) => void;
  /** Lay everything out again rather than place only the images added since. */
  recompute?: boolean;
  seed?: number;
  epochs?: number;
}

/** The key of a features cache: the same backbone at another resolution is another map. */
const featuresKey = (f: Pick<CachedFeatures, 'backbone' | 'resolution'>) => `${f.backbone}@${f.resolution}`;
const featuresName = (f: { backbone: string; resolution: number }) => `${f.backbone} at ${f.resolution} px`;

function runWorker(msg: ToMapWorker, transfer: ArrayBuffer[], options: MapOptions): Promise<FromMapWorker> {
  const worker = spawnWorker('map');
  return new Promise<FromMapWorker>((resolve, reject) => {
    const abort = () => reject(cancelledError());
    options.signal?.addEventListener('abort', abort, { once: true });
    if (options.signal?.aborted) abort();
    worker.on('message', (m: FromMapWorker) => {
      if (m.type === 'progress') options.onProgress?.(m.done, m.total, m.phase);
      else if (m.type === 'error') reject(new LoupeError('INTERNAL', `The map failed: ${m.message}`));
      else resolve(m);
    });
    worker.on('error', (err) => reject(new LoupeError('INTERNAL', `The map worker failed: ${err.message}`)));
    worker.on('exit', (code) => reject(new LoupeError('INTERNAL', `The map worker stopped unexpectedly (exit code ${code}).`)));
    worker.postMessage(msg, transfer);
  }).finally(() => {
    // Cancelling ends the thread mid-epoch: nothing of a half-done layout is kept.
    void worker.terminate();
  });
}

/** Rows of features in one array (n x f), in `hashes` order. */
function featureRows(features: CachedFeatures, hashes: string[]): Float32Array {
  const f = features.features;
  const rows = new Float32Array(hashes.length * f);
  hashes.forEach((h, i) => rows.set(features.vectors.get(h)!, i * f));
  return rows;
}

const bytesOf = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const floatsOf = (b: Buffer) => {
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
};

/**
 * Lays out the map of the features cache that holds the most images, or places the images added
 * since its layout. Runs as the `map` job.
 */
export async function layoutMap(project: Project, options: MapOptions = {}): Promise<MapLayoutResult> {
  requireWritable(project);
  const started = performance.now();
  const db = project.db;
  const images = liveMapImages(db);
  const features = cachedFeatures(project, images.map((im) => im.hash));
  if (!features) throw new LoupeError('INVALID_INPUT', MAP_NEEDS_BACKBONE);
  const withFeatures = images.filter((im) => features.vectors.has(im.hash));
  const withoutFeatures = images.length - withFeatures.length;
  const key = featuresKey(features);
  const existing = options.recompute ? undefined : layoutRow(db, key);
  const f = features.features;

  if (existing) {
    const base = layoutVectors(db, existing.id);
    const onMap = new Set(base.map((p) => p.imageId));
    const todo = withFeatures.filter((im) => !onMap.has(im.id));
    if (todo.length > 0) {
      const d = existing.dims;
      const baseVectors = new Float32Array(base.length * d);
      const coords = new Float32Array(base.length * 2);
      base.forEach((p, i) => {
        baseVectors.set(floatsOf(p.vector), i * d);
        coords[i * 2] = p.x;
        coords[i * 2 + 1] = p.y;
      });
      const basis: Basis = { dims: d, features: existing.featureCount, mean: floatsOf(existing.mean), components: floatsOf(existing.components) };
      const settings = JSON.parse(existing.settings) as LayoutSettings;
      const rows = featureRows(features, todo.map((im) => im.hash));
      features.vectors.clear();
      const msg: ToMapWorker = { mode: 'place', rows, n: todo.length, f, basis, base: baseVectors, coords, m: base.length, neighbours: settings.neighbours };
      const out = await runWorker(msg, [rows.buffer as ArrayBuffer, baseVectors.buffer as ArrayBuffer, coords.buffer as ArrayBuffer], options);
      if (out.type !== 'placed') throw new LoupeError('INTERNAL', 'The map worker answered out of turn.');
      const points: NewPoint[] = todo.map((im, i) => ({
        imageId: im.id,
        x: out.coords[i * 2],
        y: out.coords[i * 2 + 1],
        vector: bytesOf(out.reduced.subarray(i * d, (i + 1) * d)),
      }));
      addPlacedPoints(db, existing.id, points);
    }
    return { backbone: featuresName(features), laidOut: 0, placed: todo.length, withoutFeatures, seconds: (performance.now() - started) / 1000 };
  }

  if (withFeatures.length < MIN_POINTS) {
    throw new LoupeError('INVALID_INPUT', `The map needs at least ${MIN_POINTS} images with cached features; this project has ${withFeatures.length}.`);
  }
  const n = withFeatures.length;
  const settings: LayoutSettings = {
    ...DEFAULT_SETTINGS,
    seed: options.seed ?? DEFAULT_SETTINGS.seed,
    neighbours: Math.min(DEFAULT_SETTINGS.neighbours, n - 1),
    epochs: options.epochs ?? defaultEpochs(n),
  };
  const rows = featureRows(features, withFeatures.map((im) => im.hash));
  // The rows are copied out (and go to the worker): the vectors' 245 MB at 60,000 images need not wait for the layout.
  features.vectors.clear();
  const out = await runWorker({ mode: 'layout', rows, n, f, settings }, [rows.buffer as ArrayBuffer], options);
  if (out.type !== 'layout') throw new LoupeError('INTERNAL', 'The map worker answered out of turn.');
  const d = out.basis.dims;
  const seconds = (performance.now() - started) / 1000;
  storeLayout(
    db,
    {
      features: key,
      backbone: features.backbone,
      resolution: features.resolution,
      settings: JSON.stringify({ ...settings, dims: d }),
      dims: d,
      featureCount: f,
      mean: bytesOf(out.basis.mean),
      components: bytesOf(out.basis.components),
      seconds,
    },
    withFeatures.map((im, i) => ({ imageId: im.id, x: out.coords[i * 2], y: out.coords[i * 2 + 1], vector: bytesOf(out.reduced.subarray(i * d, (i + 1) * d)) })),
  );
  return { backbone: featuresName(features), laidOut: n, placed: 0, withoutFeatures, seconds };
}

const SPLIT_CODE: Record<Split, number> = { train: 0, val: 1, test: 2 };
const pack = (a: Int32Array | Float32Array | Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

/** The map as it stands: every live image on it with what colours it (labels, splits, predictions). */
export function mapPoints(project: Project): MapPoints {
  const db = project.db;
  const images = liveMapImages(db);
  const classes = mapClasses(db);
  // Which images have features, not the features themselves (60,000 of them are 245 MB).
  const features = cachedFeatureIndex(project, images.map((im) => im.hash));
  const empty = (reason: string): MapPoints => ({
    layout: null,
    reason,
    count: 0,
    ids: '',
    xy: '',
    placed: '',
    labels: '',
    splits: '',
    predicted: '',
    confidence: '',
    predictionSource: '',
    classes,
    runId: null,
    withoutFeatures: features ? images.filter((im) => !features.hashes.has(im.hash)).length : images.length,
    notPlaced: 0,
  });
  if (!features) return empty(MAP_NEEDS_BACKBONE);
  const row = layoutRow(db, featuresKey(features));
  if (!row) return empty(`The map of ${featuresName(features)} is not laid out yet.`);

  const live = new Map(images.map((im) => [im.id, im]));
  const points = layoutPoints(db, row.id).filter((p) => live.has(p.imageId));
  const n = points.length;
  let minX = Infinity;
  let maxX = -Infinity;
  let minY = Infinity;
  let maxY = -Infinity;
  for (const p of points) {
    minX = Math.min(minX, p.x);
    maxX = Math.max(maxX, p.x);
    minY = Math.min(minY, p.y);
    maxY = Math.max(maxY, p.y);
  }
  // One scale for both axes (the layout's distances mean the same across and up), into [-0.95, 0.95].
  const half = Math.max(maxX - minX, maxY - minY, 1e-9) / 2;
  const cx = (minX + maxX) / 2;
  const cy = (minY + maxY) / 2;

  const run = latestCompletedRun(db);
  const predictions = new Map<number, { classId: number; confidence: number; source: number }>();
  if (run) {
    const runClasses = JSON.parse(run.classes) as { id: number }[];
    for (const p of runPredictions(db, run.id)) {
      const cls = runClasses[p.predicted];
      if (cls) predictions.set(p.imageId, { classId: cls.id, confidence: p.confidence, source: 1 });
    }
  }
  for (const s of suggestionPredictions(db)) {
    if (!predictions.has(s.imageId)) predictions.set(s.imageId, { classId: s.classId, confidence: s.confidence, source: s.trained ? 3 : 2 });
  }

  const ids = new Int32Array(n);
  const xy = new Float32Array(n * 2);
  const placed = new Uint8Array(n);
  const labels = new Int32Array(n);
  const splits = new Uint8Array(n);
  const predicted = new Int32Array(n);
  const confidence = new Float32Array(n);
  const source = new Uint8Array(n);
  points.forEach((p, i) => {
    const im = live.get(p.imageId)!;
    ids[i] = p.imageId;
    xy[i * 2] = ((p.x - cx) / half) * 0.95;
    xy[i * 2 + 1] = ((p.y - cy) / half) * 0.95;
    placed[i] = p.placed;
    labels[i] = im.classId ?? -1;
    splits[i] = SPLIT_CODE[im.split];
    const pred = predictions.get(p.imageId);
    predicted[i] = pred?.classId ?? -1;
    confidence[i] = pred?.confidence ?? 0;
    source[i] = pred?.source ?? 0;
  });
  const settings = JSON.parse(row.settings) as LayoutSettings;
  const onMap = new Set(points.map((p) => p.imageId));
  return {
    layout: {
      backbone: featuresName(row),
      seed: settings.seed,
      neighbours: settings.neighbours,
      dims: row.dims,
      epochs: settings.epochs,
      seconds: row.seconds,
      updatedAt: row.updatedAt,
    },
    reason: null,
    count: n,
    ids: pack(ids),
    xy: pack(xy),
    placed: pack(placed),
    labels: pack(labels),
    splits: pack(splits),
    predicted: pack(predicted),
    confidence: pack(confidence),
    predictionSource: pack(source),
    classes,
    runId: run?.id ?? null,
    withoutFeatures: images.filter((im) => !features.hashes.has(im.hash)).length,
    notPlaced: images.filter((im) => features.hashes.has(im.hash) && !onMap.has(im.id)).length,
  };
}
