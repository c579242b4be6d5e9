// Which parts of a backbone a transfer run can train: the points where its last blocks can be
// cut off (their input cached once per image, so each epoch runs only what is trained), or why
// the backbone cannot be fine-tuned at all (the operators Loupe's training compiler has no
// gradient for). The planner decides from this; training executes it.

import fs from 'node:fs';
import path from 'node:path';
import type { ModelJson } from '../onnx/layers-model';
import { readOnnxModel } from '../onnx/surgery';
import type { ResolvedBackbone } from './locate';
import { ancestors, functional, type KLayer } from './tfjs-model';

/** A place to cut a backbone: everything after `cutLayer` is trained. */
export interface BlockCut {
  /** Backbone blocks after the cut (1 = the last block). */
  blocks: number;
  /** The layer whose output is cached per image (spatial, not pooled). */
  cutLayer: string;
  /** Floats per image of the cut layer's output at the backbone's native input size (scales with the square of the side). */
  floatsAtNative: number;
  /** Forward multiply-adds per image of the part after the cut, at the native input size. */
  macsAtNative: number;
}

export type FineTuneSupport =
  | {
      ok: true;
      /** Possible cuts, fewest trained blocks first. */
      cuts: BlockCut[];
      /** Forward multiply-adds per image of the whole backbone at its native input size (training all of it). */
      macsAtNative: number;
    }
  | { ok: false; why: string };

/** A layer's output shape ([H, W, C] or [F]) and its forward multiply-adds, per image. */
interface Shaped {
  shape: number[];
  macs: number;
}

const SAME_SHAPE = new Set(['BatchNormalization', 'Activation', 'ReLU', 'Dropout', 'Rescaling', 'LayerNormalization', 'Softmax']);

function pair(v: unknown, fallback: number): [number, number] {
  if (v === undefined || v === null) return [fallback, fallback];
  return Array.isArray(v) ? [Number(v[0]), Number(v[1] ?? v[0])] : [Number(v), Number(v)];
}

function windowed(size: number, kernel: number, stride: number, padding: unknown): number {
  return padding === 'same' ? Math.ceil(size / stride) : Math.floor((size - kernel) / stride) + 1;
}

/** The output shape and multiply-adds of one layer given its inputs' shapes; null for a layer this does not know. */
function shapeOf(layer: KLayer, inputs: number[][]): Shaped | null {
  const c = layer.config;
  const x = inputs[0];
  switch (layer.class_name) {
    case 'Conv2D':
    case 'DepthwiseConv2D': {
      const [kh, kw] = pair(c.kernel_size, 1);
      const [sh, sw] = pair(c.strides, 1);
      const h = windowed(x[0], kh, sh, c.padding);
      const w = windowed(x[1], kw, sw, c.padding);
      const out = layer.class_name === 'Conv2D' ? Number(c.filters) : x[2] * Number(c.depth_multiplier ?? 1);
      const perOutput = layer.class_name === 'Conv2D' ? kh * kw * x[2] : kh * kw;
      return { shape: [h, w, out], macs: h * w * out * perOutput };
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      const [kh, kw] = pair(c.pool_size, 2);
      const [sh, sw] = pair(c.strides ?? c.pool_size, 2);
      return { shape: [windowed(x[0], kh, sh, c.padding), windowed(x[1], kw, sw, c.padding), x[2]], macs: 0 };
    }
    case 'ZeroPadding2D': {
      const p = c.padding;
      const [[t, b], [l, r]] = Array.isArray(p) && Array.isArray(p[0]) ? (p as [[number, number], [number, number]]) : [pair(p, 1), pair(p, 1)];
      return { shape: [x[0] + t + b, x[1] + l + r, x[2]], macs: 0 };
    }
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D':
      return { shape: c.keepdims === true ? [1, 1, x[2]] : [x[2]], macs: 0 };
    case 'Flatten':
      return { shape: [x.reduce((a, b) => a * b, 1)], macs: 0 };
    case 'Dense':
      return { shape: [...x.slice(0, -1), Number(c.units)], macs: x.reduce((a, b) => a * b, 1) * Number(c.units) };
    case 'Add':
    case 'Multiply':
    case 'Average':
      return { shape: x, macs: 0 };
    case 'Concatenate':
      return { shape: [...x.slice(0, -1), inputs.reduce((a, s) => a + s[s.length - 1], 0)], macs: 0 };
    case 'Reshape':
      return { shape: (c.target_shape as number[]).slice(), macs: 0 };
    default:
      return SAME_SHAPE.has(layer.class_name) ? { shape: x, macs: 0 } : null;
  }
}

/**
 * Where a backbone's blocks end: layers every path from the input to the feature layer runs
 * through (nothing skips over them) that close a block, i.e. follow a residual Add or are the
 * activation after a pointwise (1x1) convolution and its batch norm (MobileNet v1's conv_pw_N_relu).
 */
