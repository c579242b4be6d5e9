// One click's time budget in the training loop: the first epoch fits the run's epochs to the
// speed it shows (more or fewer than planned), later epochs only cut them when the machine slows,
// and the schedule and early stopping follow the new count. A fake clock: each batch takes
// the seconds the test says.

import { describe, expect, it } from 'vitest';
import type { StepTotals } from '../../../src/main/services/training/engines';
import { EarlyStopping } from '../../../src/main/services/training/loop/early-stopping';
import { fit, type Callback, type EpochLogs } from '../../../src/main/services/training/loop/fit';
import { LearningRateSchedule } from '../../../src/main/services/training/loop/schedule';
import { SAVE_SECONDS, TimeBudget } from '../../../src/main/services/training/loop/time-budget';

const BATCHES = 2;

/** A run of `planned` epochs whose epoch `e` (0-based) takes `epochSeconds(e)`, with a time budget ending at `deadline` seconds. */
async function budgeted(options: { planned: number; epochSeconds: (epoch: number) => number; deadline: number; min?: number; max?: number; replicas?: number; finalImages?: number; val?: { images: number; seconds: number } }) {
  let clock = 0;
  const now = () => clock;
  const changes: [number, string][] = [];
  const rates: number[] = [];
  const ends: number[] = [];
  const replicas = options.replicas ?? 1;
  const budget = new TimeBudget({
    budget: { seconds: options.deadline, minEpochs: options.min ?? 2, maxEpochs: options.max ?? 10 },
    deadline: options.deadline * 1000,
    valImages: options.val?.images ?? 0,
    finalImages: options.finalImages ?? 0,
    // Every replica saw the same: the sums are `replicas` times one replica's figures.
    allReduce: (values) => values.map((v) => v * replicas),
    replicas,
    onChange: (epochs, why) => void changes.push([epochs, why]),
    now,
  });
  const parts: Callback[] = [new LearningRateSchedule({ learningRate: 1, schedule: { kind: 'cosine' } }, BATCHES), { onEpochEnd: () => void (clock += (options.val?.seconds ?? 0) * 1000) }, { onEpochEnd: () => void ends.push(clock / 1000) }, budget];
  const result = await fit(
    {
      epochs: options.planned,
      batches: BATCHES,
      learningRate: 1,
      epochSteps: (epoch) => async (_batch, lr): Promise<StepTotals> => {
        rates.push(lr);
        clock += (options.epochSeconds(epoch) * 1000) / BATCHES;
        return { loss: 10, correct: 5, n: 300, stop: false };
      },
      endEpoch: async () => {},
      now,
    },
    parts,
  );
  return { result, changes, rates, ends, seconds: clock / 1000 };
}

