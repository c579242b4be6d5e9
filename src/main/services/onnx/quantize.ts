// Static int8 quantization of a float ONNX graph, written in QDQ form (QuantizeLinear /
// DequantizeLinear pairs around the float operators), which onnxruntime's CPU provider fuses
// into its integer kernels (QLinearConv, QGemm, QLinearMatMul, int8 MaxPool...) and which other
// runtimes read as the standard description of a quantized model.
//
// - Weights of Conv, Gemm and MatMul (constant initializers): int8, symmetric (zero point 0),
//   one scale per output channel, so a channel of small weights keeps its precision, in 7 bits
//   (-63..63, WEIGHT_LEVELS): see there.
//   Biases: int32 at the input scale times the weight scale, as the integer kernels need them.
// - Activations: uint8, asymmetric, one scale per tensor, from the value range seen on
//   calibration images (min/max). uint8 activations with int8 weights (U8S8) is what
//   onnxruntime's x86 kernels run fastest (VNNI's u8 x s8 dot products).
// - BatchNormalization after a Conv is folded into its weights first, and a Relu (or Clip from 0)
//   right after a Conv/Gemm/MatMul is absorbed into its output's quantization: a zero point of 0
//   clamps negatives exactly as the Relu did, so the fused kernel does both.
// - Ops that only move or pick values (MaxPool, Transpose, Reshape, Flatten...) take their
//   input's scale for their output, so onnxruntime runs them on the int8 values directly.
// - Nodes inside control-flow subgraphs (Scan, Loop, If) stay float, and every value they read
//   from the outer graph keeps its float name and initializer.
//
// The flow: planQuantization (fold, choose the tensors), calibrationModel (the float graph with
// those tensors as extra outputs, run by the caller on images), quantizeModel (the QDQ graph).

import { LoupeError } from '../../../shared/errors';
import { GraphBuilder } from './graph-builder';
import { FLOAT, INT32, INT8, UINT8, onnx, valueInfo, type Onnx } from './proto';

type Model = Onnx.ModelProto;
type Node = Onnx.INodeProto;
type Tensor = Onnx.ITensorProto;

export interface Range {
  min: number;
  max: number;
}

export interface ActivationParams {
  scale: number;
  zeroPoint: number;
}

