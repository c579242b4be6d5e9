// Transfer learning end to end on a tiny generated backbone: one click picks it for colour
// photos (and says why), falls back to training from scratch without one (and says why), trains
// a head on features extracted once and cached (reused by the next run; extended when an image
// is added; thrown away when the backbone's files change), stores predictions, suggests labels,
// and exports one ONNX graph (backbone + head) that passes the parity check.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackendInfo, TrainDataStats, TrainOverrides, TrainResult } from '../../../src/shared/types';
import { main } from '../../../src/main/cli/index';
import { calibrateExtraction, ensureFeatures, newTimings } from '../../../src/main/services/backbones/extract';
import { recordSpeed } from '../../../src/main/services/backbones/speed';
import { resolveBackbone } from '../../../src/main/services/backbones/locate';
import { exportRun } from '../../../src/main/services/export/export';
import { readQuantization } from '../../../src/main/services/onnx/quantize';
import { inspectOnnx } from '../../../src/main/services/onnx/inspect';
import { runSuggestions } from '../../../src/main/services/evaluation/suggestions';
import { runLabelCheck } from '../../../src/main/services/evaluation/label-check';
import { evaluateRun } from '../../../src/main/services/evaluation/evaluate';
import { listRuns, runDetails } from '../../../src/main/services/training/records';
import { planTraining, runTraining } from '../../../src/main/services/training/train';
import { extractionCost, type ExtractionCost } from '../../../src/main/services/training/estimates';
import type { TrainItem } from '../../../src/main/services/training/dataset';
import { makePlan, transferSuits, type PlanBackbone } from '../../../src/main/services/training/plan';
import { seededRandom } from '../../../src/main/services/rng';
import { Project } from '../../../src/main/store/project';
import { client, finished } from '../../api/api-helpers';
import { makeStudio, onCleanup, tempDir } from '../../helpers';
import { makeTinyBackbone, TINY_ID, writeTinyOnnx, writeTinyRegistry } from '../backbones/backbone-helpers';
import { addBackbone } from '../../../src/main/services/backbones/service';
import { makePatternProject, patternPixels } from './train-helpers';
import { dataStats } from './data-stats';

const saved = { ...process.env };
let source: string;
let work: string;

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-transfer-'));
  source = path.join(work, 'tiny-source');
  await makeTinyBackbone(source);
  const registry = path.join(work, 'backbones.json');
  writeTinyRegistry(registry, source);
  process.env.LOUPE_BACKBONE_REGISTRY = registry;
  process.env.LOUPE_HOME = path.join(work, 'home');
}, 60_000);

afterAll(() => {
  process.env = { ...saved };
  fs.rmSync(work, { recursive: true, force: true });
});

/** A folder holding the tiny backbone, where LOUPE_BACKBONE_DIR finds it. */
function withBackbone(): string {
  const dir = tempDir('loupe-backbone-dir-');
  fs.cpSync(source, path.join(dir, TINY_ID), { recursive: true });
  process.env.LOUPE_BACKBONE_DIR = dir;
  return dir;
}

function withoutBackbone(): void {
  process.env.LOUPE_BACKBONE_DIR = tempDir('loupe-no-backbone-');
}

async function patternProject(options: { perClass?: number; greyscale?: boolean; size?: number } = {}): Promise<Project> {
  const dir = path.join(tempDir(), 'photos.loupe');
  await makePatternProject(dir, { perClass: options.perClass ?? 20, size: options.size ?? 16, greyscale: options.greyscale, seed: 3 });
  const project = Project.open(dir);
  onCleanup(() => project.close());
  return project;
}

/** Adds one new unlabeled (or labeled train) image to a project; returns its hash. */
async function addImage(project: Project, seed: number): Promise<string> {
  const buf = await sharp(patternPixels(1, 16, seededRandom(seed)), { raw: { width: 16, height: 16, channels: 3 } }).png().toBuffer();
  const hash = createHash('sha256').update(buf).digest('hex');
  const file = path.join(project.root, 'media', hash.slice(0, 2), `${hash}.png`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, buf);
  project.db
    .prepare(`INSERT INTO images (hash, ext, format, width, height, channels, bytes, original_name, split, added_at) VALUES (?, 'png', 'png', 16, 16, 3, ?, 'new.png', 'train', 0)`)
    .run(hash, buf.length);
  return hash;
}

