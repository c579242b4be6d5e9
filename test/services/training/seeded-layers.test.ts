import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ArchName } from '../../../src/shared/types';
import { ARCHITECTURES } from '../../../src/main/services/training/architectures';
import { seededRandom } from '../../../src/main/services/rng';
import { activateBackend } from '../../../src/main/services/tfjs/backends';

const input = { height: 16, width: 16, channels: 3, classes: 3 };
const mathRandom = Math.random;

/** The saved topology, with the numbers TF.js appends to automatic layer names left out. */
function topology(model: tf.LayersModel): string {
  return JSON.stringify(model.toJSON(undefined, false)).replace(/([A-Za-z_]+)\d+/g, '$1#');
}

/** Weights and one training-mode forward pass (dropout masks drawn) of a freshly built model. */
function fingerprint(model: tf.LayersModel, x: tf.Tensor): { weights: number[][]; train: number[] } {
  const weights = model.getWeights().map((w) => Array.from(w.dataSync()));
  const out = model.apply(x, { training: true }) as tf.Tensor;
  const train = Array.from(out.dataSync());
  out.dispose();
  return { weights, train };
}

describe('seeded layers', () => {
  beforeAll(async () => {
    await activateBackend('cpu');
  });
  afterEach(() => {
    Math.random = mathRandom;
  });

  it.each(['mlp', 'cnn-small', 'keras-cifar', 'resnet-small'] satisfies ArchName[])(
    '%s: initial weights and dropout masks are what TF.js draws from a Math.random seeded the same way, and it saves the same',
    (arch) => {
      const x = tf.randomUniform([2, 16, 16, 3], 0, 1, 'float32', 5);
      // As training used to: Math.random patched for the build, then for the dropout masks.
      Math.random = seededRandom(11);
      const patched = ARCHITECTURES[arch].build(input);
      Math.random = seededRandom(12);
      const before = fingerprint(patched, x);
      const afterPatched = Math.random();
      Math.random = mathRandom;

      const weights = seededRandom(11);
      const dropout = seededRandom(12);
      const passed = ARCHITECTURES[arch].build(input, { weights, dropout });
      const after = fingerprint(passed, x);
      expect(after.weights).toEqual(before.weights);
      expect(after.train).toEqual(before.train);
      // The generators were drawn exactly as often as the patched Math.random was.
      expect(dropout()).toBe(afterPatched);
      // Same class names and configs: the saved model.json is unchanged.
      expect(topology(passed)).toBe(topology(patched));
      x.dispose();
      patched.dispose();
      passed.dispose();
    },
  );

  it('draws nothing from Math.random when generators are passed', () => {
    let calls = 0;
    Math.random = () => {
      calls++;
      return mathRandom();
    };
    const model = ARCHITECTURES['cnn-small'].build(input, { weights: seededRandom(1), dropout: seededRandom(2) });
    const x = tf.zeros([2, 16, 16, 3]);
    tf.dispose(model.apply(x, { training: true }) as tf.Tensor);
    expect(calls).toBe(0);
    x.dispose();
    model.dispose();
  });
});
