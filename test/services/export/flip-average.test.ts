// A run from scratch on colour images trains on flips, so its model averages each image with its
// mirror image (config.flipAverage): its exports hold both passes. The ONNX file gives an image
// and its mirror image the same probabilities, and the float and int8 ONNX and TFLite files pass
// the same checks as any run's.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportRun } from '../../../src/main/services/export/export';
import { runDetails } from '../../../src/main/services/training/records';
import { runTraining } from '../../../src/main/services/training/train';
import { seededRandom } from '../../../src/main/services/rng';
import { Project } from '../../../src/main/store/project';
import { onCleanup, tempDir } from '../../helpers';
import { makePatternProject } from '../training/train-helpers';

let work = '';
let root = '';
let runId = 0;

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-flip-average-'));
  root = path.join(work, 'shapes.loupe');
  await makePatternProject(root, { perClass: 40, size: 16, seed: 4 });
  const project = Project.open(root);
  try {
    // One click's augmentation for colour images: flips, so predictions average the mirror image.
    const result = await runTraining(project, { arch: 'cnn-small', epochs: 4, batchSize: 16, seed: 7, workers: 1 });
    expect(result.status).toBe('completed');
    runId = result.runId;
  } finally {
    project.close();
  }
}, 180_000);
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function open(): Project {
  const project = Project.open(root);
  onCleanup(() => project.close());
  return project;
}

/** Left-right mirror images of n HWC images. */
function mirrored(x: Float32Array, n: number, side: number, channels: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < n * side; i++) {
    for (let col = 0; col < side; col++) {
      for (let c = 0; c < channels; c++) out[(i * side + side - 1 - col) * channels + c] = x[(i * side + col) * channels + c];
    }
  }
  return out;
}

describe('a run that averages mirror images', () => {
  it('exports ONNX that gives an image and its mirror image the same probabilities, and an int8 file that agrees', async () => {
    const project = open();
    expect(runDetails(project.db, runId).config.flipAverage).toBe(true);
    const result = await exportRun(project, { runId, format: 'onnx-int8', dir: path.join(tempDir(), 'exports') });
    expect(result.status).toBe('completed');
    expect(result.parity).toMatchObject({ against: 'onnxruntime', top1Agreement: 1 });
    expect(result.int8!.top1Agreement).toBeGreaterThanOrEqual(0.99);

    const session = await ort.InferenceSession.create(path.join(result.path, 'model.onnx'));
    try {
      const random = seededRandom(11);
      const n = 6;
      const pixels = Float32Array.from({ length: n * 16 * 16 * 3 }, () => Math.floor(random() * 256));
      const run = async (x: Float32Array) => (await session.run({ pixels: new ort.Tensor('float32', x, [n, 16, 16, 3]) })).probabilities.data as Float32Array;
      const p = await run(pixels);
      const q = await run(mirrored(pixels, n, 16, 3));
      let gap = 0;
      p.forEach((v, i) => (gap = Math.max(gap, Math.abs(v - q[i]))));
      expect(gap).toBeLessThan(1e-5);
    } finally {
      await session.release();
    }
  });

  it('exports float and int8 TFLite that ran in the TFLite interpreter and agreed', async () => {
    const project = open();
    const result = await exportRun(project, { runId, format: 'tflite-int8', dir: path.join(tempDir(), 'exports') });
    expect(result.status).toBe('completed');
    expect(result.files).toEqual(expect.arrayContaining(['model.tflite', 'model-int8.tflite']));
    expect(result.parity).toMatchObject({ against: 'tflite', top1Agreement: 1 });
    expect(result.parity!.maxAbsDiff).toBeLessThan(1e-4);
    expect(result.tflite!.int8!.top1Agreement).toBeGreaterThanOrEqual(0.99);
  });
});