function featureRows(project: Project): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of fs.readdirSync(project.paths.cache).filter((n) => n.startsWith('features-'))) {
    const { features } = JSON.parse(fs.readFileSync(path.join(project.paths.cache, name, 'meta.json'), 'utf8')) as { features: number };
    out[name] = fs.statSync(path.join(project.paths.cache, name, 'features.f32')).size / (features * 4);
  }
  return out;
}

const quick = { epochs: 3, seed: 5 } as const;

/** The planner's plan on `backbone` at this extraction cost. */
function transferPlan(stats: TrainDataStats, backend: BackendInfo, backbone: PlanBackbone, cost: ExtractionCost & { cores: number }, overrides: TrainOverrides, why: string) {
  return makePlan(stats, backend, { cores: cost.cores, forwardMacs: () => 0, extraction: cost }, overrides, { kind: 'transfer', backbone, why });
}

describe('the transfer plan', () => {
  const onnx: BackendInfo = { name: 'onnxruntime', available: true, reason: 'test', device: 'cpu' };
  const stats = (over: Partial<TrainDataStats>) => dataStats(over, { train: 900, val: 100, test: 100 });

  it('suits photos, not small greyscale images like digits', () => {
    expect(transferSuits(stats({})).suits).toBe(true);
    const digits = transferSuits(stats({ greyscale: true, medianWidth: 28, medianHeight: 28 }));
    expect(digits.suits).toBe(false);
    expect(digits.why).toMatch(/digits/);
  });

  it('runs the backbone at its native size for photos, smaller for tiny images and for data sets too large to extract in time, flipping while it pays off', () => {
    const backbone = { name: 'b', title: 'B', copy: 'c', fingerprint: 'f', inputSize: 224, resolutions: [96, 128, 160, 192, 224], features: 1024, license: 'x', fineTune: { ok: false as const, why: 'test' } };
    const rate = (r: number) => 30 * (224 / r) ** 2;
    const cost = (images: number) => ({ cores: 2, pending: (_r: number, flip: boolean) => images + (flip ? images * 0.8 : 0), extractRate: rate });
    const photos = transferPlan(stats({ medianWidth: 400, medianHeight: 300 }), onnx, backbone, cost(2200), {}, 'Transfer.');
    expect(photos.config).toMatchObject({ arch: 'dense-head', width: 224, channels: 3, backbone: { resolution: 224, augment: 'flip', features: 1024 } });
    expect(photos.explanation.join(' ')).toMatch(/flipped copies/);
    const tiny = transferPlan(stats({}), onnx, backbone, cost(2200), {}, 'Transfer.');
    expect(tiny.config.backbone).toMatchObject({ resolution: 128, augment: 'flip' });
    expect(tiny.explanation[1]).toMatch(/the images are small \(median 32x32\); upscaled further than about 4x/);
    const large = transferPlan(stats({ train: 50_000, test: 10_000, medianWidth: 400, medianHeight: 300 }), onnx, backbone, cost(60_000), {}, 'Transfer.');
    expect(large.config.backbone).toMatchObject({ resolution: 160, augment: 'none' });
    expect(large.explanation.join(' ')).toMatch(/60,000 images at 224 px would take about 33 min to extract here; 160 px takes about 17 min/);
    expect(large.estimatedSeconds).toBeGreaterThan(10);
  });

  it('keeps the best validation epoch only when there are enough validation images to tell', () => {
    const backbone = { name: 'b', title: 'B', copy: 'c', fingerprint: 'f', inputSize: 224, resolutions: [128, 224], features: 1024, license: 'x', fineTune: { ok: false as const, why: 'test' } };
    const cost = { cores: 2, pending: () => 0, extractRate: () => 100 };
    const few = transferPlan(stats({ val: 200 }), onnx, backbone, cost, {}, 'Transfer.');
    expect(few.config.restoreBest).toBe(false);
    expect(few.explanation.join(' ')).toMatch(/the last epoch is kept: 200 validation images are too few to pick a better one \(one image is 0\.5 points\)/);
    const many = transferPlan(stats({ train: 45_000, val: 5_000 }), onnx, backbone, cost, {}, 'Transfer.');
    expect(many.config.restoreBest).toBe(true);
    expect(many.explanation.join(' ')).toMatch(/the epoch with the best validation accuracy is kept\./);
    const forced = transferPlan(stats({ val: 200 }), onnx, backbone, cost, { restoreBest: true }, 'Transfer.');
    expect(forced.config.restoreBest).toBe(true);
    expect(forced.explanation.join(' ')).toMatch(/best validation accuracy is kept \(Advanced settings\)/);
  });
});