function blockEnds(layers: KLayer[], shapes: Map<string, Shaped>): string[] {
  const index = new Map(layers.map((l, i) => [l.name, i]));
  const byName = new Map(layers.map((l) => [l.name, l]));
  const from = (l: KLayer) => (l.inbound_nodes[0] ?? []).map((ref) => byName.get(ref[0])!);
  // The furthest layer fed by each layer: a cut after layer i needs every edge from layers before it to end at i at the latest.
  const furthest = layers.map(() => -1);
  layers.forEach((l, v) => from(l).forEach((u) => (furthest[index.get(u.name)!] = Math.max(furthest[index.get(u.name)!], v))));
  const ends: string[] = [];
  let reach = -1;
  for (let i = 0; i < layers.length - 1; i++) {
    const layer = layers[i];
    const cut = reach <= i;
    reach = Math.max(reach, furthest[i]);
    if (!cut || shapes.get(layer.name)?.shape.length !== 3) continue;
    const before = from(layer);
    const isAct = layer.class_name === 'Activation' || layer.class_name === 'ReLU';
    const afterAdd = layer.class_name === 'Add' || (isAct && before[0]?.class_name === 'Add');
    const bn = isAct && before[0]?.class_name === 'BatchNormalization' ? from(before[0])[0] : undefined;
    const pointwise = bn?.class_name === 'Conv2D' && pair(bn.config.kernel_size, 1).every((k) => k === 1);
    if (afterAdd || pointwise) ends.push(layer.name);
  }
  return ends;
}

function tfjsSupport(backbone: ResolvedBackbone): FineTuneSupport {
  let json: ModelJson;
  try {
    json = JSON.parse(fs.readFileSync(path.join(backbone.location, 'model.json'), 'utf8')) as ModelJson;
  } catch {
    return { ok: false, why: `${backbone.title}: ${backbone.location} holds no readable model.json.` };
  }
  // A TF.js copy always names its feature layer (registry.ts refuses one that does not).
  const layers = ancestors(functional(json), backbone.featureLayer!);
  const shapes = new Map<string, Shaped>();
  for (const layer of layers) {
    if (layer.class_name === 'InputLayer') {
      shapes.set(layer.name, { shape: [backbone.inputSize, backbone.inputSize, 3], macs: 0 });
      continue;
    }
    const inputs = (layer.inbound_nodes[0] ?? []).map((ref) => shapes.get(ref[0])?.shape);
    const shaped = inputs.length > 0 && inputs.every(Boolean) ? shapeOf(layer, inputs as number[][]) : null;
    if (!shaped) return { ok: false, why: `${backbone.title}: Loupe cannot follow its ${layer.class_name} layer "${layer.name}" to find its blocks.` };
    shapes.set(layer.name, shaped);
  }
  const macsAfter = (cut: string) => layers.slice(layers.findIndex((l) => l.name === cut) + 1).reduce((a, l) => a + shapes.get(l.name)!.macs, 0);
  // A block end followed only by pooling (the feature layer pools the last block's output) trains nothing.
  const ends = blockEnds(layers, shapes).filter((name) => macsAfter(name) > 0);
  const cuts: BlockCut[] = ends.reverse().map((cutLayer, i) => {
    const shape = shapes.get(cutLayer)!.shape;
    return { blocks: i + 1, cutLayer, floatsAtNative: shape.reduce((a, b) => a * b, 1), macsAtNative: macsAfter(cutLayer) };
  });
  if (cuts.length === 0) return { ok: false, why: `${backbone.title}: Loupe finds no block boundary before its feature layer ${backbone.featureLayer}.` };
  return { ok: true, cuts, macsAtNative: macsAfter(layers[0].name) };
}

/**
 * ONNX operators whose TF.js layer counterpart Loupe's training compiler has a gradient for
 * (Conv covers depthwise, group = channels), and the ones that only move or shape data.
 */
const COMPILER_OPS = new Set([
  'Conv',
  'BatchNormalization',
  'Relu',
  'Clip',
  'MaxPool',
  'GlobalAveragePool',
  'Flatten',
  'Add',
  'Gemm',
  'MatMul',
  'Softmax',
  'Dropout',
  'Identity',
  'Constant',
  'Reshape',
  'Shape',
  'Gather',
  'Unsqueeze',
  'Squeeze',
  'Concat',
  'Transpose',
]);

function onnxSupport(backbone: ResolvedBackbone): FineTuneSupport {
  const graph = readOnnxModel(backbone.location).graph;
  const counts = new Map<string, number>();
  for (const node of graph?.node ?? []) counts.set(node.opType ?? '?', (counts.get(node.opType ?? '?') ?? 0) + 1);
  const blocking = [...counts].filter(([op]) => !COMPILER_OPS.has(op)).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const ops = blocking.map(([op, n]) => `${op} (${n})`).join(', ');
  return {
    ok: false,
    why:
      `${backbone.title} is an ONNX graph; Loupe's training compiler trains TensorFlow.js layer models, so only its head trains. ` +
      (blocking.length > 0
        ? `Training its blocks would also need gradients for these operators, which the compiler has none for: ${ops}.`
        : 'Its operators all have counterparts the compiler trains; what is missing is reading an ONNX graph into trainable layers.'),
  };
}

/** Which blocks of a backbone a run can train (TF.js layers), or exactly why not (ONNX graphs). */
export function fineTuneSupport(backbone: ResolvedBackbone): FineTuneSupport {
  return backbone.format === 'onnx' ? onnxSupport(backbone) : tfjsSupport(backbone);
}