describe('time budget', () => {
  it('runs more epochs than planned when the first one shows the machine faster, up to what the data is worth, and ends within the budget', async () => {
    const run = await budgeted({ planned: 4, epochSeconds: () => 60, deadline: 600, max: 10 });
    // 600 s, less the save at the end: 9 epochs of 60 s.
    expect(run.result.epochs).toBe(9);
    expect(run.seconds + SAVE_SECONDS).toBeLessThanOrEqual(600);
    expect(run.changes).toHaveLength(1);
    expect(run.changes[0][0]).toBe(9);
    expect(run.changes[0][1]).toMatch(/^9 epochs, not 4: epoch 1 took 60 s an epoch at 10 images\/s, faster than the plan timed, so 9 fit the 10 min one click aims at, the final test included\.$/);
    // Capped at what the data is worth.
    expect((await budgeted({ planned: 4, epochSeconds: () => 10, deadline: 600, max: 7 })).result.epochs).toBe(7);
  });

  it('runs fewer when the first epoch is slower than planned, never fewer than the fewest worth running, and the rate still anneals to zero at the new end', async () => {
    const run = await budgeted({ planned: 8, epochSeconds: () => 100, deadline: 500 });
    expect(run.result.epochs).toBe(4);
    expect(run.seconds).toBeLessThanOrEqual(500 - SAVE_SECONDS);
    expect(run.changes.map((c) => c[0])).toEqual([4]);
    expect(run.changes[0][1]).toContain('slower than the plan timed');
    // The cosine runs over 4 epochs now: the last step is near zero, not halfway down as in a run of 8.
    expect(run.rates).toHaveLength(4 * BATCHES);
    expect(run.rates.at(-1)!).toBeLessThan(0.05);
    // A deadline already missed: the fewest epochs worth running, and it says so.
    const late = await budgeted({ planned: 8, epochSeconds: () => 100, deadline: 50, min: 3 });
    expect(late.result.epochs).toBe(3);
    expect(late.changes[0][1]).toContain('3 are the fewest worth running');
  });

  it('counts the final evaluation, and only cuts epochs later on, when the machine slows', async () => {
    // Epoch 1 takes 50 s, the rest 100 s: 6 fit after epoch 1 (1 + 5 x 50 s in 330 s less the save).
    const slowing = await budgeted({ planned: 6, epochSeconds: (e) => (e === 0 ? 50 : 100), deadline: 330 });
    expect(slowing.changes.map((c) => c[0])).toEqual([4, 3]);
    expect(slowing.changes[0][1]).toContain('the machine slowed');
    expect(slowing.result.epochs).toBe(3);
    expect(slowing.seconds).toBeLessThanOrEqual(330);
    // An epoch as slow as planned changes nothing, and later epochs never add any back.
    const steady = await budgeted({ planned: 5, epochSeconds: (e) => (e === 0 ? 100 : 20), deadline: 540 });
    expect(steady.changes).toEqual([]);
    expect(steady.result.epochs).toBe(5);
    // Without validation images the final evaluation counts at a training step's cost: 600 images at 10 images/s leave one epoch fewer.
    expect((await budgeted({ planned: 4, epochSeconds: () => 60, deadline: 600, finalImages: 600 })).result.epochs).toBe(8);
    // With validation, at the rate it ran: 100 images in 10 s an epoch, so 600 at the end take 60 s; 7 epochs of 70 s, not 8.
    const validated = await budgeted({ planned: 4, epochSeconds: () => 60, deadline: 600, val: { images: 100, seconds: 10 }, finalImages: 600 });
    expect(validated.result.epochs).toBe(7);
    expect(validated.seconds + 60 + SAVE_SECONDS).toBeLessThanOrEqual(600);
    expect((await budgeted({ planned: 4, epochSeconds: () => 60, deadline: 600, val: { images: 100, seconds: 10 } })).result.epochs).toBe(8);
  });

  it('decides the same on every replica from the figures they agree on', async () => {
    const one = await budgeted({ planned: 8, epochSeconds: () => 100, deadline: 500 });
    const two = await budgeted({ planned: 8, epochSeconds: () => 100, deadline: 500, replicas: 2 });
    expect(two.result.epochs).toBe(one.result.epochs);
    expect(two.changes).toEqual(one.changes);
  });
});

describe('early stopping under a time budget', () => {
  it('moves the first epoch it may stop at with the run\'s epochs', () => {
    const logs = (epoch: number, valAccuracy: number): EpochLogs => ({ epoch, trainLoss: 1, trainAccuracy: 0.5, seen: 10, learningRate: 0.1, trainSeconds: 1, valLoss: 1, valAccuracy, improved: false });
    // Planned: stop no sooner than epoch 6 of 8. Cut to 4 epochs: no sooner than epoch 3.
    const stopping = new EarlyStopping(1, 6, 8);
    const state = { learningRate: 0.1, stopTraining: false, epochs: 4 };
    stopping.onEpochEnd(logs(0, 0.9), state);
    stopping.onEpochEnd(logs(1, 0.8), state);
    expect(state.stopTraining).toBe(false);
    stopping.onEpochEnd(logs(2, 0.8), state);
    expect(state.stopTraining).toBe(true);
  });
});
