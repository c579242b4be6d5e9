// The training loop itself: epochs of batches and nothing else. What happens around the steps
// (the learning rate schedule, validation, keeping the best epoch, early stopping, progress) is
// done by small parts with hooks, as Keras callbacks do, so each can be read and tested alone.

import type { StepTotals } from '../engines';

/** What the parts may change while the loop runs. */
export interface LoopState {
  /** The rate of the next step: the base rate at each epoch's start, then the schedule's. */
  learningRate: number;
  /** Set by a part (early stopping): no epoch begins after this one. */
  stopTraining: boolean;
  /** The epochs the run is to train: the planned ones, unless a part (the time budget) fits them to the speed measured. */
  epochs: number;
}

export interface BatchLogs {
  epoch: number;
  batch: number;
  batches: number;
  /** Sums over this epoch's steps so far, over every replica. */
  lossSum: number;
  correct: number;
  seen: number;
}

export interface EpochLogs {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  seen: number;
  /** The rate of the epoch's last step. */
  learningRate: number;
  /** Seconds of the epoch's training steps alone. */
  trainSeconds: number;
  /** Filled in by the validation part; null without validation images. */
  valLoss: number | null;
  valAccuracy: number | null;
  /** Filled in by the best-epoch part: this epoch scored better than every earlier one. */
  improved: boolean;
}

export interface LoopResult {
  /** Epochs trained to their end. */
  epochs: number;
  /** A step said stop (the run was cancelled): the epoch it was in does not count. */
  cancelled: boolean;
  trainSeconds: number;
  trainImages: number;
}

/** A part of the loop. Hooks run in the order the parts are given. */
export interface Callback {
  onTrainBegin?(state: LoopState): void | Promise<void>;
  onEpochBegin?(epoch: number, state: LoopState): void | Promise<void>;
  onBatchBegin?(epoch: number, batch: number, state: LoopState): void;
  onBatchEnd?(logs: BatchLogs, state: LoopState): void;
  onEpochEnd?(logs: EpochLogs, state: LoopState): void | Promise<void>;
  /** Also after a cancelled run. */
  onTrainEnd?(result: LoopResult): void | Promise<void>;
}

/** The score that decides the best epoch and early stopping: validation accuracy, else training accuracy. */
export function monitoredScore(logs: EpochLogs): number {
  return logs.valAccuracy ?? logs.trainAccuracy;
}

export interface LoopOptions {
  epochs: number;
  batches: number;
  /** The base learning rate. */
  learningRate: number;
  /** Begins an epoch (its order of images) and returns its step: one batch at a given rate. */
  epochSteps(epoch: number): (batch: number, learningRate: number) => Promise<StepTotals>;
  /** After an epoch's steps, before its parts' onEpochEnd: replicas agree on batch-norm statistics. */
  endEpoch(): Promise<void>;
  /** Milliseconds (performance.now by default). */
  now?: () => number;
}

export async function fit(options: LoopOptions, parts: Callback[]): Promise<LoopResult> {
  const now = options.now ?? (() => performance.now());
  const { batches } = options;
  const state: LoopState = { learningRate: options.learningRate, stopTraining: false, epochs: options.epochs };
  const result: LoopResult = { epochs: 0, cancelled: false, trainSeconds: 0, trainImages: 0 };
  for (const part of parts) await part.onTrainBegin?.(state);
  for (let epoch = 0; epoch < state.epochs && !state.stopTraining; epoch++) {
    const started = now();
    state.learningRate = options.learningRate;
    for (const part of parts) await part.onEpochBegin?.(epoch, state);
    const step = options.epochSteps(epoch);
    const sums: BatchLogs = { epoch, batch: 0, batches, lossSum: 0, correct: 0, seen: 0 };
    for (let batch = 0; batch < batches; batch++) {
      for (const part of parts) part.onBatchBegin?.(epoch, batch, state);
      const totals = await step(batch, state.learningRate);
      sums.batch = batch;
      sums.lossSum += totals.loss;
      sums.correct += totals.correct;
      sums.seen += totals.n;
      if (totals.stop) {
        result.cancelled = true;
        break;
      }
      for (const part of parts) part.onBatchEnd?.(sums, state);
    }
    const trainSeconds = (now() - started) / 1000;
    result.trainSeconds += trainSeconds;
    result.trainImages += sums.seen;
    if (result.cancelled) break;
    await options.endEpoch();
    result.epochs = epoch + 1;
    const logs: EpochLogs = {
      epoch,
      trainLoss: sums.lossSum / sums.seen,
      trainAccuracy: sums.correct / sums.seen,
      seen: sums.seen,
      learningRate: state.learningRate,
      trainSeconds,
      valLoss: null,
      valAccuracy: null,
      improved: false,
    };
    for (const part of parts) await part.onEpochEnd?.(logs, state);
  }
  for (const part of parts) await part.onTrainEnd?.(result);
  return result;
}
