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
 */
export class ProgressMeter {
  readonly #samples: { t: number; done: number }[] = [];

  constructor(
    private readonly clock: Clock = systemClock,
    private readonly windowMs = 5000,
  ) {
    this.#samples.push({ t: clock(), done: 0 });
  }

  update(done: number, total: number | null): Rate {
    const t = this.clock();
    this.#samples.push({ t, done });
    while (this.#samples.length > 2 && t - this.#samples[1].t >= this.windowMs) this.#samples.shift();
    const first = this.#samples[0];
    const dt = (t - first.t) / 1000;
    const dn = done - first.done;
    if (dt <= 0 || dn <= 0) return { ratePerSecond: null, etaSeconds: null };
    const ratePerSecond = dn / dt;
    const etaSeconds = total === null ? null : Math.max(0, (total - done) / ratePerSecond);
    return { ratePerSecond, etaSeconds };
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
