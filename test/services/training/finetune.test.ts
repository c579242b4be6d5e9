// Fine-tuning a transfer run: which blocks a backbone offers (MobileNet v1's real graph) or why
// it cannot (an ONNX graph, naming its operators); the last blocks of MobileNet v1 trained with the
// head on their cached input (image copies extracted once), changing those blocks' weights only; the
// whole of a tiny backbone trained from pixels; each saved as one TF.js model that evaluates and
// exports to ONNX and TF.js passing the parity check.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fineTuneSupport } from '../../../src/main/services/backbones/blocks';
import { backboneFeatureFiles, ensureFeatures, variantKey, type FeaturePack } from '../../../src/main/services/backbones/extract';
import { resolveBackbone, type ResolvedBackbone } from '../../../src/main/services/backbones/locate';
import { readTfjsFolder, type LayersFiles } from '../../../src/main/services/backbones/tfjs-model';
import { evaluateRun } from '../../../src/main/services/evaluation/evaluate';
import { exportRun } from '../../../src/main/services/export/export';
import { runDetails } from '../../../src/main/services/training/records';
import { prepareCut } from '../../../src/main/services/training/finetune';
import { runTraining } from '../../../src/main/services/training/train';
import type { TrainConfig } from '../../../src/shared/types';
import { Project } from '../../../src/main/store/project';
import { onCleanup, tempDir } from '../../helpers';
import { makeTinyBackbone, TINY_ID, writeTinyRegistry } from '../backbones/backbone-helpers';
import { makePatternProject, storedMatchSavedModel } from './train-helpers';

const MODELS = '/work/shared/models';
const saved = { ...process.env };
let work: string;

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-finetune-'));
  process.env.LOUPE_HOME = path.join(work, 'home');
});

afterAll(() => {
  process.env = { ...saved };
  fs.rmSync(work, { recursive: true, force: true });
});

async function patternProject(perClass: number): Promise<Project> {
  const dir = path.join(tempDir(), 'photos.loupe');
  await makePatternProject(dir, { perClass, size: 16, seed: 3 });
  const project = Project.open(dir);
  onCleanup(() => project.close());
  return project;
}

/** Every weight of a TF.js model by its layer and weight name (TF.js may suffix repeated names with _1). */
function weightsOf(files: LayersFiles): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  let offset = 0;
  for (const spec of files.json.weightsManifest.flatMap((g) => g.weights) as { name: string; shape: number[] }[]) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const slash = spec.name.lastIndexOf('/');
    const key = `${spec.name.slice(0, slash).split('/').pop()}/${spec.name.slice(slash + 1).replace(/_\d+$/, '')}`;
    out.set(key, new Float32Array(files.weights.slice(offset, offset + n * 4).buffer));
    offset += n * 4;
  }
  return out;
}

const differs = (a: Float32Array, b: Float32Array) => a.some((v, i) => v !== b[i]);

/** Exports the run as ONNX and TF.js and checks the ONNX graph against the TF.js model. */
async function exportsVerified(project: Project, runId: number, name: string): Promise<void> {
  const out = tempDir('loupe-finetune-export-');
  const result = await exportRun(project, { runId, format: 'all', dir: out, name });
  expect(result.status).toBe('completed');
  expect(result.parity).toMatchObject({ against: 'onnxruntime', top1Agreement: 1 });
  expect(result.parity!.maxAbsDiff).toBeLessThan(1e-4);
  expect(fs.existsSync(path.join(out, name, 'model.onnx'))).toBe(true);
  expect(fs.existsSync(path.join(out, name, 'tfjs', 'model.json')) || fs.readdirSync(path.join(out, name)).some((f) => f.includes('tfjs'))).toBe(true);
}