describe('one click with a backbone', () => {
  it('trains a head on cached features, stores predictions, reuses the cache, and exports one verified ONNX graph, float and int8', async () => {
    withBackbone();
    const project = await patternProject();
    const { plan } = await planTraining(project);
    expect(plan.config.arch).toBe('dense-head');
    expect(plan.config.backbone).toMatchObject({ name: TINY_ID, copy: 'official', resolution: 32, features: 24, augment: 'flip' });
    expect(plan.explanation[0]).toMatch(/^Transfer learning: these look like photos, so TinyNet/);

    const phases: string[] = [];
    const first = await runTraining(project, quick, { onProgress: (done, _t, phase) => done > 0 && phases.push(phase) });
    expect(first).toMatchObject({ status: 'completed', arch: 'dense-head', backbone: TINY_ID });
    expect(phases).toContain('Extracting features (TinyNet)');
    // Few validation images: the model is the last epoch's, and the run says so and why.
    expect(first.kept).toMatchObject({ epoch: first.epochs, rule: 'last', why: expect.stringMatching(/^fewer than 1,000 validation images/) });
    expect(listRuns(project.db)[0].kept).toEqual(first.kept);
    const history = runDetails(project.db, first.runId).history;
    expect(first.valAccuracy).toBe(history[first.epochs - 1].valAccuracy);
    // Its duration includes the feature extraction.
    expect(first.prepareSeconds).toBeGreaterThan(0);
    expect(first.seconds).toBeGreaterThan(first.prepareSeconds + history.reduce((sum, e) => sum + e.seconds, 0));
    expect(listRuns(project.db)[0].backbone).toBe(TINY_ID);
    expect(fs.readdirSync(path.join(project.paths.models, String(first.runId))).sort()).toEqual(['head', 'model']);
    const evaluation = evaluateRun(project.db, first.runId, 'test');
    expect(evaluation.images).toBeGreaterThan(0);
    // 60 images and their mirror images: training draws them, predictions average with them.
    expect(plan.config.backbone?.flipAverage).toBe(true);
    const rows = featureRows(project);
    expect(Object.values(rows)).toEqual([60 + 60]);

    // A second run extracts nothing.
    const again: string[] = [];
    const second = await runTraining(project, { ...quick, seed: 6 }, { onProgress: (done, _t, phase) => done > 0 && again.push(phase) });
    expect(second.status).toBe('completed');
    expect(again.filter((p) => p.startsWith('Extracting'))).toEqual([]);
    expect(featureRows(project)).toEqual(rows);

    // An unlabeled image gets a suggestion through the cached features and the head.
    const hash = await addImage(project, 99);
    const suggested = await runSuggestions(project, first.runId);
    expect(suggested.images).toBe(1);
    expect(Object.values(featureRows(project))).toEqual([60 + 60 + 2]);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);

    // The label check's fold models train heads on the same cached features.
    const check = await runLabelCheck(project, first.runId, { folds: 2, epochs: 1 });
    expect(check.folds).toBe(2);
    expect(Object.values(featureRows(project))).toEqual([60 + 60 + 2]);

    // Export: one ONNX graph from raw pixels to probabilities, checked against TF.js.
    const out = tempDir('loupe-transfer-export-');
    const result = await exportRun(project, { runId: first.runId, format: 'all', dir: out, name: 'tiny' });
    expect(result.status).toBe('completed');
    expect(result.parity).toMatchObject({ against: 'onnxruntime', top1Agreement: 1 });
    expect(result.parity!.maxAbsDiff).toBeLessThan(1e-4);
    const summary = inspectOnnx(fs.readFileSync(path.join(out, 'tiny', 'model.onnx')), 'model.onnx');
    expect(summary.inputs).toEqual([expect.objectContaining({ name: 'pixels', dims: [null, 32, 32, 3] })]);
    expect(summary.outputs[0].dims).toEqual([null, 3]);

    // int8 too: the backbone, the mirror-image pass and the head quantized in the one graph, held to the float model.
    const int8 = await exportRun(project, { runId: first.runId, format: 'onnx-int8', dir: out, name: 'tiny-int8' });
    expect(int8.int8!.top1Agreement).toBeGreaterThanOrEqual(0.99);
    expect(int8.int8!.calibration).toMatchObject({ split: 'train', method: 'minmax' });
    const quantized = readQuantization(fs.readFileSync(path.join(out, 'tiny-int8', 'model-int8.onnx')));
    expect(quantized.weights.length).toBeGreaterThan(2);
    expect(quantized.activations.length).toBeGreaterThan(2);

    // `loupe predict` on raw image files (16 px, resized by the export's preprocessing) gives
    // what the run stored for them: backbone and head in one graph.
    const stored = project.db
      .prepare(
        `SELECT i.hash, i.ext, p.predicted_index AS k, p.confidence FROM predictions p JOIN images i ON i.id = p.image_id
          WHERE p.run_id = ? AND p.split = 'test' ORDER BY i.id LIMIT 4`,
      )
      .all(first.runId) as { hash: string; ext: string; k: number; confidence: number }[];
    const labels = fs.readFileSync(path.join(out, 'tiny', 'labels.txt'), 'utf8').trim().split('\n');
    const printed: string[] = [];
    const io = { out: (t: string) => printed.push(t), err: () => {}, json: (v: unknown) => printed.push(JSON.stringify(v)), interrupted: new Promise<never>(() => {}) };
    const files = stored.map((r) => path.join(project.root, 'media', r.hash.slice(0, 2), `${r.hash}.${r.ext}`));
    expect(await main(['predict', path.join(out, 'tiny'), ...files, '--json'], io)).toBe(0);
    const predicted = JSON.parse(printed[0]) as { predictions: { top: { label: string; probability: number }[]; error: string | null }[] };
    predicted.predictions.forEach((p, i) => {
      expect(p.error).toBeNull();
      expect(p.top[0].label).toBe(labels[stored[i].k]);
      expect(Math.abs(p.top[0].probability - stored[i].confidence)).toBeLessThan(1e-4);
    });
  }, 120_000);

  it('re-extracts when the backbone changes (and drops the old cache), and only the new image when one is added', async () => {
    const dir = tempDir('loupe-own-backbone-');
    const own = path.join(dir, 'mine');
    await makeTinyBackbone(own, 3, 'mine');
    withoutBackbone();
    const project = await patternProject({ perClass: 10 });
    const options = { ...quick, backbone: own, augmentation: { flip: false } };
    const first = await runTraining(project, options);
    expect(first.backbone).toBe(own);
    const before = featureRows(project);
    expect(Object.values(before)).toEqual([30]);

    await addImage(project, 7);
    project.db.prepare("INSERT INTO labels (image_id, class_id, source, updated_at) SELECT max(id), (SELECT min(id) FROM classes), 'user', 0 FROM images").run();
    await runTraining(project, options);
    expect(Object.values(featureRows(project))).toEqual([31]);

    // New weights: a new fingerprint, so new features; the stale cache goes.
    await makeTinyBackbone(own, 2, 'mine');
    await runTraining(project, options);
    const after = featureRows(project);
    expect(Object.keys(after)).toHaveLength(1);
    expect(Object.keys(after)[0]).not.toBe(Object.keys(before)[0]);
    expect(Object.values(after)).toEqual([31]);
  }, 120_000);
});

