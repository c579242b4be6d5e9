// One click's time budget: the plan fits its epochs to a speed timed over a few steps, and the
// cores of a shared machine run a fifth faster or slower from one process to the next (CIFAR-10
// from scratch: 245 to 338 images/s timed, 8 or 6 epochs planned). So the run fits them again
// to what its own epochs take, against the whole run's deadline (preparing the images, the
// epochs, the final evaluation): the first epoch sets the epochs, more or fewer than planned;
// later epochs only cut them, when the machine slows, so the schedule does not move back and forth.

import type { TimeBudget as Budget } from '../../../../shared/types';
import type { Callback, EpochLogs, LoopState } from './fit';

/** Seconds for saving the model after the final evaluation. */
export const SAVE_SECONDS = 3;

export interface TimeBudgetOptions {
  budget: Budget;
  /** When the whole run is to end, in `now`'s milliseconds. */
  deadline: number;
  /** Validation images scored each epoch (over every replica), and images the final evaluation scores (validation and test). */
  valImages: number;
  finalImages: number;
  /** Sums each value over the replicas (so that they all decide the same); identity with one. */
  allReduce(values: number[]): number[];
  replicas: number;
  /** Told each change: the new epoch count and why. */
  onChange(epochs: number, why: string): void;
  /** Milliseconds since an arbitrary origin, on the deadline's clock (Date.now by default). */
  now?: () => number;
}

const minutes = (s: number) => `${Math.round(s / 60)} min`;

export class TimeBudget implements Callback {
  readonly #now: () => number;
  #began = 0;
  #evalSeconds = 0;

  constructor(private readonly options: TimeBudgetOptions) {
    this.#now = options.now ?? Date.now;
  }

  onTrainBegin(): void {
    this.#began = this.#now();
  }

  onEpochEnd(logs: EpochLogs, state: LoopState): void {
    const { budget, valImages, finalImages, replicas } = this.options;
    const now = this.#now();
    const done = logs.epoch + 1;
    // What this replica saw, averaged over the replicas: each must come to the same epochs.
    const [elapsed, left, evalSeconds] = this.options
      .allReduce([(now - this.#began) / 1000, (this.options.deadline - now) / 1000, Math.max(0, (now - this.#began) / 1000 / done - logs.trainSeconds)])
      .map((v) => v / replicas);
    this.#evalSeconds = done === 1 ? evalSeconds : this.#evalSeconds;
    const perEpoch = elapsed / done;
    // The final evaluation scores validation and test once more: at the rate validation ran, else at a training step's cost.
    const tail = (valImages > 0 ? (this.#evalSeconds * finalImages) / valImages : (logs.trainSeconds * finalImages) / Math.max(1, logs.seen)) + SAVE_SECONDS;
    const fit = done + Math.floor(Math.max(0, left - tail) / perEpoch);
    const planned = state.epochs;
    const epochs = done === 1 ? Math.min(budget.maxEpochs, Math.max(budget.minEpochs, fit)) : fit < planned ? Math.max(budget.minEpochs, done, fit) : planned;
    if (epochs === planned) return;
    state.epochs = epochs;
    const rate = Math.round(logs.seen / logs.trainSeconds).toLocaleString('en-US');
    const speed = `${Math.round(perEpoch)} s an epoch at ${rate} images/s`;
    const aim = `the ${minutes(budget.seconds)} one click aims at, the final test included`;
    this.options.onChange(
      epochs,
      done === 1
        ? epochs > planned
          ? `${epochs} epochs, not ${planned}: epoch 1 took ${speed}, faster than the plan timed, so ${epochs} fit ${aim}${epochs === budget.maxEpochs ? ` (${epochs} is what the data is worth)` : ''}.`
          : `${epochs} epochs, not ${planned}: epoch 1 took ${speed}, slower than the plan timed, so ${epochs} fit ${aim}${fit < budget.minEpochs ? ` (only ${Math.max(done, fit)} fit; ${budget.minEpochs} are the fewest worth running)` : ''}.`
        : `${epochs} epochs, not ${planned}: the machine slowed (${speed} over ${done} epochs), so ${epochs} fit ${aim}${fit < budget.minEpochs ? ` (${budget.minEpochs} are the fewest worth running)` : ''}.`,
    );
  }
}
