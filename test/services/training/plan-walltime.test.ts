// One click from scratch plans for wall time: on small data as many epochs of a one-cycle
// schedule as fit about SMALL_DATA_SECONDS at the measured speed (no fewer than the cycle needs,
// no more than are worth running), on larger data what the data is worth within the budget; early
// stopping waits for the cycle's rate to anneal. Pure: the planner on data statistics.

import { describe, expect, it } from 'vitest';
import type { BackendInfo, TrainDataStats } from '../../../src/shared/types';
import type { CostModel } from '../../../src/main/services/training/estimates';
import { annealedFrom, fewestEpochs, LARGE_DATA_STEPS, makePlan, mostEpochs, SMALL_DATA_SECONDS } from '../../../src/main/services/training/plan';
import { planSummary } from '../../../src/shared/plan-summary';
import { scheduleName, scheduleText, stoppingText } from '../../../src/shared/schedule';
import { dataStats } from './data-stats';

const onnx: BackendInfo = { name: 'onnxruntime', available: true, reason: 'test', device: 'cpu' };
const at = (imagesPerSecond?: number): CostModel => ({ cores: 2, forwardMacs: () => 1e6, imagesPerSecond });

const greyscale = { greyscale: true, medianWidth: 28, medianHeight: 28 };
/** The sample digits as one click sees them: 7,204 training images, 796 held out for validation, 2,000 test. */
const digits: TrainDataStats = dataStats({ ...greyscale, train: 7204, val: 796, test: 2000 }, { train: 720, val: 80, test: 200 }, '0123456789'.split(''));
const sized = (train: number, val = Math.round(train / 9)) => dataStats({ ...greyscale, train, val, test: val }, { train: train / 2, val: val / 2, test: val / 2 });

/** Seconds an epoch takes at `rate`: its training images, and its validation images at a third of a step each. */
const epochSeconds = (stats: TrainDataStats, rate: number) => stats.train / rate + stats.val / (3 * rate);

