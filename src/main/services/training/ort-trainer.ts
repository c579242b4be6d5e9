// Runs a model's training steps and predictions through onnxruntime-node (native kernels,
// every core), holding the weights and optimizer state as typed arrays in TF.js order.
// Predictions on images run a session with the current weights baked in as constants (rebuilt
// after the weights change), which onnxruntime runs 2-3x faster than one taking them as inputs.

import * as ort from 'onnxruntime-node';
import type * as tf from '@tensorflow/tfjs';
import { nchwcBlock } from '../onnx/nchwc';
import { inferenceGraph, trainingGraph, type OptimizerSpec, type TrainingGraph, type TrainingOptions } from '../onnx/training-graph';

export interface StepResult {
  loss: number;
  correct: number;
}

/** The smallest normal float32. */
const FLT_MIN = 1.1754943508222875e-38;

/**
 * Steps between two flushes of the optimizer's state. Adam's first moment of a weight whose
 * gradient stays zero (a dead ReLU unit's, a zero input's) shrinks by 0.9 a step, is subnormal
 * after about 800 steps and then stays there (0.9 times the smallest subnormal rounds back to
 * it), and x86 computes on subnormals many times slower: a head's epochs on CIFAR-10 fell from
 * about 7,000 to 3,800 images/s from the step they appeared on. Zeroing them in the graph (Abs,
 * Less, Where per tensor) cost a third of a head's step; onnxruntime's `set_denormal_as_zero`
 * flushes on its pool threads only, not on the thread that calls run(), which takes its share of
 * every kernel. A pass over the state every 32 steps takes about 4 ms per 2 million floats (a
 * head's Adam state): 0.12 ms a step, under 1% of its 18 ms step.
 */
export const SUBNORMAL_FLUSH_STEPS = 32;

/** Sets the subnormal values of `a` to zero (TensorFlow runs with flush-to-zero for the same reason). */
function flushSubnormals(a: Float32Array): void {
  for (let j = 0; j < a.length; j++) {
    const v = a[j];
    if (v !== 0 && v < FLT_MIN && v > -FLT_MIN) a[j] = 0;
  }
}

function convolutional(model: tf.LayersModel): boolean {
  return model.layers.some((l) => /Conv2D$/.test(l.getClassName()));
}

export class OrtTrainer {
  readonly weights: Float32Array[];
  readonly #shapes: number[][];
  readonly #slots: Map<number, Float32Array[]>;
  #step = 0;
  /** Bumped whenever the weights change. */
  #version = 0;
  /** The inference session with the weights of `version` as constants (image models only). */
  #baked: { version: number; session: Promise<ort.InferenceSession> } | null = null;

  private constructor(
    private readonly model: tf.LayersModel,
    private readonly options: ort.InferenceSession.SessionOptions,
    private readonly train: ort.InferenceSession,
    private readonly infer: ort.InferenceSession,
    private readonly graph: TrainingGraph,
    private readonly input: { shape: number[]; size: number; classes: number },
    weights: Float32Array[],
    shapes: number[][],
  ) {
    this.weights = weights;
    this.#shapes = shapes;
    this.#slots = new Map(graph.trainable.map((i) => [i, Array.from({ length: graph.slots }, () => new Float32Array(weights[i].length))]));
  }

  /**
   * `training`: frozen batch-norm statistics and per-layer learning-rate scales (fine-tuning).
   * `session`: extra onnxruntime session options (the profiler's `enableProfiling`, for one).
   */
  static async create(
    model: tf.LayersModel,
    optimizer: OptimizerSpec,
    threads: number,
    training: TrainingOptions = {},
    session: ort.InferenceSession.SessionOptions = {},
  ): Promise<OrtTrainer> {
    const graph = trainingGraph(model, optimizer, training, { nchwcBlock: await nchwcBlock() });
    const options: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionProviders: ['cpu'],
      // onnxruntime's pool threads spin between kernels by default, taking cores from every other
      // thread on the machine (the data pipeline, other jobs). Without spinning, convolutional steps ran
      // 1.5-2.4x faster on a shared 2-core machine (bench:profile, same run); a dense model's steps
      // (a few ms of ~100 tiny kernels) ran 0.7x, so those keep spinning.
      ...(convolutional(model) ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
      ...session,
    };
    const [train, infer] = await Promise.all([
      ort.InferenceSession.create(graph.bytes, options),
      ort.InferenceSession.create(inferenceGraph(model), options),
    ]);
    const shape = (model.inputs[0].shape as number[]).slice(1);
    const weights = model.getWeights().map((t) => t.dataSync().slice() as Float32Array);
    const shapes = model.weights.map((w) => w.shape as number[]);
    const size = shape.reduce((a, b) => a * b, 1);
    return new OrtTrainer(model, options, train, infer, graph, { shape, size, classes: model.outputs[0].shape[1] as number }, weights, shapes);
  }

