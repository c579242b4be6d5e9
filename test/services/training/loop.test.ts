import { describe, expect, it } from 'vitest';
import type { EpochMetrics, TrainConfig } from '../../../src/shared/types';
import type { StepTotals } from '../../../src/main/services/training/engines';
import { BestEpoch, type Checkpointer } from '../../../src/main/services/training/loop/best-epoch';
import { EarlyStopping } from '../../../src/main/services/training/loop/early-stopping';
import { fit, type Callback, type EpochLogs, type LoopState } from '../../../src/main/services/training/loop/fit';
import { Progress } from '../../../src/main/services/training/loop/progress';
import { LearningRateSchedule, learningRateAt } from '../../../src/main/services/training/loop/schedule';
import { Validation } from '../../../src/main/services/training/loop/validation';
import type { BatchMessage } from '../../../src/main/services/training/protocol';

function epochLogs(over: Partial<EpochLogs> = {}): EpochLogs {
  return { epoch: 0, trainLoss: 1, trainAccuracy: 0.5, seen: 100, learningRate: 0.01, trainSeconds: 2, valLoss: null, valAccuracy: null, improved: false, ...over };
}

function state(): LoopState {
  return { learningRate: 0.1, stopTraining: false, epochs: 5 };
}

/** Steps of 10 images each with loss 2 and 5 correct; `stopAt` [epoch, batch] says stop (cancel). */
function steps(calls: [number, number, number][], stopAt?: [number, number]) {
  return (epoch: number) =>
    async (batch: number, lr: number): Promise<StepTotals> => {
      calls.push([epoch, batch, lr]);
      return { loss: 20, correct: 5, n: 10, stop: stopAt !== undefined && stopAt[0] === epoch && stopAt[1] === batch };
    };
}

/** A clock that moves `stepMs` each time it is read. */
function ticking(stepMs: number): () => number {
  let t = 0;
  return () => (t += stepMs);
}

describe('training loop', () => {
  it('runs every batch of every epoch and calls the parts in order, with the epoch figures', async () => {
    const calls: [number, number, number][] = [];
    const events: string[] = [];
    const seen: EpochLogs[] = [];
    const recorder: Callback = {
      onTrainBegin: () => void events.push('train'),
      onEpochBegin: (e) => void events.push(`epoch ${e}`),
      onBatchEnd: (l) => void events.push(`batch ${l.epoch}.${l.batch} seen ${l.seen}`),
      onEpochEnd: (l) => void seen.push({ ...l }),
      onTrainEnd: (r) => void events.push(`end ${r.epochs} ${r.cancelled}`),
    };
    const result = await fit({ epochs: 2, batches: 3, learningRate: 0.1, epochSteps: steps(calls), endEpoch: async () => void events.push('sync'), now: ticking(500) }, [recorder]);
    expect(calls).toEqual([0, 1].flatMap((e) => [0, 1, 2].map((b) => [e, b, 0.1])));
    expect(events).toEqual(['train', 'epoch 0', 'batch 0.0 seen 10', 'batch 0.1 seen 20', 'batch 0.2 seen 30', 'sync', 'epoch 1', 'batch 1.0 seen 10', 'batch 1.1 seen 20', 'batch 1.2 seen 30', 'sync', 'end 2 false']);
    expect(seen[1]).toMatchObject({ epoch: 1, trainLoss: 2, trainAccuracy: 0.5, seen: 30, learningRate: 0.1, trainSeconds: 0.5, valLoss: null, improved: false });
    expect(result).toEqual({ epochs: 2, cancelled: false, trainSeconds: 1, trainImages: 60 });
  });

  it('stops within the batch a step says stop, and that epoch does not count', async () => {
    const calls: [number, number, number][] = [];
    const ended: number[] = [];
    const result = await fit({ epochs: 5, batches: 3, learningRate: 0.1, epochSteps: steps(calls, [1, 1]), endEpoch: async () => {} }, [
      { onEpochEnd: (l) => void ended.push(l.epoch) },
    ]);
    expect(calls).toHaveLength(5);
    expect(ended).toEqual([0]);
    expect(result).toMatchObject({ epochs: 1, cancelled: true, trainImages: 50 });
  });

  it('begins no epoch after a part sets stopTraining, and steps at the rate the parts set', async () => {
    const calls: [number, number, number][] = [];
    const parts: Callback[] = [
      { onBatchBegin: (e, b, s) => void (s.learningRate = e * 10 + b) },
      { onEpochEnd: (l, s) => void (s.stopTraining = l.epoch === 1) },
    ];
    const result = await fit({ epochs: 5, batches: 2, learningRate: 0.1, epochSteps: steps(calls), endEpoch: async () => {} }, parts);
    expect(calls).toEqual([
      [0, 0, 0],
      [0, 1, 1],
      [1, 0, 10],
      [1, 1, 11],
    ]);
    expect(result).toMatchObject({ epochs: 2, cancelled: false });
  });
});

