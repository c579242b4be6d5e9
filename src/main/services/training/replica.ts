// One training replica, running in a worker thread. With one replica it is a plain training
// loop; with several (one per core on CPU backends) each computes the gradients of its share
// of every batch, the replicas exchange them through shared memory, and each applies the same
// averaged update, so the models stay identical: data parallelism without a parameter server.
// The epochs themselves are loop/fit.ts; what happens around them (schedule, validation, best
// epoch, early stopping, progress) are its parts in loop/.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { removeFolder } from '../../store/swap';
import { ARCHITECTURES } from './architectures';
import { augmentBatch, toInput } from '../pixels/augment';
import { activateBackend, cpuName } from '../tfjs/backends';
import { saveModel } from '../tfjs/checkpoint';
import { OrtEngine, TfjsEngine, type Engine } from './engines';
import { compilerOptions, learningRateScales, loadTrainableModel } from './finetune-model';
import { readRows } from '../pixels/pixel-pack';
import type { FromReplica, ReplicaInit, SplitRows } from './protocol';
import { permutation, seededRandom, subSeed } from '../rng';
import { BestEpoch } from './loop/best-epoch';
import { EarlyStopping } from './loop/early-stopping';
import { fit, type Callback, type LoopResult } from './loop/fit';
import { Progress } from './loop/progress';
import { LearningRateSchedule } from './loop/schedule';
import { TimeBudget } from './loop/time-budget';
import { Validation } from './loop/validation';

export { ReplicaAborted } from './engines';

const EVAL_BATCH = 256;

/** Left-right mirror images of a batch of n HWC images. */
function mirrored(x: Float32Array, n: number, shape: { height: number; width: number; channels: number }): Float32Array {
  const { height: h, width: w, channels: c } = shape;
  const out = new Float32Array(n * h * w * c);
  for (let i = 0; i < n * h; i++) {
    for (let col = 0; col < w; col++) {
      const s = (i * w + col) * c;
      const d = (i * w + (w - 1 - col)) * c;
      for (let k = 0; k < c; k++) out[d + k] = x[s + k];
    }
  }
  return out;
}

/** This replica's share [start, end) of a batch of `length` items. */
function shard(length: number, rank: number, replicas: number): [number, number] {
  return [Math.floor((length * rank) / replicas), Math.floor((length * (rank + 1)) / replicas)];
}