describe('one click plans small data for wall time', () => {
  it('runs the sample digits for as many one-cycle epochs as fit about 90 s at the measured speed, and says the minutes and why', () => {
    const plan = makePlan(digits, onnx, at(850));
    expect(Math.floor(SMALL_DATA_SECONDS / epochSeconds(digits, 850))).toBe(10);
    expect(plan.config).toMatchObject({ arch: 'cnn-small', epochs: 10, batchSize: 64, optimizer: 'adam', learningRate: 0.005, schedule: { kind: 'cosine', warmup: 0.25 } });
    const why = plan.explanation.join('\n');
    expect(why).toContain(
      '10 epochs: about 88 s at the 850 images/s measured here; one click aims at about 90 s of training on fewer than 10,000 images, to show soon whether the labels work, ' +
        'and a one-cycle schedule gets near its best in 8 or more (30 would take about 4 min; set more in Advanced settings).',
    );
    expect(why).toContain(
      "One cycle: Adam's rate rises from zero to 0.005 (higher than the 0.002 a run without warm-up holds; batch norm keeps it stable) over the first 2.5 epochs, then follows a cosine down to zero",
    );
    // Without batch norm the cycle peaks at the steady rate.
    const mlp = makePlan(digits, onnx, at(850), { arch: 'mlp' });
    expect(mlp.config).toMatchObject({ learningRate: 0.002, schedule: { kind: 'cosine', warmup: 0.25 } });
    expect(mlp.explanation.join('\n')).toContain("One cycle: Adam's rate rises from zero to 0.002 over the first");
    // The estimate is the epochs, validation and test at that speed, and preparing the images.
    expect(plan.estimatedSeconds).toBeGreaterThan(10 * epochSeconds(digits, 850));
    expect(plan.estimatedSeconds).toBeLessThan(120);
    expect(planSummary(plan).headline).toMatch(/— about 2 min on this machine\.$/);
  });

  it('takes more epochs on a faster machine (up to what the data is worth) and never fewer than the cycle needs on a slower one', () => {
    const fast = makePlan(digits, onnx, at(2000));
    expect(fast.config.epochs).toBe(Math.floor(SMALL_DATA_SECONDS / epochSeconds(digits, 2000)));
    expect(fast.config.epochs).toBe(24);
    const fastest = makePlan(digits, onnx, at(20_000));
    expect(fastest.config.epochs).toBe(30);
    expect(fastest.explanation.join('\n')).toContain('30 epochs: 7,204 training images; fewer images need more passes, and 30 take only about 11 s at the 20,000 images/s measured here.');
    const slow = makePlan(digits, onnx, at(200));
    expect(slow.config.epochs).toBe(8);
    expect(slow.explanation.join('\n')).toMatch(
      /^8 epochs: the fewest in which a one-cycle schedule gets near its best on 7,204 training images; about 5 min at the 200 images\/s measured here \(one click aims at about 90 s .*; this machine is slower than that allows\)\.$/m,
    );
    // Unmeasured (the first draft of a plan, or a backend that cannot be timed): the fewest.
    expect(makePlan(digits, onnx, at()).config.epochs).toBe(8);
  });

  it('gives fewer images more passes: the cycle needs about 500 steps, up to 40 epochs', () => {
    expect(fewestEpochs(7204, 64)).toBe(8);
    expect(fewestEpochs(2000, 64)).toBe(16); // 32 steps an epoch
    expect(fewestEpochs(1000, 64)).toBe(30); // capped at what 1,000 to 9,999 images are worth
    expect(fewestEpochs(300, 32)).toBe(40);
    // 300 images take seconds an epoch: all 40 passes fit the time aimed at, even on a slow machine.
    expect(makePlan(sized(300), onnx, at(200)).config).toMatchObject({ epochs: 40, batchSize: 32 });
  });

  it('keeps larger data on what it is worth within the 20-minute budget, with the same one-cycle schedule', () => {
    // Fashion-MNIST: 54,000 training images and 6,000 held out, at the speed measured on the sample digits.
    const fashion = sized(54_000, 6000);
    // 844 steps an epoch: 9 epochs make the 7,500 or so steps a one-cycle run on larger data is worth.
    expect(mostEpochs(54_000)).toBe(Math.ceil(LARGE_DATA_STEPS / 844));
    expect(mostEpochs(54_000)).toBe(9);
    const plan = makePlan(fashion, onnx, at(1250));
    expect(plan.config).toMatchObject({ epochs: 9, schedule: { kind: 'cosine', warmup: 0.25 } });
    expect(plan.explanation.join('\n')).toContain(
      '9 epochs: 7,596 steps of 64 images, about the 7,500 a one-cycle run on larger data is worth (more epochs gained Fashion-MNIST under half a point) (about 7 min at the 1,250 images/s measured here).',
    );
    // The 8 minutes on the 2-core machine at the speed measured there, preparing and testing included.
    expect(plan.estimatedSeconds).toBeLessThan(8 * 60);
    // Fewer, larger epochs are worth fewer passes, never under 5 nor over 15; CIFAR-10's 45,000 images 11.
    expect(mostEpochs(45_000)).toBe(11);
    expect(mostEpochs(500_000)).toBe(5);
    expect(mostEpochs(10_000)).toBe(15);
    const slow = makePlan(fashion, onnx, at(400));
    // The budget is the whole run's: preparing the 66,000 images (66 s) and the final test (12,000 images at 1,200/s, and saving) come out of it.
    expect(slow.config.epochs).toBe(Math.floor((20 * 60 - 66 - 10 - 3) / epochSeconds(fashion, 400)));
    expect(slow.config.epochs).toBe(8);
    expect(slow.explanation.join('\n')).toMatch(
      /^8 epochs: what fits in about 20 min at the 400 images\/s measured here, preparing the images and the final test included \(9 would take about 2\d min\); set more in Advanced settings\. After the first epoch the run fits its epochs again \(5 to 9\) to the speed that epoch shows\.$/m,
    );
    expect(slow.estimatedSeconds).toBeLessThanOrEqual(20 * 60);
    // So slow that even the fewest epochs worth running take longer than the budget: says so, rather than that they fit.
    const crawl = makePlan(fashion, onnx, at(90));
    expect(crawl.config.epochs).toBe(5);
    expect(5 * epochSeconds(fashion, 90)).toBeGreaterThan(20 * 60);
    expect(crawl.explanation.join('\n')).toMatch(
      /^5 epochs: the fewest worth running; about 5\d min at the 90 images\/s measured here, longer than the 20 min one click aims at \(9 would take about \d+ min\); a smaller input size or a backbone in Advanced settings trains faster\. After the first epoch .*$/m,
    );
    expect(crawl.explanation.join('\n')).not.toContain('what fits in about 20 min');
  });
});

