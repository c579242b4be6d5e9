// A run's learning-rate schedule and early stopping, said the same in the studio and the CLI.

import type { LrSchedule, TrainConfig } from './types';

/** Its short name: "one-cycle", "cosine", "step", "constant" (a cosine after a warm-up from zero is one cycle). */
export function scheduleName(s: LrSchedule): string {
  return s.kind === 'cosine' && (s.warmup ?? 0) > 0 ? 'one-cycle' : s.kind;
}

/** One line for a run's settings: "one cycle: warm-up over the first 25% of steps, then cosine down to zero". */
export function scheduleText(s: LrSchedule): string {
  if (s.kind === 'step') return `step: ×${s.gamma} every ${s.stepSize} epoch${s.stepSize === 1 ? '' : 's'}`;
  if (s.kind === 'constant') return 'constant';
  const warmup = s.warmup ?? 0;
  return warmup > 0 ? `one cycle: rises from zero over the first ${Math.round(warmup * 100)}% of steps, then cosine down to zero` : 'cosine, down to zero';
}

/** "after 3 epochs without progress, from epoch 8", or "off". */
export function stoppingText(c: Pick<TrainConfig, 'patience' | 'patienceFrom'>): string {
  if (c.patience === null) return 'off';
  const from = c.patienceFrom !== undefined && c.patienceFrom > 1 ? `, from epoch ${c.patienceFrom}` : '';
  return `after ${c.patience} epoch${c.patience === 1 ? '' : 's'} without progress${from}`;
}
