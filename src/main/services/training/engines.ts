// What a replica trains with. The TF.js engine runs the model's own kernels on the thread's
// backend and, with several replicas, exchanges gradients through shared memory; the
// onnxruntime engine compiles the model to a native training graph (onnx/training-graph.ts) that uses
// every core by itself. Both keep the TF.js model in step, so saving and export are the same.

import * as tf from '@tensorflow/tfjs';
import type { TrainConfig } from '../../../shared/types';
import { OrtTrainer } from './ort-trainer';
import { CTL_ABORT, CTL_CANCEL, CTL_COUNT, CTL_GENERATION, SLOT_EXTRA, type ReplicaInit } from './protocol';

export class ReplicaAborted extends Error {}

export interface StepTotals {
  /** Summed over the whole batch (all replicas). */
  loss: number;
  correct: number;
  n: number;
  /** Some replica saw the cancel flag: every replica stops after this step. */
  stop: boolean;
}

export interface Engine {
  step(x: Float32Array, labels: Int32Array, n: number, batchLength: number, lr: number): Promise<StepTotals>;
  predict(x: Float32Array, n: number): Promise<Float32Array>;
  /** Sums `values` over replicas (a no-op with one). */
  allReduce(values: number[]): number[];
  /** End of an epoch: replicas agree on batch-norm statistics. */
  endEpoch(): Promise<void>;
  keepBest(): void;
  restoreBest(): void;
  /** Writes the current weights into the TF.js model (for saving). */
  syncModel(): void;
  dispose(): Promise<void>;
}

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

function makeOptimizer(config: TrainConfig): tf.Optimizer {
  if (config.optimizer === 'adam') return tf.train.adam(config.learningRate);
  return config.momentum > 0 ? tf.train.momentum(config.learningRate, config.momentum) : tf.train.sgd(config.learningRate);
}

export class TfjsEngine implements Engine {
  /** One optimizer per learning-rate scale (fine-tuning: the backbone's weights learn slower than the head's). */
  readonly #groups: { scale: number; optimizer: tf.Optimizer; names: Set<string> }[];
  readonly #trainable: tf.Variable[];
  readonly #decayed: Set<string>;
  readonly #frozen: tf.Variable[];
  readonly #weightFloats: number;
  readonly #ctl: Int32Array;
  readonly #exchange: Float32Array;
  #exchanges = 0;
  #best: tf.Tensor[] | null = null;

  constructor(
    private readonly model: tf.LayersModel,
    private readonly init: ReplicaInit,
    /** Learning-rate multiplier by variable name; 1 where absent. */
    lrScales?: Map<string, number>,
  ) {
    this.#trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const byScale = new Map<number, Set<string>>();
    for (const v of this.#trainable) {
      const scale = lrScales?.get(v.name) ?? 1;
      if (!byScale.has(scale)) byScale.set(scale, new Set());
      byScale.get(scale)!.add(v.name);
    }
    this.#groups = [...byScale].map(([scale, names]) => ({ scale, names, optimizer: makeOptimizer(init.config) }));
    this.#decayed = new Set(this.#trainable.filter((v) => v.shape.length >= 2).map((v) => v.name));
    this.#frozen = model.nonTrainableWeights.map((w) => w.read() as tf.Variable);
    this.#weightFloats = this.#trainable.reduce((a, v) => a + v.size, 0);
    this.#ctl = new Int32Array(init.control);
    this.#exchange = new Float32Array(init.exchange);
  }

