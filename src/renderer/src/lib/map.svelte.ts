// The map view's state: the points (decoded once into typed arrays), what colours them, the
// lasso selection, and the `map` job. Labels and splits change through the same API calls as the
// gallery's (setLabel, moveToSplit: undoable, and heard by every window); the map then updates
// the changed points from imagesById rather than fetching every point again.

import { MAP_PREDICTION_SOURCES, type ClassCount, type ImagesChanged, type JobInfo, type MapPoints, type Split } from '../../../shared/types';
import { unpackFloat32, unpackInt32, unpackUint8 } from '../../../shared/packed';
import { api, errorMessage } from './client';
import { trackJob } from './job-tracker.svelte';
import { onLeaveProject } from './project-scope';
import { toasts } from './toasts.svelte';

export const COLOUR_MODES = [
  { id: 'label', name: 'Label' },
  { id: 'prediction', name: 'Prediction' },
  { id: 'correct', name: 'Right / wrong' },
  { id: 'confidence', name: 'Confidence' },
  { id: 'split', name: 'Split' },
] as const;
export type ColourMode = (typeof COLOUR_MODES)[number]['id'];

const SPLITS: Split[] = ['train', 'val', 'test'];
const NONE_COLOUR = '#8a8f98';

export interface Legend {
  colour: string;
  name: string;
  count: number;
}

/** The decoded map: one entry per point in every array. */
export interface MapData {
  count: number;
  ids: Int32Array;
  x: Float32Array;
  y: Float32Array;
  placed: Uint8Array;
  labels: Int32Array;
  splits: Uint8Array;
  predicted: Int32Array;
  confidence: Float32Array;
  source: Uint8Array;
  /** Point index by image id. */
  index: Map<number, number>;
}

function decode(p: MapPoints): MapData {
  const xy = unpackFloat32(p.xy);
  const x = new Float32Array(p.count);
  const y = new Float32Array(p.count);
  for (let i = 0; i < p.count; i++) {
    x[i] = xy[i * 2];
    y[i] = xy[i * 2 + 1];
  }
  const ids = unpackInt32(p.ids);
  return {
    count: p.count,
    ids,
    x,
    y,
    placed: unpackUint8(p.placed),
    labels: unpackInt32(p.labels),
    splits: unpackUint8(p.splits),
    predicted: unpackInt32(p.predicted),
    confidence: unpackFloat32(p.confidence),
    source: unpackUint8(p.predictionSource),
    index: new Map(Array.from(ids, (id, i) => [id, i])),
  };
}

export class MapState {
  /** The last answer, without its arrays (those are in `data`). */
  info = $state.raw<Omit<MapPoints, 'ids' | 'xy' | 'placed' | 'labels' | 'splits' | 'predicted' | 'confidence' | 'predictionSource'> | null>(null);
  data = $state.raw<MapData | null>(null);
  /** Bumped when labels, splits or predictions of `data` changed in place: colours are made again. */
  version = $state(0);
  mode = $state<ColourMode>('label');
  /** Selected point indexes (the lasso's). */
  selection = $state.raw<number[]>([]);
  loading = $state(false);
  readonly #job = trackJob('map', { onFinished: (job) => this.#finished(job) });

  constructor() {
    onLeaveProject(() => this.reset());
  }

  get job() {
    return this.#job.job;
  }

  get cancelling(): boolean {
    return this.#job.cancelling;
  }

  reset(): void {
    this.info = null;
    this.data = null;
    this.selection = [];
    this.#job.reset();
  }

  async load(): Promise<void> {
    this.loading = true;
    try {
      const p = await api.mapPoints();
      const { ids: _i, xy: _x, placed: _p, labels: _l, splits: _s, predicted: _d, confidence: _c, predictionSource: _o, ...info } = p;
      this.data = p.count > 0 ? decode(p) : null;
      this.info = info;
      this.selection = [];
      this.version += 1;
    } catch (err) {
      toasts.show(errorMessage(err), 'error');
    } finally {
      this.loading = false;
    }
    void this.#job.attach();
  }

  async start(recompute = false): Promise<void> {
    try {
      await api.startMapLayout({ recompute });
      await this.#job.attach();
    } catch (err) {
      toasts.show(errorMessage(err), 'error');
    }
  }

  cancel(): Promise<void> {
    return this.#job.cancel();
  }

