// Backbones: the shipped registry, finding and verifying copies (a damaged file is refused with
// its name), downloading from a local file server (checksums, resuming with Range requests,
// refusing a corrupted download and unpinned files), and the features model: the full model cut
// at its configured layer gives, through onnxruntime, the features TF.js gives.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadCopy } from '../../../src/main/services/backbones/download';
import { backboneFeatureFiles, FeatureExtractor } from '../../../src/main/services/backbones/extract';
import { findCopy, listBackbones, resolveBackbone } from '../../../src/main/services/backbones/locate';
import { loadRegistry } from '../../../src/main/services/backbones/registry';
import { addBackbone } from '../../../src/main/services/backbones/service';
import { withFlipAverage } from '../../../src/main/services/backbones/tfjs-model';
import { convertToOnnx } from '../../../src/main/services/onnx/convert';
import { parseLayersModel } from '../../../src/main/services/onnx/layers-model';
import { repoRoot, tempDir } from '../../helpers';
import { makeTinyBackbone, serveFolder, TINY_ID, writeTinyOnnx, writeTinyRegistry, type FileServer } from './backbone-helpers';

const saved = { ...process.env };
let source: string;
let server: FileServer;

function useRegistry(url: string): void {
  const file = path.join(tempDir('loupe-registry-'), 'backbones.json');
  writeTinyRegistry(file, source, url);
  process.env.LOUPE_BACKBONE_REGISTRY = file;
}

beforeAll(async () => {
  source = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-tiny-backbone-'));
  await makeTinyBackbone(source);
  server = await serveFolder(source);
});

afterAll(async () => {
  await server.close();
  fs.rmSync(source, { recursive: true, force: true });
  process.env = { ...saved };
});

function isolate(): { home: string; dir: string } {
  const home = tempDir('loupe-home-');
  const dir = tempDir('loupe-backbones-');
  process.env.LOUPE_HOME = home;
  process.env.LOUPE_BACKBONE_DIR = dir;
  return { home, dir };
}