export async function runReplica(init: ReplicaInit, post: (msg: FromReplica, transfer?: ArrayBuffer[]) => void): Promise<void> {
  const { rank, replicas, config } = init;
  const native = init.backend === 'onnxruntime';
  // The onnxruntime engine only needs the TF.js model as a holder of topology and weights.
  await activateBackend(init.backend);
  const device = native || init.backend === 'wasm' || init.backend === 'cpu' ? cpuName() : tf.getBackend();
  post({ type: 'ready', rank, backend: init.backend, device });

  const input = init.input ?? { kind: 'pixels' };
  // Rows of float32 (a backbone's features, or its cut layer's output), else pixels.
  const features = input.kind === 'features' ? input.features : input.kind === 'cut' ? input.shape.reduce((a, b) => a * b, 1) : undefined;
  // Identical initial weights on every replica; each its own dropout masks.
  const random = { weights: seededRandom(subSeed(config.seed, 0)), dropout: seededRandom(subSeed(config.seed, 1, rank)) };
  // A fine-tuning run trains the model it is given (pretrained backbone layers, the warmed-up head).
  const model = init.model
    ? await loadTrainableModel(init.model, random.dropout)
    : ARCHITECTURES[config.arch].build({ height: config.height, width: config.width, channels: config.channels, classes: init.classes, features }, random);
  const engine: Engine = native
    ? await OrtEngine.create(model, init.model ? { ...init, training: compilerOptions(model, init.model) } : init, os.availableParallelism(), seededRandom(subSeed(config.seed, 5)))
    : new TfjsEngine(model, init, init.model ? learningRateScales(model, init.model) : undefined);

  const shape = { height: config.height, width: config.width, channels: config.channels };
  const imageFloats = features ?? config.height * config.width * config.channels;
  const fd = fs.openSync(init.pack.file, 'r');
  const checkpointDir = path.join(init.modelDir, 'best');

  const readBatch = (split: SplitRows, indices: ArrayLike<number>): Uint8Array => {
    const rows = Int32Array.from(indices as ArrayLike<number>, (i) => split.rows[i]);
    return readRows(fd, init.pack, rows);
  };
  /** The model's input for images of a split: pixels scaled to [0, 1], or the stored features. */
  const inputBatch = (split: SplitRows, indices: ArrayLike<number>): Float32Array => {
    const bytes = readBatch(split, indices);
    return features === undefined ? toInput(bytes) : new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  };
  /** Training features: each image's flipped copy half the time, where there is one; or one of its cached copies at random. */
  const pick = (i: number, random: () => number): number => {
    const { variantRows, variantCount, flipRows, rows } = init.train;
    if (variantRows && variantCount) {
      const k = Math.floor(random() * variantCount);
      const row = variantRows[i * variantCount + k];
      return row >= 0 ? row : rows[i];
    }
    return flipRows && flipRows[i] >= 0 && random() < 0.5 ? flipRows[i] : rows[i];
  };
  const featureBatch = (indices: ArrayLike<number>, random: () => number): Float32Array => {
    const rows = Int32Array.from(indices as ArrayLike<number>, (i) => pick(i, random));
    const bytes = readRows(fd, init.pack, rows);
    return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  };

  /** Loss and correct count of this replica's share of a split; predictions posted when asked. */
  const evaluate = async (split: SplitRows, name: 'val' | 'test', postPredictions: boolean) => {
    const [start, end] = shard(split.rows.length, rank, replicas);
    let lossSum = 0;
    let correct = 0;
    for (let b = start; b < end; b += EVAL_BATCH) {
      const n = Math.min(EVAL_BATCH, end - b);
      const indices = Array.from({ length: n }, (_, i) => b + i);
      const labels = Int32Array.from(indices, (i) => split.labels[i]);
      const xs = inputBatch(split, indices);
      const p = await engine.predict(xs, n);
      if (split.mirror && features === undefined) {
        const q = await engine.predict(mirrored(xs, n, shape), n);
        for (let j = 0; j < p.length; j++) p[j] = (p[j] + q[j]) / 2;
      }
      if (split.flipRows) {
        // The mean of the image's and its mirror image's predictions, as the saved model computes.
        const flips = split.flipRows;
        const bytes = readRows(fd, init.pack, Int32Array.from(indices, (i) => (flips[i] >= 0 ? flips[i] : split.rows[i])));
        const q = await engine.predict(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4), n);
        for (let j = 0; j < p.length; j++) p[j] = (p[j] + q[j]) / 2;
      }
      for (let i = 0; i < n; i++) {
        const row = p.subarray(i * init.classes, (i + 1) * init.classes);
        let arg = 0;
        for (let k = 1; k < init.classes; k++) if (row[k] > row[arg]) arg = k;
        if (arg === labels[i]) correct++;
        lossSum += -Math.log(Math.max(row[labels[i]], 1e-7));
      }
      if (postPredictions) {
        const copy = p.slice();
        post({ type: 'predictions', rank, split: name, offset: b, probs: copy }, [copy.buffer as ArrayBuffer]);
      }
    }
    return { lossSum, correct };
  };

  const trainN = init.train.rows.length;
  const batches = Math.ceil(trainN / config.batchSize);
  const x = new Float32Array(Math.ceil(config.batchSize / replicas + 1) * imageFloats);
  const augRandom = seededRandom(subSeed(config.seed, 3, rank));
  /** An epoch's steps: its shuffled order, then for each batch this replica's share of it. */
  const epochSteps = (epoch: number) => {
    const order = permutation(trainN, seededRandom(subSeed(config.seed, 2, epoch)));
    return (b: number, lr: number) => {
      const batch = order.subarray(b * config.batchSize, Math.min(trainN, (b + 1) * config.batchSize));
      const [start, end] = shard(batch.length, rank, replicas);
      const mine = batch.subarray(start, end);
      const labels = Int32Array.from(mine, (i) => init.train.labels[i]);
      const xs = features === undefined ? augmentBatch(readBatch(init.train, mine), mine.length, shape, config.augmentation, augRandom, x) : featureBatch(mine, augRandom);
      return engine.step(xs, labels, mine.length, batch.length, lr);
    };
  };
  const onRankZero = async (save: () => Promise<void>) => {
    if (rank !== 0) return;
    engine.syncModel();
    await save();
  };
  const best = new BestEpoch(config.restoreBest, {
    keep: () => engine.keepBest(),
    restore: () => engine.restoreBest(),
    saveCheckpoint: () => onRankZero(() => saveModel(model, checkpointDir)),
    saveModel: () =>
      onRankZero(async () => {
        await saveModel(model, path.join(init.modelDir, 'model'));
        removeFolder(checkpointDir);
      }),
  });
  // In this order: the best epoch needs the validation figures, progress says whether it improved.
  const parts: Callback[] = [
    new LearningRateSchedule(config, batches),
    new Validation(init.val.rows.length, async () => {
      const local = await evaluate(init.val, 'val', false);
      const [lossSum, correct] = engine.allReduce([local.lossSum, local.correct]);
      return { lossSum, correct };
    }),
    best,
  ];
  if (rank === 0) parts.push(new Progress({ batch: (msg) => post(msg), epoch: (metrics, improved) => post({ type: 'epoch', metrics, improved }) }));
  if (config.patience !== null) parts.push(new EarlyStopping(config.patience, config.patienceFrom, config.epochs));
  // Last, so that each epoch's time holds everything the parts before it did.
  if (config.timeBudget && init.deadline !== undefined) {
    parts.push(
      new TimeBudget({
        budget: config.timeBudget,
        deadline: init.deadline,
        valImages: init.val.rows.length,
        finalImages: init.val.rows.length + init.test.rows.length,
        allReduce: (values) => engine.allReduce(values),
        replicas,
        onChange: (epochs, why) => {
          if (rank === 0) post({ type: 'epochs', epochs, why });
        },
      }),
    );
  }

  let loop: LoopResult;
  try {
    loop = await fit({ epochs: config.epochs, batches, learningRate: config.learningRate, epochSteps, endEpoch: () => engine.endEpoch() }, parts);
    if (!loop.cancelled) {
      await evaluate(init.val, 'val', true);
      await evaluate(init.test, 'test', true);
    }
  } finally {
    fs.closeSync(fd);
    await engine.dispose();
    model.dispose();
  }
  const { bestEpoch } = best;
  post({
    type: 'done',
    rank,
    epochs: loop.epochs,
    bestEpoch,
    bestValAccuracy: bestEpoch === null ? null : best.bestScore,
    keptEpoch: best.keptEpoch,
    cancelled: loop.cancelled,
    trainSeconds: loop.trainSeconds,
    trainImages: loop.trainImages,
    numTensors: tf.memory().numTensors,
  });
}
