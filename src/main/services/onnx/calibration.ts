// Activation ranges for int8 quantization, from the values a float model gives on calibration
// images (ONNX's and TFLite's quantizers both use it). `minmax` keeps every value seen
// representable. `percentile` and `mse` look at a histogram of each tensor's values (a second pass
// over the images, once the first found the extent): `percentile` leaves out a share of the values
// at the ends (outliers then saturate instead of stretching the step for every other value);
// `mse` picks, per tensor, the upper clip with the least expected squared error, clipping plus
// rounding, over the histogram (TensorRT and onnxruntime's quantizers offer both).

import type { CalibrationMethod } from '../../../shared/types';

export interface Range {
  min: number;
  max: number;
}

/** The order the exports try the methods in: the first that holds up on the calibration images is kept. */
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile', 'mse'];
/** What "holds up on the calibration images" means: the float model's top class kept on this share of them. */
export const GOOD_ENOUGH_ON_CALIBRATION = 0.995;

const BINS = 2048;

export class RangeObserver<K> {
  readonly #extent = new Map<K, Range>();
  readonly #histograms = new Map<K, Float64Array>();

  constructor(
    readonly method: CalibrationMethod,
    /** For `percentile`: the share of values kept (99.99 leaves out 0.01%, half at each end). */
    readonly percentile = 99.99,
  ) {}

  /** Passes over the calibration images: one for min/max, two for the histogram methods. */
  get passes(): number {
    return this.method === 'minmax' ? 1 : 2;
  }

  observe(pass: number, key: K, values: ArrayLike<number>): void {
    if (pass === 0) {
      const r = this.#extent.get(key) ?? { min: Infinity, max: -Infinity };
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (v < r.min) r.min = v;
        if (v > r.max) r.max = v;
      }
      this.#extent.set(key, r);
      return;
    }
    const { lo, width } = this.#bins(key);
    let h = this.#histograms.get(key);
    if (!h) this.#histograms.set(key, (h = new Float64Array(BINS)));
    for (let i = 0; i < values.length; i++) h[Math.max(0, Math.min(BINS - 1, Math.floor((values[i] - lo) / width)))]++;
  }

  #bins(key: K): { lo: number; width: number } {
    const r = this.#extent.get(key) ?? { min: 0, max: 0 };
    const lo = Math.min(0, r.min);
    return { lo, width: (Math.max(0, r.max) - lo) / BINS || 1 };
  }

  /** Each tensor's range by the method (the min/max ones when no histogram was taken). */
  ranges(): Map<K, Range> {
    if (this.method === 'minmax') return new Map(this.#extent);
    const out = new Map<K, Range>();
    for (const [key, extent] of this.#extent) {
      const h = this.#histograms.get(key);
      const { lo, width } = this.#bins(key);
      out.set(key, !h ? extent : this.method === 'percentile' ? percentileRange(h, lo, width, this.percentile) : mseRange(h, lo, width));
    }
    return out;
  }
}

/** The range that leaves (100 - p)% of the values outside, half at each end; always holding 0. */
function percentileRange(h: Float64Array, lo: number, width: number, p: number): Range {
  const total = h.reduce((a, b) => a + b, 0);
  const tail = (total * (100 - p)) / 100 / 2;
  let below = 0;
  let first = 0;
  while (first < BINS - 1 && below + h[first] <= tail) below += h[first++];
  let above = 0;
  let last = BINS - 1;
  while (last > first && above + h[last] <= tail) above += h[last--];
  return { min: Math.min(0, lo + first * width), max: Math.max(0, lo + (last + 1) * width) };
}

/** The upper clip (the lower end kept) with the least expected squared error over the histogram: clipping beyond it, rounding (step²/12) inside. */
function mseRange(h: Float64Array, lo: number, width: number): Range {
  let best = { error: Infinity, last: BINS - 1 };
  const zeroBin = Math.min(BINS - 1, Math.max(0, Math.floor(-lo / width)));
  for (let last = Math.max(zeroBin, 8); last < BINS; last += 4) {
    const hi = lo + (last + 1) * width;
    const step = (hi - lo) / 255;
    let error = 0;
    for (let b = 0; b < BINS; b++) {
      if (h[b] === 0) continue;
      const centre = lo + (b + 0.5) * width;
      error += centre > hi ? h[b] * (centre - hi) ** 2 : (h[b] * step * step) / 12;
    }
    if (error < best.error) best = { error, last };
  }
  return { min: Math.min(0, lo), max: Math.max(0, lo + (best.last + 1) * width) };
}