  #weightFeeds(feeds: Record<string, ort.Tensor>): void {
    this.weights.forEach((w, i) => (feeds[`w${i}`] = new ort.Tensor('float32', w, this.#shapes[i])));
  }

  #x(x: Float32Array, n: number): ort.Tensor {
    const { shape, size } = this.input;
    return new ort.Tensor('float32', x.subarray(0, n * size), [n, ...shape]);
  }

  /** One optimizer step on a batch; `random` draws the dropout masks. */
  async step(x: Float32Array, labels: Int32Array, n: number, lr: number, random: () => number): Promise<StepResult> {
    const { classes } = this.input;
    this.#step++;
    const y = new Float32Array(n * classes);
    for (let i = 0; i < n; i++) y[i * classes + labels[i]] = 1;
    const feeds: Record<string, ort.Tensor> = {
      x: this.#x(x, n),
      y: new ort.Tensor('float32', y, [n, classes]),
      invB: new ort.Tensor('float32', new Float32Array([1 / n]), []),
      lr: new ort.Tensor('float32', new Float32Array([lr]), []),
      c1: new ort.Tensor('float32', new Float32Array([1 / (1 - 0.9 ** this.#step)]), []),
      c2: new ort.Tensor('float32', new Float32Array([1 / (1 - 0.999 ** this.#step)]), []),
    };
    this.#weightFeeds(feeds);
    for (const [i, slots] of this.#slots) slots.forEach((s, k) => (feeds[`s${k}_${i}`] = new ort.Tensor('float32', s, this.#shapes[i])));
    this.graph.dropouts.forEach((d, k) => {
      const keep = 1 - d.rate;
      const mask = new Float32Array(n * d.features);
      for (let j = 0; j < mask.length; j++) mask[j] = random() < keep ? 1 / keep : 0;
      feeds[`mask${k}`] = new ort.Tensor('float32', mask, [n, ...d.dims]);
    });
    const out = await this.train.run(feeds);
    this.#version++;
    this.weights.forEach((_, i) => (this.weights[i] = out[`w${i}_new`].data as Float32Array));
    for (const [i, slots] of this.#slots) slots.forEach((_, k) => (slots[k] = out[`s${k}_${i}_new`].data as Float32Array));
    if (this.#step % SUBNORMAL_FLUSH_STEPS === 0) for (const slots of this.#slots.values()) slots.forEach(flushSubnormals);
    return { loss: Number((out.loss.data as Float32Array)[0]), correct: Number((out.correct.data as Float32Array)[0]) };
  }

  async predict(x: Float32Array, n: number): Promise<Float32Array> {
    if (this.input.shape.length === 3) {
      // Convolutional: the weights as constants (a session built once per weights version; the
      // validation pass after an epoch predicts many batches with the same weights).
      const baked = await this.#bakedSession();
      return (await baked.run({ x: this.#x(x, n) })).probs.data as Float32Array;
    }
    const feeds: Record<string, ort.Tensor> = { x: this.#x(x, n) };
    this.#weightFeeds(feeds);
    const out = await this.infer.run(feeds);
    return out.probs.data as Float32Array;
  }

  #bakedSession(): Promise<ort.InferenceSession> {
    if (this.#baked?.version !== this.#version) {
      const old = this.#baked?.session;
      const session = (async () => {
        await old?.then((s) => s.release()).catch(() => undefined); // one that failed to build has nothing to release
        return ort.InferenceSession.create(inferenceGraph(this.model, this.weights), this.options);
      })();
      this.#baked = { version: this.#version, session };
    }
    return this.#baked.session;
  }

  /** The optimizer's state of each trainable weight (by weight index), as the next step reads it. */
  get optimizerSlots(): ReadonlyMap<number, readonly Float32Array[]> {
    return this.#slots;
  }

  setWeights(weights: Float32Array[]): void {
    this.#version++;
    weights.forEach((w, i) => (this.weights[i] = w.slice()));
  }

  /** Writes the training session's profile (when created with `enableProfiling`). */
  endProfiling(): void {
    this.train.endProfiling();
  }

  async release(): Promise<void> {
    const baked = this.#baked?.session;
    this.#baked = null;
    await Promise.all([this.train.release(), this.infer.release(), baked?.then((s) => s.release())]);
  }
}