describe('without a backbone', () => {
  it('trains from scratch and says why', async () => {
    withoutBackbone();
    const project = await patternProject();
    const { plan } = await planTraining(project);
    expect(plan.config.arch).not.toBe('dense-head');
    expect(plan.config.backbone).toBeNull();
    expect(plan.explanation[0]).toMatch(/^From scratch: transfer learning would suit these photos, but no backbone is usable here \(TinyNet is not on this machine\)/);
  });

  it('trains small greyscale images from scratch even with a backbone, and says why', async () => {
    withBackbone();
    const project = await patternProject({ greyscale: true });
    const { plan } = await planTraining(project);
    expect(plan.config.backbone).toBeNull();
    expect(plan.explanation[0]).toMatch(/From scratch: small greyscale images/);
  });

  it('blocks a run that forces a missing backbone, with why', async () => {
    withoutBackbone();
    const project = await patternProject();
    const { plan } = await planTraining(project, { backbone: TINY_ID });
    expect(plan.blocker).toMatch(/TinyNet is not on this machine/);
    await expect(runTraining(project, { backbone: TINY_ID })).rejects.toThrow(/TinyNet is not on this machine/);
  });
});

describe('loupe backbones and loupe train --backbone', () => {
  function io() {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t), json: (v: unknown) => out.push(JSON.stringify(v)), interrupted: new Promise<void>(() => {}) } };
  }

  it('lists the backbones with whether each is here, and trains with a forced one (train --json says which)', async () => {
    withBackbone();
    const listed = io();
    expect(await main(['backbones', '--json'], listed.io)).toBe(0);
    const { backbones } = JSON.parse(listed.out[0]) as { backbones: { name: string; present: boolean }[] };
    expect(backbones).toEqual([expect.objectContaining({ name: TINY_ID, present: true })]);

    const project = await patternProject({ perClass: 10 });
    const root = project.root;
    project.close();
    const scratch = io();
    expect(await main(['train', root, '--backbone', 'none', '--arch', 'mlp', '--epochs', '1', '--json'], scratch.io)).toBe(0);
    expect(JSON.parse(scratch.out.at(-1)!)).toMatchObject({ arch: 'mlp', backbone: null });
    // --plan leads with one plain sentence and the key choices; the internals come after "Details:".
    const planned = io();
    expect(await main(['train', root, '--backbone', TINY_ID, '--epochs', '2', '--plan'], planned.io)).toBe(0);
    expect(planned.out[0]).toMatch(/^Loupe will train a small classifier on what a pretrained image model \(TinyNet\) sees in each photo — about \d+ s on this machine\.$/);
    const details = planned.out.indexOf('Details:');
    expect(details).toBeGreaterThan(2);
    expect(planned.out.slice(0, details).join('\n')).not.toMatch(/onnxruntime|dense-head|Dense head|features at|lr 0/);
    expect(planned.out.slice(details).join('\n')).toMatch(/Plan: transfer learning, Dense head on TinyNet/);
    const transfer = io();
    expect(await main(['train', root, '--backbone', TINY_ID, '--epochs', '2', '--json'], transfer.io)).toBe(0);
    const result = JSON.parse(transfer.out.at(-1)!) as TrainResult;
    expect(result).toMatchObject({ arch: 'dense-head', backbone: TINY_ID, status: 'completed', epochs: 2, kept: { epoch: 2, rule: 'last' } });
    // The whole wall time, extraction included; bestEpoch stays the best validation epoch.
    expect(result.seconds).toBeCloseTo(result.prepareSeconds + result.trainSeconds, 6);
    expect(result.prepareSeconds).toBeGreaterThan(0);
    expect([1, 2]).toContain(result.bestEpoch);
    expect(transfer.err.join('\n')).toMatch(/Plan: transfer learning, Dense head on TinyNet/);
  }, 60_000);
});