/** Ops whose constant weight is quantized per channel (the work int8 speeds up). */
const COMPUTE = new Set(['Conv', 'Gemm', 'MatMul']);
/** Ops whose output holds (a subset of) their input's values: they share the input's scale. */
const PASSTHROUGH = new Set(['MaxPool', 'Transpose', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze']);
/** Other ops onnxruntime has integer kernels or fusions for. */
const QUANTIZABLE = new Set(['AveragePool', 'GlobalAveragePool', 'Relu', 'Clip']);
/** Ops whose outputs describe shapes, not images: nothing after them is quantized. */
const SHAPE_OPS = new Set(['Shape', 'Size']);
/** QuantizeLinear/DequantizeLinear with an axis (per-channel) need opset 13. */
const MIN_OPSET = 13;

/** uint8 asymmetric parameters for values in `range` (widened to hold 0, so 0 is exact). */
export function activationParams(range: Range): ActivationParams {
  const lo = Math.min(0, range.min);
  const hi = Math.max(0, range.max);
  const scale = Math.fround(hi > lo && Number.isFinite(hi - lo) ? (hi - lo) / 255 : 1);
  return { scale, zeroPoint: Math.min(255, Math.max(0, Math.round(-lo / scale))) };
}

/**
 * The largest quantized weight. x86 CPUs without VNNI (AVX2, AVX-512 without VNNI) multiply uint8
 * activations by int8 weights with vpmaddubsw, which adds each pair of products into an int16 and
 * saturates: 255 x 127 x 2 overflows it, and a model quantized to the full -127..127 predicted
 * garbage there (its top class agreed with the float model's on 0 of 6 images on an AVX2 EPYC,
 * while it passed on AVX-512 machines). With 7-bit weights a pair stays within int16 (255 x 63 x
 * 2 = 32,130) on every CPU, which is onnxruntime's own `reduce_range` for such machines. The
 * export goes to machines Loupe does not know, so every int8 model is made this way.
 */
export const WEIGHT_LEVELS = 63;

/** int8 symmetric per-channel quantization of `data` (shape `dims`) along `axis`, in -WEIGHT_LEVELS..WEIGHT_LEVELS. */
export function quantizeWeights(data: Float32Array, dims: number[], axis: number): { scales: Float32Array; values: Int8Array } {
  const channels = dims[axis];
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const channelOf = (i: number) => Math.floor(i / inner) % channels;
  const maxAbs = new Float32Array(channels);
  for (let i = 0; i < data.length; i++) maxAbs[channelOf(i)] = Math.max(maxAbs[channelOf(i)], Math.abs(data[i]));
  const scales = maxAbs.map((m) => (m > 0 ? m / WEIGHT_LEVELS : 1));
  const values = new Int8Array(data.length);
  for (let i = 0; i < data.length; i++) values[i] = Math.max(-WEIGHT_LEVELS, Math.min(WEIGHT_LEVELS, Math.round(data[i] / scales[channelOf(i)])));
  return { scales, values };
}

function floatsOf(t: Tensor | undefined): Float32Array | null {
  if (!t || t.dataType !== FLOAT) return null;
  if (t.rawData && t.rawData.length > 0) return new Float32Array(Uint8Array.from(t.rawData).buffer);
  if (t.floatData && t.floatData.length > 0) return Float32Array.from(t.floatData);
  return null; // external data, or empty
}

const bytesOf = (a: Float32Array | Int8Array | Int32Array | Uint8Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const dimsOf = (t: Tensor) => (t.dims ?? []).map(Number);

function attr(node: Node, name: string): Onnx.IAttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

function copy(model: Model): Model {
  return onnx.ModelProto.decode(onnx.ModelProto.encode(model).finish());
}

export interface QuantizationPlan {
  /** The float model with BatchNormalization folded into the Convs before it (numerically the same). */
  model: Model;
  /** The activation tensors to calibrate (and to quantize). */
  tensors: string[];
}

interface GraphIndex {
  inits: Map<string, Tensor>;
  consumers: Map<string, Node[]>;
  producer: Map<string, Node>;
  outputs: Set<string>;
  /** Names the subgraphs of control-flow nodes (Scan, Loop, If) read from this graph's scope. */
  inSubgraphs: Set<string>;
}

/** Every name the nodes of `graph`'s subgraphs read, at any depth (an outer value is read by name, not wired). */
function subgraphReads(graph: Onnx.IGraphProto, into = new Set<string>(), nested = false): Set<string> {
  for (const node of graph.node ?? []) {
    if (nested) for (const i of node.input ?? []) into.add(i);
    for (const a of node.attribute ?? []) for (const sub of [a.g, ...(a.graphs ?? [])]) if (sub) subgraphReads(sub, into, true);
  }
  return into;
}

function indexGraph(graph: Onnx.IGraphProto): GraphIndex {
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name!, t]));
  const consumers = new Map<string, Node[]>();
  const producer = new Map<string, Node>();
  for (const node of graph.node ?? []) {
    for (const i of node.input ?? []) if (i) consumers.set(i, [...(consumers.get(i) ?? []), node]);
    for (const o of node.output ?? []) producer.set(o, node);
  }
  return { inits, consumers, producer, outputs: new Set((graph.output ?? []).map((o) => o.name!)), inSubgraphs: subgraphReads(graph) };
}

/** `value` feeds only `node`, and is no graph output: the two can become one. */
function onlyFeeds(ix: GraphIndex, value: string, node: Node): boolean {
  const users = ix.consumers.get(value) ?? [];
  return users.length === 1 && users[0] === node && !ix.outputs.has(value) && !ix.inSubgraphs.has(value);
}