describe('one click on colour images from scratch', () => {
  /** CIFAR-10 as one click sees it: 45,000 training images of 32x32 in colour, 5,000 held out, 10,000 test. */
  const cifar = dataStats({ greyscale: false, medianWidth: 32, medianHeight: 32 }, { train: 4500, val: 500, test: 1000 }, 'abcdefghij'.split(''));

  it('trains the ResNet in batches of 32, says why, and keeps the passes larger data is worth in steps of 64', () => {
    // At 324 images/s (a fast day's timing, bench/README.md): the budget, not the batch, limits the epochs.
    const plan = makePlan(cifar, onnx, at(324));
    expect(plan.config).toMatchObject({ arch: 'resnet-small', batchSize: 32, timeBudget: { maxEpochs: 11 } });
    // 149 s an epoch (validation twice, flip-averaged); preparing 60,000 images, the final evaluation and saving take 94 s.
    expect(plan.config.epochs).toBe(7);
    const why = plan.explanation.join('\n');
    expect(why).toContain('Batches of 32: this ResNet trains as many images a second in batches of 32 as of 64, and twice the steps learn more');
    // Fast enough for all it is worth: the passes counted in steps of 64, and the run's own steps beside them.
    const fastest = makePlan(cifar, onnx, at(5000));
    expect(fastest.config.epochs).toBe(11);
    expect(fastest.explanation.join('\n')).toContain('11 epochs: 7,744 steps of 64 images (15,477 of the 32 this run takes), about the 7,500 a one-cycle run on larger data is worth');
    // Advanced settings' batch stands, without the reason for 32.
    const forced = makePlan(cifar, onnx, at(324), { batchSize: 64 });
    expect(forced.config.batchSize).toBe(64);
    expect(forced.config.timeBudget?.maxEpochs).toBe(11);
    expect(forced.explanation.join('\n')).not.toContain('Batches of 32');
    // Greyscale data keeps its small CNN in batches of 64.
    expect(makePlan(digits, onnx, at(850)).config).toMatchObject({ arch: 'cnn-small', batchSize: 64 });
  });
});

