// Latency samples the end-to-end tests read (window.__loupeMetrics): from a keydown to the
// moment its change is saved by the core and the next frame has been painted.

const samples: Record<string, number[]> = {};

export const metrics = {
  samples,
  /** Records the time from `startedAt` until after the next paint. */
  afterPaint(startedAt: number, name: string): void {
    requestAnimationFrame(() =>
      setTimeout(() => {
        (samples[name] ??= []).push(performance.now() - startedAt);
      }, 0),
    );
  },
};

(window as unknown as { __loupeMetrics: typeof metrics }).__loupeMetrics = metrics;