/**
 * Folds each BatchNormalization that alone follows a Conv with constant weights into that Conv.
 * The folded weights are new initializers, made once per weight and batch norm: a layer called
 * twice (a transfer run's backbone on the image and on its mirror image) shares them.
 */
function foldBatchNorms(graph: Onnx.IGraphProto): void {
  const ix = indexGraph(graph);
  const removed = new Set<Node>();
  const folds = new Map<string, { weight: string; bias: string }>();
  const names = new Set([...ix.inits.keys(), ...(graph.node ?? []).flatMap((n) => [...(n.input ?? []), ...(n.output ?? [])])]);
  const fresh = (hint: string) => {
    let name = hint;
    for (let i = 1; names.has(name); i++) name = `${hint}_${i}`;
    names.add(name);
    return name;
  };
  for (const bn of graph.node ?? []) {
    if (bn.opType !== 'BatchNormalization' || (bn.output ?? []).length !== 1) continue;
    const [x, gammaName, betaName, meanName, varName] = bn.input ?? [];
    const conv = ix.producer.get(x);
    if (!conv || conv.opType !== 'Conv' || !onlyFeeds(ix, x, bn)) continue;
    const weight = ix.inits.get(conv.input![1]);
    const biasName = conv.input![2] ?? '';
    const key = [conv.input![1], biasName, gammaName, betaName, meanName, varName].join('|');
    const done = folds.get(key);
    if (done) {
      conv.input = [conv.input![0], done.weight, done.bias];
      conv.output = [bn.output![0]];
      removed.add(bn);
      continue;
    }
    const w = floatsOf(weight);
    const [gamma, beta, mean, variance] = [gammaName, betaName, meanName, varName].map((n) => floatsOf(ix.inits.get(n)));
    if (!w || !gamma || !beta || !mean || !variance) continue;
    const bias = biasName ? floatsOf(ix.inits.get(biasName)) : new Float32Array(gamma.length);
    if (!bias) continue;
    const epsilon = attr(bn, 'epsilon')?.f ?? 1e-5;
    const channels = gamma.length;
    const inner = w.length / channels;
    const folded = new Float32Array(w.length);
    const newBias = new Float32Array(channels);
    for (let c = 0; c < channels; c++) {
      const s = gamma[c] / Math.sqrt(variance[c] + epsilon);
      for (let i = c * inner; i < (c + 1) * inner; i++) folded[i] = w[i] * s;
      newBias[c] = (bias[c] - mean[c]) * s + beta[c];
    }
    const fold = { weight: fresh(`${weight!.name}/folded`), bias: fresh(`${bn.output![0]}/folded_bias`) };
    graph.initializer!.push({ name: fold.weight, dataType: FLOAT, dims: weight!.dims, rawData: bytesOf(folded).slice() });
    graph.initializer!.push({ name: fold.bias, dataType: FLOAT, dims: [channels], rawData: bytesOf(newBias).slice() });
    folds.set(key, fold);
    conv.input = [conv.input![0], fold.weight, fold.bias];
    conv.output = [bn.output![0]];
    removed.add(bn);
  }
  graph.node = (graph.node ?? []).filter((n) => !removed.has(n));
  const used = new Set([...(graph.node ?? []).flatMap((n) => n.input ?? []), ...ix.inSubgraphs]);
  graph.initializer = (graph.initializer ?? []).filter((t) => used.has(t.name!) || removed.size === 0);
}

/** Values computed from the image (not constants, not shape arithmetic). */
function varyingValues(graph: Onnx.IGraphProto, ix: GraphIndex): Set<string> {
  const varying = new Set((graph.input ?? []).map((v) => v.name!).filter((n) => !ix.inits.has(n)));
  for (const node of graph.node ?? []) {
    if (SHAPE_OPS.has(node.opType!) || !(node.input ?? []).some((i) => varying.has(i))) continue;
    for (const o of node.output ?? []) varying.add(o);
  }
  return varying;
}

