// One training replica, running in a worker thread. With one replica it is a plain training
// loop; with several (one per core on CPU backends) each computes the gradients of its share
// of every batch, the replicas exchange them through shared memory, and each applies the same
// averaged update, so the models stay identical: data parallelism without a parameter server.

import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { EpochMetrics, TrainConfig } from '../../../shared/types';
import { ARCHITECTURES } from './architectures';
import { augmentBatch, toInput } from './augment';
import { activateBackend, cpuName } from './backends';
import { saveModel } from './checkpoint';
import { readRows } from './pixel-pack';
import {
  CTL_ABORT,
  CTL_CANCEL,
  CTL_COUNT,
  CTL_GENERATION,
  SLOT_EXTRA,
  type FromReplica,
  type ReplicaInit,
  type SplitRows,
} from './protocol';
import { permutation, seededRandom, subSeed } from './rng';

const EVAL_BATCH = 256;
const PROGRESS_MS = 250;

export class ReplicaAborted extends Error {}

/** Waits until every replica has arrived. Throws if the main thread gave up on the run. */
function barrier(ctl: Int32Array, replicas: number): void {
  const generation = Atomics.load(ctl, CTL_GENERATION);
  if (Atomics.add(ctl, CTL_COUNT, 1) === replicas - 1) {
    Atomics.store(ctl, CTL_COUNT, 0);
    Atomics.add(ctl, CTL_GENERATION, 1);
    Atomics.notify(ctl, CTL_GENERATION);
    return;
  }
  while (Atomics.load(ctl, CTL_GENERATION) === generation) {
    Atomics.wait(ctl, CTL_GENERATION, generation, 200);
    if (Atomics.load(ctl, CTL_ABORT)) throw new ReplicaAborted('Another replica failed.');
  }
}

export function learningRateAt(config: TrainConfig, epoch: number, progress: number): number {
  const s = config.schedule;
  if (s.kind === 'step') return config.learningRate * s.gamma ** Math.floor(epoch / s.stepSize);
  if (s.kind === 'cosine') return (config.learningRate * (1 + Math.cos(Math.PI * Math.min(1, progress)))) / 2;
  return config.learningRate;
}

function makeOptimizer(config: TrainConfig): tf.Optimizer {
  if (config.optimizer === 'adam') return tf.train.adam(config.learningRate);
  return config.momentum > 0 ? tf.train.momentum(config.learningRate, config.momentum) : tf.train.sgd(config.learningRate);
}

function setLearningRate(optimizer: tf.Optimizer, lr: number): void {
  // Adam, SGD and Momentum all read this field on every update.
  (optimizer as unknown as { learningRate: number }).learningRate = lr;
}

/** This replica's share [start, end) of a batch of `length` items. */
function shard(length: number, rank: number, replicas: number): [number, number] {
  return [Math.floor((length * rank) / replicas), Math.floor((length * (rank + 1)) / replicas)];
}

