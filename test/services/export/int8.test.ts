// int8 ONNX exports: the quantization parameters written in the file are the ones calibrated
// (and the weights dequantize back to the trained ones), an int8 export of a trained run passes
// its check against the float model and carries its figures in the model card and the result,
// an int8 model that does not hold up (a bad calibration) is refused with why and writes nothing,
// the verifier's thresholds, and `loupe export --format onnx-int8` from the command line.

import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import type { PredictResult } from '../../../src/shared/types';
import { main } from '../../../src/main/cli/index';
import type { CliIO } from '../../../src/main/cli/command';
import { exportRun } from '../../../src/main/services/export/export';
import { compareInt8, int8Problem } from '../../../src/main/services/export/int8';
import { listExports } from '../../../src/main/services/export/records';
import { runModel, runToOnnx } from '../../../src/main/services/export/run-model';
import { activationParams, calibrationModel, observeRanges, planQuantization, quantizeModel, readQuantization, type Range } from '../../../src/main/services/onnx/quantize';
import { seededRandom } from '../../../src/main/services/rng';
import { tempDir } from '../../helpers';
import { sharedPatternRun } from './export-helpers';

const { onnx } = onnxProto;
const shapes = sharedPatternRun('loupe-int8-');

function cliIO() {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIO = { out: (t) => out.push(t), err: (t) => err.push(t), json: (v) => out.push(JSON.stringify(v)), interrupted: new Promise(() => {}) };
  return { io, out, err };
}

function opTypes(bytes: Uint8Array): Record<string, number> {
  const count: Record<string, number> = {};
  for (const n of onnx.ModelProto.decode(bytes).graph!.node!) count[n.opType!] = (count[n.opType!] ?? 0) + 1;
  return count;
}

describe('int8 quantization', () => {
  it('writes the calibrated scales and zero points, and per-channel int8 weights that dequantize to the trained ones', async () => {
    const project = shapes.open();
    const float = runToOnnx(runModel(project, shapes.runId), 'shapes').bytes;
    const plan = planQuantization(float);
    const random = seededRandom(3);
    const pixels = Float32Array.from({ length: 8 * 16 * 16 * 3 }, () => Math.floor(random() * 256));
    const session = await ort.InferenceSession.create(calibrationModel(plan));
    const ranges = new Map<string, Range>();
    observeRanges(ranges, await session.run({ pixels: new ort.Tensor('float32', pixels, [8, 16, 16, 3]) }), plan.tensors);
    await session.release();
    expect(ranges.size).toBe(plan.tensors.length);

    const quantized = quantizeModel(plan, ranges);
    // Three convolutions (batch norm folded in) and both dense layers; no float weight left.
    expect(quantized.nodes).toEqual({ Conv: 3, Gemm: 2 });
    expect(opTypes(quantized.bytes)).not.toHaveProperty('BatchNormalization');
    expect(opTypes(quantized.bytes)).not.toHaveProperty('Relu');
    expect(quantized.bytes.length).toBeLessThan(float.length / 3);

    const written = readQuantization(quantized.bytes);
    expect(written.activations.length).toBe(quantized.tensors);
    for (const a of written.activations) {
      // A tensor moved or pooled shares its input's scale; every other one has its own range's.
      const own = activationParams(ranges.get(a.tensor)!);
      const shared = written.activations.some((b) => b.scale === a.scale && b.zeroPoint === a.zeroPoint && b.tensor !== a.tensor);
      if (!shared) expect({ scale: a.scale, zeroPoint: a.zeroPoint }).toEqual(own);
      expect(a.zeroPoint).toBeGreaterThanOrEqual(0);
      expect(a.zeroPoint).toBeLessThanOrEqual(255);
    }
    // The image (scaled to 0..1, all >= 0): zero point 0, the scale of its largest value.
    const input = written.activations[0];
    expect(input.zeroPoint).toBe(0);
    expect(input.scale).toBe(activationParams(ranges.get(input.tensor)!).scale);

    // The dense layers' kernels (not folded): each column's scale is its largest |w| / 63 (7 bits, safe from int16 saturation on CPUs without VNNI), and every weight is back within half a step.
    const floatInits = new Map(onnx.ModelProto.decode(float).graph!.initializer!.map((t) => [t.name!, t]));
    const dense = written.weights.filter((w) => w.axis === 1);
    expect(dense).toHaveLength(2);
    for (const w of dense) {
      const original = floatInits.get(w.name.replace(/\/dequantized$/, ''))!;
      const values = new Float32Array(Uint8Array.from(original.rawData!).buffer);
      const [rows, cols] = original.dims!.map(Number);
      expect(w.scales).toHaveLength(cols);
      for (let c = 0; c < cols; c++) {
        let maxAbs = 0;
        for (let r = 0; r < rows; r++) maxAbs = Math.max(maxAbs, Math.abs(values[r * cols + c]));
        expect(w.scales[c]).toBeCloseTo(maxAbs / 63, 7);
        // The largest weight of each column is at +-63, none beyond.
        let peak = 0;
        for (let r = 0; r < rows; r++) peak = Math.max(peak, Math.abs(w.values[r * cols + c]));
        expect(peak).toBe(63);
        for (let r = 0; r < rows; r++) expect(Math.abs(w.values[r * cols + c] * w.scales[c] - values[r * cols + c])).toBeLessThanOrEqual(w.scales[c] / 2 + 1e-7);
      }
    }
    // Convolutions: one scale per output channel (axis 0).
    expect(written.weights.filter((w) => w.axis === 0).map((w) => w.scales.length)).toEqual([32, 64, 128]);
  });

  it('refuses an int8 model that disagrees with the float one on more than 1% of images, or loses more than a point', () => {
    const classes = 4;
    const probabilities = (top: number[]) => Float32Array.from(top.flatMap((t) => Array.from({ length: classes }, (_, j) => (j === t ? 0.7 : 0.1))));
    const truth = Array.from({ length: 200 }, (_, i) => i % classes);
    const float = probabilities(truth);
    const flip = (n: number) => probabilities(truth.map((t, i) => (i < n ? (t + 1) % classes : t)));

    const two = compareInt8(float, flip(2), 200, truth);
    expect(two).toEqual({ top1Agreement: 0.99, accuracy: { float: 1, int8: 0.99 } });
    expect(int8Problem({ ...two, images: 200 })).toBeNull();

    const three = compareInt8(float, flip(3), 200, truth);
    expect(int8Problem({ ...three, images: 200 })).toBe(
      "The int8 model does not hold up against the float model: its top class is the float model's on 98.5% of 200 images (at least 99.0% needed), and its accuracy is 98.5% where the float model's is 100.0% (at most 1 point apart allowed). The export was not written; the float model exports as --format onnx.",
    );
    // Generated images have no labels: agreement alone decides.
    expect(compareInt8(float, flip(1), 200, null).accuracy).toBeNull();
  });
});

