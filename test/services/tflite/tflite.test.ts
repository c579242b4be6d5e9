// TensorFlow Lite exports: what is written in the file reads back with the flatbuffers reader
// (the int8 parameters are the calibrated ones, the weights dequantize to the trained ones), a
// model with a layer TFLite cannot take is refused with which and why, a tflite-int8 export of a
// trained run runs in the real TFLite interpreter and agrees (float: within 1e-4 and the same top
// class on every image; int8: top-1 agreement >= 99% and accuracy within a point), its figures are
// in the card and the result, `loupe export --format tflite-int8` prints them, and the generated
// Python samples run where a Python with onnxruntime / a TFLite runtime is found.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/main/cli/index';
import type { CliIO } from '../../../src/main/cli/command';
import { exportRun } from '../../../src/main/services/export/export';
import { parityPixels } from '../../../src/main/services/export/parity';
import { listExports } from '../../../src/main/services/export/records';
import { runModel } from '../../../src/main/services/export/run-model';
import { runToTflite } from '../../../src/main/services/export/tflite';
import type { LayersGraph } from '../../../src/main/services/onnx/layers-model';
import { convertToTflite } from '../../../src/main/services/tflite/convert';
import { activationParams, calibrate, INPUT_QUANTIZATION, quantizeTflite } from '../../../src/main/services/tflite/quantize';
import { runTflite } from '../../../src/main/services/tflite/run';
import { Op, readTflite, writeTflite } from '../../../src/main/services/tflite/schema';
import { tempDir } from '../../helpers';
import { sharedPatternRun } from '../export/export-helpers';

const shapes = sharedPatternRun('loupe-tflite-');

function cliIO() {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIO = { out: (t) => out.push(t), err: (t) => err.push(t), json: (v) => out.push(JSON.stringify(v)), interrupted: new Promise(() => {}) };
  return { io, out, err };
}

const floats = (bytes: Uint8Array) => new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));

