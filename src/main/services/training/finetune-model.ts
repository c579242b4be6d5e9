// A fine-tuning run's model inside a replica: loaded from the TF.js files the main thread gave
// (the backbone's trained part with the head on top, or the whole backbone), with its dropout
// masks seeded like every run's and, where asked, batch norm kept on its pretrained statistics.

import * as tf from '@tensorflow/tfjs';
import '../tfjs/quiet-tf';
import type { TrainingOptions } from '../onnx/training-graph';
import type { ReplicaModel } from './protocol';

type Kwargs = Parameters<tf.layers.Layer['call']>[1];
type Call = (inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs) => tf.Tensor | tf.Tensor[];

export async function loadTrainableModel(spec: ReplicaModel, dropoutRandom: () => number): Promise<tf.LayersModel> {
  const json = spec.json as { modelTopology: object; weightsManifest: { weights: tf.io.WeightsManifestEntry[] }[] };
  const weightData = spec.weights.buffer.slice(spec.weights.byteOffset, spec.weights.byteOffset + spec.weights.byteLength) as ArrayBuffer;
  const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest.flatMap((m) => m.weights), weightData }));
  for (const layer of model.layers) {
    const patchable = layer as unknown as { call: Call; rate?: number };
    const cls = layer.getClassName();
    if (cls === 'Dropout') {
      // As seeded-layers.ts's SeededDropout: each step's mask seeded from the run's generator.
      const rate = patchable.rate ?? 0;
      patchable.call = (inputs, kwargs) =>
        tf.tidy(() => {
          const input = Array.isArray(inputs) ? inputs[0] : inputs;
          if (!kwargs['training'] || !(rate > 0 && rate < 1)) return input;
          return tf.dropout(input, rate, undefined, dropoutRandom());
        });
    } else if (cls === 'BatchNormalization' && spec.frozenBatchNorm) {
      // Normalizes with the moving mean and variance (as at inference); gamma and beta still learn.
      const call = patchable.call.bind(layer);
      patchable.call = (inputs, kwargs) => call(inputs, { ...kwargs, training: false });
    }
  }
  return model;
}

/** The learning-rate multiplier of each trainable weight (by variable name): 1 in the head, the backbone's scale elsewhere. */
export function learningRateScales(model: tf.LayersModel, spec: ReplicaModel): Map<string, number> {
  const head = new Set(spec.headLayers);
  const scales = new Map<string, number>();
  for (const layer of model.layers) for (const w of layer.trainableWeights) scales.set((w.read() as tf.Variable).name, head.has(layer.name) ? 1 : spec.backboneLrScale);
  return scales;
}

/** The onnxruntime training compiler's view of the same: per-layer learning-rate scales and frozen batch norm. */
export function compilerOptions(model: tf.LayersModel, spec: ReplicaModel): TrainingOptions {
  const head = new Set(spec.headLayers);
  const lrScale: Record<string, number> = {};
  for (const layer of model.layers) if (!head.has(layer.name) && layer.trainableWeights.length > 0) lrScale[layer.name] = spec.backboneLrScale;
  return { frozenBatchNorm: spec.frozenBatchNorm, lrScale };
}