describe('onnx-int8 export', () => {
  it('writes model-int8.onnx beside model.onnx only after it agreed with the float model, with sizes, accuracy and speed in the card', async () => {
    const project = shapes.open();
    const dir = path.join(tempDir(), 'exports');
    const phases = new Set<string>();
    const result = await exportRun(project, { runId: shapes.runId, format: 'onnx-int8', dir }, { onProgress: (_d, _t, phase) => phases.add(phase) });

    expect(result.status).toBe('completed');
    expect(result.files).toEqual(['labels.txt', 'model-card.md', 'model-int8.onnx', 'model.onnx', 'preprocess.json', 'samples/predict.mjs', 'samples/predict.py', 'samples/web/index.html']);
    expect([...phases]).toEqual(expect.arrayContaining(['Checking predictions', 'Calibrating int8', 'Checking the int8 model', 'Measuring speed']));
    // The float model is verified against TF.js as for every ONNX export.
    expect(result.parity).toMatchObject({ against: 'onnxruntime', images: 12, top1Agreement: 1 });

    const q = result.int8!;
    expect(q.calibration).toEqual({ images: 96, split: 'train', method: 'minmax' });
    expect(q).toMatchObject({ images: 12, split: 'test' });
    expect(q.top1Agreement).toBeGreaterThanOrEqual(0.99);
    expect(Math.abs(q.accuracy!.float - q.accuracy!.int8)).toBeLessThanOrEqual(0.01);
    const floatFile = fs.readFileSync(path.join(result.path, 'model.onnx'));
    const int8File = fs.readFileSync(path.join(result.path, 'model-int8.onnx'));
    expect(q.bytes).toEqual({ float: floatFile.length, int8: int8File.length });
    expect(q.bytes.int8).toBeLessThan(q.bytes.float / 3);
    for (const s of [q.speed.float, q.speed.int8]) {
      expect(s.imagesPerSecond).toBeGreaterThan(0);
      expect(s.latencyMs).toBeGreaterThan(0);
      expect(s.batch).toBe(12);
    }
    expect(opTypes(int8File)).toMatchObject({ QuantizeLinear: expect.any(Number), DequantizeLinear: expect.any(Number), Conv: 3, Gemm: 2 });

    const card = fs.readFileSync(path.join(result.path, 'model-card.md'), 'utf8');
    expect(card).toContain('### int8 model (`model-int8.onnx`)');
    expect(card).toContain('set from the value ranges (min/max) on 96 training images');
    expect(card).toContain(`| file size | ${(q.bytes.float / 1e6).toFixed(2)} MB | ${(q.bytes.int8 / 1e6).toFixed(2)} MB |`);
    expect(card).toMatch(/\| top-1 agreement with float \| – \| 100\.0% \|/);
    expect(card).toMatch(/\| accuracy on these 12 images \| [\d.]+% \| [\d.]+% \|/);
    expect(card).toContain(`| images/s (batch 12, median) | ${q.speed.float.imagesPerSecond.toFixed(0)} | ${q.speed.int8.imagesPerSecond.toFixed(0)} |`);
    expect(card).toContain(`| batch-1 latency (median) | ${q.speed.float.latencyMs.toFixed(2)} ms | ${q.speed.int8.latencyMs.toFixed(2)} ms |`);
    expect(JSON.parse(fs.readFileSync(path.join(result.path, 'preprocess.json'), 'utf8'))).toMatchObject({
      onnx: { file: 'model.onnx' },
      onnxInt8: { file: 'model-int8.onnx', input: 'pixels', output: 'probabilities', normalizationInGraph: true },
    });
    expect(listExports(project.db)[0]).toMatchObject({ format: 'onnx-int8', status: 'completed' });
  });

  it('refuses an int8 model calibrated badly, says why, and writes nothing', async () => {
    const project = shapes.open();
    const dir = tempDir();
    // Ranges a thousandth of the real ones: every activation saturates, as a calibration on the wrong images would make it.
    const squash = (ranges: Map<string, Range>) => {
      for (const [t, r] of ranges) ranges.set(t, { min: r.min / 1000, max: r.max / 1000 });
    };
    await expect(exportRun(project, { runId: shapes.runId, format: 'onnx-int8', dir }, { adjustInt8Ranges: squash })).rejects.toThrow(
      /^The int8 model does not hold up against the float model: its top class is the float model's on [\d.]+% of 12 images \(at least 99\.0% needed\).*The export was not written; the float model exports as --format onnx\.$/,
    );
    expect(fs.readdirSync(dir)).toEqual([]);
    const [record] = listExports(project.db);
    expect(record).toMatchObject({ format: 'onnx-int8', status: 'failed', error: expect.stringMatching(/int8 model does not hold up/) });
  });

  it('cancels while calibrating and leaves nothing behind', async () => {
    const project = shapes.open();
    const dir = tempDir();
    const controller = new AbortController();
    const count = listExports(project.db).length;
    await expect(
      exportRun(project, { runId: shapes.runId, format: 'onnx-int8', dir }, { signal: controller.signal, onProgress: (_d, _t, phase) => phase === 'Calibrating int8' && controller.abort() }),
    ).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(listExports(project.db)).toHaveLength(count);
  });
});

