// Scores the validation images after each epoch: the figures the best epoch and early stopping
// go by, and the ones a run's history shows.

import type { Callback, EpochLogs } from './fit';

export interface ValidationSums {
  lossSum: number;
  correct: number;
}

export class Validation implements Callback {
  /** `images`: validation images in all; `evaluate`: their loss and correct sums, over every replica. */
  constructor(
    private readonly images: number,
    private readonly evaluate: () => Promise<ValidationSums>,
  ) {}

  async onEpochEnd(logs: EpochLogs): Promise<void> {
    if (this.images === 0) return;
    const { lossSum, correct } = await this.evaluate();
    logs.valLoss = lossSum / this.images;
    logs.valAccuracy = correct / this.images;
  }
}