describe('learning rate schedule', () => {
  const base = { learningRate: 0.1, epochs: 4 };

  it('is constant, steps down by gamma every stepSize epochs, or follows a cosine to zero', () => {
    expect(learningRateAt({ ...base, schedule: { kind: 'constant' } } as TrainConfig, 3, 0.9)).toBe(0.1);
    expect(learningRateAt({ ...base, schedule: { kind: 'step', stepSize: 2, gamma: 0.1 } } as TrainConfig, 1, 0.4)).toBe(0.1);
    expect(learningRateAt({ ...base, schedule: { kind: 'step', stepSize: 2, gamma: 0.1 } } as TrainConfig, 2, 0.5)).toBeCloseTo(0.01, 12);
    const cosine = { ...base, schedule: { kind: 'cosine' } } as TrainConfig;
    expect(learningRateAt(cosine, 0, 0)).toBe(0.1);
    expect(learningRateAt(cosine, 2, 0.5)).toBeCloseTo(0.05, 12);
    expect(learningRateAt(cosine, 3, 1.5)).toBeCloseTo(0, 12);
  });

  it('warms up linearly from zero before the cosine when asked (fine-tuning a pretrained backbone)', () => {
    const warm = { ...base, schedule: { kind: 'cosine', warmup: 0.25 } } as TrainConfig;
    expect(learningRateAt(warm, 0, 0)).toBe(0);
    expect(learningRateAt(warm, 0, 0.125)).toBeCloseTo(0.05, 12);
    expect(learningRateAt(warm, 1, 0.25)).toBeCloseTo(0.1, 12);
    // The cosine then spans the remaining three quarters of the steps.
    expect(learningRateAt(warm, 2, 0.625)).toBeCloseTo(0.05, 12);
    expect(learningRateAt(warm, 3, 1)).toBeCloseTo(0, 12);
  });

  it('sets each step\'s rate from its place among all the run\'s steps', () => {
    const schedule = new LearningRateSchedule({ ...base, schedule: { kind: 'cosine' } } as TrainConfig, 5);
    const s = { ...state(), epochs: 4 };
    schedule.onBatchBegin(0, 0, s);
    expect(s.learningRate).toBe(0.1);
    schedule.onBatchBegin(2, 0, s); // step 10 of 20
    expect(s.learningRate).toBeCloseTo(0.05, 12);
    schedule.onBatchBegin(3, 4, s); // the last step, 19 of 20
    expect(s.learningRate).toBeCloseTo((0.1 * (1 + Math.cos((Math.PI * 19) / 20))) / 2, 12);
  });
});

describe('validation', () => {
  it('scores each epoch on the validation images, and leaves the figures null without any', async () => {
    const logs = epochLogs();
    await new Validation(40, async () => ({ lossSum: 20, correct: 30 })).onEpochEnd(logs);
    expect(logs).toMatchObject({ valLoss: 0.5, valAccuracy: 0.75 });
    const none = epochLogs();
    let asked = false;
    await new Validation(0, async () => {
      asked = true;
      return { lossSum: 0, correct: 0 };
    }).onEpochEnd(none);
    expect(none).toMatchObject({ valLoss: null, valAccuracy: null });
    expect(asked).toBe(false);
  });
});

describe('best epoch', () => {
  function fakeWeights(log: string[]): Checkpointer {
    return {
      keep: () => void log.push('keep'),
      restore: () => void log.push('restore'),
      saveCheckpoint: async () => void log.push('checkpoint'),
      saveModel: async () => void log.push('model'),
    };
  }

  it('checkpoints each epoch that beats every earlier one, then restores and saves the best one', async () => {
    const log: string[] = [];
    const best = new BestEpoch(true, fakeWeights(log));
    const scores = [0.5, 0.7, 0.6, 0.7];
    const improved: boolean[] = [];
    for (const [epoch, valAccuracy] of scores.entries()) {
      const logs = epochLogs({ epoch, valAccuracy });
      await best.onEpochEnd(logs);
      improved.push(logs.improved);
    }
    expect(improved).toEqual([true, true, false, false]);
    expect(best).toMatchObject({ bestEpoch: 2, bestScore: 0.7, keptEpoch: null });
    await best.onTrainEnd({ epochs: 4, cancelled: false, trainSeconds: 1, trainImages: 1 });
    expect(best.keptEpoch).toBe(2);
    expect(log).toEqual(['keep', 'checkpoint', 'keep', 'checkpoint', 'restore', 'model']);
  });

  it('keeps the last epoch without restoreBest, goes by training accuracy without validation, and saves nothing when cancelled', async () => {
    const log: string[] = [];
    const last = new BestEpoch(false, fakeWeights(log));
    await last.onEpochEnd(epochLogs({ epoch: 0, trainAccuracy: 0.9 }));
    await last.onEpochEnd(epochLogs({ epoch: 1, trainAccuracy: 0.8 }));
    await last.onTrainEnd({ epochs: 2, cancelled: false, trainSeconds: 1, trainImages: 1 });
    expect(last).toMatchObject({ bestEpoch: 1, bestScore: 0.9, keptEpoch: 2 });
    expect(log).toEqual(['checkpoint', 'model']);

    const cancelledLog: string[] = [];
    const cancelled = new BestEpoch(true, fakeWeights(cancelledLog));
    await cancelled.onEpochEnd(epochLogs({ epoch: 0, valAccuracy: 0.4 }));
    await cancelled.onTrainEnd({ epochs: 1, cancelled: true, trainSeconds: 1, trainImages: 1 });
    expect(cancelled.keptEpoch).toBeNull();
    expect(cancelledLog).toEqual(['keep', 'checkpoint']);
  });
});

