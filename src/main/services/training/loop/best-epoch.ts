// Keeps the best epoch: after each epoch that beats every earlier one it saves a checkpoint (and,
// with restoreBest, keeps its weights in memory); at the end it puts back the weights the run
// keeps (kept-epoch.ts says which) and saves them as the model.

import { keptEpochNumber } from '../kept-epoch';
import { monitoredScore, type Callback, type EpochLogs, type LoopResult } from './fit';

/** What the part does with the weights; the replica does it (on rank 0 for files). */
export interface Checkpointer {
  /** Keeps the current weights in memory. */
  keep(): void;
  /** Puts back the kept weights. */
  restore(): void;
  /** Saves the current weights as the best checkpoint so far. */
  saveCheckpoint(): Promise<void>;
  /** Saves the current weights as the run's model; the checkpoint is no longer needed. */
  saveModel(): Promise<void>;
}

export class BestEpoch implements Callback {
  bestEpoch: number | null = null;
  bestScore = -Infinity;
  /** The epoch whose weights the model holds; null until the run ended uncancelled. */
  keptEpoch: number | null = null;

  constructor(
    private readonly restoreBest: boolean,
    private readonly weights: Checkpointer,
  ) {}

  async onEpochEnd(logs: EpochLogs): Promise<void> {
    const score = monitoredScore(logs);
    logs.improved = score > this.bestScore;
    if (!logs.improved) return;
    this.bestScore = score;
    this.bestEpoch = logs.epoch + 1;
    if (this.restoreBest) this.weights.keep();
    await this.weights.saveCheckpoint();
  }

  async onTrainEnd(result: LoopResult): Promise<void> {
    if (result.cancelled) return;
    if (this.restoreBest) this.weights.restore();
    this.keptEpoch = keptEpochNumber(this.restoreBest, this.bestEpoch, result.epochs);
    await this.weights.saveModel();
  }
}