export async function runReplica(init: ReplicaInit, post: (msg: FromReplica, transfer?: ArrayBuffer[]) => void): Promise<void> {
  const { rank, replicas, config } = init;
  await activateBackend(init.backend);
  post({ type: 'ready', rank, backend: init.backend, device: init.backend === 'wasm' || init.backend === 'cpu' ? cpuName() : tf.getBackend() });

  // Identical initial weights on every replica; then each its own dropout masks.
  Math.random = seededRandom(subSeed(config.seed, 0));
  const model = ARCHITECTURES[config.arch].build({ height: config.height, width: config.width, channels: config.channels, classes: init.classes });
  Math.random = seededRandom(subSeed(config.seed, 1, rank));
  const optimizer = makeOptimizer(config);
  const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const decayed = new Set(trainable.filter((v) => v.shape.length >= 2).map((v) => v.name));
  const frozen = model.nonTrainableWeights.map((w) => w.read() as tf.Variable);
  const sizes = trainable.map((v) => v.size);
  const frozenSizes = frozen.map((v) => v.size);
  const weightFloats = sizes.reduce((a, b) => a + b, 0);

  const ctl = new Int32Array(init.control);
  const exchange = new Float32Array(init.exchange);
  const slot = (parity: number, r: number) => (parity * replicas + r) * init.slotFloats;
  const extraAt = (parity: number, r: number) => slot(parity, r) + init.slotFloats - SLOT_EXTRA;
  let step = 0;

  const shape = { height: config.height, width: config.width, channels: config.channels };
  const imageFloats = config.height * config.width * config.channels;
  const fd = fs.openSync(init.pack.file, 'r');
  const checkpointDir = path.join(init.modelDir, 'best');
  let bestWeights: tf.Tensor[] | null = null;
  let bestEpoch: number | null = null;
  let bestScore = -Infinity;
  let epochsRun = 0;
  let cancelled = false;
  let trainSeconds = 0;
  let trainImages = 0;

  /** Sums `values` (this replica's numbers) over all replicas, in rank order. */
  const allReduce = (values: number[]): number[] => {
    if (replicas === 1) return values;
    const parity = step++ % 2;
    exchange.set(values, extraAt(parity, rank));
    barrier(ctl, replicas);
    const out = values.map(() => 0);
    for (let r = 0; r < replicas; r++) for (let i = 0; i < values.length; i++) out[i] += exchange[extraAt(parity, r) + i];
    return out;
  };

  const readBatch = (split: SplitRows, indices: ArrayLike<number>): Uint8Array => {
    const rows = Int32Array.from(indices as ArrayLike<number>, (i) => split.rows[i]);
    return readRows(fd, init.pack, rows);
  };

  /** Loss and correct count of this replica's share of a split; predictions posted when asked. */
  const evaluate = async (split: SplitRows, name: 'val' | 'test', postPredictions: boolean) => {
    const [start, end] = shard(split.rows.length, rank, replicas);
    let lossSum = 0;
    let correct = 0;
    for (let b = start; b < end; b += EVAL_BATCH) {
      const n = Math.min(EVAL_BATCH, end - b);
      const indices = Array.from({ length: n }, (_, i) => b + i);
      const x = toInput(readBatch(split, indices));
      const labels = Int32Array.from(indices, (i) => split.labels[i]);
      const probs = tf.tidy(() => model.predict(tf.tensor4d(x, [n, shape.height, shape.width, shape.channels])) as tf.Tensor2D);
      const p = (await probs.data()) as Float32Array;
      probs.dispose();
      for (let i = 0; i < n; i++) {
        const row = p.subarray(i * init.classes, (i + 1) * init.classes);
        let arg = 0;
        for (let k = 1; k < init.classes; k++) if (row[k] > row[arg]) arg = k;
        if (arg === labels[i]) correct++;
        lossSum += -Math.log(Math.max(row[labels[i]], 1e-7));
      }
      if (postPredictions) post({ type: 'predictions', rank, split: name, offset: b, probs: p }, [p.buffer as ArrayBuffer]);
    }
    return { lossSum, correct };
  };

  const trainStep = async (x: Float32Array, labels: Int32Array, n: number, batchLength: number, lr: number) => {
    setLearningRate(optimizer, lr);
    const xs = tf.tensor4d(x.subarray(0, n * imageFloats), [n, shape.height, shape.width, shape.channels]);
    const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(labels.subarray(0, n), 'int32'), init.classes));
    let correctT: tf.Tensor | null = null;
    const { value, grads } = tf.variableGrads(() => {
      const p = model.apply(xs, { training: true }) as tf.Tensor2D;
      correctT = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(p, 1), tf.argMax(ys, 1)), 'float32')));
      const logp = tf.log(tf.clipByValue(p, 1e-7, 1));
      return tf.neg(tf.mean(tf.sum(tf.mul(ys, logp), 1))) as tf.Scalar;
    }, trainable);
    const loss = (await value.data())[0];
    const correct = (await correctT!.data())[0];
    tf.dispose([xs, ys, value, correctT!]);
    let stop = Atomics.load(ctl, CTL_CANCEL) !== 0;
    let summed: tf.NamedTensorMap = grads;
    let totals = { loss: loss * n, correct, n };
    if (replicas > 1) {
      // Each replica's gradient is the mean over its share; weight it by its share of the batch.
      const parity = step++ % 2;
      let offset = slot(parity, rank);
      const scale = n / batchLength;
      for (const v of trainable) {
        const g = (await grads[v.name].data()) as Float32Array;
        for (let i = 0; i < g.length; i++) exchange[offset + i] = g[i] * scale;
        offset += g.length;
      }
      exchange.set([loss * n, correct, n, stop ? 1 : 0], extraAt(parity, rank));
      tf.dispose(Object.values(grads));
      barrier(ctl, replicas);
      summed = {};
      offset = 0;
      const extras = [0, 0, 0, 0];
      for (let r = 0; r < replicas; r++) for (let i = 0; i < SLOT_EXTRA; i++) extras[i] += exchange[extraAt(parity, r) + i];
      trainable.forEach((v, k) => {
        const sum = new Float32Array(sizes[k]);
        for (let r = 0; r < replicas; r++) {
          const base = slot(parity, r) + offset;
          for (let i = 0; i < sum.length; i++) sum[i] += exchange[base + i];
        }
        offset += sizes[k];
        summed[v.name] = tf.tensor(sum, v.shape);
      });
      totals = { loss: extras[0], correct: extras[1], n: extras[2] };
      stop = extras[3] > 0;
    }
    const update = tf.tidy(() => {
      const out: tf.NamedTensorMap = {};
      for (const v of trainable) out[v.name] = config.weightDecay > 0 && decayed.has(v.name) ? tf.add(summed[v.name], tf.mul(v, config.weightDecay)) : summed[v.name];
      return out;
    });
    optimizer.applyGradients(update);
    tf.dispose([...Object.values(update), ...Object.values(summed)]);
    return { ...totals, stop };
  };

  /** Averages batch-norm moving statistics over replicas (each saw different images). */
  const syncFrozen = async () => {
    if (replicas === 1 || frozen.length === 0) return;
    const parity = step++ % 2;
    let offset = slot(parity, rank) + weightFloats;
    for (const w of frozen) {
      const values = (await w.data()) as Float32Array;
      exchange.set(values, offset);
      offset += values.length;
    }
    barrier(ctl, replicas);
    offset = weightFloats;
    frozen.forEach((w, k) => {
      const mean = new Float32Array(frozenSizes[k]);
      for (let r = 0; r < replicas; r++) {
        const base = slot(parity, r) + offset;
        for (let i = 0; i < mean.length; i++) mean[i] += exchange[base + i] / replicas;
      }
      offset += mean.length;
      const t = tf.tensor(mean, w.shape);
      w.assign(t);
      t.dispose();
    });
  };

  try {
    const trainN = init.train.rows.length;
    const batches = Math.ceil(trainN / config.batchSize);
    const totalSteps = batches * config.epochs;
    const x = new Float32Array(Math.ceil(config.batchSize / replicas + 1) * imageFloats);
    const augRandom = seededRandom(subSeed(config.seed, 3, rank));
    let lastProgress = 0;
    for (let epoch = 0; epoch < config.epochs && !cancelled; epoch++) {
      const started = performance.now();
      const order = permutation(trainN, seededRandom(subSeed(config.seed, 2, epoch)));
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      let lr = config.learningRate;
      for (let b = 0; b < batches; b++) {
        const batch = order.subarray(b * config.batchSize, Math.min(trainN, (b + 1) * config.batchSize));
        const [start, end] = shard(batch.length, rank, replicas);
        const mine = batch.subarray(start, end);
        const labels = Int32Array.from(mine, (i) => init.train.labels[i]);
        augmentBatch(readBatch(init.train, mine), mine.length, shape, config.augmentation, augRandom, x);
        lr = learningRateAt(config, epoch, (epoch * batches + b) / totalSteps);
        const result = await trainStep(x, labels, mine.length, batch.length, lr);
        lossSum += result.loss;
        correct += result.correct;
        seen += result.n;
        if (result.stop) {
          cancelled = true;
          break;
        }
        const now = performance.now();
        if (rank === 0 && (now - lastProgress > PROGRESS_MS || b === batches - 1)) {
          lastProgress = now;
          post({ type: 'batch', epoch, batch: b + 1, batches, trainLoss: lossSum / seen, trainAccuracy: correct / seen, imagesPerSecond: seen / ((now - started) / 1000) });
        }
      }
      const trainTime = (performance.now() - started) / 1000;
      trainSeconds += trainTime;
      trainImages += seen;
      if (cancelled) break;
      await syncFrozen();
      let valLoss: number | null = null;
      let valAccuracy: number | null = null;
      if (init.val.rows.length > 0) {
        const local = await evaluate(init.val, 'val', false);
        const [l, c] = allReduce([local.lossSum, local.correct]);
        valLoss = l / init.val.rows.length;
        valAccuracy = c / init.val.rows.length;
      }
      epochsRun = epoch + 1;
      const score = valAccuracy ?? correct / seen;
      const improved = score > bestScore;
      if (improved) {
        bestScore = score;
        bestEpoch = epoch + 1;
        if (config.restoreBest) {
          tf.dispose(bestWeights ?? []);
          bestWeights = model.getWeights().map((w) => w.clone());
        }
        if (rank === 0) await saveModel(model, checkpointDir);
      }
      const metrics: EpochMetrics = {
        epoch: epoch + 1,
        trainLoss: lossSum / seen,
        trainAccuracy: correct / seen,
        valLoss,
        valAccuracy,
        learningRate: lr,
        seconds: (performance.now() - started) / 1000,
        imagesPerSecond: seen / trainTime,
      };
      if (rank === 0) post({ type: 'epoch', metrics, improved });
      if (config.patience !== null && bestEpoch !== null && epoch + 1 - bestEpoch >= config.patience) break;
    }

    if (!cancelled) {
      if (config.restoreBest && bestWeights) model.setWeights(bestWeights);
      if (rank === 0) {
        await saveModel(model, path.join(init.modelDir, 'model'));
        fs.rmSync(checkpointDir, { recursive: true, force: true });
      }
      await evaluate(init.val, 'val', true);
      await evaluate(init.test, 'test', true);
    }
  } finally {
    fs.closeSync(fd);
    tf.dispose(bestWeights ?? []);
    model.dispose();
    optimizer.dispose();
  }
  post({
    type: 'done',
    rank,
    epochs: epochsRun,
    bestEpoch,
    bestValAccuracy: bestEpoch === null ? null : bestScore,
    cancelled,
    trainSeconds,
    trainImages,
    numTensors: tf.memory().numTensors,
  });
}