describe("the plan's extraction estimate", () => {
  it('is measured through the run\'s own pipeline (flipped copies counted), ahead of a speed of onnxruntime alone, and leaves the cache as it was', async () => {
    withBackbone();
    const home = process.env.LOUPE_HOME;
    process.env.LOUPE_HOME = tempDir('loupe-home-');
    onCleanup(() => {
      process.env.LOUPE_HOME = home;
    });
    // 36 images and their flipped copies: 72 rows, enough for a run to record its rate.
    const project = await patternProject({ perClass: 12 });
    const backbone = resolveBackbone(TINY_ID);
    const items = (project.db.prepare("SELECT id AS imageId, hash, ext, 0 AS label, 'train' AS split FROM images").all() as TrainItem[]);
    // The Backbones panel's speed (onnxruntime alone on decoded pixels) is not what a run does.
    recordSpeed(backbone.fingerprint, { resolution: 32, imagesPerSecond: 1e9, batch: 32, measuredAt: 1 });
    const cost = extractionCost(project, backbone, items, 2);
    expect(cost.pending(32, false)).toBe(36);
    expect(cost.pending(32, true)).toBe(72);
    expect(await cost.calibrate(32, true)).toBe(true);
    const rate = cost.extractRate(32);
    expect(rate).toBeGreaterThan(0);
    expect(rate).toBeLessThan(1e9);
    expect(rate).toBe(await calibrateExtraction(project, backbone, 32, items, { flip: true }));
    // Measured in a scratch folder: the project's cache is untouched and nothing is pending less.
    expect(featureRows(project)).toEqual({});
    expect(cost.pending(32, true)).toBe(72);
    // A run's extraction then records its own rate, which the next plan uses.
    const timings = newTimings();
    await ensureFeatures(project, backbone, 32, items.map((it) => ({ ...it, flip: true })), { batch: 8, timings });
    expect(timings).toMatchObject({ images: 36, backboneImages: 72 });
    expect(timings.run).toBeGreaterThan(0);
    expect(timings.total).toBeGreaterThanOrEqual(timings.run);
    expect(extractionCost(project, backbone, items, 2).extractRate(32)).toBeCloseTo(72 / (timings.total / 1000), 0);
  });
});

