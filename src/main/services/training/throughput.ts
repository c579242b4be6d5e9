// Measures how fast this machine trains a configuration: a few real steps on random pixels in
// the thread that would train. The plan's time estimate comes from this, not from a guess.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { BackendName, TrainConfig } from '../../../shared/types';
import { ARCHITECTURES } from './architectures';
import { activateBackend } from '../tfjs/backends';
import { OrtEngine, TfjsEngine, type Engine } from './engines';
import { backboneFeatureFiles } from '../backbones';
import { saveModel } from '../tfjs/checkpoint';
import { trainableModel } from './finetune';
import { compilerOptions, learningRateScales, loadTrainableModel } from './finetune-model';
import { CONTROL_INTS, SLOT_EXTRA, type ReplicaInit } from './protocol';
import { backboneOf } from './transfer';
import { seededRandom } from '../rng';

const MIN_SECONDS = 1;
const MAX_STEPS = 20;

function calibrationInit(backend: BackendName, config: TrainConfig, classes: number): ReplicaInit {
  return {
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
}

/**
 * Steps run before the timing starts. onnxruntime's first two runs of a training session are
 * slow, the second as slow as the first (why was not found): the whole of MobileNet v1 at 96 px in
 * batches of 32 took about 1 s for each, then 0.3-0.4 s a step; resnet-small 0.44 s and 0.46 s,
 * then 0.18 s. With one warm-up step the plan timed that second step too: it took the whole
 * backbone at 96 px for 46 images/s, where runs train it at 77-88.
 */
export const WARM_UP_STEPS = 2;
/** At least this many steps are timed, however long they take. */
const MIN_STEPS = 3;

/** The part of Engine that timeSteps uses. */
type Stepper = Pick<Engine, 'step'>;

/** Images per second of `engine` training batches of `n` random inputs of `inputSize` floats each, after WARM_UP_STEPS steps. */
export async function timeSteps(engine: Stepper, inputSize: number, n: number, classes: number, lr: number, random: () => number): Promise<number> {
  const x = Float32Array.from({ length: n * inputSize }, () => random());
  const labels = Int32Array.from({ length: n }, (_, i) => i % classes);
  for (let i = 0; i < WARM_UP_STEPS; i++) await engine.step(x, labels, n, n, lr); // sessions, kernels, memory
  let steps = 0;
  const started = performance.now();
  while (steps < MIN_STEPS || (performance.now() - started < MIN_SECONDS * 1000 && steps < MAX_STEPS)) {
    await engine.step(x, labels, n, n, lr);
    steps++;
  }
  return (steps * n) / ((performance.now() - started) / 1000);
}

/** Floats in one input of `model` (one image, or one cut-layer output). */
function inputSize(model: tf.LayersModel): number {
  return (model.inputs[0].shape as number[]).slice(1).reduce((a, b) => a * b, 1);
}

/** Training images per second of one replica (or of onnxruntime on every core). */
export async function measureThroughput(backend: BackendName, config: TrainConfig, classes: number): Promise<number> {
  await activateBackend(backend);
  // One generator for the weights, the inputs and the dropout masks, drawn in that order.
  const random = seededRandom(1);
  const model = ARCHITECTURES[config.arch].build({ height: config.height, width: config.width, channels: config.channels, classes }, { weights: random, dropout: random });
  const init = calibrationInit(backend, config, classes);
  const engine: Engine =
    backend === 'onnxruntime' ? await OrtEngine.create(model, init, os.availableParallelism(), seededRandom(2)) : new TfjsEngine(model, init);
  try {
    return await timeSteps(engine, inputSize(model), config.batchSize, classes, config.learningRate, random);
  } finally {
    await engine.dispose();
    model.dispose();
    tf.disposeVariables();
  }
}

/**
 * Training images per second of one replica training a fine-tuning run's part: the backbone after
 * its cut (on the cut layer's output) or all of it (on pixels), with a fresh head, built as the
 * run builds it (finetune.ts trainableModel), frozen batch norm and learning-rate scales included,
 * on the engine its replicas use (onnxruntime on every core, or TF.js).
 */
export async function measurePartThroughput(backend: BackendName, config: TrainConfig, classes: number): Promise<number> {
  await activateBackend(backend);
  const transfer = config.backbone!;
  const ft = transfer.fineTune!;
  const random = seededRandom(1);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-calibrate-'));
  try {
    const head = ARCHITECTURES['dense-head'].build({ height: 1, width: 1, channels: 1, classes, features: transfer.features }, { weights: random, dropout: random });
    await saveModel(head, path.join(dir, 'head'));
    head.dispose();
    let cutShape: number[] | undefined;
    if (ft.mode === 'blocks') {
      const files = backboneFeatureFiles(backboneOf(transfer), transfer.resolution, ft.cutLayer!);
      const cut = await loadTrainableModel({ json: files.json, weights: files.weights, headLayers: [], backboneLrScale: 1, frozenBatchNorm: false }, random);
      cutShape = (cut.outputs[0].shape as number[]).slice(1);
      cut.dispose();
    }
    const spec = trainableModel(transfer, path.join(dir, 'head'), cutShape);
    const model = await loadTrainableModel(spec, random);
    const init = calibrationInit(backend, config, classes);
    // The engine the run's replicas use (replica.ts): the onnxruntime compiler, else TF.js.
    const engine: Engine =
      backend === 'onnxruntime'
        ? await OrtEngine.create(model, { ...init, training: compilerOptions(model, spec) }, os.availableParallelism(), seededRandom(2))
        : new TfjsEngine(model, init, learningRateScales(model, spec));
    try {
      // At the run's batch: onnxruntime trained the whole of MobileNet v1 twice as fast per image in batches of 32 as of 8 here.
      return await timeSteps(engine, inputSize(model), config.batchSize, classes, config.learningRate, random);
    } finally {
      await engine.dispose();
      model.dispose();
    }
  } finally {
    tf.disposeVariables();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