describe('early stopping in a one-cycle run', () => {
  it('may end a run only from the epoch whose rate is down to a quarter of its peak', () => {
    // A quarter of the peak: three quarters of the way through, past the warm-up over the first quarter.
    expect(annealedFrom(10, 0.25)).toBe(8);
    expect(annealedFrom(8, 0.25)).toBe(6);
    expect(annealedFrom(30, 0.25)).toBe(23);
    expect(annealedFrom(1, 0.25)).toBe(1);
  });

  it('plans patience from that epoch on, says so, and says when the cycle is too short for it to end the run early', () => {
    const long = makePlan(sized(1500), onnx, at(20_000));
    expect(long.config).toMatchObject({ epochs: 30, patience: 8, patienceFrom: 23 });
    expect(long.explanation.join('\n')).toContain(
      'Early stopping after 8 epochs without a better validation accuracy, only once the rate is down to a quarter of its peak (from epoch 23), so it never cuts the cycle short while the rate is high; the best epoch is kept.',
    );
    expect(planSummary(long).choices.join(' ')).toContain('30 passes over the 1,500 training images; the pass with the best validation score is kept; from pass 23 on, it stops early after 8 passes without improving.');
    expect(stoppingText(long.config)).toBe('after 8 epochs without progress, from epoch 23');

    const short = makePlan(digits, onnx, at(850));
    expect(short.config).toMatchObject({ epochs: 10, patience: 3, patienceFrom: 8 });
    expect(short.explanation.join('\n')).toContain('(from epoch 8), so it never cuts the cycle short');
    const eight = makePlan(digits, onnx, at(200));
    expect(eight.config).toMatchObject({ epochs: 8, patience: 3, patienceFrom: 6 });
    expect(eight.explanation.join('\n')).toContain('from epoch 6');
    const tooShort = makePlan(digits, onnx, at(850), { epochs: 4 });
    expect(tooShort.config).toMatchObject({ epochs: 4, patience: 3, patienceFrom: 3 });
    expect(tooShort.explanation.join('\n')).toContain('4 epochs are too few for it to end the run early, so the cycle runs out');
    expect(planSummary(tooShort).choices.join(' ')).not.toMatch(/stops early/);
  });
});

describe('Advanced settings still force epochs, schedule, rate and stopping', () => {
  it('follows each of them over the wall-time plan', () => {
    expect(makePlan(digits, onnx, at(850), { epochs: 30 }).config.epochs).toBe(30);
    // An explicit cosine is the plain one (no warm-up, so the steady rate), without early stopping, as before.
    const cosine = makePlan(digits, onnx, at(850), { schedule: { kind: 'cosine' } });
    expect(cosine.config).toMatchObject({ schedule: { kind: 'cosine' }, patience: null, learningRate: 0.002 });
    expect(cosine.config.schedule).not.toHaveProperty('warmup');
    expect(cosine.config).not.toHaveProperty('patienceFrom');
    expect(scheduleName(cosine.config.schedule)).toBe('cosine');
    // Step decay stops from the first epoch on, as early stopping always did.
    const step = makePlan(digits, onnx, at(850), { schedule: { kind: 'step' }, learningRate: 0.002 });
    expect(step.config).toMatchObject({ schedule: { kind: 'step', stepSize: 3, gamma: 0.1 }, learningRate: 0.002, patience: 3 });
    expect(step.config).not.toHaveProperty('patienceFrom');
    // A rate set in Advanced settings is the cycle's peak; patience off means no early stopping.
    const set = makePlan(digits, onnx, at(850), { learningRate: 0.01, patience: null });
    expect(set.config).toMatchObject({ learningRate: 0.01, schedule: { kind: 'cosine', warmup: 0.25 }, patience: null });
    expect(set.explanation.join('\n')).toContain("Adam's rate rises from zero to 0.01 (Advanced settings)");
    const patience = makePlan(digits, onnx, at(850), { patience: 2 });
    expect(patience.config).toMatchObject({ patience: 2, patienceFrom: 8 });
    expect(patience.explanation.join('\n')).toContain('Early stopping after 2 epochs without a better validation accuracy (Advanced settings), only once the rate is down');
    expect(makePlan(digits, onnx, at(850), { optimizer: 'sgd' }).config).toMatchObject({ learningRate: 0.05, schedule: { kind: 'cosine', warmup: 0.25 } });
  });

  it('names the schedule the same in the studio and the CLI', () => {
    const plan = makePlan(digits, onnx, at(850));
    expect(scheduleName(plan.config.schedule)).toBe('one-cycle');
    expect(scheduleText(plan.config.schedule)).toBe('one cycle: rises from zero over the first 25% of steps, then cosine down to zero');
    expect(scheduleText({ kind: 'step', stepSize: 1, gamma: 0.5 })).toBe('step: ×0.5 every 1 epoch');
    expect(stoppingText({ patience: null })).toBe('off');
    expect(stoppingText({ patience: 1 })).toBe('after 1 epoch without progress');
  });
});
