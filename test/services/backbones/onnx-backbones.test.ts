// Any ONNX image classifier as a backbone, on stand-ins of the ONNX Model Zoo's models (same
// architectures as PyTorch exports them, random weights, a fixed batch of 1; see standins.ts):
// Loupe finds the feature vector itself, and its features equal what onnxruntime computes for
// the value PyTorch feeds the final classifier, run on the original model with that value made
// an output again; fixed-batch models run in batches where the graph allows and one by one where
// it does not; NCHW and NHWC inputs; other resolutions where the graph allows, and a clear
// refusal where it does not; speeds measured and recorded.

import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeatureExtractor } from '../../../src/main/services/backbones/extract';
import type { ResolvedBackbone } from '../../../src/main/services/backbones/locate';
import { measureSpeeds, readSpeeds } from '../../../src/main/services/backbones/speed';
import { valueInfo } from '../../../src/main/services/onnx/proto';
import { discoverFeatureValue, featureOperators, onnxFeatureGraph, onnxOperatorTypes, readOnnxModel, type Preprocess } from '../../../src/main/services/onnx/surgery';
import { seededRandom } from '../../../src/main/services/rng';
import { addBackbone } from '../../../src/main/services/backbones/service';
import { exportRun } from '../../../src/main/services/export/export';
import { inspectOnnx } from '../../../src/main/services/onnx/inspect';
import { runTraining } from '../../../src/main/services/training/train';
import { Project } from '../../../src/main/store/project';
import { onCleanup, tempDir } from '../../helpers';
import { makePatternProject } from '../training/train-helpers';
import { standIn, standIns, torchAvailable, type StandIn } from './standins';

// torchvision's ImageNet mean and std, as the zoo's timm models take them.
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
const PRE: Preprocess = { scale: STD.map((s) => 1 / s), offset: MEAN.map((m, c) => -m / STD[c]) };

/** Seeded raw pixels, [n, res, res, 3] in 0..255. */
function pixels(n: number, res: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: n * res * res * 3 }, () => Math.floor(random() * 256));
}

/** What the original model computes for `value` on one image (pixels HWC 0..255), with that value made a graph output. */
async function reference(s: StandIn, image: Float32Array, value: string): Promise<Float32Array> {
  const model = readOnnxModel(s.file);
  model.graph!.output = [valueInfo(value, null)];
  const session = await ort.InferenceSession.create(onnxProto.onnx.ModelProto.encode(model).finish());
  try {
    const r = s.resolution;
    const x = new Float32Array(r * r * 3);
    for (let y = 0; y < r; y++) {
      for (let xx = 0; xx < r; xx++) {
        for (let c = 0; c < 3; c++) {
          const v = (image[(y * r + xx) * 3 + c] / 255 - MEAN[c]) / STD[c];
          x[s.layout === 'nchw' ? c * r * r + y * r + xx : (y * r + xx) * 3 + c] = v;
        }
      }
    }
    const out = await session.run({ [s.input]: new ort.Tensor('float32', x, s.layout === 'nchw' ? [1, 3, r, r] : [1, r, r, 3]) });
    return out[value].data as Float32Array;
  } finally {
    await session.release();
  }
}

async function runGraph(bytes: Uint8Array, input: Float32Array, n: number, res: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const out = await session.run({ pixels: new ort.Tensor('float32', input, [n, res, res, 3]) });
    return out.features.data as Float32Array;
  } finally {
    await session.release();
  }
}

function expectClose(actual: Float32Array, expected: Float32Array): void {
  expect(actual.length).toBe(expected.length);
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]));
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
  }
  expect(scale).toBeGreaterThan(0); // features that are all zero would prove nothing
  expect(diff).toBeLessThanOrEqual(1e-4 * Math.max(1, scale));
}

function backboneOf(s: StandIn, resolutions = [s.resolution]): ResolvedBackbone {
  return {
    name: s.name,
    title: s.name,
    source: 'path',
    format: 'onnx',
    copy: 'standin',
    location: s.file,
    featureLayer: '',
    features: null,
    inputSize: s.resolution,
    resolutions,
    preprocess: PRE,
    license: 'test',
    fingerprint: `standin-${s.name}`,
    verified: false,
  };
}

const saved = { ...process.env };
let all: StandIn[] = [];

afterAll(() => {
  process.env = { ...saved };
});