describe('the shipped registry', () => {
  it('describes MobileNet v1: its official source, and the cut copy by its own checksums', () => {
    delete process.env.LOUPE_BACKBONE_REGISTRY;
    const mobilenet = loadRegistry().find((e) => e.id === 'mobilenet_v1')!;
    expect(mobilenet.license).toBe('Apache-2.0');
    const official = mobilenet.copies.find((c) => c.name === 'official')!;
    expect(official.mirrors).toEqual(['https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_1.0_224/']);
    expect(official.files.map((f) => f.path)).toContain('group55-shard1of1');
    const cut = mobilenet.copies.find((c) => c.name === 'pw12')!;
    expect(cut.files.every((f) => /^[0-9a-f]{64}$/.test(f.sha256 ?? ''))).toBe(true);
  });

  it('offers the ONNX Model Zoo backbones by preference, content-addressed, with timm\'s preprocessing and its source', () => {
    delete process.env.LOUPE_BACKBONE_REGISTRY;
    isolate();
    const registry = loadRegistry();
    expect(registry.map((e) => e.id)).toEqual(['convnext_tiny_in22ft1k', 'efficientnet_b0', 'mobilenetv3_large_100', 'vit_small_patch16_224', 'resnet50', 'mobilenet_v1']);
    const raw = JSON.parse(fs.readFileSync(path.join(repoRoot, 'resources', 'backbones.json'), 'utf8')) as { backbones: { id: string; mean?: number[]; std?: number[]; preprocessSource?: string }[] };
    for (const entry of registry.filter((e) => e.format === 'onnx')) {
      const [copy] = entry.copies;
      expect(copy.featureLayer).toBeNull();
      expect(copy.files).toHaveLength(1);
      expect(copy.files[0]).toMatchObject({ sha256: expect.stringMatching(/^[0-9a-f]{64}$/), bytes: copy.bytes });
      expect(copy.mirrors.map((m) => new URL(m).host)).toEqual(['huggingface.co', 'media.githubusercontent.com']);
      expect(entry.imagenetTop1).toBeGreaterThan(75);
      // The preprocessing is (x - mean) / std with the mean and std recorded beside it, from timm's source.
      const { mean, std, preprocessSource } = raw.backbones.find((b) => b.id === entry.id)!;
      expect(preprocessSource).toMatch(/^huggingface\/pytorch-image-models timm\/models\/\w+\.py: default_cfgs\['/);
      expect(entry.preprocess.scale).toEqual(std!.map((s) => 1 / s));
      expect(entry.preprocess.offset).toEqual(mean!.map((m, i) => -m / std![i]));
    }
    // A transformer's position embeddings fix its input size; the convnets run smaller too.
    expect(registry.find((e) => e.id === 'vit_small_patch16_224')!.resolutions).toEqual([224]);
    expect(registry.find((e) => e.id === 'convnext_tiny_in22ft1k')!.resolutions).toEqual([128, 160, 192, 224]);
    const listed = listBackbones().find((b) => b.name === 'efficientnet_b0')!;
    expect(listed).toMatchObject({ present: false, downloadable: true, bytes: 21128851, imagenetTop1: 77.7, verified: false, license: 'Apache-2.0' });
    expect(listed.status).toBe('Not on this machine; Loupe can download it (21 MB) from huggingface.co (or 1 other mirror), verified by checksum.');
  });

  it.skipIf(!fs.existsSync(path.join(repoRoot, '..', 'shared', 'models', 'mobilenet_v1_1.0_224_pw12')))('recognises the cut copy in LOUPE_BACKBONE_DIR', () => {
    delete process.env.LOUPE_BACKBONE_REGISTRY;
    isolate();
    process.env.LOUPE_BACKBONE_DIR = path.join(repoRoot, '..', 'shared', 'models');
    const backbone = resolveBackbone('mobilenet_v1');
    expect(backbone.copy).toBe('pw12');
    expect(backbone.features).toBe(1024);
    expect(listBackbones().find((b) => b.name === 'mobilenet_v1')).toMatchObject({ present: true, copy: 'pw12', verified: true, imagenetTop1: 70.6 });
  });
});

describe('finding and verifying copies', () => {
  it('finds a verified copy in LOUPE_BACKBONE_DIR and says when none is here', () => {
    useRegistry(server.url);
    const { dir } = isolate();
    expect(findCopy(loadRegistry()[0]).backbone).toBeNull();
    expect(listBackbones()[0]).toMatchObject({ name: TINY_ID, present: false, downloadable: true });
    fs.cpSync(source, path.join(dir, TINY_ID), { recursive: true });
    const found = resolveBackbone(TINY_ID);
    expect(found).toMatchObject({ name: TINY_ID, copy: 'official', features: 24, verified: true });
  });

  it('refuses a corrupted file with a clear message naming it', () => {
    useRegistry(server.url);
    const { dir } = isolate();
    const copy = path.join(dir, TINY_ID);
    fs.cpSync(source, copy, { recursive: true });
    const shard = path.join(copy, 'group1-shard1of1');
    const bytes = fs.readFileSync(shard);
    bytes[100] ^= 0xff;
    fs.writeFileSync(shard, bytes);
    expect(() => resolveBackbone(TINY_ID)).toThrow(/damaged: group1-shard1of1 does not match its checksum/);
    expect(listBackbones()[0]).toMatchObject({ present: false, status: expect.stringMatching(/damaged/) });
  });
});

describe('downloading', () => {
  it('downloads into the app data folder, verified by checksum, with progress', async () => {
    useRegistry(server.url);
    const { home } = isolate();
    const progress: number[] = [];
    const entry = loadRegistry()[0];
    const backbone = await downloadCopy(entry, entry.copies[0], { onProgress: (d) => progress.push(d) });
    expect(backbone.location).toBe(path.join(home, 'backbones', TINY_ID, 'official'));
    expect(progress.at(-1)).toBe(entry.copies[0].bytes);
    expect(resolveBackbone(TINY_ID).location).toBe(backbone.location);
    expect(fs.readdirSync(backbone.location).sort()).toEqual(['group1-shard1of1', 'model.json']);
  });

  it('resumes an interrupted download with a Range request', async () => {
    useRegistry(server.url);
    isolate();
    const entry = loadRegistry()[0];
    server.cutNext('group1-shard1of1', 1000);
    await expect(downloadCopy(entry, entry.copies[0])).rejects.toThrow(/broke off|try again/);
    const before = server.requests.length;
    await downloadCopy(entry, entry.copies[0]);
    const retried = server.requests.slice(before).find((r) => r.path === 'group1-shard1of1');
    expect(retried?.range).toBe('bytes=1000-');
    expect(resolveBackbone(TINY_ID).verified).toBe(true);
  });

  it('refuses a corrupted download and deletes it', async () => {
    const bad = tempDir('loupe-bad-server-');
    fs.cpSync(source, bad, { recursive: true });
    const shard = path.join(bad, 'group1-shard1of1');
    const bytes = fs.readFileSync(shard);
    bytes[7] ^= 1;
    fs.writeFileSync(shard, bytes);
    const badServer = await serveFolder(bad);
    try {
      useRegistry(badServer.url);
      const { home } = isolate();
      const entry = loadRegistry()[0];
      await expect(downloadCopy(entry, entry.copies[0])).rejects.toThrow(/group1-shard1of1 of TinyNet from any of its 1 mirror:\n- 127\.0\.0\.1:\d+: sent a file whose sha256 .* is not the registry's .*; it was deleted/);
      expect(fs.existsSync(path.join(home, 'backbones', TINY_ID, 'official', 'group1-shard1of1'))).toBe(false);
      expect(fs.existsSync(path.join(home, 'backbones', TINY_ID, 'official', 'group1-shard1of1.part'))).toBe(false);
    } finally {
      await badServer.close();
    }
  });

  it('never downloads files without pinned checksums', async () => {
    delete process.env.LOUPE_BACKBONE_REGISTRY;
    isolate();
    const mobilenet = loadRegistry().find((e) => e.id === 'mobilenet_v1')!;
    await expect(downloadCopy(mobilenet, mobilenet.copies.find((c) => c.name === 'official')!)).rejects.toThrow(/only files it can verify/);
    expect(listBackbones().find((b) => b.name === 'mobilenet_v1')!.downloadable).toBe(false);
  });
});

describe('the features model', () => {
  it('cuts the full model at its feature layer and gives TF.js features through onnxruntime, at any resolution', async () => {
    useRegistry(server.url);
    const { dir } = isolate();
    fs.cpSync(source, path.join(dir, TINY_ID), { recursive: true });
    const backbone = resolveBackbone(TINY_ID);
    await tf.setBackend('cpu');
    for (const resolution of [32, 24]) {
      const files = backboneFeatureFiles(backbone, resolution);
      const names = (files.json.modelTopology as { config: { layers: { name: string }[] } }).config.layers.map((l) => l.name);
      expect(names).not.toContain('conv_preds');
      expect(names.slice(0, 2)).toEqual(['input_1', 'loupe_preprocess']);
      const model = await tf.loadLayersModel(
        tf.io.fromMemory({ modelTopology: files.json.modelTopology as object, weightSpecs: files.json.weightsManifest.flatMap((g) => g.weights) as never, weightData: files.weights.slice().buffer }),
      );
      const pixels = Float32Array.from({ length: 3 * resolution * resolution * 3 }, (_, i) => (i * 37) % 256);
      const expected = (model.predict(tf.tensor4d(pixels.map((v) => v / 255), [3, resolution, resolution, 3])) as tf.Tensor).dataSync();
      const extractor = await FeatureExtractor.create(backbone, resolution);
      try {
        expect(extractor.features).toBe(24);
        const actual = await extractor.run(pixels, 3);
        let worst = 0;
        for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(expected[i] - actual[i]));
        expect(worst).toBeLessThan(1e-4);
      } finally {
        await extractor.release();
        model.dispose();
      }
    }
  });
});

describe('flip averaging', () => {
  it('makes the model the mean of itself on the image and on its mirror image, in TF.js and through onnxruntime', async () => {
    await tf.setBackend('cpu');
    const r = 12;
    // A model that tells left from right (flattened, not pooled), with a preprocessing layer first.
    const net = tf.sequential({
      layers: [
        tf.layers.rescaling({ inputShape: [r, r, 3], scale: 2, offset: -1, name: 'pre' }),
        tf.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', name: 'conv', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
        tf.layers.flatten({ name: 'flat' }),
        tf.layers.dense({ units: 3, activation: 'softmax', name: 'out', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
      ],
    });
    let saved: tf.io.ModelArtifacts | null = null;
    await net.save(tf.io.withSaveHandler(async (a) => ((saved = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
    const artifacts = saved as unknown as tf.io.ModelArtifacts;
    const plain = {
      json: { modelTopology: artifacts.modelTopology, weightsManifest: [{ paths: ['./weights.bin'], weights: artifacts.weightSpecs! }] },
      weights: new Uint8Array(artifacts.weightData as ArrayBuffer),
    } as Parameters<typeof withFlipAverage>[0];
    const averaged = withFlipAverage(plain, r);
    const both = await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: averaged.json.modelTopology as object, weightSpecs: averaged.json.weightsManifest.flatMap((g) => g.weights) as never, weightData: averaged.weights.slice().buffer }),
    );
    const pixels = Float32Array.from({ length: 2 * r * r * 3 }, (_, i) => (i * 37 + ((i * i) % 11)) % 256);
    const x = tf.tensor4d(pixels.map((v) => v / 255), [2, r, r, 3]);
    const direct = (net.predict(x) as tf.Tensor).dataSync();
    const mirrored = (net.predict(tf.reverse(x, 2)) as tf.Tensor).dataSync();
    const expected = direct.map((v, i) => (v + mirrored[i]) / 2);
    const worst = (a: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - expected[i])), 0);
    // The model sees the mirror image differently, so the mean is not the plain output...
    expect(worst(direct)).toBeGreaterThan(1e-3);
    // ...and the averaged model gives exactly that mean, in TF.js and through onnxruntime.
    expect(worst((both.predict(x) as tf.Tensor).dataSync())).toBeLessThan(1e-6);
    const converted = convertToOnnx(parseLayersModel(averaged.json, averaged.weights), { preprocess: { scale: 1 / 255, offset: 0 }, outputName: 'probabilities', producerVersion: 'test' });
    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(converted.bytes);
    try {
      const out = await session.run({ pixels: new ort.Tensor('float32', pixels, [2, r, r, 3]) });
      expect(worst(out.probabilities.data as Float32Array)).toBeLessThan(1e-5);
    } finally {
      await session.release();
      net.dispose();
      both.dispose();
    }
  });
});

describe('adding a model from this machine', () => {
  it('adds a TF.js folder (recognising a registry backbone\'s feature layer) and refuses a broken one', async () => {
    useRegistry(server.url);
    isolate();
    const mine = path.join(tempDir('loupe-mine-'), 'mobilenet-by-hand');
    await makeTinyBackbone(mine, 5, 'by_hand');
    const info = await addBackbone({ path: mine });
    expect(info).toMatchObject({ name: 'mobilenet-by-hand', source: 'user', present: true });
    const resolved = resolveBackbone('mobilenet-by-hand');
    expect(resolved).toMatchObject({ featureLayer: 'conv_pw_2_relu', preprocess: { scale: 2, offset: -1 }, verified: false });
    expect(listBackbones().map((b) => b.name)).toEqual([TINY_ID, 'mobilenet-by-hand']);
    fs.rmSync(path.join(mine, 'group1-shard1of1'));
    await expect(addBackbone({ path: mine, name: 'broken' })).rejects.toThrow(/group1-shard1of1 is missing/);
  });

  // Without --output Loupe finds the features value itself: that is tested with onnx/surgery.ts's discovery.
  it('adds an ONNX model by the value given for its features (an override), and refuses a value it does not compute', async () => {
    useRegistry(server.url);
    isolate();
    const file = path.join(tempDir(), 'tiny-nchw.onnx');
    writeTinyOnnx(file);
    await expect(addBackbone({ path: file, output: 'nope', size: 16 })).rejects.toThrow(/computes no value named "nope"/);
    const info = await addBackbone({ path: file, output: 'relu_out', size: 16, scale: 2, offset: -1 });
    expect(info).toMatchObject({ name: 'tiny-nchw', format: 'onnx', present: true });
    const backbone = resolveBackbone('tiny-nchw');
    const extractor = await FeatureExtractor.create(backbone, 16);
    try {
      expect(extractor.features).toBe(8);
      const features = await extractor.run(new Float32Array(2 * 16 * 16 * 3).fill(128), 2);
      expect(features.length).toBe(16);
      expect(features.every((v) => v >= 0)).toBe(true);
    } finally {
      await extractor.release();
    }
  });
});
