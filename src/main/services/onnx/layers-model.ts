// A TensorFlow.js layers model (model.json + weight shards) read as plain data: the layer graph
// from the Keras topology and every weight as a Float32Array. No TensorFlow.js is loaded, so the
// converter runs on any thread in milliseconds. Both topology shapes are read: TF.js's own
// (`modelTopology: {class_name, config}`) and the older Keras converter's (`model_config`).

import fs from 'node:fs';
import path from 'node:path';
import { LoupeError } from '../../../shared/errors';

export interface Weight {
  shape: number[];
  data: Float32Array;
}

/** One call of a layer on its inputs (a layer applied twice has two calls). */
export interface LayerCall {
  layer: LayerSpec;
  /** Which call of the layer this is (Keras' node index). */
  index: number;
  /** The calls whose outputs feed this one, in order. */
  inputs: { layer: string; index: number }[];
}

export interface LayerSpec {
  name: string;
  className: string;
  config: Record<string, unknown>;
}

export interface LayersGraph {
  name: string;
  layers: Map<string, LayerSpec>;
  /** Every call, keyed `${layer}:${index}`. */
  calls: Map<string, LayerCall>;
  /** The model input: its call and its shape without the batch dimension (NHWC for images). */
  input: { call: string; shape: number[] };
  output: string;
  weights: Map<string, Weight>;
}

export interface ModelJson {
  modelTopology: unknown;
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
}