  #finished(job: JobInfo<'map'>): void {
    if (job.status === 'failed' && job.error) toasts.show(job.error.message, 'error');
    else if (job.status === 'completed' && job.result) {
      const r = job.result;
      toasts.show(r.laidOut > 0 ? `Map laid out: ${r.laidOut.toLocaleString('en-US')} images.` : `${r.placed.toLocaleString('en-US')} new images placed on the map.`);
    }
    void this.load();
  }

  /** The image ids of the selection. */
  selectedIds(): number[] {
    const data = this.data;
    return data ? this.selection.map((i) => data.ids[i]) : [];
  }

  async label(classId: number | null): Promise<void> {
    const imageIds = this.selectedIds();
    if (imageIds.length === 0) return;
    try {
      await api.setLabel({ imageIds, classId });
      this.#setLocally(imageIds, (i) => (this.data!.labels[i] = classId ?? -1));
    } catch (err) {
      toasts.show(errorMessage(err), 'error');
    }
  }

  async moveToSplit(split: Split): Promise<void> {
    const imageIds = this.selectedIds();
    if (imageIds.length === 0) return;
    try {
      await api.moveToSplit({ imageIds, split });
      this.#setLocally(imageIds, (i) => (this.data!.splits[i] = SPLITS.indexOf(split)));
    } catch (err) {
      toasts.show(errorMessage(err), 'error');
    }
  }

  #setLocally(imageIds: number[], set: (index: number) => void): void {
    const data = this.data;
    if (!data) return;
    for (const id of imageIds) {
      const i = data.index.get(id);
      if (i !== undefined) set(i);
    }
    this.version += 1;
  }

  /** Labels or splits changed (here, in another window, by undo): the changed points again. */
  async applyChange(change: ImagesChanged): Promise<void> {
    const data = this.data;
    if (!data) return;
    const ids = change.imageIds?.filter((id) => data.index.has(id));
    if (!ids || ids.length > 5000) return this.load();
    if (ids.length === 0) return;
    try {
      const items = await api.imagesById({ ids });
      // eslint-disable-next-line svelte/prefer-svelte-reactivity -- a lookup, not state
      const alive = new Set(items.map((it) => it.id));
      if (ids.some((id) => !alive.has(id))) return this.load(); // removed: the map without them
      for (const it of items) {
        const i = data.index.get(it.id)!;
        data.labels[i] = it.classId ?? -1;
        data.splits[i] = SPLITS.indexOf(it.split);
      }
      this.version += 1;
    } catch {
      // The project closed meanwhile.
    }
  }

  /**
   * Each point's colour index into `palette`, for the colour mode (regl-scatterplot colours by a
   * categorical value per point), and the legend.
   */
  colouring(classes: ClassCount[]): { values: Float32Array; palette: string[]; legend: Legend[] } {
    const data = this.data!;
    const n = data.count;
    const values = new Float32Array(n);
    const mode = this.mode;
    if (mode === 'split') {
      const palette = ['#4f8cff', '#f0a030', '#d0508a'];
      const counts = [0, 0, 0];
      for (let i = 0; i < n; i++) {
        values[i] = data.splits[i];
        counts[data.splits[i]] += 1;
      }
      return { values, palette, legend: ['Train', 'Validation', 'Test'].map((name, k) => ({ colour: palette[k], name, count: counts[k] })) };
    }
    if (mode === 'correct') {
      // 0 no held-out prediction or unlabeled, 1 right, 2 wrong, 3 predicted on a training image.
      const palette = [NONE_COLOUR, '#2fa36b', '#e0483e', '#b58cff'];
      const counts = [0, 0, 0, 0];
      for (let i = 0; i < n; i++) {
        const source = MAP_PREDICTION_SOURCES[data.source[i]];
        const v = data.predicted[i] < 0 || data.labels[i] < 0 ? 0 : source === 'trainedOn' ? 3 : data.predicted[i] === data.labels[i] ? 1 : 2;
        values[i] = v;
        counts[v] += 1;
      }
      const names = ['No held-out prediction, or unlabeled', 'Right', 'Wrong', 'Predicted on a training image (not a fair test)'];
      return { values, palette, legend: names.map((name, k) => ({ colour: palette[k], name, count: counts[k] })) };
    }
    if (mode === 'confidence') {
      const steps = 10;
      const palette = [NONE_COLOUR, ...Array.from({ length: steps }, (_, k) => confidenceColour(k / (steps - 1)))];
      const counts = new Array(steps + 1).fill(0);
      for (let i = 0; i < n; i++) {
        const v = data.predicted[i] < 0 ? 0 : 1 + Math.min(steps - 1, Math.floor(data.confidence[i] * steps));
        values[i] = v;
        counts[v] += 1;
      }
      const legend: Legend[] = [{ colour: NONE_COLOUR, name: 'No prediction', count: counts[0] }];
      for (let k = 0; k < steps; k++) legend.push({ colour: palette[k + 1], name: `${k * 10}–${k * 10 + 10}%`, count: counts[k + 1] });
      return { values, palette, legend };
    }
    // By label or by prediction: one colour per class (its own), grey for none.
    // eslint-disable-next-line svelte/prefer-svelte-reactivity -- a lookup, not state
    const byId = new Map(classes.map((c, k) => [c.id, k + 1]));
    const palette = [NONE_COLOUR, ...classes.map((c) => c.color)];
    const counts = new Array(classes.length + 1).fill(0);
    const source = mode === 'label' ? data.labels : data.predicted;
    for (let i = 0; i < n; i++) {
      const v = byId.get(source[i]) ?? 0;
      values[i] = v;
      counts[v] += 1;
    }
    const none = mode === 'label' ? 'Unlabeled' : 'No held-out prediction';
    return { values, palette, legend: [{ colour: NONE_COLOUR, name: none, count: counts[0] }, ...classes.map((c, k) => ({ colour: c.color, name: c.name, count: counts[k + 1] }))] };
  }
}

/** Low confidence red, high green, through amber. */
function confidenceColour(t: number): string {
  const from = [224, 72, 62];
  const mid = [240, 176, 48];
  const to = [47, 163, 107];
  const [a, b, u] = t < 0.5 ? [from, mid, t * 2] : [mid, to, (t - 0.5) * 2];
  const c = a.map((v, k) => Math.round(v + (b[k] - v) * u));
  return `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

export const map = new MapState();