describe('fineTuneSupport', () => {
  it('offers MobileNet v1 cut after each pointwise block, with the cached floats and the trained multiply-adds at 224 px', () => {
    process.env.LOUPE_BACKBONE_DIR = MODELS;
    delete process.env.LOUPE_BACKBONE_REGISTRY;
    const support = fineTuneSupport(resolveBackbone('mobilenet_v1'));
    if (!support.ok) throw new Error(support.why);
    expect(support.cuts.map((c) => c.cutLayer)).toEqual(Array.from({ length: 11 }, (_, i) => `conv_pw_${11 - i}_relu`));
    // The last block: depthwise 3x3 at stride 2 on 14x14x512, then pointwise 512 -> 1024 at 7x7.
    expect(support.cuts[0]).toEqual({ blocks: 1, cutLayer: 'conv_pw_11_relu', floatsAtNative: 14 * 14 * 512, macsAtNative: 7 * 7 * 512 * 9 + 7 * 7 * 512 * 1024 });
    expect(support.cuts[1]).toMatchObject({ blocks: 2, cutLayer: 'conv_pw_10_relu', floatsAtNative: 14 * 14 * 512 });
    expect(support.cuts[1].macsAtNative).toBe(support.cuts[0].macsAtNative + 14 * 14 * 512 * 9 + 14 * 14 * 512 * 512);
    // The whole backbone: the 3x3 stem's 112x112x32 outputs and more, about 0.52 G multiply-adds.
    expect(support.macsAtNative).toBeGreaterThan(support.cuts[10].macsAtNative + 112 * 112 * 27 * 32);
    expect(support.macsAtNative).toBeLessThan(5.3e8);
  });

  it('says which operators of an ONNX backbone the training compiler has no gradient for', () => {
    const file = path.join(tempDir(), 'hardswish.onnx');
    const T = onnxProto.onnx.TensorProto.DataType.FLOAT;
    const node = (opType: string, input: string[], output: string) => ({ opType, input, output: [output], name: output });
    const model = onnxProto.onnx.ModelProto.create({
      irVersion: 7,
      opsetImport: [{ domain: '', version: 14 }],
      graph: {
        name: 'g',
        input: [{ name: 'x', type: { tensorType: { elemType: T, shape: { dim: [{ dimValue: 1 }, { dimValue: 3 }, { dimValue: 8 }, { dimValue: 8 }] } } } }],
        output: [{ name: 'y', type: { tensorType: { elemType: T } } }],
        node: [node('Conv', ['x', 'w'], 'c'), node('HardSigmoid', ['c'], 'h'), node('Mul', ['c', 'h'], 'm'), node('Conv', ['m', 'w2'], 'c2'), node('HardSigmoid', ['c2'], 'h2'), node('GlobalAveragePool', ['h2'], 'y')],
      },
    });
    fs.writeFileSync(file, onnxProto.onnx.ModelProto.encode(model).finish());
    const backbone = { name: 'hs', title: 'HardSwishNet', format: 'onnx', location: file, featureLayer: 'y', inputSize: 8 } as ResolvedBackbone;
    const support = fineTuneSupport(backbone);
    expect(support.ok).toBe(false);
    if (support.ok) return;
    expect(support.why).toMatch(/^HardSwishNet is an ONNX graph; Loupe's training compiler trains TensorFlow\.js layer models/);
    expect(support.why).toMatch(/gradients for these operators, which the compiler has none for: HardSigmoid \(2\), Mul \(1\)\.$/);
  });
});

/** The tiny MobileNet-shaped backbone (backbone-helpers.ts), alone in its registry and backbone folder. */
async function withTinyBackbone(): Promise<void> {
  const source = path.join(work, 'tiny-source');
  if (!fs.existsSync(source)) await makeTinyBackbone(source);
  const registry = path.join(work, 'backbones.json');
  writeTinyRegistry(registry, source);
  process.env.LOUPE_BACKBONE_REGISTRY = registry;
  const dir = tempDir('loupe-backbone-dir-');
  fs.cpSync(source, path.join(dir, TINY_ID), { recursive: true });
  process.env.LOUPE_BACKBONE_DIR = dir;
}

describe('the cut cache', () => {
  it("holds each image's copies (mirror image, shifted crops) at the cut layer, the same whatever order the images come in", async () => {
    await withTinyBackbone();
    const backbone = resolveBackbone(TINY_ID);
    const rowsOf = async (order: 'forward' | 'reverse') => {
      const project = await patternProject(3);
      const images = project.db.prepare('SELECT hash, ext FROM images ORDER BY id').all() as { hash: string; ext: string }[];
      const list = (order === 'forward' ? images : [...images].reverse()).map((im) => ({ ...im, copies: [1, 2, 3] }));
      const pack = await ensureFeatures(project, backbone, 32, list, { cut: 'conv_pw_1_relu', batch: 4 });
      const fd = fs.openSync(pack.file, 'r');
      const row = (key: string) => {
        const buf = Buffer.alloc(pack.rowBytes);
        fs.readSync(fd, buf, 0, pack.rowBytes, pack.rows.get(key)! * pack.rowBytes);
        return buf;
      };
      const out = new Map(images.flatMap((im) => [0, 1, 2, 3].map((k) => [variantKey(im.hash, k), row(variantKey(im.hash, k))] as const)));
      fs.closeSync(fd);
      return { pack, out, hashes: images.map((im) => im.hash) };
    };
    const a = await rowsOf('forward');
    const b = await rowsOf('reverse');
    // The tiny backbone's conv_pw_1_relu at 32 px: 16x16x16.
    expect((a.pack as FeaturePack).shape).toEqual([16, 16, 16]);
    expect(a.out.size).toBe(a.hashes.length * 4);
    for (const [key, bytes] of a.out) expect(bytes.equals(b.out.get(key)!)).toBe(true);
    for (const hash of a.hashes) {
      const copies = [0, 1, 2, 3].map((k) => a.out.get(variantKey(hash, k))!);
      for (let i = 0; i < 4; i++) for (let j = i + 1; j < 4; j++) expect(copies[i].equals(copies[j])).toBe(false);
    }
  }, 60_000);
});

describe("a run's cut cache", () => {
  it('holds what the run reads: each training image once when it has one variant, the others with their mirror images where predictions average them', async () => {
    await withTinyBackbone();
    const backbone = resolveBackbone(TINY_ID);
    const project = await patternProject(3);
    const images = project.db.prepare('SELECT hash, ext FROM images ORDER BY id').all() as { hash: string; ext: string }[];
    const items = images.map((im, i) => ({ ...im, split: i % 3 === 0 ? 'test' : i % 3 === 1 ? 'val' : 'train' }));
    const config = (variants: number) =>
      ({
        backbone: {
          name: TINY_ID,
          title: backbone.title,
          copy: backbone.copy,
          fingerprint: backbone.fingerprint,
          resolution: 32,
          features: backbone.features,
          augment: 'flip',
          flipAverage: true,
          fineTune: { mode: 'blocks', cutLayer: 'conv_pw_1_relu', blocks: 1, backboneLrScale: 0.1, headEpochs: 1, variants, frozenBatchNorm: true },
        },
      }) as TrainConfig;
    const train = items.filter((it) => it.split === 'train');
    const others = items.filter((it) => it.split !== 'train');
    const once = await prepareCut(project, config(1), items);
    // No training image's mirror image: with one variant nothing reads it.
    expect(train.every((it) => once.pack.rows.has(it.hash) && !once.pack.rows.has(variantKey(it.hash, 1)))).toBe(true);
    expect(others.every((it) => once.pack.rows.has(it.hash) && once.pack.rows.has(variantKey(it.hash, 1)))).toBe(true);
    expect(once.pack.rows.size).toBe(train.length + 2 * others.length);
    expect(once.splitRows(train.map((it) => ({ hash: it.hash, label: 0 })), true).variantRows).toEqual(Int32Array.from(train, (it) => once.pack.rows.get(it.hash)!));
    // Two variants: the image and its mirror image, one drawn each epoch.
    const twice = await prepareCut(project, config(2), items);
    expect(train.every((it) => twice.pack.rows.has(variantKey(it.hash, 1)))).toBe(true);
    expect(twice.pack.rows.size).toBe(2 * train.length + 2 * others.length);
  }, 60_000);
});

describe('fine-tuning a run', () => {
  it("trains MobileNet v1's last blocks with the head on their cached input, changes only those blocks, and exports a verified model", async () => {
    process.env.LOUPE_BACKBONE_DIR = MODELS;
    delete process.env.LOUPE_BACKBONE_REGISTRY;
    const project = await patternProject(20);
    const phases: string[] = [];
    const result = await runTraining(project, { backbone: 'mobilenet_v1', fineTune: 'blocks', epochs: 3, seed: 5 }, { onProgress: (done, _t, phase) => done > 0 && phases.push(phase) });
    expect(result).toMatchObject({ status: 'completed', backbone: 'mobilenet_v1', epochs: 3 });
    const run = runDetails(project.db, result.runId);
    const ft = run.config.backbone!.fineTune!;
    // The plan's cut for so few images: the last block or two, after a pointwise block's activation.
    expect(ft).toMatchObject({ mode: 'blocks', cutLayer: `conv_pw_${12 - ft.blocks}_relu`, frozenBatchNorm: true });
    expect(ft.blocks).toBeGreaterThanOrEqual(1);
    expect(ft.blocks).toBeLessThanOrEqual(3);
    expect(run.history.map((e) => e.epoch)).toEqual([1, 2, 3]);
    expect(phases.some((p) => p.startsWith('Caching the input of the trained blocks (MobileNet v1'))).toBe(true);
    // The cut layer's output is cached: the training images' copies and each val/test image (and its mirror image).
    const caches = fs.readdirSync(project.paths.cache).filter((n) => n.includes(`-cut-${ft.cutLayer}`));
    expect(caches).toHaveLength(1);
    const meta = JSON.parse(fs.readFileSync(path.join(project.paths.cache, caches[0], 'meta.json'), 'utf8')) as { shape: number[]; resolution: number };
    const side = Math.ceil(meta.resolution / 16);
    expect(meta.shape).toEqual([side, side, 512]);
    // One row per training image and copy (the image, its mirror image, shifted crops), and per val/test image and its mirror image.
    const splits = Object.fromEntries(
      (project.db.prepare(`SELECT s.split, count(*) AS n FROM run_images s WHERE s.run_id = ? GROUP BY s.split`).all(result.runId) as { split: string; n: number }[]).map((r) => [r.split, r.n]),
    ) as Record<string, number>;
    const keys = JSON.parse(fs.readFileSync(path.join(project.paths.cache, caches[0], 'index.json'), 'utf8')) as string[];
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.length).toBe(splits.train * ft.variants + (splits.val + splits.test) * (run.config.backbone!.flipAverage ? 2 : 1));
    expect(fs.readdirSync(path.join(project.paths.models, String(result.runId)))).toEqual(['model']);

    // The saved model is the backbone with its last block's weights trained: everything before the cut is the pretrained backbone's.
    const trained = weightsOf(readTfjsFolder(path.join(project.paths.models, String(result.runId), 'model')));
    const original = weightsOf(backboneFeatureFiles(resolveBackbone('mobilenet_v1'), run.config.backbone!.resolution));
    const changed = [...original].filter(([key, w]) => differs(w, trained.get(key)!)).map(([key]) => key);
    expect(changed.length).toBeGreaterThan(0);
    const trainedBlock = (key: string) => Number(/^conv_(?:dw|pw)_(\d+)(?:_bn)?\//.exec(key)?.[1] ?? 0) > 12 - ft.blocks;
    expect(changed.filter((key) => !trainedBlock(key))).toEqual([]);
    expect(changed).toContain(`conv_dw_${13 - ft.blocks}/depthwise_kernel`);
    expect(changed).toContain('conv_pw_12/kernel');
    // Frozen batch norm: the block's statistics stay the pretrained ones.
    expect(changed.filter((key) => key.includes('moving_'))).toEqual([]);
    expect(trained.has('head_output/kernel')).toBe(true);

    const evaluation = evaluateRun(project.db, result.runId, 'test');
    expect(evaluation.images).toBeGreaterThan(0);
    await storedMatchSavedModel(project, result.runId);
    await exportsVerified(project, result.runId, 'mobilenet-blocks');
  }, 240_000);

  it('trains the whole of a tiny backbone from pixels after the head warms up, and exports a verified model', async () => {
    await withTinyBackbone();
    const project = await patternProject(10);
    const result = await runTraining(project, { fineTune: 'all', epochs: 3, seed: 5 });
    expect(result).toMatchObject({ status: 'completed', backbone: TINY_ID, epochs: 3 });
    const run = runDetails(project.db, result.runId);
    expect(run.config.backbone!.fineTune).toMatchObject({ mode: 'all', cutLayer: null });
    const trained = weightsOf(readTfjsFolder(path.join(project.paths.models, String(result.runId), 'model')));
    const original = weightsOf(backboneFeatureFiles(resolveBackbone(TINY_ID), run.config.backbone!.resolution));
    // The first layer trained too.
    expect(differs(original.get('conv1/kernel')!, trained.get('conv1/kernel')!)).toBe(true);
    expect(differs(original.get('conv_pw_2/kernel')!, trained.get('conv_pw_2/kernel')!)).toBe(true);
    expect(evaluateRun(project.db, result.runId, 'test').images).toBeGreaterThan(0);
    await storedMatchSavedModel(project, result.runId);
    await exportsVerified(project, result.runId, 'tiny-all');
  }, 240_000);

  it('stops when cancelled while caching the blocks\' input, and records the run as cancelled after its warm-up epochs', async () => {
    await withTinyBackbone();
    const project = await patternProject(10);
    const controller = new AbortController();
    const result = await runTraining(project, { fineTune: 'blocks', epochs: 4, seed: 5 }, {
      signal: controller.signal,
      onProgress: (_d, _t, phase) => phase.startsWith('Caching the input') && controller.abort(),
    });
    expect(result.status).toBe('cancelled');
    const run = runDetails(project.db, result.runId);
    expect(run.status).toBe('cancelled');
    expect(run.history.length).toBe(run.config.backbone!.fineTune!.headEpochs);
  }, 120_000);
});
