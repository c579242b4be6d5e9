// Reports training as it goes: the running loss, accuracy and speed at most every 250 ms (and at
// each epoch's last batch), and each epoch's figures when it ends.

import type { EpochMetrics } from '../../../../shared/types';
import type { BatchMessage } from '../protocol';
import type { BatchLogs, Callback, EpochLogs } from './fit';

export const PROGRESS_MS = 250;

export interface ProgressSink {
  batch(msg: BatchMessage): void;
  epoch(metrics: EpochMetrics, improved: boolean): void;
}

export class Progress implements Callback {
  #lastReport = 0;
  #epochStarted = 0;

  /** `now`: milliseconds (performance.now by default). */
  constructor(
    private readonly sink: ProgressSink,
    private readonly now: () => number = () => performance.now(),
    private readonly everyMs = PROGRESS_MS,
  ) {}

  onEpochBegin(): void {
    this.#epochStarted = this.now();
  }

  onBatchEnd({ epoch, batch, batches, lossSum, correct, seen }: BatchLogs): void {
    const now = this.now();
    if (now - this.#lastReport <= this.everyMs && batch !== batches - 1) return;
    this.#lastReport = now;
    const imagesPerSecond = seen / ((now - this.#epochStarted) / 1000);
    this.sink.batch({ type: 'batch', epoch, batch: batch + 1, batches, trainLoss: lossSum / seen, trainAccuracy: correct / seen, imagesPerSecond });
  }

  onEpochEnd(logs: EpochLogs): void {
    const metrics: EpochMetrics = {
      epoch: logs.epoch + 1,
      trainLoss: logs.trainLoss,
      trainAccuracy: logs.trainAccuracy,
      valLoss: logs.valLoss,
      valAccuracy: logs.valAccuracy,
      learningRate: logs.learningRate,
      seconds: (this.now() - this.#epochStarted) / 1000,
      imagesPerSecond: logs.seen / logs.trainSeconds,
    };
    this.sink.epoch(metrics, logs.improved);
  }
}