/** A Conv/Gemm/MatMul whose weight is a float initializer the QDQ form can quantize; its weight's channel axis. */
function weightAxis(node: Node, ix: GraphIndex): number | null {
  const w = ix.inits.get(node.input?.[1] ?? '');
  if (!w || !floatsOf(w)) return null;
  const rank = dimsOf(w).length;
  const bias = node.input?.[2];
  if (bias && (!ix.inits.has(bias) || dimsOf(ix.inits.get(bias)!).length !== 1 || !floatsOf(ix.inits.get(bias)))) return null;
  if (node.opType === 'Conv') return rank >= 3 ? 0 : null;
  if (node.opType === 'MatMul') return rank === 2 ? 1 : null;
  if (node.opType === 'Gemm') {
    const one = (n: string) => (attr(node, n)?.f ?? 1) === 1;
    if (rank !== 2 || (attr(node, 'transA')?.i ?? 0) !== 0 || !one('alpha') || !one('beta')) return null;
    return Number(attr(node, 'transB')?.i ?? 0) === 1 ? 0 : 1;
  }
  return null;
}

/** A Relu, or a Clip from 0 (ReLU6), right after a quantizable Conv/Gemm/MatMul it alone follows. */
function absorbable(node: Node, ix: GraphIndex): boolean {
  if (node.opType === 'Clip') {
    const min = floatsOf(ix.inits.get(node.input?.[1] ?? ''));
    if (!min || min.length !== 1 || min[0] !== 0) return false;
  } else if (node.opType !== 'Relu') return false;
  const x = node.input![0];
  const from = ix.producer.get(x);
  return Boolean(from && COMPUTE.has(from.opType!) && weightAxis(from, ix) !== null && onlyFeeds(ix, x, node));
}

/**
 * Folds the model and chooses the tensors to quantize: the activation inputs and outputs of
 * quantizable ops. Refuses, with why, a model it cannot quantize.
 */
export function planQuantization(bytes: Uint8Array): QuantizationPlan {
  const model = onnx.ModelProto.decode(bytes);
  const opset = Number((model.opsetImport ?? []).find((o) => !o.domain)?.version ?? 0);
  if (opset < MIN_OPSET) throw new LoupeError('NOT_SUPPORTED', `The model uses ONNX opset ${opset}; int8 quantization with per-channel weights needs opset ${MIN_OPSET} or later.`);
  const graph = model.graph!;
  foldBatchNorms(graph);
  const ix = indexGraph(graph);
  const varying = varyingValues(graph, ix);
  const tensors = new Set<string>();
  let compute = 0;
  for (const node of graph.node ?? []) {
    const op = node.opType!;
    const isCompute = COMPUTE.has(op) && weightAxis(node, ix) !== null;
    if (!isCompute && !PASSTHROUGH.has(op) && !QUANTIZABLE.has(op)) continue;
    if (isCompute) compute++;
    const [x] = node.input ?? [];
    const [y] = node.output ?? [];
    if (!varying.has(x)) continue;
    tensors.add(x);
    if (y && !ix.outputs.has(y)) tensors.add(y);
  }
  if (compute === 0) throw new LoupeError('NOT_SUPPORTED', 'The model has no convolution or dense layer with constant weights: int8 quantization has nothing to speed up.');
  // A graph output stays float (its name is the model's contract); so do values feeding one directly.
  for (const o of ix.outputs) tensors.delete(o);
  return { model, tensors: [...tensors] };
}

/** The planned float model with every tensor to calibrate as an extra output. */
export function calibrationModel(plan: QuantizationPlan): Uint8Array {
  const model = copy(plan.model);
  const graph = model.graph!;
  const outputs = new Set((graph.output ?? []).map((o) => o.name));
  for (const t of plan.tensors) if (!outputs.has(t)) graph.output!.push(valueInfo(t, null));
  return onnx.ModelProto.encode(model).finish();
}