describe('loupe export --format onnx-int8', () => {
  it('exports from the command line, prints the figures, and the int8 file predicts on its own', async () => {
    const out = tempDir();
    const { io, out: lines } = cliIO();
    expect(await main(['export', shapes.root, '--format', 'onnx-int8', '--out', out], io)).toBe(0);
    expect(lines[0]).toMatch(/^Export #\d+: run #\d+ as ONNX \(float and int8\) in /);
    expect(lines.join('\n')).toMatch(/int8 \(model-int8\.onnx, calibrated on 96 training images\): top-1 agreement with float 100\.0%, accuracy [\d.]+% float vs [\d.]+% int8 on 12 images/);
    expect(lines.join('\n')).toMatch(/batch-1 latency [\d.]+ ms vs [\d.]+ ms \(float vs int8\)/);

    const folder = path.join(out, fs.readdirSync(out)[0]);
    const image = path.join(shapes.root, 'media', String(fs.readdirSync(path.join(shapes.root, 'media'), { recursive: true }).find((f) => String(f).endsWith('.png'))));
    const predicted = cliIO();
    expect(await main(['predict', path.join(folder, 'model-int8.onnx'), image, '--json'], predicted.io)).toBe(0);
    const result = JSON.parse(predicted.out[0]) as PredictResult;
    expect(result.labels).toEqual(['horizontal', 'vertical', 'diagonal']);
    expect(result.predictions[0].error).toBeNull();

    const bad = cliIO();
    await expect(main(['export', shapes.root, '--format', 'int4', '--out', out], bad.io)).resolves.not.toBe(0);
    expect(bad.err.join('\n')).toMatch(/onnx-int8/);
  });
});