describe('TFLite files', () => {
  it('write the calibrated int8 parameters, per-channel filters that dequantize to the trained ones, and read back the same', async () => {
    const project = shapes.open();
    const model = runModel(project, shapes.runId);
    const float = runToTflite(model, 'shapes');
    expect(float.layers).toMatchObject({ Conv2D: 3, BatchNormalization: 3, Dense: 2 });
    const train = await parityPixels(project, shapes.runId, model.spec, { splits: ['train'], limit: 32 });
    const ranges = await calibrate(float.model, train);
    const int8 = writeTflite(quantizeTflite(float.model, ranges));
    const read = readTflite(int8);

    // Batch norm folded and ReLU fused: three convolutions, two dense layers, no float left anywhere.
    const ops = read.operators.map((o) => o.op);
    expect(ops.filter((o) => o === Op.CONV_2D)).toHaveLength(3);
    expect(ops.filter((o) => o === Op.FULLY_CONNECTED)).toHaveLength(2);
    expect(ops).not.toContain(Op.RELU);
    expect(read.tensors.filter((t) => t.type === 'float32')).toEqual([]);

    // Input: the pixels as int8 (q = pixel - 128); output: the softmax's fixed 1/256, -128.
    const input = read.tensors[read.inputs[0]];
    expect(input).toMatchObject({ name: 'pixels', type: 'int8', shape: [1, 16, 16, 3], quantization: { scale: INPUT_QUANTIZATION.scale, zeroPoint: [-128] } });
    expect(read.tensors[read.outputs[0]]).toMatchObject({ name: 'probabilities', type: 'int8', shape: [1, 3], quantization: { scale: [1 / 256], zeroPoint: [-128] } });

    // Every calibrated activation carries its own range's parameters (and the range itself).
    for (const [t, range] of ranges) {
      const tensor = read.tensors[t];
      if (tensor.quantization?.min) {
        const { scale, zeroPoint } = activationParams(range);
        expect(tensor.quantization.scale[0]).toBe(Math.fround(scale)); // stored as float32
        expect(tensor.quantization.zeroPoint).toEqual([zeroPoint]);
      }
    }

    // Filters: one scale per output channel (axis 0), zero points 0, each weight back within half a step of the (folded) float one.
    const floatRead = readTflite(writeTflite(float.model));
    for (const [i, op] of read.operators.entries()) {
      if (op.op !== Op.CONV_2D && op.op !== Op.FULLY_CONNECTED) continue;
      const w = read.tensors[op.inputs[1]];
      const original = floats(floatRead.tensors[floatRead.operators[i].inputs[1]].data!);
      const q = w.quantization!;
      const channels = op.op === Op.CONV_2D ? w.shape[0] : 1;
      expect(q.scale).toHaveLength(channels);
      expect(q.zeroPoint).toEqual(new Array(channels).fill(0));
      const values = new Int8Array(w.data!.buffer, w.data!.byteOffset, w.data!.byteLength);
      const per = values.length / channels;
      for (let k = 0; k < values.length; k++) expect(Math.abs(values[k] * q.scale[Math.floor(k / per)] - original[k])).toBeLessThanOrEqual(q.scale[Math.floor(k / per)] / 2 + 1e-7);
      // Biases: int32 at input scale x filter scale.
      const bias = read.tensors[op.inputs[2]];
      const inScale = read.tensors[op.inputs[0]].quantization!.scale[0];
      expect(bias.type).toBe('int32');
      // One scale per channel with per-channel filters, one in all with a per-tensor one (XNNPACK refuses a mix).
      expect(bias.quantization!.scale).toHaveLength(q.scale.length);
      bias.quantization!.scale.forEach((s, c) => expect(Math.abs(s / (inScale * q.scale[c]) - 1)).toBeLessThan(1e-6));
    }
    // Mixed precision (for measuring where int8 loses accuracy): the layers kept in float are fenced by DEQUANTIZE and QUANTIZE, and it runs.
    const lastDense = float.model.operators.findLastIndex((o) => o.op === Op.FULLY_CONNECTED);
    const mixed = readTflite(writeTflite(quantizeTflite(float.model, ranges, { keepFloat: (_op, i) => i === lastDense })));
    expect(mixed.operators.map((o) => o.op).filter((o) => o === Op.DEQUANTIZE || o === Op.QUANTIZE)).toEqual([Op.DEQUANTIZE, Op.QUANTIZE]);
    const [probabilities] = await runTflite(writeTflite(quantizeTflite(float.model, ranges, { keepFloat: (_op, i) => i === lastDense })), { pixels: train.pixels.subarray(0, 16 * 16 * 3), count: 1 });
    expect(probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 1);

    // Labels, preprocessing and run travel in the file's metadata.
    expect(JSON.parse(new TextDecoder().decode(read.metadata.find((m) => m.name === 'loupe.labels')!.data))).toEqual(['horizontal', 'vertical', 'diagonal']);
  });

  it('refuses a model with a layer TFLite cannot take, naming it and why', () => {
    const graph = (layer: { className: string; config: Record<string, unknown> }): LayersGraph => {
      const input = { name: 'in', className: 'InputLayer', config: { batch_input_shape: [null, 8, 8, 3] } };
      const odd = { name: 'odd', ...layer };
      return {
        name: 'm',
        layers: new Map([
          ['in', input],
          ['odd', odd],
        ]),
        calls: new Map([
          ['in:0', { layer: input, index: 0, inputs: [] }],
          ['odd:0', { layer: odd, index: 0, inputs: [{ layer: 'in', index: 0 }] }],
        ]),
        input: { call: 'in:0', shape: [8, 8, 3] },
        output: 'odd:0',
        weights: new Map(),
      };
    };
    const convert = (g: LayersGraph) => () => convertToTflite(g, { preprocess: { scale: 1 / 255, offset: 0 }, description: '' });
    expect(convert(graph({ className: 'LSTM', config: {} }))).toThrow(/^The TensorFlow Lite export does not support LSTM layers \(layer "odd"\): it converts InputLayer, Conv2D, /);
    expect(convert(graph({ className: 'ReLU', config: { threshold: 0.5 } }))).toThrow('Layer "odd" (ReLU) has a negative slope or threshold, which the TensorFlow Lite export does not support.');
    expect(convert(graph({ className: 'Activation', config: { activation: 'selu' } }))).toThrow('Layer "odd" (Activation) uses the activation "selu", which the TensorFlow Lite export does not support.');
    expect(convert(graph({ className: 'Model', config: {} }))).toThrow(/nested model/);
  });
});

