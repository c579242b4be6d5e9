// Latency samples the end-to-end tests read (window.__loupeMetrics). A labeling keystroke
// counts as done when its change is both on screen (the frame after the label was drawn) and
// saved (the core acknowledged the committed transaction).

const samples: Record<string, number[]> = {};

export const metrics = {
  samples,
  record(name: string, ms: number): void {
    (samples[name] ??= []).push(ms);
  },
  /** Resolves with the time just after the next frame has been painted. */
  nextPaint(): Promise<number> {
    return new Promise((resolve) => requestAnimationFrame(() => setTimeout(() => resolve(performance.now()), 0)));
  },
};

(window as unknown as { __loupeMetrics: typeof metrics }).__loupeMetrics = metrics;
