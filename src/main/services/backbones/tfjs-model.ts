// A TF.js layers backbone as data (model.json + weight bytes), cut and joined without loading
// TensorFlow.js: the features model is the backbone up to its feature layer, at the chosen input
// size, with its preprocessing as a Rescaling layer in front (so it takes pixels scaled to [0, 1]
// like every Loupe model) and global average pooling after a spatial feature layer. A transfer
// run's saved model is that plus the trained head: one flat functional model that
// tf.loadLayersModel reads and the ONNX exporter converts into one graph.

import fs from 'node:fs';
import path from 'node:path';
import { LoupeError } from '../../../shared/errors';
import { replaceFolder, tempSibling } from '../../store/swap';
import type { ModelJson } from '../onnx/layers-model';

export interface LayersFiles {
  json: ModelJson;
  /** Every weight, concatenated in manifest order. */
  weights: Uint8Array;
}

export interface KLayer {
  class_name: string;
  name: string;
  config: Record<string, unknown>;
  inbound_nodes: [string, number, number, Record<string, unknown>][][];
}

interface WeightSpec {
  name: string;
  shape: number[];
  dtype?: string;
}

export interface Functional {
  name: string;
  layers: KLayer[];
  input: string;
  output: string;
}

export const PREPROCESS_LAYER = 'loupe_preprocess';
export const FEATURES_LAYER = 'loupe_features';

const SPATIAL = new Set(['Conv2D', 'DepthwiseConv2D', 'SeparableConv2D', 'MaxPooling2D', 'AveragePooling2D', 'ZeroPadding2D', 'Conv2DTranspose', 'UpSampling2D']);
const VECTOR = new Set(['GlobalAveragePooling2D', 'GlobalMaxPooling2D', 'Flatten']);

function bad(message: string): LoupeError {
  return new LoupeError('INVALID_INPUT', `The backbone cannot be used: ${message}`);
}

