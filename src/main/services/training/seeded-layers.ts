// Layers whose randomness comes from generators the caller passes in. Given no seed, TF.js seeds
// each random weight initializer and each dropout mask from Math.random, so a reproducible run
// used to patch Math.random for its whole thread. Here each of those draws takes the next number
// of the run's own generator instead, at the same moment and in the same order as TF.js calls
// Math.random, so a seeded run trains exactly as before; the layers serialize as TF.js's own, so
// saved models are unchanged.

import * as tf from '@tensorflow/tfjs';
import type { Initializer } from '@tensorflow/tfjs-layers/dist/initializers';

export interface ModelRandom {
  /** Seeds each random initial weight, in the order the layers are built. */
  weights: () => number;
  /** Seeds each dropout mask: once per dropout layer and training step. */
  dropout: () => number;
}

type Kwargs = Parameters<tf.layers.Layer['call']>[1];
type DropoutArgs = { rate: number; name?: string };

/** TF.js exports its initializer classes as types only; the base class is reached through one. */
const InitializerBase = Object.getPrototypeOf(Object.getPrototypeOf(tf.initializers.zeros())).constructor as abstract new () => Initializer;

/** Initializers that draw nothing. */
const CONSTANT = new Set(['Zeros', 'Ones', 'Constant']);

/**
 * A variance-scaling initializer (He, Glorot...) that seeds itself from `random` each time it
 * fills a weight, as TF.js seeds it from Math.random; it serializes as the one it replaces.
 */
class DrawnInitializer extends InitializerBase {
  constructor(
    private readonly like: Initializer,
    private readonly random: () => number,
  ) {
    super();
  }

  override apply(shape: number[], dtype?: tf.DataType): tf.Tensor {
    return tf.initializers.varianceScaling({ ...this.like.getConfig(), seed: this.random() }).apply(shape, dtype);
  }

  override getClassName(): string {
    return this.like.getClassName();
  }

  override getConfig(): tf.serialization.ConfigDict {
    return this.like.getConfig();
  }
}

/**
 * Gives a layer that is not built yet initializers that draw from `random`. Throws for a random
 * initializer it does not know, rather than let it draw from Math.random unseen.
 */
function drawFrom<L extends tf.layers.Layer>(layer: L, random: () => number): L {
  const fields = layer as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(fields)) {
    if (!(value instanceof InitializerBase)) continue;
    const cls = value.getClassName();
    if (cls === 'VarianceScaling') fields[key] = new DrawnInitializer(value, random);
    else if (!CONSTANT.has(cls)) throw new Error(`${layer.name}.${key}: a seeded ${cls} initializer is not supported.`);
  }
  return layer;
}

/**
 * TF.js's Dropout with each training step's mask seeded from `random` (TF.js's draws from
 * Math.random); the same class name and config, so it saves and exports as TF.js's Dropout.
 */
class SeededDropout extends tf.layers.Layer {
  static className = 'Dropout';
  readonly rate: number;

  constructor(
    args: DropoutArgs,
    private readonly random: () => number,
  ) {
    super(args);
    this.rate = Math.max(Math.min(args.rate, 1), 0);
    this.supportsMasking = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      if (!(0 < this.rate && this.rate < 1)) return inputs;
      const input = Array.isArray(inputs) ? inputs[0] : inputs;
      if (!kwargs['training']) return input;
      const seed = this.random();
      return tf.dropout(input, this.rate, undefined, seed);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    // As TF.js's Dropout: the unset options are saved as null.
    return { rate: this.rate, noiseShape: null, seed: null, ...super.getConfig() };
  }
}

/**
 * Makers of the layers that draw random numbers: with `random`, seeded from it; without, TF.js's
 * own (seeded from Math.random), for models that are only measured or loaded into.
 */
export function randomLayers(random?: ModelRandom) {
  const seeded = <L extends tf.layers.Layer>(layer: L): L => (random ? drawFrom(layer, random.weights) : layer);
  return {
    dense: (args: Parameters<typeof tf.layers.dense>[0]) => seeded(tf.layers.dense(args)),
    conv2d: (args: Parameters<typeof tf.layers.conv2d>[0]) => seeded(tf.layers.conv2d(args)),
    dropout: (args: DropoutArgs): tf.layers.Layer => (random ? new SeededDropout(args, random.dropout) : tf.layers.dropout(args)),
  };
}