interface WeightSpec {
  name: string;
  shape: number[];
  dtype?: string;
  quantization?: unknown;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function bad(message: string): LoupeError {
  return new LoupeError('INVALID_INPUT', `The model cannot be read: ${message}`);
}

export const callKey = (layer: string, index: number) => `${layer}:${index}`;

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A layer's weight (`kernel`, `bias`, `gamma`, ...) by TF.js's `<layer>/<weight>` name. Names
 * made unique by TF.js carry a suffix (`kernel_1`); models saved in a scope carry a prefix.
 */
export function findWeight(weights: Map<string, Weight>, layer: string, name: string): Weight | null {
  const exact = weights.get(`${layer}/${name}`);
  if (exact) return exact;
  const pattern = new RegExp(`(^|/)${escapeRegExp(layer)}/${escapeRegExp(name)}(_\\d+)?$`);
  for (const [key, w] of weights) if (pattern.test(key)) return w;
  return null;
}

/** findWeight that must find: a model without the layer's weight cannot be read. */
export function requireWeight(weights: Map<string, Weight>, layer: string, name: string): Weight {
  const found = findWeight(weights, layer, name);
  if (!found) throw new LoupeError('INVALID_INPUT', `The model cannot be read: layer "${layer}" has no ${name} weight.`);
  return found;
}

/**
 * The value of the layer call `target`, computing first each call it reads, once, by an iterative
 * post-order walk (deep models, hundreds of layers, never exhaust the stack). `values` holds what
 * is known (the input) and receives every value computed; `compute` gets a call whose inputs all
 * have values, with those values. A call the graph lacks, or one that feeds itself, is refused.
 */
export function computeCall<V>(calls: Map<string, LayerCall>, values: Map<string, V>, target: string, compute: (call: LayerCall, inputs: V[], key: string) => V): V {
  const visiting = new Set<string>();
  const stack = [target];
  while (stack.length > 0) {
    const key = stack[stack.length - 1];
    if (values.has(key)) {
      stack.pop();
      continue;
    }
    const call = calls.get(key);
    if (!call) throw bad(`it refers to a layer call ${key} it does not have.`);
    const pending = call.inputs.map((i) => callKey(i.layer, i.index)).filter((k) => !values.has(k));
    if (pending.length > 0) {
      if (visiting.has(key)) throw bad(`layer ${call.layer.name} feeds itself.`);
      visiting.add(key);
      stack.push(...pending);
      continue;
    }
    values.set(key, compute(call, call.inputs.map((i) => values.get(callKey(i.layer, i.index))!), key));
    visiting.delete(key);
    stack.pop();
  }
  return values.get(target)!;
}

/** Splits the concatenated weight bytes (every shard of every group, in order) by the manifest. */
export function readWeights(manifest: ModelJson['weightsManifest'], bytes: Uint8Array): Map<string, Weight> {
  const weights = new Map<string, Weight>();
  let offset = 0;
  for (const spec of manifest.flatMap((g) => g.weights)) {
    if (spec.quantization) throw bad(`weight ${spec.name} is quantized; export needs float32 weights.`);
    if ((spec.dtype ?? 'float32') !== 'float32') throw bad(`weight ${spec.name} is ${spec.dtype}; export needs float32 weights.`);
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const end = offset + count * 4;
    if (end > bytes.byteLength) throw bad(`the weight data ends before weight ${spec.name}.`);
    // Copy: the source may be unaligned, and callers keep weights after the buffer goes.
    const data = new Float32Array(count);
    new Uint8Array(data.buffer).set(bytes.subarray(offset, end));
    weights.set(spec.name, { shape: spec.shape, data });
    offset = end;
  }
  return weights;
}

function batchShape(config: Json): number[] | null {
  const shape = (config.batch_input_shape ?? config.batchInputShape ?? config.batch_shape) as unknown;
  if (!Array.isArray(shape)) return null;
  const rest = shape.slice(1);
  if (rest.some((d) => typeof d !== 'number' || d <= 0)) throw bad(`the input shape ${JSON.stringify(shape)} has unknown dimensions.`);
  return rest as number[];
}

function layerSpec(raw: unknown): LayerSpec {
  if (!isObject(raw) || typeof raw.class_name !== 'string' || !isObject(raw.config)) throw bad('a layer has no class_name or config.');
  const name = typeof raw.name === 'string' ? raw.name : (raw.config.name as string);
  if (typeof name !== 'string' || name.length === 0) throw bad(`a ${raw.class_name} layer has no name.`);
  return { name, className: raw.class_name, config: raw.config };
}

function sequential(name: string, rawLayers: unknown[], graph: Omit<LayersGraph, 'input' | 'output' | 'name'>): Pick<LayersGraph, 'input' | 'output' | 'name'> {
  let previous: string | null = null;
  let inputShape: number[] | null = null;
  for (const raw of rawLayers) {
    const layer = layerSpec(raw);
    if (graph.layers.has(layer.name)) throw bad(`two layers are named ${layer.name}.`);
    if (previous === null) {
      inputShape = batchShape(layer.config);
      if (!inputShape) throw bad(`the first layer (${layer.name}) does not give the input shape.`);
      if (layer.className !== 'InputLayer') {
        // Keras gives a Sequential model an implicit input layer before the first one.
        const input: LayerSpec = { name: `${layer.name}__input`, className: 'InputLayer', config: { batch_input_shape: [null, ...inputShape] } };
        graph.layers.set(input.name, input);
        graph.calls.set(callKey(input.name, 0), { layer: input, index: 0, inputs: [] });
        previous = input.name;
      }
    }
    graph.layers.set(layer.name, layer);
    graph.calls.set(callKey(layer.name, 0), { layer, index: 0, inputs: previous === null ? [] : [{ layer: previous, index: 0 }] });
    previous = layer.name;
  }
  if (!previous || !inputShape) throw bad('the model has no layers.');
  const first = [...graph.calls.keys()][0];
  return { name, input: { call: first, shape: inputShape }, output: callKey(previous, 0) };
}

function inboundOf(layer: LayerSpec, node: unknown): { layer: string; index: number }[] {
  if (!Array.isArray(node)) throw bad(`layer ${layer.name} has inbound nodes in a format Loupe does not read.`);
  return node.map((ref) => {
    if (!Array.isArray(ref) || typeof ref[0] !== 'string') throw bad(`layer ${layer.name} has an inbound node Loupe does not read.`);
    if ((ref[2] ?? 0) !== 0) throw bad(`layer ${layer.name} uses the second output of ${ref[0]}; only single-output layers are supported.`);
    return { layer: ref[0], index: Number(ref[1] ?? 0) };
  });
}

function functional(config: Json, graph: Omit<LayersGraph, 'input' | 'output' | 'name'>): Pick<LayersGraph, 'input' | 'output' | 'name'> {
  const rawLayers = config.layers;
  if (!Array.isArray(rawLayers)) throw bad('the model lists no layers.');
  for (const raw of rawLayers) {
    const layer = layerSpec(raw);
    if (graph.layers.has(layer.name)) throw bad(`two layers are named ${layer.name}.`);
    graph.layers.set(layer.name, layer);
    const nodes = (raw as Json).inbound_nodes;
    if (!Array.isArray(nodes)) throw bad(`layer ${layer.name} has no inbound nodes.`);
    if (nodes.length === 0) graph.calls.set(callKey(layer.name, 0), { layer, index: 0, inputs: [] });
    nodes.forEach((node, index) => graph.calls.set(callKey(layer.name, index), { layer, index, inputs: inboundOf(layer, node) }));
  }
  const ends = (key: string) => {
    const list = config[key];
    if (!Array.isArray(list) || list.length !== 1 || !Array.isArray(list[0])) {
      throw bad(`the model has ${Array.isArray(list) ? list.length : 'no'} ${key === 'input_layers' ? 'inputs' : 'outputs'}; export supports exactly one.`);
    }
    const [name, index, tensor] = list[0] as [string, number, number];
    if ((tensor ?? 0) !== 0) throw bad(`the model ${key === 'input_layers' ? 'input' : 'output'} is not the first output of ${name}.`);
    const key2 = callKey(name, index ?? 0);
    if (!graph.calls.has(key2)) throw bad(`the model refers to a layer ${name} it does not have.`);
    return key2;
  };
  const inputCall = ends('input_layers');
  const output = ends('output_layers');
  const inputLayer = graph.calls.get(inputCall)!.layer;
  const shape = batchShape(inputLayer.config);
  if (!shape) throw bad(`the input layer ${inputLayer.name} does not give the input shape.`);
  return { name: String(config.name ?? 'model'), input: { call: inputCall, shape }, output };
}

/** Reads a model from its parsed model.json and the concatenated bytes of its weight files. */
export function parseLayersModel(json: ModelJson, weightBytes: Uint8Array): LayersGraph {
  let topology = json.modelTopology as Json;
  if (!isObject(topology)) throw bad('model.json has no modelTopology.');
  if (isObject(topology.model_config)) topology = topology.model_config;
  const className = topology.class_name;
  const config = topology.config;
  const graph = { layers: new Map<string, LayerSpec>(), calls: new Map<string, LayerCall>(), weights: readWeights(json.weightsManifest ?? [], weightBytes) };
  let ends: Pick<LayersGraph, 'input' | 'output' | 'name'>;
  if (className === 'Sequential') {
    const layers = Array.isArray(config) ? config : isObject(config) ? config.layers : null;
    if (!Array.isArray(layers)) throw bad('the Sequential model lists no layers.');
    ends = sequential(String((isObject(config) && config.name) || 'sequential'), layers, graph);
  } else if ((className === 'Model' || className === 'Functional') && isObject(config)) {
    ends = functional(config, graph);
  } else {
    throw bad(`the topology is a ${String(className)}; export reads Sequential and functional models.`);
  }
  return { ...graph, ...ends };
}

/** Reads model.json and its weight files (paths relative to it) from a folder. */
export function readLayersModelDir(dir: string): LayersGraph {
  const file = path.join(dir, 'model.json');
  let json: ModelJson;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8')) as ModelJson;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new LoupeError(code === 'ENOENT' ? 'NOT_FOUND' : 'INVALID_INPUT', code === 'ENOENT' ? `There is no model at ${dir}.` : `${file} is not a model file.`);
  }
  const chunks: Buffer[] = [];
  for (const group of json.weightsManifest ?? []) {
    for (const p of group.paths) {
      const shard = path.resolve(dir, p);
      if (path.relative(dir, shard).startsWith('..')) throw bad(`the weight file ${p} lies outside the model folder.`);
      chunks.push(fs.readFileSync(shard));
    }
  }
  const bytes = Buffer.concat(chunks);
  return parseLayersModel(json, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}