export function readTfjsFolder(dir: string): LayersFiles {
  let json: ModelJson;
  try {
    json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as ModelJson;
  } catch {
    throw bad(`${dir} holds no readable model.json.`);
  }
  const chunks = (json.weightsManifest ?? []).flatMap((g) => g.paths).map((p) => fs.readFileSync(path.resolve(dir, p)));
  const bytes = Buffer.concat(chunks);
  return { json, weights: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
}

/** Writes model.json + weights.bin into `dir` (through a temporary folder: complete or absent). */
export function writeTfjsFolder(files: LayersFiles, dir: string): void {
  const tmp = tempSibling(dir, 'new');
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  const json = { ...files.json, weightsManifest: [{ paths: ['./weights.bin'], weights: files.json.weightsManifest.flatMap((g) => g.weights) }] };
  fs.writeFileSync(path.join(tmp, 'model.json'), JSON.stringify(json));
  fs.writeFileSync(path.join(tmp, 'weights.bin'), files.weights);
  replaceFolder(tmp, dir);
}

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

/** Any topology (Sequential or functional, TF.js or Keras converter layout) as a functional layer list. */
export function functional(json: ModelJson): Functional {
  let topology = json.modelTopology as Record<string, unknown> | null;
  if (!topology || typeof topology !== 'object') throw bad('model.json has no modelTopology.');
  if (topology.model_config && typeof topology.model_config === 'object') topology = topology.model_config as Record<string, unknown>;
  const config = topology.config as Record<string, unknown> | unknown[];
  if (topology.class_name === 'Sequential') {
    const raw = clone((Array.isArray(config) ? config : (config.layers as unknown[])) as { class_name: string; config: Record<string, unknown>; name?: string }[]);
    const layers: KLayer[] = [];
    let previous: string | null = null;
    for (const l of raw) {
      const name = (l.config.name as string) ?? l.name;
      if (previous === null && l.class_name !== 'InputLayer') {
        const shape = l.config.batch_input_shape ?? l.config.batchInputShape;
        if (!Array.isArray(shape)) throw bad('its first layer gives no input shape.');
        layers.push({ class_name: 'InputLayer', name: `${name}_input`, config: { name: `${name}_input`, batch_input_shape: shape, dtype: 'float32', sparse: false }, inbound_nodes: [] });
        previous = `${name}_input`;
      }
      if (l.class_name !== 'InputLayer') {
        // The shape moves to the input layer made above; an input layer of its own keeps it.
        delete l.config.batch_input_shape;
        delete l.config.batchInputShape;
      }
      layers.push({ class_name: l.class_name, name, config: l.config, inbound_nodes: previous === null ? [] : [[[previous, 0, 0, {}]]] });
      previous = name;
    }
    if (!previous) throw bad('it has no layers.');
    return { name: String((!Array.isArray(config) && config.name) || 'sequential'), layers, input: layers[0].name, output: previous };
  }
  if ((topology.class_name === 'Model' || topology.class_name === 'Functional') && !Array.isArray(config)) {
    const layers = clone(config.layers as KLayer[]).map((l) => ({ ...l, name: l.name ?? (l.config.name as string) }));
    const inputs = config.input_layers as [string, number, number][];
    const outputs = config.output_layers as [string, number, number][];
    if (inputs?.length !== 1 || outputs?.length !== 1) throw bad('it must have exactly one input and one output.');
    return { name: String(config.name ?? 'model'), layers, input: inputs[0][0], output: outputs[0][0] };
  }
  throw bad(`its topology is a ${String(topology.class_name)}.`);
}

/** The layers `target` depends on (itself included), in the model's order. */
export function ancestors(model: Functional, target: string): KLayer[] {
  const byName = new Map(model.layers.map((l) => [l.name, l]));
  if (!byName.has(target)) throw bad(`it has no layer named "${target}" (its feature layer).`);
  const keep = new Set<string>();
  const stack = [target];
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (keep.has(name)) continue;
    keep.add(name);
    const layer = byName.get(name);
    if (!layer) throw bad(`layer ${name} is referred to but missing.`);
    if (layer.inbound_nodes.length > 1) throw bad(`layer ${name} is shared (called more than once), which feature extraction does not support.`);
    for (const ref of layer.inbound_nodes[0] ?? []) stack.push(ref[0]);
  }
  return model.layers.filter((l) => keep.has(l.name));
}

/** Whether a layer's output is an image-like [H, W, C] map (to be pooled) rather than a vector. */
function isSpatial(layers: KLayer[], name: string): boolean {
  const byName = new Map(layers.map((l) => [l.name, l]));
  for (let layer = byName.get(name); layer; ) {
    if (SPATIAL.has(layer.class_name)) return true;
    if (VECTOR.has(layer.class_name)) return layer.config.keepdims === true;
    if (layer.class_name === 'InputLayer') return ((layer.config.batch_input_shape ?? layer.config.batch_shape) as unknown[]).length === 4;
    if (layer.class_name === 'Reshape') return ((layer.config.target_shape ?? []) as unknown[]).length === 3;
    const from = layer.inbound_nodes[0]?.[0]?.[0];
    layer = from ? byName.get(from) : undefined;
  }
  return false;
}

/** Keeps the weights of the given layers: the manifest entries and their bytes, in order. */
function weightsOf(files: LayersFiles, layerNames: Set<string>): { specs: WeightSpec[]; bytes: Uint8Array } {
  const specs: WeightSpec[] = [];
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const spec of files.json.weightsManifest.flatMap((g) => g.weights) as WeightSpec[]) {
    if ((spec.dtype ?? 'float32') !== 'float32') throw bad(`weight ${spec.name} is ${spec.dtype}; Loupe needs float32 weights.`);
    const size = spec.shape.reduce((a, b) => a * b, 1) * 4;
    if (offset + size > files.weights.byteLength) throw bad(`its weight files end before weight ${spec.name} (a shard is truncated).`);
    const layer = spec.name.slice(0, spec.name.lastIndexOf('/'));
    const owner = layerNames.has(layer) || [...layerNames].some((n) => layer.endsWith(`/${n}`));
    if (owner) {
      specs.push(spec);
      parts.push(files.weights.subarray(offset, offset + size));
    }
    offset += size;
  }
  if (offset !== files.weights.byteLength) throw bad(`its weight files hold ${files.weights.byteLength} bytes where its manifest describes ${offset}.`);
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  parts.reduce((at, p) => (bytes.set(p, at), at + p.byteLength), 0);
  return { specs, bytes };
}

