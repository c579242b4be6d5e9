// The learning rate of each step: constant, step decay (StepLR) or cosine annealing over the run.

import type { TrainConfig } from '../../../../shared/types';
import type { Callback, LoopState } from './fit';

type RateConfig = Pick<TrainConfig, 'learningRate' | 'schedule'>;

/** The rate in `epoch`, `progress` (0..1) of the way through the run's steps. */
export function learningRateAt(config: RateConfig, epoch: number, progress: number): number {
  const s = config.schedule;
  if (s.kind === 'step') return config.learningRate * s.gamma ** Math.floor(epoch / s.stepSize);
  if (s.kind === 'cosine') {
    // A warm-up first: the rate rises linearly, then anneals over the rest of the run.
    const warmup = Math.min(0.5, Math.max(0, s.warmup ?? 0));
    if (progress < warmup) return (config.learningRate * progress) / warmup;
    const p = warmup > 0 ? (progress - warmup) / (1 - warmup) : progress;
    return (config.learningRate * (1 + Math.cos(Math.PI * Math.min(1, p)))) / 2;
  }
  return config.learningRate;
}

/** Sets each step's rate from the run's schedule, over the epochs the run is to train now (a time budget may change them). */
export class LearningRateSchedule implements Callback {
  constructor(
    private readonly config: RateConfig,
    private readonly batches: number,
  ) {}

  onBatchBegin(epoch: number, batch: number, state: LoopState): void {
    state.learningRate = learningRateAt(this.config, epoch, (epoch * this.batches + batch) / (this.batches * state.epochs));
  }
}
