import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BackendInfo, TrainDataStats, TrainProgress } from '../../../src/shared/types';
import * as tf from '@tensorflow/tfjs';
import { chooseBackend } from '../../../src/main/services/tfjs/backends';
import { loadModel } from '../../../src/main/services/tfjs/checkpoint';
import { estimateStages, type CostModel } from '../../../src/main/services/training/estimates';
import { annealedFrom, makePlan } from '../../../src/main/services/training/plan';
import { listRuns, runDetails } from '../../../src/main/services/training/records';
import { runTraining, trainingBackends } from '../../../src/main/services/training/train';
import { Project } from '../../../src/main/store/project';
import { onCleanup, repoRoot, tempDir } from '../../helpers';
import { makePatternProject, storedMatchSavedModel } from './train-helpers';
import { dataStats } from './data-stats';

const wasm: BackendInfo = { name: 'wasm', available: true, reason: 'test', device: 'cpu' };
const cost: CostModel = { cores: 2, forwardMacs: () => 1e6 };

const stats = (over: Partial<TrainDataStats> = {}) =>
  dataStats({ medianWidth: 28, medianHeight: 28, greyscale: true, ...over }, { train: 800, val: 100, test: 100 });

async function patternProject(perClass = 60, size = 16): Promise<Project> {
  const dir = path.join(tempDir(), 'patterns.loupe');
  await makePatternProject(dir, { perClass, size });
  const project = Project.open(dir);
  onCleanup(() => project.close());
  return project;
}

const fast = { arch: 'cnn-small', epochs: 4, batchSize: 16, seed: 7, workers: 2 } as const;