function toFiles(name: string, layers: KLayer[], input: string, output: string, specs: WeightSpec[], weights: Uint8Array): LayersFiles {
  return {
    json: {
      modelTopology: {
        class_name: 'Model',
        config: { name, layers, input_layers: [[input, 0, 0]], output_layers: [[output, 0, 0]] },
        keras_version: 'tfjs-layers 4.22.0',
        backend: 'tensor_flow.js',
      },
      weightsManifest: [{ paths: ['./weights.bin'], weights: specs as never }],
    },
    weights,
  };
}

export interface FeatureModelOptions {
  featureLayer: string;
  resolution: number;
  channels: number;
  /** On pixels scaled to [0, 1]. */
  preprocess: { scale: number; offset: number };
  /** Keep a spatial feature layer's [H, W, C] output as it is (a fine-tuning cut) instead of pooling it. */
  spatial?: boolean;
}

/** The features of `output`: itself when a vector, else a GlobalAveragePooling2D layer appended after it (named FEATURES_LAYER). */
function pooled(layers: KLayer[], output: string): string {
  if (!isSpatial(layers, output)) return output;
  layers.push({
    class_name: 'GlobalAveragePooling2D',
    name: FEATURES_LAYER,
    config: { name: FEATURES_LAYER, trainable: false, dtype: 'float32', data_format: 'channels_last' },
    inbound_nodes: [[[output, 0, 0, {}]]],
  });
  return FEATURES_LAYER;
}
/** The backbone cut at its feature layer: [N, res, res, C] pixels in [0, 1] -> [N, features]. */
export function featureModel(files: LayersFiles, options: FeatureModelOptions): LayersFiles {
  const model = functional(files.json);
  const layers = ancestors(model, options.featureLayer);
  const input = layers.find((l) => l.class_name === 'InputLayer');
  if (!input || input.name !== model.input) throw bad('its feature layer does not depend on its input.');
  input.config.batch_input_shape = [null, options.resolution, options.resolution, options.channels];
  delete input.config.batch_shape;
  const { scale, offset } = options.preprocess;
  if (scale !== 1 || offset !== 0) {
    for (const l of layers) for (const node of l.inbound_nodes) for (const ref of node) if (ref[0] === input.name) ref[0] = PREPROCESS_LAYER;
    const rescale: KLayer = {
      class_name: 'Rescaling',
      name: PREPROCESS_LAYER,
      config: { name: PREPROCESS_LAYER, trainable: false, dtype: 'float32', scale, offset },
      inbound_nodes: [[[input.name, 0, 0, {}]]],
    };
    layers.splice(layers.indexOf(input) + 1, 0, rescale);
  }
  const output = options.spatial ? options.featureLayer : pooled(layers, options.featureLayer);
  const { specs, bytes } = weightsOf(files, new Set(layers.map((l) => l.name)));
  return toFiles(`${model.name}_features`, layers, input.name, output, specs, bytes);
}

