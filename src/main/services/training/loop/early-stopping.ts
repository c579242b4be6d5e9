// Ends training when the monitored score has not improved for `patience` epochs, though never
// before epoch `from`: a one-cycle schedule's best epochs come as its rate anneals, so a run that
// stalls while the rate is still high goes on until the rate is low enough to judge it.

import { monitoredScore, type Callback, type EpochLogs, type LoopState } from './fit';

export class EarlyStopping implements Callback {
  #bestScore = -Infinity;
  #bestEpoch: number | null = null;

  /**
   * `from`: the first epoch (1-based) at whose end the run may stop, in a run of `planned` epochs;
   * when a time budget changes the run's epochs, it moves with them (the same share of the run).
   */
  constructor(
    private readonly patience: number,
    private readonly from = 1,
    private readonly planned?: number,
  ) {}

  onEpochEnd(logs: EpochLogs, state: LoopState): void {
    const score = monitoredScore(logs);
    const epoch = logs.epoch + 1;
    if (score > this.#bestScore) {
      this.#bestScore = score;
      this.#bestEpoch = epoch;
    }
    const from = this.planned ? Math.ceil((this.from * state.epochs) / this.planned) : this.from;
    if (epoch >= from && this.#bestEpoch !== null && epoch - this.#bestEpoch >= this.patience) state.stopTraining = true;
  }
}