describe('one-click plan', () => {
  it('picks a small CNN without flips for small greyscale images, and explains it', () => {
    const plan = makePlan(stats(), wasm, cost);
    expect(plan.config).toMatchObject({ arch: 'cnn-small', width: 28, height: 28, channels: 1 });
    expect(plan.config.augmentation.flip).toBe(false);
    expect(plan.config.augmentation.shift).toBeGreaterThan(0);
    expect(plan.blocker).toBeNull();
    expect(plan.estimatedSeconds).toBeGreaterThan(0);
    expect(plan.explanation.join(' ')).toMatch(/no flips/);
  });

  it('picks a residual net with flips and a bounded input size for colour photos', () => {
    const plan = makePlan(stats({ greyscale: false, medianWidth: 640, medianHeight: 480 }), wasm, cost);
    expect(plan.config).toMatchObject({ arch: 'resnet-small', width: 64, height: 64, channels: 3 });
    expect(plan.config.augmentation.flip).toBe(true);
    // It learned from mirror images, so it predicts from both.
    expect(plan.config.flipAverage).toBe(true);
    expect(plan.explanation.join(' ')).toMatch(/Predictions average each image and its mirror image/);
    // Without flips (greyscale, or turned off in Advanced settings) it predicts from the image alone.
    expect(makePlan(stats(), wasm, cost).config.flipAverage).toBeUndefined();
    const unflipped = makePlan(stats({ greyscale: false, medianWidth: 640, medianHeight: 480 }), wasm, cost, { augmentation: { flip: false } });
    expect(unflipped.config.flipAverage).toBeUndefined();
    expect(unflipped.explanation.join(' ')).not.toMatch(/mirror image/);
  });

  it('counts the mirror images in the time evaluation takes', () => {
    const photos = stats({ greyscale: false, medianWidth: 32, medianHeight: 32 });
    const measured = { ...cost, imagesPerSecond: 400 };
    const { config } = makePlan(photos, wasm, measured, { epochs: 10 });
    expect(config.flipAverage).toBe(true);
    const flipped = estimateStages(config, photos, 2, wasm, measured);
    const plain = estimateStages({ ...config, flipAverage: undefined }, photos, 2, wasm, measured);
    // Validation every epoch and the final val and test passes run twice: the extra images go
    // forward only, at a third of the cost of a training image.
    const extra = photos.val * 10 + photos.val + photos.test;
    expect(flipped.trainSeconds - plain.trainSeconds).toBeCloseTo(extra / (3 * 400), 9);
  });

  it('applies overrides (the seed articles\' SGD with StepLR) and says it cannot train one class', () => {
    const plan = makePlan(stats(), wasm, cost, { optimizer: 'sgd', schedule: { kind: 'step', stepSize: 5 }, epochs: 20, arch: 'lenet' });
    expect(plan.config).toMatchObject({ optimizer: 'sgd', arch: 'lenet', epochs: 20, schedule: { kind: 'step', stepSize: 5, gamma: 0.1 } });
    const one = makePlan(stats({ classes: [{ id: 1, name: 'a', train: 10, val: 1, test: 1 }] }), wasm, cost);
    expect(one.blocker).toMatch(/at least two/);
  });

  it('caps epochs so one click finishes within its budget at the measured speed', () => {
    const big = stats({ train: 45_000, val: 5_000, classes: [{ id: 1, name: 'a', train: 22_500, val: 2_500, test: 5_000 }, { id: 2, name: 'b', train: 22_500, val: 2_500, test: 5_000 }] });
    const slow = makePlan(big, wasm, { ...cost, imagesPerSecond: 400 });
    // 20 min, less preparing the 60,000 images (60 s) and the final test (15,000 images at 1,200/s, and saving), in epochs of 45,000/400 + 5,000/1,200 s.
    expect(slow.config.epochs).toBe(9);
    // The run fits them again after its first epoch, between the fewest worth running and what 45,000 images are worth.
    expect(slow.config.timeBudget).toEqual({ seconds: 20 * 60, minEpochs: 5, maxEpochs: 11 });
    expect(slow.explanation.join(' ')).toMatch(/fits in about 20 min at the 400 images\/s measured here/);
    expect(slow.estimatedSeconds).toBeLessThan(20 * 60 + 60);
    // What 45,000 images are worth: about 7,500 steps of 64 (plan-walltime.test.ts).
    expect(makePlan(big, wasm, { ...cost, imagesPerSecond: 20_000 }).config.epochs).toBe(11);
    // Epochs set in Advanced settings stand: no budget to fit them to.
    const forced = makePlan(big, wasm, { ...cost, imagesPerSecond: 400 }, { epochs: 40 });
    expect(forced.config.epochs).toBe(40);
    expect(forced.config.timeBudget).toBeUndefined();
    // Small data plans its quick answer and keeps it: no budget either.
    expect(makePlan(stats(), wasm, { ...cost, imagesPerSecond: 400 }).config.timeBudget).toBeUndefined();
  });

  it('chooses the best available backend and refuses an unavailable one that was asked for', async () => {
    const probes = await trainingBackends();
    expect(probes.map((p) => p.name)).toEqual(['tensorflow', 'webgpu', 'onnxruntime', 'wasm', 'cpu']);
    expect(probes.find((p) => p.name === 'onnxruntime')?.available).toBe(true);
    const auto = chooseBackend(probes, 'auto');
    expect(auto.available).toBe(true);
    expect(auto.reason.length).toBeGreaterThan(0);
    const unavailable = probes.find((p) => !p.available);
    if (unavailable) expect(chooseBackend(probes, unavailable.name).available).toBe(false);
  });
});