/** The features model followed by a trained head (a model whose input is the feature vector). */
export function withHead(features: LayersFiles, head: LayersFiles, name = 'loupe_transfer'): LayersFiles {
  const base = functional(features.json);
  const top = functional(head.json);
  const taken = new Set(base.layers.map((l) => l.name));
  const headLayers = top.layers.filter((l) => l.class_name !== 'InputLayer');
  for (const l of headLayers) {
    if (taken.has(l.name)) throw bad(`the head's layer ${l.name} has the name of a backbone layer.`);
    for (const node of l.inbound_nodes) for (const ref of node) if (ref[0] === top.input) ref[0] = base.output;
    delete l.config.batch_input_shape;
  }
  const headWeights = weightsOf(head, new Set(headLayers.map((l) => l.name)));
  const baseWeights = weightsOf(features, taken);
  const bytes = new Uint8Array(baseWeights.bytes.byteLength + headWeights.bytes.byteLength);
  bytes.set(baseWeights.bytes, 0);
  bytes.set(headWeights.bytes, baseWeights.bytes.byteLength);
  return toFiles(name, [...base.layers, ...headLayers], base.input, top.output, [...baseWeights.specs, ...headWeights.specs], bytes);
}

const FLIP_IN = 'loupe_flip_in';
const FLIP = 'loupe_flip';
const FLIP_OUT = 'loupe_flip_out';
const FLIP_AVERAGE = 'loupe_flip_average';

/**
 * Test-time flip averaging inside the model: the output becomes the mean of the model on the
 * image and on its left-right mirror image (the same layers and weights, called twice). TF.js
 * layers have no flip, so the mirror is a Dense layer on the width axis whose kernel is the
 * reversal permutation (exact: each output is one input times 1 plus zeros), between two
 * Permutes. The ONNX exporter turns these into Transpose, MatMul and Mean.
 */
export function withFlipAverage(files: LayersFiles, width: number): LayersFiles {
  const model = functional(files.json);
  const input = model.layers.find((l) => l.name === model.input);
  const shape = (input?.config.batch_input_shape ?? input?.config.batch_shape) as unknown[] | undefined;
  if (!input || shape?.length !== 4 || shape[2] !== width) throw bad(`flip averaging needs an image input ${width} pixels wide.`);
  const config = (name: string, extra: Record<string, unknown>) => ({ name, trainable: false, dtype: 'float32', ...extra });
  const mirror: KLayer[] = [
    { class_name: 'Permute', name: FLIP_IN, config: config(FLIP_IN, { dims: [1, 3, 2] }), inbound_nodes: [[[input.name, 0, 0, {}]]] },
    {
      class_name: 'Dense',
      name: FLIP,
      config: config(FLIP, {
        units: width,
        activation: 'linear',
        use_bias: false,
        kernel_initializer: { class_name: 'Zeros', config: {} },
        bias_initializer: { class_name: 'Zeros', config: {} },
        kernel_regularizer: null,
        bias_regularizer: null,
        activity_regularizer: null,
        kernel_constraint: null,
        bias_constraint: null,
      }),
      inbound_nodes: [[[FLIP_IN, 0, 0, {}]]],
    },
    { class_name: 'Permute', name: FLIP_OUT, config: config(FLIP_OUT, { dims: [1, 3, 2] }), inbound_nodes: [[[FLIP, 0, 0, {}]]] },
  ];
  const rest = model.layers.filter((l) => l !== input);
  for (const l of rest) {
    if ([FLIP_IN, FLIP, FLIP_OUT, FLIP_AVERAGE].includes(l.name)) throw bad(`it already has a layer named ${l.name}.`);
    if (l.inbound_nodes.length !== 1) throw bad(`layer ${l.name} is shared (called more than once).`);
    const node = l.inbound_nodes[0];
    l.inbound_nodes.push(node.map(([from, index, tensor, kwargs]) => (from === input.name ? [FLIP_OUT, 0, 0, kwargs ?? {}] : [from, index + 1, tensor, kwargs ?? {}])));
  }
  const average: KLayer = {
    class_name: 'Average',
    name: FLIP_AVERAGE,
    config: config(FLIP_AVERAGE, {}),
    inbound_nodes: [
      [
        [model.output, 0, 0, {}],
        [model.output, 1, 0, {}],
      ],
    ],
  };
  const reversal = new Float32Array(width * width);
  for (let i = 0; i < width; i++) reversal[i * width + (width - 1 - i)] = 1;
  const specs = [...(files.json.weightsManifest.flatMap((g) => g.weights) as WeightSpec[]), { name: `${FLIP}/kernel`, shape: [width, width], dtype: 'float32' }];
  const bytes = new Uint8Array(files.weights.byteLength + reversal.byteLength);
  bytes.set(files.weights, 0);
  bytes.set(new Uint8Array(reversal.buffer), files.weights.byteLength);
  return toFiles(model.name, [input, ...mirror, ...rest, average], input.name, FLIP_AVERAGE, specs, bytes);
}