  // Double-buffered slots: every exchange is followed by exactly one barrier, so a replica that
  // runs ahead writes the other half while the slower one still reads this one.
  #slot(parity: number, rank: number): number {
    return (parity * this.init.replicas + rank) * this.init.slotFloats;
  }

  #extra(parity: number, rank: number): number {
    return this.#slot(parity, rank) + this.init.slotFloats - SLOT_EXTRA;
  }

  allReduce(values: number[]): number[] {
    const { replicas, rank } = this.init;
    if (replicas === 1) return values;
    const parity = this.#exchanges++ % 2;
    this.#exchange.set(values, this.#extra(parity, rank));
    barrier(this.#ctl, replicas);
    const out = values.map(() => 0);
    for (let r = 0; r < replicas; r++) for (let i = 0; i < values.length; i++) out[i] += this.#exchange[this.#extra(parity, r) + i];
    return out;
  }

  async step(x: Float32Array, labels: Int32Array, n: number, batchLength: number, lr: number): Promise<StepTotals> {
    const { config } = this.init;
    const xs = this.#batch(x, n);
    const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(labels.subarray(0, n), 'int32'), this.init.classes));
    let correctT: tf.Tensor | null = null;
    const { value, grads } = tf.variableGrads(() => {
      const p = this.model.apply(xs, { training: true }) as tf.Tensor2D;
      correctT = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(p, 1), tf.argMax(ys, 1)), 'float32')));
      return tf.neg(tf.mean(tf.sum(tf.mul(ys, tf.log(tf.clipByValue(p, 1e-7, 1))), 1))) as tf.Scalar;
    }, this.#trainable);
    const loss = (await value.data())[0];
    const correct = (await correctT!.data())[0];
    tf.dispose([xs, ys, value, correctT!]);
    const cancel = Atomics.load(this.#ctl, CTL_CANCEL) !== 0;
    let summed: tf.NamedTensorMap = grads;
    let totals: StepTotals = { loss: loss * n, correct, n, stop: cancel };
    if (this.init.replicas > 1) {
      summed = await this.#averageGradients(grads, n / batchLength, [loss * n, correct, n, cancel ? 1 : 0], (extras) => {
        totals = { loss: extras[0], correct: extras[1], n: extras[2], stop: extras[3] > 0 };
      });
    }
    const update = tf.tidy(() => {
      const out: tf.NamedTensorMap = {};
      for (const v of this.#trainable) {
        out[v.name] = config.weightDecay > 0 && this.#decayed.has(v.name) ? tf.add(summed[v.name], tf.mul(v, config.weightDecay)) : summed[v.name];
      }
      return out;
    });
    for (const group of this.#groups) {
      (group.optimizer as unknown as { learningRate: number }).learningRate = lr * group.scale; // Adam, SGD and Momentum read it per update
      const mine: tf.NamedTensorMap = {};
      for (const name of group.names) mine[name] = update[name];
      group.optimizer.applyGradients(mine);
    }
    tf.dispose([...Object.values(update), ...Object.values(summed)]);
    return totals;
  }

  /** Each replica's gradient is the mean over its share; weighted by that share and summed. */
  async #averageGradients(grads: tf.NamedTensorMap, scale: number, extras: number[], onExtras: (sums: number[]) => void): Promise<tf.NamedTensorMap> {
    const { replicas, rank } = this.init;
    const parity = this.#exchanges++ % 2;
    let offset = this.#slot(parity, rank);
    for (const v of this.#trainable) {
      const g = (await grads[v.name].data()) as Float32Array;
      for (let i = 0; i < g.length; i++) this.#exchange[offset + i] = g[i] * scale;
      offset += g.length;
    }
    this.#exchange.set(extras, this.#extra(parity, rank));
    tf.dispose(Object.values(grads));
    barrier(this.#ctl, replicas);
    const sums = extras.map(() => 0);
    for (let r = 0; r < replicas; r++) for (let i = 0; i < extras.length; i++) sums[i] += this.#exchange[this.#extra(parity, r) + i];
    onExtras(sums);
    const summed: tf.NamedTensorMap = {};
    offset = 0;
    for (const v of this.#trainable) {
      const sum = new Float32Array(v.size);
      for (let r = 0; r < replicas; r++) {
        const base = this.#slot(parity, r) + offset;
        for (let i = 0; i < sum.length; i++) sum[i] += this.#exchange[base + i];
      }
      offset += v.size;
      summed[v.name] = tf.tensor(sum, v.shape);
    }
    return summed;
  }

  /** A batch of n inputs (images [n, h, w, c] or feature vectors [n, f]). */
  #batch(x: Float32Array, n: number): tf.Tensor {
    const shape = (this.model.inputs[0].shape as number[]).slice(1);
    const size = shape.reduce((a, b) => a * b, 1);
    return tf.tensor(x.subarray(0, n * size), [n, ...shape]);
  }

  async predict(x: Float32Array, n: number): Promise<Float32Array> {
    const probs = tf.tidy(() => this.model.predict(this.#batch(x, n)) as tf.Tensor2D);
    const p = (await probs.data()) as Float32Array;
    probs.dispose();
    return p;
  }

  /** Averages batch-norm moving statistics over replicas (each saw different images). */
  async endEpoch(): Promise<void> {
    const { replicas, rank } = this.init;
    if (replicas === 1 || this.#frozen.length === 0) return;
    const parity = this.#exchanges++ % 2;
    let offset = this.#slot(parity, rank) + this.#weightFloats;
    for (const w of this.#frozen) {
      const values = (await w.data()) as Float32Array;
      this.#exchange.set(values, offset);
      offset += values.length;
    }
    barrier(this.#ctl, replicas);
    offset = this.#weightFloats;
    for (const w of this.#frozen) {
      const mean = new Float32Array(w.size);
      for (let r = 0; r < replicas; r++) {
        const base = this.#slot(parity, r) + offset;
        for (let i = 0; i < mean.length; i++) mean[i] += this.#exchange[base + i] / replicas;
      }
      offset += mean.length;
      const t = tf.tensor(mean, w.shape);
      w.assign(t);
      t.dispose();
    }
  }

  keepBest(): void {
    tf.dispose(this.#best ?? []);
    this.#best = this.model.getWeights().map((w) => w.clone());
  }

  restoreBest(): void {
    if (this.#best) this.model.setWeights(this.#best);
  }

  syncModel(): void {}

  async dispose(): Promise<void> {
    tf.dispose(this.#best ?? []);
    for (const group of this.#groups) group.optimizer.dispose();
  }
}

export class OrtEngine implements Engine {
  #best: Float32Array[] | null = null;

  private constructor(
    private readonly model: tf.LayersModel,
    private readonly trainer: OrtTrainer,
    private readonly ctl: Int32Array,
    private readonly random: () => number,
  ) {}

  static async create(model: tf.LayersModel, init: ReplicaInit, threads: number, random: () => number): Promise<OrtEngine> {
    const { config } = init;
    const kind = config.optimizer === 'adam' ? 'adam' : config.momentum > 0 ? 'momentum' : 'sgd';
    const trainer = await OrtTrainer.create(model, { kind, weightDecay: config.weightDecay, momentum: config.momentum }, threads, init.training);
    return new OrtEngine(model, trainer, new Int32Array(init.control), random);
  }

  async step(x: Float32Array, labels: Int32Array, n: number, _batchLength: number, lr: number): Promise<StepTotals> {
    const { loss, correct } = await this.trainer.step(x, labels, n, lr, this.random);
    return { loss, correct, n, stop: Atomics.load(this.ctl, CTL_CANCEL) !== 0 };
  }

  predict(x: Float32Array, n: number): Promise<Float32Array> {
    return this.trainer.predict(x, n);
  }

  allReduce(values: number[]): number[] {
    return values;
  }

  async endEpoch(): Promise<void> {}

  keepBest(): void {
    this.#best = this.trainer.weights.map((w) => w.slice());
  }

  restoreBest(): void {
    if (this.#best) this.trainer.setWeights(this.#best);
  }

  syncModel(): void {
    const tensors = this.trainer.weights.map((w, i) => tf.tensor(w, this.model.weights[i].shape as number[]));
    this.model.setWeights(tensors);
    tf.dispose(tensors);
  }

  dispose(): Promise<void> {
    return this.trainer.release();
  }
}
