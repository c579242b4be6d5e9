// Ends training when the monitored score has not improved for `patience` epochs.

import { monitoredScore, type Callback, type EpochLogs, type LoopState } from './fit';

export class EarlyStopping implements Callback {
  #bestScore = -Infinity;
  #bestEpoch: number | null = null;

  constructor(private readonly patience: number) {}

  onEpochEnd(logs: EpochLogs, state: LoopState): void {
    const score = monitoredScore(logs);
    if (score > this.#bestScore) {
      this.#bestScore = score;
      this.#bestEpoch = logs.epoch + 1;
    }
    if (this.#bestEpoch !== null && logs.epoch + 1 - this.#bestEpoch >= this.patience) state.stopTraining = true;
  }
}