export const CUT_INPUT = 'loupe_cut_input';

/**
 * The part of a model after `cutLayer` (a layer nothing skips over) up to `outputLayer`, as a
 * model of its own whose input is the cut layer's output ([H, W, C], or [F] for a vector), with
 * its real weights. A spatial output is pooled (as the features model pools it), so a
 * fine-tuning run's trained part ends in the same features the head was trained on.
 */
export function partAfter(files: LayersFiles, cutLayer: string, outputLayer: string, cutShape: number[]): LayersFiles {
  const model = functional(files.json);
  const before = new Set(ancestors(model, cutLayer).map((l) => l.name));
  const layers = ancestors(model, outputLayer).filter((l) => !before.has(l.name));
  for (const l of layers) {
    delete l.config.batch_input_shape;
    for (const node of l.inbound_nodes) {
      for (const ref of node) {
        if (ref[0] === cutLayer) ref[0] = CUT_INPUT;
        else if (before.has(ref[0])) throw bad(`layer ${l.name} reads ${ref[0]}, which is before the cut at ${cutLayer}.`);
      }
    }
  }
  const input: KLayer = {
    class_name: 'InputLayer',
    name: CUT_INPUT,
    config: { name: CUT_INPUT, batch_input_shape: [null, ...cutShape], dtype: 'float32', sparse: false },
    inbound_nodes: [],
  };
  const all = [input, ...layers];
  const output = cutShape.length === 3 ? pooled(all, outputLayer) : outputLayer;
  const { specs, bytes } = weightsOf(files, new Set(layers.map((l) => l.name)));
  return toFiles(`${model.name}_part`, all, CUT_INPUT, output, specs, bytes);
}

/** The output layer's name of a model. */
export function outputLayerOf(files: LayersFiles): string {
  return functional(files.json).output;
}

/** A weight's layer and its own name within the layer (TF.js may add _1 to a repeated variable name). */
function weightKey(name: string): string {
  const slash = name.lastIndexOf('/');
  const layer = name.slice(0, slash).split('/').pop();
  return `${layer}/${name.slice(slash + 1).replace(/_\d+$/, '')}`;
}

/**
 * `target` with every weight that `trained` also has (same layer, same weight) taken from
 * `trained`: a backbone's features model carrying the weights a fine-tuning run trained.
 * Returns how many weights were replaced.
 */
export function withWeightsFrom(target: LayersFiles, trained: LayersFiles): { files: LayersFiles; replaced: number } {
  const source = new Map<string, Uint8Array>();
  let offset = 0;
  for (const spec of trained.json.weightsManifest.flatMap((g) => g.weights) as WeightSpec[]) {
    const size = spec.shape.reduce((a, b) => a * b, 1) * 4;
    source.set(weightKey(spec.name), trained.weights.subarray(offset, offset + size));
    offset += size;
  }
  const weights = target.weights.slice();
  let replaced = 0;
  offset = 0;
  for (const spec of target.json.weightsManifest.flatMap((g) => g.weights) as WeightSpec[]) {
    const size = spec.shape.reduce((a, b) => a * b, 1) * 4;
    const from = source.get(weightKey(spec.name));
    if (from) {
      if (from.byteLength !== size) throw bad(`the trained weight ${spec.name} has ${from.byteLength / 4} values where the backbone has ${size / 4}.`);
      weights.set(from, offset);
      replaced++;
    }
    offset += size;
  }
  return { files: { json: target.json, weights }, replaced };
}