describe('feature extraction as its own job', () => {
  it('stops when cancelled and keeps what it extracted', async () => {
    withBackbone();
    const project = await patternProject({ perClass: 10 });
    const controller = new AbortController();
    const images = project.db.prepare('SELECT hash, ext FROM images').all() as { hash: string; ext: string }[];
    await expect(
      ensureFeatures(project, resolveBackbone(TINY_ID), 32, images, { batch: 4, signal: controller.signal, onProgress: () => controller.abort() }),
    ).rejects.toThrow(/Cancelled/);
    const partial = Object.values(featureRows(project))[0];
    expect(partial).toBeGreaterThanOrEqual(4);
    expect(partial).toBeLessThan(30);
    // The next extraction starts from there.
    const progress: number[] = [];
    await ensureFeatures(project, resolveBackbone(TINY_ID), 32, images, { batch: 4, onProgress: (d, t) => progress.push(t) });
    expect(progress[0]).toBe(30 - partial);
    expect(Object.values(featureRows(project))).toEqual([30]);
  });

  it('extracts every image ahead of a run over the API, with progress', async () => {
    withBackbone();
    const dir = path.join(tempDir(), 'photos.loupe');
    await makePatternProject(dir, { perClass: 10, size: 16, seed: 3 });
    const c = client(makeStudio());
    await c.api.openProject({ path: dir });
    expect((await c.api.listBackbones())[0]).toMatchObject({ name: TINY_ID, present: true });
    const { jobId } = await c.api.startFeatureExtraction();
    const job = await finished(c, jobId);
    expect(job).toMatchObject({ kind: 'features', status: 'completed' });
    expect(job.result).toMatchObject({ images: 30, failed: 0 });
    expect(c.events.some((e) => e.name === 'onJobProgress' && (e.payload as { phase: string }).phase === 'Extracting features (TinyNet)')).toBe(true);
    // 30 images and their mirror images (training draws them; predictions average with them).
    const cache = fs.readdirSync(path.join(dir, 'cache')).filter((n) => n.startsWith('features-'));
    expect(cache).toHaveLength(1);
    expect(fs.statSync(path.join(dir, 'cache', cache[0], 'features.f32')).size).toBe(60 * 24 * 4);
  }, 60_000);
});

describe('an ONNX backbone', () => {
  it('trains a head on an added ONNX model\'s features and exports one ONNX graph (ONNX only) that passes the parity check', async () => {
    withoutBackbone();
    const file = path.join(tempDir(), 'nchw.onnx');
    writeTinyOnnx(file, 4);
    await addBackbone({ path: file, output: 'relu_out', size: 16, scale: 2, offset: -1 });
    const project = await patternProject({ perClass: 12 });
    const { plan } = await planTraining(project, { backbone: 'nchw' });
    expect(plan.config.backbone).toMatchObject({ name: 'nchw', resolution: 16, features: 8 });
    expect(plan.explanation.join(' ')).toMatch(/not verified against the registry/);
    const result = await runTraining(project, { backbone: 'nchw', epochs: 3 });
    expect(result).toMatchObject({ status: 'completed', backbone: 'nchw' });
    expect(fs.readdirSync(path.join(project.paths.models, String(result.runId))).sort()).toEqual(['head', 'model.onnx']);

    const out = tempDir('loupe-onnx-export-');
    await expect(exportRun(project, { runId: result.runId, format: 'all', dir: out })).rejects.toThrow(/exports as ONNX only/);
    const exported = await exportRun(project, { runId: result.runId, format: 'onnx', dir: out, name: 'nchw' });
    expect(exported.parity).toMatchObject({ against: 'onnxruntime', top1Agreement: 1 });
    expect(exported.parity!.maxAbsDiff).toBeLessThan(1e-4);
    const summary = inspectOnnx(fs.readFileSync(path.join(out, 'nchw', 'model.onnx')), 'model.onnx');
    expect(summary.inputs).toEqual([expect.objectContaining({ name: 'pixels', dims: [null, 16, 16, 3] })]);
    expect(summary.outputs).toEqual([expect.objectContaining({ name: 'probabilities', dims: [null, 3] })]);
    expect(summary.metadata['loupe.labels']).toBeDefined();
  }, 60_000);
});