/** Widens `ranges` with a batch of calibration outputs (min/max). */
export function observeRanges(ranges: Map<string, Range>, outputs: Record<string, { data: unknown }>, tensors: string[]): void {
  for (const t of tensors) {
    const data = outputs[t]?.data as Float32Array | undefined;
    if (!data) continue;
    let { min, max } = ranges.get(t) ?? { min: Infinity, max: -Infinity };
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    ranges.set(t, { min, max });
  }
}

export interface Quantized {
  bytes: Uint8Array;
  /** Nodes quantized, by op type (Conv, Gemm, MatMul). */
  nodes: Record<string, number>;
  /** Activation tensors given a QuantizeLinear/DequantizeLinear pair. */
  tensors: number;
}

/** The QDQ model: the plan's float model quantized with the calibrated activation ranges. */
export function quantizeModel(plan: QuantizationPlan, ranges: Map<string, Range>): Quantized {
  const model = copy(plan.model);
  const graph = model.graph!;
  let ix = indexGraph(graph);

  // Relu / Clip(0, max) after a quantizable op: the op's output takes the activation's name, and
  // its range (measured after the activation), so the quantization clamps as it did.
  const absorbed = new Set((graph.node ?? []).filter((n) => absorbable(n, ix)));
  for (const act of absorbed) ix.producer.get(act.input![0])!.output = [act.output![0]];
  graph.node = (graph.node ?? []).filter((n) => !absorbed.has(n));
  ix = indexGraph(graph);

  const planned = new Set(plan.tensors.filter((t) => ranges.has(t) && (ix.producer.has(t) || (graph.input ?? []).some((v) => v.name === t))));
  const params = new Map<string, ActivationParams>();
  for (const node of graph.node ?? []) {
    const [x] = node.input ?? [];
    const [y] = node.output ?? [];
    if (planned.has(x) && !params.has(x)) params.set(x, activationParams(ranges.get(x)!));
    if (!planned.has(y)) continue;
    // A value picked or moved from its input has the input's scale: onnxruntime then runs the op on int8 values.
    params.set(y, PASSTHROUGH.has(node.opType!) && params.has(x) ? params.get(x)! : activationParams(ranges.get(y)!));
  }

  const g = new GraphBuilder({ names: 'readable', dedupeConstants: false });
  g.taken([...(graph.node ?? []).flatMap((n) => [...(n.input ?? []), ...(n.output ?? []), n.name ?? '']), ...ix.inits.keys(), ...(graph.input ?? []).map((v) => v.name!)]);
  const built = () => g.graph().node!.length;
  const prefix: Node[] = [];
  const take = (from: number) => g.graph().node!.slice(from);

  // Weights and biases: int8 / int32 initializers and their DequantizeLinear, ahead of every node.
  const nodes: Record<string, number> = {};
  const rewired = new Map<Node, string[]>();
  // A weight used by several nodes (a layer called twice) is stored and dequantized once.
  const dequantized = new Map<string, { name: string; scales: Float32Array }>();
  for (const node of graph.node ?? []) {
    const axis = COMPUTE.has(node.opType!) ? weightAxis(node, ix) : null;
    const x = params.get(node.input![0]);
    if (axis === null || !x) continue;
    const start = built();
    const wName = node.input![1];
    let weight = dequantized.get(`${wName}|${axis}`);
    if (!weight) {
      const wt = ix.inits.get(wName)!;
      const wDims = dimsOf(wt);
      const { scales, values } = quantizeWeights(floatsOf(wt)!, wDims, axis);
      const wq = g.typed(INT8, bytesOf(values), wDims, `${wName}/int8`);
      const ws = g.floats(scales, [scales.length], `${wName}/scale`);
      const wz = g.typed(INT8, new Uint8Array(scales.length), [scales.length], `${wName}/zero_point`);
      weight = { name: g.node('DequantizeLinear', [wq, ws, wz], { axis }, `${wName}/dequantized`), scales };
      dequantized.set(`${wName}|${axis}`, weight);
    }
    const { scales } = weight;
    const inputs = [node.input![0], weight.name];
    const biasName = node.input![2];
    if (biasName) {
      const b = floatsOf(ix.inits.get(biasName))!;
      const bScales = scales.map((s) => Math.fround(x.scale * s));
      const bq = Int32Array.from(b, (v, c) => Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, Math.round(v / bScales[c]))));
      const bs = g.floats(bScales, [bScales.length], `${biasName}/scale`);
      const bz = g.typed(INT32, new Uint8Array(4 * bScales.length), [bScales.length], `${biasName}/zero_point`);
      inputs.push(g.node('DequantizeLinear', [g.typed(INT32, bytesOf(bq), [bq.length], `${biasName}/int32`), bs, bz], { axis: 0 }, `${biasName}/dequantized`));
    }
    rewired.set(node, inputs);
    prefix.push(...take(start));
    nodes[node.opType!] = (nodes[node.opType!] ?? 0) + 1;
  }
  for (const [node, inputs] of rewired) node.input = inputs;

  // Activations: QuantizeLinear then DequantizeLinear right after the value is made; every user reads the dequantized value.
  const after = new Map<string, Node[]>();
  const renamed = new Map<string, string>();
  for (const [t, p] of params) {
    const start = built();
    const scale = g.scalar(p.scale, `${t}/scale`);
    const zero = g.typed(UINT8, Uint8Array.of(p.zeroPoint), [], `${t}/zero_point`);
    const q = g.node('QuantizeLinear', [t, scale, zero], {}, `${t}/quantized`);
    renamed.set(t, g.node('DequantizeLinear', [q, scale, zero], {}, `${t}/dequantized`));
    after.set(t, take(start));
  }
  for (const node of graph.node ?? []) node.input = (node.input ?? []).map((i) => renamed.get(i) ?? i);

  const woven: Node[] = [...prefix];
  for (const v of graph.input ?? []) woven.push(...(after.get(v.name!) ?? []));
  for (const node of graph.node ?? []) {
    woven.push(node);
    for (const o of node.output ?? []) woven.push(...(after.get(o) ?? []));
  }
  graph.node = woven;
  const used = new Set([...woven.flatMap((n) => n.input ?? []), ...ix.inSubgraphs]);
  graph.initializer = [...(graph.initializer ?? []), ...g.graph().initializer!].filter((t) => used.has(t.name!));
  model.producerName = 'Loupe';
  return { bytes: onnx.ModelProto.encode(model).finish(), nodes, tensors: params.size };
}