describe('tflite-int8 export', () => {
  it('writes model.tflite and model-int8.tflite only after each ran in the TFLite interpreter and agreed, with the figures in the card', async () => {
    const project = shapes.open();
    const dir = path.join(tempDir(), 'exports');
    const phases = new Set<string>();
    const result = await exportRun(project, { runId: shapes.runId, format: 'tflite-int8', dir }, { onProgress: (_d, _t, phase) => phases.add(phase) });

    expect(result.status).toBe('completed');
    expect(result.files).toEqual([
      'labels.txt',
      'model-card.md',
      'model-int8.tflite',
      'model.tflite',
      'preprocess.json',
      'samples/android/Classifier.kt',
      'samples/predict_tflite.py',
      'samples/raspberry-pi/classify.py',
    ]);
    expect([...phases]).toEqual(expect.arrayContaining(['Checking predictions', 'Checking the TFLite model', 'Calibrating int8 (minmax)', 'Checking the int8 TFLite model']));
    // The float file against TF.js: the parity of record.
    expect(result.parity).toMatchObject({ against: 'tflite', images: 12, top1Agreement: 1 });
    expect(result.parity!.maxAbsDiff).toBeLessThan(1e-4);
    const t = result.tflite!;
    expect(t.parity).toEqual(result.parity);
    expect(t.latencyMs).toBeGreaterThan(0);
    const q = t.int8!;
    expect(q).toMatchObject({ images: 12, split: 'test', calibration: { images: 96, split: 'train', method: 'minmax' }, input: { scale: 1, zeroPoint: -128 }, output: { scale: 1 / 256, zeroPoint: -128 } });
    expect(q.top1Agreement).toBeGreaterThanOrEqual(0.99);
    expect(Math.abs(q.accuracy!.float - q.accuracy!.int8)).toBeLessThanOrEqual(0.01);
    const floatFile = fs.readFileSync(path.join(result.path, 'model.tflite'));
    const int8File = fs.readFileSync(path.join(result.path, 'model-int8.tflite'));
    expect([t.bytes, q.bytes]).toEqual([floatFile.length, int8File.length]);
    expect(q.bytes).toBeLessThan(t.bytes / 3);

    // The written files, run again in the interpreter, give what was checked.
    const images = await parityPixels(project, shapes.runId, runModel(project, shapes.runId).spec);
    const [again] = await runTflite(new Uint8Array(int8File), images);
    expect(again).toHaveLength(images.count * 3);

    const card = fs.readFileSync(path.join(result.path, 'model-card.md'), 'utf8');
    expect(card).toContain('`model.tflite` was run through the TensorFlow Lite interpreter on 12 test images and compared with TensorFlow.js');
    expect(card).toContain('### int8 TFLite model (`model-int8.tflite`)');
    expect(card).toContain('set by min/max of the activations on 96 train images');
    expect(card).toContain(`| file size | ${(t.bytes / 1e6).toFixed(2)} MB | ${(q.bytes / 1e6).toFixed(2)} MB |`);
    expect(card).toContain(`| top-1 agreement with the float model | – | ${(q.top1Agreement * 100).toFixed(1)}% |`);
    expect(card).toMatch(/\| accuracy on these 12 images \| [\d.]+% \| [\d.]+% \|/);
    expect(card).toContain(`| one image in the interpreter (median, one thread) | ${t.latencyMs.toFixed(2)} ms | ${q.latencyMs.toFixed(2)} ms |`);
    expect(JSON.parse(fs.readFileSync(path.join(result.path, 'preprocess.json'), 'utf8'))).toMatchObject({
      tflite: { file: 'model.tflite', input: 'pixels', output: 'probabilities', shape: [1, 16, 16, 3] },
      tfliteInt8: { file: 'model-int8.tflite', shape: [1, 16, 16, 3] },
    });
    expect(listExports(project.db)[0]).toMatchObject({ format: 'tflite-int8', status: 'completed', parity: { against: 'tflite' } });
  });
});

