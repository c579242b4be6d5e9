// Throughput and ETA for long work, with an injectable clock so tests need not sleep.

export type Clock = () => number;
export const systemClock: Clock = () => performance.now();

export interface Rate {
  ratePerSecond: number | null;
  etaSeconds: number | null;
}

/**
 * Measures items per second over a sliding window of recent samples, which follows changes
 * in speed (a slow first batch, a warm cache) better than an average since the start.
 *
 * Work in stages (a training run extracts features, then trains) counts each stage from 0: a
 * count that goes back starts a new stage, whose speed is measured afresh. A stage's speed is
 * measured from its first item on, not from its start: what it does before (a model compiled,
 * workers started) is not its speed, and counted in it once made a run of seconds show an ETA
 * of minutes. Until a stage has measured itself, the time it is expected to take (`expect`,
 * e.g. the plan's estimate) gives the rate and ETA, handing over to the measured rate over `blendMs`.
 */
export class ProgressMeter {
  #samples: { t: number; done: number }[] = [];
  /** Where the current stage began; its speed is measured from its first item after this. */
  #base: { t: number; done: number };
  /** Seconds the current stage is expected to take in all. */
  #expected: number | null = null;
  #last = 0;

  constructor(
    private readonly clock: Clock = systemClock,
    private readonly windowMs = 5000,
    private readonly blendMs = 3000,
  ) {
    this.#base = { t: clock(), done: 0 };
  }

  /** How long the current stage is expected to take in all (seconds), until it has measured its own speed. */
  expect(seconds: number | null): void {
    this.#expected = seconds !== null && seconds > 0 && Number.isFinite(seconds) ? seconds : null;
  }

  update(done: number, total: number | null): Rate {
    const t = this.clock();
    if (done < this.#last) {
      // A new stage: forget the last one's samples and its expected rate.
      this.#samples = [];
      this.#base = { t, done };
      this.#expected = null;
    }
    this.#last = done;
    if (this.#samples.length === 0) {
      if (done > this.#base.done) this.#samples.push({ t, done });
      return this.#rate(null, 0, done, total);
    }
    this.#samples.push({ t, done });
    while (this.#samples.length > 2 && t - this.#samples[1].t >= this.windowMs) this.#samples.shift();
    const first = this.#samples[0];
    const dt = (t - first.t) / 1000;
    const dn = done - first.done;
    return this.#rate(dt > 0 && dn > 0 ? dn / dt : null, dt * 1000, done, total);
  }

  /** The rate shown is the measured one only; the time left blends in the expected rate. */
  #rate(measured: number | null, measuredMs: number, done: number, total: number | null): Rate {
    const expected = this.#expected !== null && total !== null && total > this.#base.done ? (total - this.#base.done) / this.#expected : null;
    let blended = measured;
    if (expected !== null) {
      const weight = measured === null ? 0 : Math.min(1, measuredMs / this.blendMs);
      blended = weight * (measured ?? 0) + (1 - weight) * expected;
    }
    const etaSeconds = blended === null || total === null ? null : Math.max(0, (total - done) / blended);
    return { ratePerSecond: measured, etaSeconds };
  }
}

/** Calls `fn` at most every `ms` milliseconds, plus once more with the last value on `flush`. */
export function throttle<T>(fn: (value: T) => void, ms: number, clock: Clock = systemClock) {
  let last = -Infinity;
  let pending: { value: T } | null = null;
  return {
    push(value: T): void {
      const now = clock();
      if (now - last >= ms) {
        last = now;
        pending = null;
        fn(value);
      } else {
        pending = { value };
      }
    },
    flush(): void {
      if (pending) fn(pending.value);
      pending = null;
    },
  };
}