describe.each(['onnxruntime', 'wasm'] as const)('training runs on %s', (backend) => {
  const fast = { arch: 'cnn-small', epochs: 4, batchSize: 16, seed: 7, workers: 2, backend } as const;

  it('learns generated patterns far better than chance and records the run', async () => {
    const project = await patternProject();
    const progress: TrainProgress[] = [];
    const result = await runTraining(project, { ...fast, epochs: 8 }, { onProgress: (_d, _t, _p, detail) => detail && progress.push(detail) });
    expect(result.status).toBe('completed');
    expect(result.backend).toBe(backend);
    expect(result.testAccuracy).toBeGreaterThan(0.8); // chance is 1/3
    expect(progress.some((p) => p.batch > 0 && p.trainLoss !== null)).toBe(true);

    const details = runDetails(project.db, result.runId);
    expect(details.history).toHaveLength(details.epochs);
    expect(details.history[0].valAccuracy).not.toBeNull();
    expect(details.splits.train).toBeGreaterThan(100);
    expect(details.config.seed).toBe(7);
    expect(listRuns(project.db)[0]).toMatchObject({ id: result.runId, best: true, status: 'completed' });
    const stored = project.db.prepare("SELECT count(*) AS n FROM predictions WHERE run_id = ? AND split = 'test'").get(result.runId) as { n: number };
    expect(stored.n).toBe(details.splits.test);
    // The saved model loads and has the run's input shape.
    const model = await loadModel(path.join(project.paths.models, String(result.runId), 'model'));
    expect(model.inputs[0].shape).toEqual([null, 16, 16, 3]);
    // Colour images trained with flips: the model averages each image with its mirror image, so
    // an image and its mirror image get the same probabilities.
    expect(details.config.flipAverage).toBe(true);
    const [same, mirror] = tf.tidy(() => {
      const x = tf.randomUniform([4, 16, 16, 3], 0, 1, 'float32', 5);
      return [model.predict(x) as tf.Tensor, model.predict(tf.reverse(x, 2)) as tf.Tensor];
    });
    const gap = tf.tidy(() => tf.max(tf.abs(tf.sub(same, mirror))).dataSync()[0]);
    expect(gap).toBeLessThan(1e-5);
    tf.dispose([same, mirror]);
    model.dispose();
    // What the run stored (its evaluation averaged the mirror images) is what the saved model predicts.
    await storedMatchSavedModel(project, result.runId);
  });

  it('records the epoch whose weights it saved, and its whole wall time split into preparing and training', async () => {
    const project = await patternProject(30);
    // restoreBest with early stopping: the model is the best epoch's, whenever the run stopped.
    const best = await runTraining(project, { ...fast, epochs: 6, patience: 2, schedule: { kind: 'step', stepSize: 2 } });
    expect(best.kept).toEqual({ epoch: best.bestEpoch, rule: 'best', why: 'the best validation accuracy' });
    // Without restoreBest the model is the last epoch's, whatever the best one was.
    const last = await runTraining(project, { ...fast, epochs: 3, restoreBest: false });
    expect(last.kept).toEqual({ epoch: 3, rule: 'last', why: 'chosen in Advanced settings' });
    for (const result of [best, last]) {
      const run = runDetails(project.db, result.runId);
      expect(run.kept).toEqual(result.kept);
      // The scores are the saved model's: its predictions on val score what the kept epoch scored.
      expect(run.valAccuracy).toBe(run.history[run.kept!.epoch - 1].valAccuracy);
      expect(listRuns(project.db).find((r) => r.id === run.id)).toMatchObject({ kept: result.kept, seconds: result.seconds, prepareSeconds: result.prepareSeconds });
      // The duration is the whole run: preparing the data, then every epoch and more.
      const epochs = run.history.reduce((sum, e) => sum + e.seconds, 0);
      expect(result.prepareSeconds).toBeGreaterThan(0);
      expect(result.trainSeconds).toBeGreaterThan(epochs);
      expect(result.seconds).toBeCloseTo(result.prepareSeconds + result.trainSeconds, 6);
    }
  });

  it('gives the same metrics for the same data, seed and backend', async () => {
    const project = await patternProject(30);
    const a = await runTraining(project, { ...fast, epochs: 2 });
    const b = await runTraining(project, { ...fast, epochs: 2 });
    const strip = (id: number) => runDetails(project.db, id).history.map(({ seconds: _s, imagesPerSecond: _i, ...rest }) => rest);
    expect(strip(b.runId)).toEqual(strip(a.runId));
    expect(b.testAccuracy).toBe(a.testAccuracy);
  });

  it('stops promptly when cancelled and records the run as cancelled', async () => {
    const project = await patternProject(60);
    const controller = new AbortController();
    let abortedAt = 0;
    const result = await runTraining(project, { ...fast, epochs: 200, patience: null }, {
      signal: controller.signal,
      onProgress: (_d, _t, _p, detail) => {
        if (detail && detail.batch > 0 && !abortedAt) {
          abortedAt = performance.now();
          controller.abort();
        }
      },
    });
    expect(performance.now() - abortedAt).toBeLessThan(2000);
    expect(result.status).toBe('cancelled');
    expect(listRuns(project.db)[0].status).toBe('cancelled');
  });

  it('leaves an interrupted run and an intact project when the process is killed', async () => {
    const dir = path.join(tempDir(), 'killed.loupe');
    await makePatternProject(dir, { perClass: 60 });
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/main/cli/run.ts'), 'train', dir, '--epochs', '200', '--no-early-stop'], {
      cwd: repoRoot,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    await new Promise<void>((resolve, reject) => {
      let err = '';
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (/Epoch 1\/200/.test(err)) resolve();
      });
      child.on('exit', (code) => reject(new Error(`train exited early (${code}): ${err}`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const project = Project.open(dir);
    onCleanup(() => project.close());
    expect(project.db.pragma('integrity_check', { simple: true })).toBe('ok');
    const [run] = listRuns(project.db);
    expect(run.status).toBe('interrupted');
    expect(fs.existsSync(path.join(dir, 'project.db'))).toBe(true);
  });
});

describe('one click on small data', () => {
  it('gets near the ceiling of generated data, lets the one-cycle rate anneal before early stopping, and does the same again with the same seed', async () => {
    // Three stripe patterns, 100 greyscale images each: the pattern alone gives the class, so 100% is the ceiling.
    const dir = path.join(tempDir(), 'stripes.loupe');
    await makePatternProject(dir, { perClass: 100, size: 16, greyscale: true, seed: 5 });
    const project = Project.open(dir);
    onCleanup(() => project.close());

    const first = await runTraining(project);
    expect(first.status).toBe('completed');
    const run = runDetails(project.db, first.runId);
    // 240 training images: 40 epochs fit the time one click aims at, at any speed a test machine has.
    const { epochs } = run.config;
    expect(run.config).toMatchObject({ arch: 'cnn-small', schedule: { kind: 'cosine', warmup: 0.25 }, patience: Math.max(3, Math.round(epochs / 4)), patienceFrom: annealedFrom(epochs, 0.25) });
    expect(first.testAccuracy).toBeGreaterThanOrEqual(0.9); // chance is 1/3
    // Validation reaches the ceiling long before the cycle ends: early stopping ends the run, but
    // not while the rate is high; at the first epoch from patienceFrom on that is `patience` past the best.
    expect(first.epochs).toBeLessThan(epochs);
    expect(first.epochs).toBe(Math.max(run.config.patienceFrom!, first.bestEpoch! + run.config.patience!));
    expect(first.kept).toEqual({ epoch: first.bestEpoch, rule: 'best', why: 'the best validation accuracy' });

    // The same plan and seed again (its epochs fixed: the measured speed could differ): the same epochs, stop and metrics.
    const again = await runTraining(project, { epochs });
    const strip = (id: number) => runDetails(project.db, id).history.map(({ seconds: _s, imagesPerSecond: _i, ...rest }) => rest);
    expect(runDetails(project.db, again.runId).config).toEqual(run.config);
    expect(strip(again.runId)).toEqual(strip(first.runId));
    expect(again).toMatchObject({ epochs: first.epochs, bestEpoch: first.bestEpoch, testAccuracy: first.testAccuracy });
  }, 180_000);
});

describe('training replica', () => {
  it('frees every tensor it allocates over a run', async () => {
    const project = await patternProject(20);
    const tf = await import('@tensorflow/tfjs');
    const { trainingData } = await import('../../../src/main/services/training/dataset');
    const { ensurePixelPack } = await import('../../../src/main/services/pixels/pixel-pack');
    const { runReplica } = await import('../../../src/main/services/training/replica');
    const { activateBackend } = await import('../../../src/main/services/tfjs/backends');
    const { CONTROL_INTS, SLOT_EXTRA } = await import('../../../src/main/services/training/protocol');
    const { makePlan } = await import('../../../src/main/services/training/plan');
    const data = trainingData(project.db);
    const config = makePlan(data.stats, wasm, cost, { ...fast, epochs: 2, workers: 1 }).config;
    const pack = await ensurePixelPack(project, data.items, { width: 16, height: 16, channels: 3, fit: 'cover' });
    const rows = (split: string) => {
      const items = data.items.filter((it) => it.split === split);
      return { rows: Int32Array.from(items, (it) => pack.rows.get(it.hash)!), labels: Int32Array.from(items, (it) => it.label) };
    };
    await activateBackend('wasm');
    const before = tf.memory().numTensors;
    const messages: { type: string }[] = [];
    await runReplica(
      {
        rank: 0,
        replicas: 1,
        backend: 'wasm',
        config,
        classes: data.classes.length,
        pack: { file: pack.file, rowBytes: pack.rowBytes },
        train: rows('train'),
        val: rows('val'),
        test: rows('test'),
        modelDir: path.join(project.paths.models, 'leak'),
        control: new SharedArrayBuffer(CONTROL_INTS * 4),
        exchange: new SharedArrayBuffer(4 * (1_000_000 + SLOT_EXTRA)),
        slotFloats: 1_000_000 + SLOT_EXTRA,
      },
      (msg) => messages.push(msg),
    );
    expect(messages.filter((m) => m.type === 'epoch')).toHaveLength(2);
    expect(tf.memory().numTensors).toBe(before);
  });
});