export interface QuantizationParams {
  /** Activations: the tensor quantized, with its scale and zero point. */
  activations: { tensor: string; scale: number; zeroPoint: number }[];
  /** Weights: the int8 initializer's dequantized name, per-channel scales, axis and the int8 values. */
  weights: { name: string; scales: Float32Array; axis: number; values: Int8Array }[];
}

/** The quantization parameters as written in a QDQ model's file (what a runtime reads). */
export function readQuantization(bytes: Uint8Array): QuantizationParams {
  const graph = onnx.ModelProto.decode(bytes).graph!;
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name!, t]));
  const raw = (name: string) => Uint8Array.from(inits.get(name)?.rawData ?? []);
  const activations: QuantizationParams['activations'] = [];
  const weights: QuantizationParams['weights'] = [];
  for (const node of graph.node ?? []) {
    const [x, s, z] = node.input ?? [];
    if (node.opType === 'QuantizeLinear') activations.push({ tensor: x, scale: floatsOf(inits.get(s))![0], zeroPoint: raw(z)[0] });
    if (node.opType === 'DequantizeLinear' && inits.get(x)?.dataType === INT8) {
      weights.push({ name: node.output![0], scales: floatsOf(inits.get(s))!, axis: Number(attr(node, 'axis')?.i ?? 1), values: new Int8Array(raw(x).buffer) });
    }
  }
  return { activations, weights };
}
