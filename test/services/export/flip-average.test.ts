// A run from scratch on colour images trains on flips, so its model averages each image with its
// mirror image (config.flipAverage): its exports hold both passes. The ONNX file gives an image
// and its mirror image the same probabilities, and the float and int8 ONNX and TFLite files pass
// the same checks as any run's.

import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { exportRun } from '../../../src/main/services/export/export';
import { runDetails } from '../../../src/main/services/training/records';
import { seededRandom } from '../../../src/main/services/rng';
import { tempDir } from '../../helpers';
import { sharedPatternRun } from './export-helpers';

// One click's augmentation for colour images: flips, so predictions average the mirror image.
const shapes = sharedPatternRun('loupe-flip-average-', {});

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
    const project = shapes.open();
    expect(runDetails(project.db, shapes.runId).config.flipAverage).toBe(true);
    const result = await exportRun(project, { runId: shapes.runId, format: 'onnx-int8', dir: path.join(tempDir(), 'exports') });
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
    const project = shapes.open();
    const result = await exportRun(project, { runId: shapes.runId, format: 'tflite-int8', dir: path.join(tempDir(), 'exports') });
    expect(result.status).toBe('completed');
    expect(result.files).toEqual(expect.arrayContaining(['model.tflite', 'model-int8.tflite']));
    expect(result.parity).toMatchObject({ against: 'tflite', top1Agreement: 1 });
    expect(result.parity!.maxAbsDiff).toBeLessThan(1e-4);
    expect(result.tflite!.int8!.top1Agreement).toBeGreaterThanOrEqual(0.99);
  });
});