describe.skipIf(!torchAvailable() && !process.env.CI)('ONNX classifiers as backbones (zoo stand-ins)', () => {
  beforeAll(async () => {
    all = await standIns();
  }, 20 * 60_000);

  it('stands in for every zoo model, with a fixed batch of 1 as the zoo exports them (MobileNetV2: a dynamic batch, as the zoo\'s)', () => {
    expect(all.map((s) => s.name).sort()).toEqual(
      ['convnext_tiny', 'efficientnet_b0', 'efficientnet_lite0', 'efficientnet_lite4_nhwc', 'mobilenet_v2', 'mobilenetv3_large', 'resnet50', 'vit_s16', 'vit_s16_timm'].sort(),
    );
    for (const s of all) {
      const input = readOnnxModel(s.file).graph!.input![0];
      const dims = input.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
      expect(dims).toEqual([s.dynamicBatch ? 'batch_size' : 1, ...(s.layout === 'nchw' ? [3, 224, 224] : [224, 224, 3])]);
      expect(readOnnxModel(s.file).graph!.output!.map((o) => o.name)).toEqual(['logits']);
    }
    // timm's TensorFlow ports pad strided convolutions by sizes computed in the graph, as the zoo's Lite0 does.
    expect(onnxOperatorTypes(readOnnxModel(standIn(all, 'efficientnet_lite0').file))).toMatchObject({ Shape: 13, Ceil: 10, Pad: 5, Conv: 49, Clip: 43 });
  });

  it('finds the feature vector of every stand-in, and its features equal what the original model computes there (NCHW and NHWC, in batches)', async () => {
    for (const s of all) {
      const model = readOnnxModel(s.file);
      const found = discoverFeatureValue(model, s.file);
      expect(found, s.name).toBe(s.referenceOutput);
      const graph = await onnxFeatureGraph(s.file, null, s.resolution, PRE);
      expect(graph.features, s.name).toBe(s.features);
      expect(graph.output).toBe(s.referenceOutput);
      expect(graph.batchable, s.name).toBe(true);
      const n = 3;
      const input = pixels(n, s.resolution, 7);
      const features = await runGraph(graph.bytes, input, n, s.resolution);
      const floats = s.resolution * s.resolution * 3;
      for (let i = 0; i < n; i++) {
        const expected = await reference(s, input.subarray(i * floats, (i + 1) * floats), s.referenceOutput);
        expectClose(features.subarray(i * s.features, (i + 1) * s.features), expected);
      }
    }
  }, 600_000);

  it('runs the fixed-batch models in batches (a batch gives what its images give one by one; timm\'s ViT once its class token is expanded to the batch), and torchvision\'s ViT, whose attention shapes hold batch x heads, one by one inside a graph that takes a batch', async () => {
    for (const s of all) {
      const graph = await onnxFeatureGraph(s.file, null, s.resolution, PRE);
      expect(graph, s.name).toMatchObject({ batchable: true, singly: s.name === 'vit_s16' });
    }
    // Through the extractor that feature extraction uses: a call of several images either way.
    for (const name of ['efficientnet_b0', 'vit_s16', 'vit_s16_timm']) {
      const s = standIn(all, name);
      const extractor = await FeatureExtractor.create(backboneOf(s), s.resolution);
      try {
        const input = pixels(3, s.resolution, 11);
        const batch = Float32Array.from(await extractor.run(input, 3));
        const floats = s.resolution * s.resolution * 3;
        for (let i = 0; i < 3; i++) {
          const one = await extractor.run(input.subarray(i * floats, (i + 1) * floats), 1);
          expectClose(batch.subarray(i * s.features, (i + 1) * s.features), one);
          expectClose(one, await reference(s, input.subarray(i * floats, (i + 1) * floats), s.referenceOutput));
        }
      } finally {
        await extractor.release();
      }
    }
  }, 600_000);

  it('runs CNNs exported at 224 at other resolutions, and refuses a ViT anywhere but its native size, saying so', async () => {
    for (const name of ['mobilenetv3_large', 'efficientnet_lite0', 'efficientnet_lite4_nhwc']) {
      const s = standIn(all, name);
      const graph = await onnxFeatureGraph(s.file, null, 160, PRE);
      expect(graph).toMatchObject({ features: s.features, batchable: true });
      const features = await runGraph(graph.bytes, pixels(2, 160, 3), 2, 160);
      expect(features.length).toBe(2 * s.features);
      expect(features.every(Number.isFinite)).toBe(true);
    }
    for (const name of ['vit_s16', 'vit_s16_timm']) {
      await expect(onnxFeatureGraph(standIn(all, name).file, null, 160, PRE)).rejects.toThrow(/runs only at its native size, 224x224, not at 160x160/);
    }
  }, 300_000);

  it('lists the operators on the way from the image to the features: what fine-tuning would need gradients for', () => {
    const b0 = readOnnxModel(standIn(all, 'efficientnet_b0').file);
    // The classifier (Gemm) and the weights' Identity aliases are not on the way.
    expect(onnxOperatorTypes(b0)).toMatchObject({ Gemm: 1, Identity: 18 });
    expect(featureOperators(b0)).toEqual({ Add: 9, Conv: 81, Flatten: 1, GlobalAveragePool: 17, Mul: 65, Sigmoid: 65 });
    // ViT: attention and GELU on the way; the shape arithmetic (Shape, Constant, Where...) carries no gradient.
    const vit = featureOperators(readOnnxModel(standIn(all, 'vit_s16').file));
    expect(vit).toMatchObject({ LayerNormalization: 25, Softmax: 12, Erf: 12, MatMul: 60, Conv: 1 });
    for (const op of ['Shape', 'Constant', 'ConstantOfShape', 'Where', 'Equal', 'Identity']) expect(vit[op], op).toBeUndefined();
  });

  it('measures images per second at each resolution through the features graph, and records them for the backbone', async () => {
    process.env.LOUPE_HOME = tempDir('loupe-home-');
    const s = standIn(all, 'mobilenet_v2');
    const backbone = backboneOf(s, [96, 128]);
    const progress: string[] = [];
    const speeds = await measureSpeeds(backbone, [96, 128], { seconds: 0.2, onProgress: (_d, _t, phase) => progress.push(phase) });
    expect(speeds.map((x) => x.resolution)).toEqual([96, 128]);
    for (const x of speeds) expect(x).toMatchObject({ batch: 32, imagesPerSecond: expect.any(Number) });
    expect(speeds.every((x) => x.imagesPerSecond > 0)).toBe(true);
    expect(readSpeeds(backbone.fingerprint)).toEqual(speeds);
    expect(progress[0]).toMatch(/96x96/);
    // Cancelled: stops, records nothing more.
    const controller = new AbortController();
    controller.abort();
    await expect(measureSpeeds(backbone, [64], { signal: controller.signal })).rejects.toThrow();
    expect(readSpeeds(backbone.fingerprint).map((x) => x.resolution)).toEqual([96, 128]);
  }, 300_000);
});