describe('early stopping', () => {
  it('stops once the score has not improved for `patience` epochs', () => {
    const stopping = new EarlyStopping(2);
    const s = state();
    const stoppedAfter = [0.5, 0.6, 0.6, 0.55, 0.9].map((valAccuracy, epoch) => {
      stopping.onEpochEnd(epochLogs({ epoch, valAccuracy }), s);
      return s.stopTraining;
    });
    expect(stoppedAfter).toEqual([false, false, false, true, true]);
  });

  it('goes by training accuracy when there is no validation, and a better epoch resets the count', () => {
    const stopping = new EarlyStopping(2);
    const s = state();
    const stoppedAfter = [0.5, 0.4, 0.7, 0.6, 0.6].map((trainAccuracy, epoch) => {
      stopping.onEpochEnd(epochLogs({ epoch, trainAccuracy }), s);
      return s.stopTraining;
    });
    expect(stoppedAfter).toEqual([false, false, false, false, true]);
  });

  it('waits until epoch `from` (a one-cycle rate annealed) before stopping a run that stalled early, then stops at once', () => {
    const stopping = new EarlyStopping(2, 6);
    const s = state();
    // Best at epoch 2; without `from` it would stop after epoch 4.
    const stoppedAfter = [0.5, 0.8, 0.7, 0.7, 0.75, 0.78, 0.9].map((valAccuracy, epoch) => {
      stopping.onEpochEnd(epochLogs({ epoch, valAccuracy }), s);
      return s.stopTraining;
    });
    expect(stoppedAfter).toEqual([false, false, false, false, false, true, true]);
    // A run still improving when `from` comes goes on until it stalls for `patience` epochs.
    const improving = new EarlyStopping(2, 3);
    const t = state();
    const after = [0.5, 0.6, 0.7, 0.8, 0.8, 0.8].map((valAccuracy, epoch) => {
      improving.onEpochEnd(epochLogs({ epoch, valAccuracy }), t);
      return t.stopTraining;
    });
    expect(after).toEqual([false, false, false, false, false, true]);
  });
});

describe('progress', () => {
  function sink() {
    const batches: BatchMessage[] = [];
    const epochs: [EpochMetrics, boolean][] = [];
    return { batches, epochs, sink: { batch: (m: BatchMessage) => void batches.push(m), epoch: (m: EpochMetrics, i: boolean) => void epochs.push([m, i]) } };
  }

  it('reports batches at most every 250 ms and always the epoch\'s last, with running figures', () => {
    const out = sink();
    const progress = new Progress(out.sink, ticking(100)); // the clock moves 100 ms per reading
    progress.onEpochBegin();
    for (let batch = 0; batch < 8; batch++) progress.onBatchEnd({ epoch: 0, batch, batches: 8, lossSum: 2 * (batch + 1), correct: batch + 1, seen: 4 * (batch + 1) });
    // Readings at 200, 300, ... 900 ms: reports at 300 (the first past 250 ms), 600 and 900 (the last batch).
    expect(out.batches.map((m) => m.batch)).toEqual([2, 5, 8]);
    expect(out.batches[2]).toEqual({ type: 'batch', epoch: 0, batch: 8, batches: 8, trainLoss: 0.5, trainAccuracy: 0.25, imagesPerSecond: 32 / 0.8 });
  });

  it('reports each epoch\'s figures and whether it improved', () => {
    const out = sink();
    const progress = new Progress(out.sink, ticking(1000));
    progress.onEpochBegin();
    progress.onEpochEnd(epochLogs({ epoch: 2, valLoss: 0.3, valAccuracy: 0.9, improved: true }));
    expect(out.epochs).toEqual([
      [{ epoch: 3, trainLoss: 1, trainAccuracy: 0.5, valLoss: 0.3, valAccuracy: 0.9, learningRate: 0.01, seconds: 1, imagesPerSecond: 50 }, true],
    ]);
  });
});