describe('tflite-int8 export, cancelled', () => {
  it('stops while calibrating and leaves nothing behind', async () => {
    const project = shapes.open();
    const dir = tempDir();
    const controller = new AbortController();
    const count = listExports(project.db).length;
    await expect(
      exportRun(project, { runId: shapes.runId, format: 'tflite-int8', dir }, { signal: controller.signal, onProgress: (_d, _t, phase) => phase.startsWith('Calibrating int8') && controller.abort() }),
    ).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(listExports(project.db)).toHaveLength(count);
  });
});

/** A Python that has `module`, or why there is none: LOUPE_SAMPLE_PYTHON, else Debian's python3. */
function pythonWith(module: string): { python: string } | { why: string } {
  const python = process.env.LOUPE_SAMPLE_PYTHON ?? '/usr/bin/python3';
  const probe = spawnSync(python, ['-c', `import ${module}`], { encoding: 'utf8' });
  return probe.status === 0 ? { python } : { why: `${python} has no ${module} (set LOUPE_SAMPLE_PYTHON to a Python with it to run this sample)` };
}

describe('loupe export --format tflite-int8 and the samples', () => {
  it('exports from the command line, prints the figures, and the generated Python samples run on an image', { timeout: 300_000 }, async () => {
    const out = tempDir();
    const { io, out: lines } = cliIO();
    expect(await main(['export', shapes.root, '--format', 'tflite-int8', '--out', out], io)).toBe(0);
    const text = lines.join('\n');
    expect(lines[0]).toMatch(/^Export #\d+: run #\d+ as TFLite \(float and int8\) in /);
    expect(text).toMatch(/Checked: the TFLite interpreter vs TensorFlow\.js on 12 test images: top-1 agreement 100\.0%/);
    expect(text).toMatch(/int8 TFLite \(model-int8\.tflite, minmax calibration on 96 training images\): top-1 agreement with float [\d.]+%, accuracy [\d.]+% float vs [\d.]+% int8 on 12 images; [\d.]+ MB, [\d.]+ ms an image \(float [\d.]+ ms\)/);

    const folder = path.join(out, fs.readdirSync(out)[0]);
    const image = path.join(shapes.root, 'media', String(fs.readdirSync(path.join(shapes.root, 'media'), { recursive: true }).find((f) => String(f).endsWith('.png'))));
    // Every generated Python program at least compiles, here or anywhere.
    for (const py of ['samples/predict_tflite.py', 'samples/raspberry-pi/classify.py']) {
      const compiled = spawnSync('/usr/bin/python3', ['-c', 'import ast, sys; ast.parse(open(sys.argv[1], encoding="utf-8").read())', path.join(folder, py)], { encoding: 'utf8' });
      expect(compiled.status, compiled.stderr).toBe(0);
    }
    const tflite = pythonWith('numpy, PIL; from tflite_runtime.interpreter import Interpreter') as { python?: string; why?: string };
    const tf = tflite.python ? tflite : (pythonWith('numpy, PIL, tensorflow') as { python?: string; why?: string });
    if (!tf.python) {
      console.warn(`Skipped running the TFLite Python samples: ${tf.why}`);
      return;
    }
    for (const [script, model] of [
      ['samples/predict_tflite.py', 'model.tflite'],
      ['samples/predict_tflite.py', 'model-int8.tflite'],
      ['samples/raspberry-pi/classify.py', 'model-int8.tflite'],
    ]) {
      const run = spawnSync(tf.python, [path.join(folder, script), image, '--model', model], { encoding: 'utf8' });
      expect(run.status, run.stderr).toBe(0);
      expect(run.stdout, `${script} ${model}`).toMatch(/^(horizontal|vertical|diagonal)[\t ]+[\d.]+%/);
    }
  });
});