describe('an ONNX classifier whose graph cannot take a batch', () => {
  /** conv → pool → Reshape to [8] (the batch of 1 folded away) → Unsqueeze → MatMul + bias → Softmax: one image at a time only. */
  function writeUnbatchable(file: string, opset: number): void {
    const random = seededRandom(5);
    const T = onnxProto.onnx.TensorProto.DataType.FLOAT;
    const floats = (name: string, dims: number[]) => ({ name, dataType: T, dims, floatData: Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => random() - 0.5) });
    const shape = { name: 'flat_shape', dataType: onnxProto.onnx.TensorProto.DataType.INT64, dims: [1], int64Data: [8] };
    const axes = { name: 'axes0', dataType: onnxProto.onnx.TensorProto.DataType.INT64, dims: [1], int64Data: [0] };
    const model = onnxProto.onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: opset }],
      graph: {
        name: 'unbatchable',
        input: [valueInfo('image', [1, 3, 16, 16])],
        output: [valueInfo('probs', [1, 5])],
        initializer: [floats('w', [8, 3, 3, 3]), floats('fc', [8, 5]), floats('fc_b', [5]), shape, ...(opset >= 13 ? [axes] : [])],
        node: [
          { opType: 'Conv', input: ['image', 'w'], output: ['conv'], attribute: [{ name: 'pads', type: 7, ints: [1, 1, 1, 1] }] },
          { opType: 'Relu', input: ['conv'], output: ['relu'] },
          { opType: 'GlobalAveragePool', input: ['relu'], output: ['pooled'] },
          { opType: 'Reshape', input: ['pooled', 'flat_shape'], output: ['flat'] },
          opset >= 13 ? { opType: 'Unsqueeze', input: ['flat', 'axes0'], output: ['row'] } : { opType: 'Unsqueeze', input: ['flat'], output: ['row'], attribute: [{ name: 'axes', type: 7, ints: [0] }] },
          { opType: 'MatMul', input: ['row', 'fc'], output: ['mm'] },
          { opType: 'Add', input: ['mm', 'fc_b'], output: ['logits'] },
          { opType: 'Softmax', input: ['logits'], output: ['probs'] },
        ],
      },
    });
    fs.writeFileSync(file, onnxProto.onnx.ModelProto.encode(model).finish());
  }

  /** What the original model gives for `value` on one image (pixels HWC 0..255, taken as x / 255), that value made its output. */
  async function original(file: string, image: Float32Array, value: string): Promise<Float32Array> {
    const model = readOnnxModel(file);
    model.graph!.output = [valueInfo(value, null)];
    const session = await ort.InferenceSession.create(onnxProto.onnx.ModelProto.encode(model).finish());
    try {
      const x = new Float32Array(768);
      for (let p = 0; p < 256; p++) for (let c = 0; c < 3; c++) x[c * 256 + p] = image[p * 3 + c] / 255;
      return (await session.run({ image: new ort.Tensor('float32', x, [1, 3, 16, 16]) }))[value].data as Float32Array;
    } finally {
      await session.release();
    }
  }

  for (const [opset, how] of [
    [17, 'inside a graph that takes a batch (a Scan over it)'],
    [8, 'fed singly by the extractor (no Scan before opset 9)'],
  ] as const) {
    it(`finds its features (MatMul + bias, through softmax) and computes them one image at a time, correctly: opset ${opset}, ${how}`, async () => {
      const file = path.join(tempDir('loupe-unbatchable-'), 'unbatchable.onnx');
      writeUnbatchable(file, opset);
      expect(discoverFeatureValue(readOnnxModel(file))).toBe('row');
      const pre = { scale: 1, offset: 0 };
      const graph = await onnxFeatureGraph(file, null, 16, pre);
      expect(graph).toMatchObject({ features: 8, batchable: opset >= 9, singly: true, output: 'row' });
      const backbone: ResolvedBackbone = { ...backboneOf({ name: 'unbatchable', file, resolution: 16 } as StandIn), preprocess: pre, fingerprint: `unbatchable-${opset}` };
      const extractor = await FeatureExtractor.create(backbone, 16);
      try {
        expect(extractor.batchable).toBe(opset >= 9);
        const input = pixels(3, 16, 2);
        const rows = await extractor.run(input, 3);
        expect(rows.length).toBe(24);
        for (let i = 0; i < 3; i++) expectClose(rows.subarray(i * 8, (i + 1) * 8), await original(file, input.subarray(i * 768, (i + 1) * 768), 'row'));
        // The images differ, so their features do.
        expect(rows.subarray(0, 8)).not.toEqual(rows.subarray(8, 16));
      } finally {
        await extractor.release();
      }
    });
  }

  it('trains a head on it, and the run\'s one ONNX graph takes a batch, exports and passes the parity check', async () => {
    process.env.LOUPE_HOME = tempDir('loupe-home-');
    process.env.LOUPE_BACKBONE_DIR = tempDir('loupe-no-backbone-');
    const file = path.join(tempDir('loupe-unbatchable-'), 'unbatchable.onnx');
    writeUnbatchable(file, 17);
    await addBackbone({ path: file, output: 'row', size: 16 });
    const dir = path.join(tempDir(), 'photos.loupe');
    await makePatternProject(dir, { perClass: 12, size: 16, seed: 3 });
    const project = Project.open(dir);
    onCleanup(() => project.close());
    const result = await runTraining(project, { backbone: 'unbatchable', epochs: 2 });
    expect(result).toMatchObject({ status: 'completed', backbone: 'unbatchable' });
    const out = tempDir('loupe-onnx-export-');
    const exported = await exportRun(project, { runId: result.runId, format: 'onnx', dir: out, name: 'unbatchable' });
    expect(exported.parity).toMatchObject({ against: 'onnxruntime', top1Agreement: 1 });
    const summary = inspectOnnx(fs.readFileSync(path.join(out, 'unbatchable', 'model.onnx')), 'model.onnx');
    expect(summary.inputs).toEqual([expect.objectContaining({ name: 'pixels', dims: [null, 16, 16, 3] })]);
    // int8 too: the ONNX backbone and the head quantized in the one graph, held to the float model.
    const int8 = await exportRun(project, { runId: result.runId, format: 'onnx-int8', dir: out, name: 'unbatchable-int8' });
    expect(int8.int8!.top1Agreement).toBeGreaterThanOrEqual(0.99);
    expect(fs.existsSync(path.join(out, 'unbatchable-int8', 'model-int8.onnx'))).toBe(true);
  }, 120_000);

  it('finds the classifier behind whichever output has one (a model may also output a feature map, or the top class)', () => {
    const file = path.join(tempDir('loupe-outputs-'), 'two-outputs.onnx');
    writeUnbatchable(file, 17);
    const model = readOnnxModel(file);
    model.graph!.node!.push({ opType: 'ArgMax', input: ['probs'], output: ['label'], attribute: [{ name: 'axis', type: 2, i: 1 }] });
    model.graph!.output = [valueInfo('pooled', [1, 8, 1, 1]), valueInfo('label', null)];
    expect(discoverFeatureValue(model)).toBe('row');
  });

  it('says which value to name when a graph ends in no classifier', () => {
    const file = path.join(tempDir('loupe-noclassifier-'), 'pool.onnx');
    const model = onnxProto.onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: { name: 'pool', input: [valueInfo('image', [1, 3, 8, 8])], output: [valueInfo('pooled', [1, 3, 1, 1])], node: [{ opType: 'GlobalAveragePool', input: ['image'], output: ['pooled'] }] },
    });
    fs.writeFileSync(file, onnxProto.onnx.ModelProto.encode(model).finish());
    expect(() => discoverFeatureValue(readOnnxModel(file), file)).toThrow(/no final classifier.*GlobalAveragePool.*--output NAME/);
  });
});
