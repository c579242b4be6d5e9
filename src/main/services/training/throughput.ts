// Measures how fast this machine trains a configuration: a few real steps on random pixels in
// the thread that would train. The plan's time estimate comes from this, not from a guess.

import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import type { BackendName, TrainConfig } from '../../../shared/types';
import { ARCHITECTURES } from './architectures';
import { activateBackend } from '../tfjs/backends';
import { OrtEngine, TfjsEngine, type Engine } from './engines';
import { CONTROL_INTS, SLOT_EXTRA } from './protocol';
import { seededRandom } from '../rng';

const MIN_SECONDS = 1;
const MAX_STEPS = 20;

/** Training images per second of one replica (or of onnxruntime on every core). */
export async function measureThroughput(backend: BackendName, config: TrainConfig, classes: number): Promise<number> {
  await activateBackend(backend);
  // One generator for the weights, the inputs and the dropout masks, drawn in that order.
  const random = seededRandom(1);
  const model = ARCHITECTURES[config.arch].build({ height: config.height, width: config.width, channels: config.channels, classes }, { weights: random, dropout: random });
  const init = {
    rank: 0,
    replicas: 1,
    backend,
    config,
    classes,
    pack: { file: '', rowBytes: 0 },
    train: { rows: new Int32Array(0), labels: new Int32Array(0) },
    val: { rows: new Int32Array(0), labels: new Int32Array(0) },
    test: { rows: new Int32Array(0), labels: new Int32Array(0) },
    modelDir: '',
    control: new SharedArrayBuffer(CONTROL_INTS * 4),
    exchange: new SharedArrayBuffer(4 * SLOT_EXTRA),
    slotFloats: SLOT_EXTRA,
  };
  const engine: Engine =
    backend === 'onnxruntime' ? await OrtEngine.create(model, init, os.availableParallelism(), seededRandom(2)) : new TfjsEngine(model, init);
  try {
    const n = config.batchSize;
    const x = Float32Array.from({ length: n * config.height * config.width * config.channels }, () => random());
    const labels = Int32Array.from({ length: n }, (_, i) => i % classes);
    await engine.step(x, labels, n, n, config.learningRate); // warm-up: sessions, kernels, memory
    let steps = 0;
    const started = performance.now();
    while (steps < 2 || (performance.now() - started < MIN_SECONDS * 1000 && steps < MAX_STEPS)) {
      await engine.step(x, labels, n, n, config.learningRate);
      steps++;
    }
    return (steps * n) / ((performance.now() - started) / 1000);
  } finally {
    await engine.dispose();
    model.dispose();
    tf.disposeVariables();
  }
}
