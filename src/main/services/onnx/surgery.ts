// An ONNX image model as a backbone: its graph is wrapped so that it takes what every Loupe
// model takes (raw pixels, [N, H, W, 3], 0..255) and gives the chosen value as features
// ([N, F]; a spatial map is global-average pooled), with everything it does not need for them
// pruned. A transfer run's model is that graph with the trained head appended: one ONNX graph.

import fs from 'node:fs';
import { LoupeError } from '../../../shared/errors';
import { GraphBuilder } from './graph-builder';
import { NHWC_TO_NCHW } from './layout';
import { attribute, INT64, onnx, valueInfo, type Onnx } from './proto';
import { onnxruntime } from './runtime';

/**
 * A backbone's input is x * scale + offset for pixels x scaled to [0, 1]; three numbers are per
 * channel (R, G, B), as for torchvision/timm models' (x - mean) / std: scale 1/std, offset -mean/std.
 */
export interface Preprocess {
  scale: number | number[];
  offset: number | number[];
}

type Model = Onnx.ModelProto;
type Node = Onnx.INodeProto;

const INPUT = 'pixels';
const OUTPUT = 'features';

function bad(file: string, why: string): LoupeError {
  return new LoupeError('INVALID_INPUT', `${file} cannot be used as a backbone: ${why}`);
}

/** Builds nodes and constants to splice into another model: readable names, so each hint given is the name. */
function fragment(): GraphBuilder {
  return new GraphBuilder({ names: 'readable', dedupeConstants: false });
}

export function readOnnxModel(file: string): Model {
  try {
    return onnx.ModelProto.decode(fs.readFileSync(file));
  } catch {
    throw bad(file, 'it is damaged or not an ONNX model.');
  }
}

/** The graph's one real input (initializers listed as inputs do not count). */
function imageInput(model: Model, file: string): { name: string; dims: (number | null)[]; layout: 'nchw' | 'nhwc' } {
  const graph = model.graph!;
  const inits = new Set((graph.initializer ?? []).map((t) => t.name));
  const inputs = (graph.input ?? []).filter((v) => !inits.has(v.name));
  if (inputs.length !== 1) throw bad(file, `it has ${inputs.length} inputs; a backbone takes one image batch.`);
  const dims = (inputs[0].type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimParam || !Number(d.dimValue ?? 0) ? null : Number(d.dimValue)));
  if (dims.length !== 4) throw bad(file, `its input has ${dims.length} dimensions; a backbone takes [N, 3, H, W] or [N, H, W, 3].`);
  const layout = dims[1] === 3 ? 'nchw' : dims[3] === 3 ? 'nhwc' : null;
  if (!layout) throw bad(file, 'its input has no axis of 3 colour channels.');
  return { name: inputs[0].name!, dims, layout };
}

/** Keeps only the nodes and initializers `outputs` need. */
function prune(model: Model, outputs: string[]): void {
  const graph = model.graph!;
  const producer = new Map<string, Node>();
  for (const node of graph.node ?? []) for (const o of node.output ?? []) producer.set(o, node);
  const needed = new Set<string>();
  const keep = new Set<Node>();
  const stack = [...outputs];
  while (stack.length > 0) {
    const value = stack.pop()!;
    if (needed.has(value)) continue;
    needed.add(value);
    const node = producer.get(value);
    if (node && !keep.has(node)) {
      keep.add(node);
      stack.push(...(node.input ?? []).filter(Boolean));
    }
  }
  graph.node = (graph.node ?? []).filter((n) => keep.has(n));
  graph.initializer = (graph.initializer ?? []).filter((t) => needed.has(t.name!));
  graph.input = (graph.input ?? []).filter((v) => needed.has(v.name!));
}

/** Every value name the graph computes (for people choosing the feature output). */
export function onnxValueNames(file: string): string[] {
  return (readOnnxModel(file).graph?.node ?? []).flatMap((n) => n.output ?? []).filter(Boolean) as string[];
}

/** The operator types a graph uses, and how many nodes of each (featureOperators: those on the way to the features). */
export function onnxOperatorTypes(model: Model): Record<string, number> {
  const count: Record<string, number> = {};
  for (const node of model.graph?.node ?? []) count[node.opType!] = (count[node.opType!] ?? 0) + 1;
  return Object.fromEntries(Object.entries(count).sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * The operator types on the way from the image to the features (`output`; null: the value
 * discoverFeatureValue finds), with node counts: what a training compiler would need gradients
 * for to fine-tune the backbone. Nodes that only compute shapes or constants (Shape, Gather on
 * a shape, Constant...) are left out: no gradient flows through them.
 */
export function featureOperators(model: Model, output: string | null = null): Record<string, number> {
  const graph = model.graph!;
  const value = output ?? discoverFeatureValue(model);
  const copy = copyModel(model);
  prune(copy, [value]);
  const inits = new Set((graph.initializer ?? []).map((t) => t.name));
  const varying = new Set((graph.input ?? []).filter((v) => !inits.has(v.name)).map((v) => v.name!));
  const count: Record<string, number> = {};
  for (const node of copy.graph!.node ?? []) {
    if (node.opType === 'Shape' || !(node.input ?? []).some((i) => varying.has(i))) continue;
    for (const o of node.output ?? []) varying.add(o);
    count[node.opType!] = (count[node.opType!] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(count).sort(([a], [b]) => a.localeCompare(b)));
}

/** Values that hold the same numbers whatever the image: initializers, Constant nodes, and identities of them. */
function constantValues(graph: Onnx.IGraphProto): Set<string> {
  const out = new Set((graph.initializer ?? []).map((t) => t.name!));
  for (const node of graph.node ?? []) {
    if (node.opType === 'Constant' || (node.opType === 'Identity' && out.has(node.input?.[0] ?? ''))) for (const o of node.output ?? []) out.add(o);
  }
  return out;
}

/** Nodes between a classifier and the graph's output that leave its input's meaning alone. */
const AFTER_CLASSIFIER = new Set(['Softmax', 'LogSoftmax', 'Sigmoid', 'Identity', 'Flatten', 'Reshape', 'Squeeze', 'Dropout', 'Cast', 'ArgMax']);

/**
 * The value holding an image classifier's features: the input of its final classifier, that is
 * of the last Gemm (or MatMul by a constant matrix, with or without a bias Add) on the way to
 * the graph's output (the first output that has one) through softmax, identity, flatten and the
 * like. For a CNN that is the pooled (and flattened) feature vector; for a vision transformer,
 * the class token before its head. Throws, for people, when the graph ends in no such classifier.
 */
export function discoverFeatureValue(model: Model, file = 'This model'): string {
  const graph = model.graph;
  const outputs = (graph?.output ?? []).map((o) => o.name!).filter(Boolean);
  if (!graph || outputs.length === 0) throw bad(file, 'it has no graph output.');
  const producer = new Map<string, Node>();
  for (const node of graph.node ?? []) for (const o of node.output ?? []) producer.set(o, node);
  const constant = constantValues(graph);
  const paths: string[] = [];
  // The first output that ends in a classifier (a model may also output, say, the top class).
  for (const output of outputs) {
    const path: string[] = [];
    let value = output;
    for (let step = 0; step < 32; step++) {
      const node = producer.get(value);
      if (!node) break;
      const ins = (node.input ?? []).filter(Boolean);
      path.push(node.opType!);
      if (node.opType === 'Gemm' && !constant.has(ins[0])) return ins[0];
      if (node.opType === 'MatMul' && constant.has(ins[1]) && !constant.has(ins[0])) return ins[0];
      if (node.opType === 'Add') {
        // A bias: one input constant, the other the classifier's product.
        const varying = ins.filter((i) => !constant.has(i));
        const from = varying.length === 1 ? producer.get(varying[0]) : undefined;
        if (!from || (from.opType !== 'MatMul' && from.opType !== 'Gemm')) break;
        value = varying[0];
        continue;
      }
      if (!AFTER_CLASSIFIER.has(node.opType!)) break;
      value = ins[0];
    }
    paths.push(`"${output}" (from it back: ${path.join(' ← ') || 'nothing'})`);
  }
  throw bad(
    file,
    `Loupe found no final classifier (a Gemm or MatMul layer) on the way to its output ${paths.join(', or ')}, so it cannot tell which value holds the features: name it (--output NAME).`,
  );
}

/** The int64 values of a constant shape (an initializer or a Constant node's tensor), or null. */
function int64Values(t: Onnx.ITensorProto | null | undefined): number[] | null {
  if (!t || t.dataType !== INT64) return null;
  if (t.rawData && t.rawData.length > 0) {
    const view = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
    return Array.from({ length: t.rawData.byteLength / 8 }, (_, i) => Number(view.getBigInt64(i * 8, true)));
  }
  return (t.int64Data ?? []).map((v) => (typeof v === 'number' ? v : (v as { toNumber(): number }).toNumber()));
}

/**
 * Lets a graph exported for one image at a time take a batch: Reshape shapes that spell out the
 * batch of 1 as their first axis take it from the data instead (-1, or 0 = "as the input" where
 * the shape already has a -1), and a weight expanded to the batch (a transformer's class token)
 * is expanded to the batch of `image` (the model's input). Whether that is right for this graph
 * is checked by running it. Returns how many places changed.
 */
function freeBatchAxis(model: Model, image: string): number {
  const graph = model.graph!;
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name!, t]));
  const constantNode = new Map<string, Onnx.ITensorProto>();
  for (const node of graph.node ?? []) {
    const t = node.opType === 'Constant' ? node.attribute?.find((a) => a.name === 'value')?.t : null;
    if (t) constantNode.set(node.output![0], t);
  }
  let changed = 0;
  const added: Onnx.ITensorProto[] = [];
  for (const node of graph.node ?? []) {
    if (node.opType !== 'Reshape' || node.attribute?.some((a) => a.name === 'allowzero' && Number(a.i) === 1)) continue;
    const shapeName = node.input?.[1] ?? '';
    const shape = int64Values(inits.get(shapeName) ?? constantNode.get(shapeName));
    if (!shape || shape[0] !== 1) continue;
    const freed = [shape.includes(-1) ? 0 : -1, ...shape.slice(1)];
    const data = BigInt64Array.from(freed.map((v) => BigInt(v)));
    const name = `${shapeName}_loupe_batch_${changed++}`;
    added.push({ name, dataType: INT64, dims: [freed.length], rawData: new Uint8Array(data.buffer) });
    node.input![1] = name;
  }
  // Expand(weight [1, ...], shape) gives batch 1 whatever the shape says: expand its result again
  // to [N, 1, ..., 1], N from the image's shape, right after it (the graph stays sorted).
  const nodes: Node[] = [];
  for (const node of graph.node ?? []) {
    nodes.push(node);
    const weight = node.opType === 'Expand' ? inits.get(node.input?.[0] ?? '') : undefined;
    if (!weight || Number(weight.dims?.[0]) !== 1 || (weight.dims ?? []).length < 2) continue;
    const k = changed++;
    const [result, n, ones, shape, axis0] = ['result', 'n', 'ones', 'shape', 'axis0'].map((what) => `loupe_batch_${k}_${what}`);
    const data = new BigInt64Array(weight.dims!.length - 1).fill(1n);
    added.push(
      { name: ones, dataType: INT64, dims: [data.length], rawData: new Uint8Array(data.buffer) },
      { name: axis0, dataType: INT64, dims: [1], rawData: new Uint8Array(new BigInt64Array([0n]).buffer) },
    );
    const original = node.output![0];
    node.output![0] = result;
    nodes.push(
      { opType: 'Shape', name: `${n}_shape`, input: [image], output: [`${n}_all`] },
      { opType: 'Gather', name: `${n}_gather`, input: [`${n}_all`, axis0], output: [n], attribute: [attribute('axis', 0)] },
      { opType: 'Concat', name: `${shape}_concat`, input: [n, ones], output: [shape], attribute: [attribute('axis', 0)] },
      { opType: 'Expand', name: `${result}_expand`, input: [result, shape], output: [original] },
    );
  }
  graph.node = nodes;
  graph.initializer = [...(graph.initializer ?? []), ...added];
  return changed;
}

const copyModel = (model: Model): Model => onnx.ModelProto.decode(onnx.ModelProto.encode(model).finish());

interface Check {
  /** Dimensions of the value for one image. */
  dims: number[];
  /** A batch of two gave what the two images give one by one. */
  batches: boolean;
}

/** Runs the graph (input `pixels`, output `value`) on two seeded images one by one and, if asked, as one batch. */
async function checkGraph(bytes: Uint8Array, value: string, resolution: number, tryBatch: boolean): Promise<Check> {
  const ort = await onnxruntime();
  // Quiet: a batch the graph cannot take is an expected answer here, not an error to log.
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], logSeverityLevel: 4 });
  try {
    const floats = resolution * resolution * 3;
    // Two different images of fixed pseudo-random pixels (a multiplicative hash of the index).
    const images = [1, 2].map((k) => Float32Array.from({ length: floats }, (_, i) => (Math.imul(i + k * floats, 2654435761) >>> 24) & 255));
    const run = async (data: Float32Array, n: number) => {
      const out = await session.run({ [INPUT]: new ort.Tensor('float32', data, [n, resolution, resolution, 3]) });
      return { data: out[value].data as Float32Array, dims: [...out[value].dims].map(Number) };
    };
    const singles = [await run(images[0], 1), await run(images[1], 1)];
    if (!tryBatch) return { dims: singles[0].dims, batches: false };
    const both = new Float32Array(2 * floats);
    both.set(images[0]);
    both.set(images[1], floats);
    let batched: Awaited<ReturnType<typeof run>>;
    try {
      batched = await run(both, 2);
    } catch {
      return { dims: singles[0].dims, batches: false };
    }
    const expected = new Float32Array(singles[0].data.length * 2);
    expected.set(singles[0].data);
    expected.set(singles[1].data, singles[0].data.length);
    const sameShape = batched.dims[0] === 2 && batched.dims.slice(1).join() === singles[0].dims.slice(1).join();
    let scale = 1;
    let diff = 0;
    if (sameShape) {
      for (let i = 0; i < expected.length; i++) {
        scale = Math.max(scale, Math.abs(expected[i]));
        diff = Math.max(diff, Math.abs(expected[i] - batched.data[i]));
      }
    }
    return { dims: singles[0].dims, batches: sameShape && diff <= 1e-3 * scale };
  } finally {
    await session.release();
  }
}

/** The model's version of the standard operator set. */
function opsetOf(model: Model): number {
  return Number(model.opsetImport?.find((o) => !o.domain)?.version ?? 0);
}

/**
 * A features graph that takes one image at a time (pixels [1, ...] to features [1, F]) made to
 * take a batch: one Scan over the batch whose body is the whole graph (its weights stay in the
 * outer graph), so extraction, predictions and an exported model can all give it N images; it
 * computes them one by one. Scan needs opset 9; older graphs stay as they are (false).
 */
function scanOverBatch(model: Model, resolution: number, features: number): boolean {
  const opset = opsetOf(model);
  if (opset < 9) return false;
  const graph = model.graph!;
  const [image, one, oneFeatures, row, axes] = ['loupe_scan_image', 'loupe_one_image', 'loupe_one_features', 'loupe_scan_row', 'loupe_scan_axes'];
  const rename = (n: string) => (n === INPUT ? one : n === OUTPUT ? oneFeatures : n);
  // Unsqueeze and Squeeze take their axes as an input from opset 13, as an attribute before.
  const onAxis0 = (x: string) => (opset >= 13 ? { input: [x, axes] } : { input: [x], attribute: [attribute('axes', [0])] });
  const body: Onnx.IGraphProto = {
    name: 'loupe_one_image',
    input: [valueInfo(image, [resolution, resolution, 3])],
    output: [valueInfo(row, [features])],
    node: [
      { opType: 'Unsqueeze', name: 'loupe_scan_unsqueeze', output: [one], ...onAxis0(image) },
      ...(graph.node ?? []).map((n) => ({ ...n, input: (n.input ?? []).map(rename), output: (n.output ?? []).map(rename) })),
      { opType: 'Squeeze', name: 'loupe_scan_squeeze', output: [row], ...onAxis0(oneFeatures) },
    ],
  };
  if (opset >= 13) graph.initializer!.push({ name: axes, dataType: INT64, dims: [1], rawData: new Uint8Array(new BigInt64Array([0n]).buffer) });
  graph.node = [
    { opType: 'Scan', name: 'loupe_scan', input: [INPUT], output: [OUTPUT], attribute: [attribute('num_scan_inputs', 1), { name: 'body', type: onnx.AttributeProto.AttributeType.GRAPH, g: body }] },
  ];
  graph.input![0] = valueInfo(INPUT, ['N', resolution, resolution, 3]);
  return true;
}

const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0];

/** The features graph of an ONNX backbone at one resolution. */
export interface FeatureGraph {
  bytes: Uint8Array;
  features: number;
  /** The model's value the features are: as given, or as found (discoverFeatureValue). */
  output: string;
  /** The graph takes a batch of images ([N, res, res, 3]); false: only one at a time, so extraction feeds it singly. */
  batchable: boolean;
  /** The backbone computes one image at a time (its batch of 1 is built in): through a Scan over the batch where batchable. */
  singly: boolean;
}

/**
 * The features graph of an ONNX backbone at `resolution`: input `pixels` [N, res, res, 3] in
 * 0..255, then x / 255 * scale + offset, the model's own layout (NCHW or NHWC), its nodes up to
 * `output` (null: the value discoverFeatureValue finds), and global average pooling when that
 * value is a spatial map. A model exported for one image at a time is made to take batches
 * where its graph allows it (checked: a batch gives what its images give one by one), else it
 * computes them one by one inside the graph (scanOverBatch), which still takes a batch. A model
 * exported at one image size runs at others where its graph allows it (a CNN with global
 * pooling) and is refused at them where it does not (a ViT's fixed number of patches).
 */
export async function onnxFeatureGraph(file: string, output: string | null, resolution: number, preprocess: Preprocess): Promise<FeatureGraph> {
  const model = readOnnxModel(file);
  if (!model.graph) throw bad(file, 'it has no graph.');
  const graph = model.graph;
  const input = imageInput(model, file);
  const value = output ?? discoverFeatureValue(model, file);
  const produced = new Set((graph.node ?? []).flatMap((n) => n.output ?? []));
  if (!produced.has(value)) throw bad(file, `it computes no value named "${value}".`);
  const spatial = input.layout === 'nchw' ? input.dims.slice(2) : input.dims.slice(1, 3);
  const native = spatial[0] !== null && spatial[0] === spatial[1] ? spatial[0] : null;
  if (input.dims[0] !== null && input.dims[0] !== 1) throw bad(file, `its batch is fixed at ${input.dims[0]} images; Loupe runs one image, or any number.`);
  const fixedBatch = input.dims[0] === 1;

  // Raw pixels in: scale and offset, then the model's layout, under the model's input name.
  const pre = fragment();
  // Per-channel values broadcast over the last (channel) axis of the NHWC pixels.
  const perChannel = (v: number | number[], name: string, f: (x: number) => number) =>
    typeof v === 'number' ? pre.scalar(f(v), name) : pre.floats(v.map(f), [v.length], name);
  const scaled = pre.node('Mul', [INPUT, perChannel(preprocess.scale, 'loupe_pre_scale', (x) => x / 255)], {}, 'loupe_pre_scaled');
  const offset = perChannel(preprocess.offset, 'loupe_pre_offset', (x) => x);
  if (input.layout === 'nchw') pre.nodeAs(input.name, 'Transpose', [pre.node('Add', [scaled, offset], {}, 'loupe_pre_nhwc')], { perm: NHWC_TO_NCHW });
  else pre.nodeAs(input.name, 'Add', [scaled, offset]);
  const { node: preNodes, initializer: preConstants } = pre.graph();
  graph.node = [...preNodes!, ...(graph.node ?? [])];
  graph.initializer = [...(graph.initializer ?? []), ...preConstants!];
  graph.input = [valueInfo(INPUT, ['N', resolution, resolution, 3]), ...(graph.input ?? []).filter((v) => v.name !== input.name)];
  // Shapes recorded at the model's own batch and size need not hold at others: onnxruntime infers them.
  graph.valueInfo = [];
  graph.output = [valueInfo(value, null)];
  prune(model, [value]);

  // Batches where the graph allows (a batch-1 export with its batch freed, or a model that takes any), else one by one.
  let check: Check | null = null;
  let batchable = false;
  let problem: unknown = null;
  const batchedModel = fixedBatch ? copyModel(model) : model;
  if (fixedBatch) freeBatchAxis(batchedModel, input.name);
  try {
    check = await checkGraph(onnx.ModelProto.encode(batchedModel).finish(), value, resolution, true);
    batchable = check.batches;
  } catch (err) {
    problem = err;
  }
  const chosen = batchable ? batchedModel : model;
  if (!batchable) {
    chosen.graph!.input![0] = valueInfo(INPUT, [1, resolution, resolution, 3]);
    if (fixedBatch || !check) {
      try {
        check = await checkGraph(onnx.ModelProto.encode(chosen).finish(), value, resolution, false);
      } catch (err) {
        problem = err;
        check = null;
      }
    }
  }
  if (!check) {
    if (native !== null && native !== resolution) throw bad(file, `it runs only at its native size, ${native}x${native}, not at ${resolution}x${resolution} (onnxruntime: ${firstLine(problem)}).`);
    throw bad(file, `onnxruntime cannot run it up to "${value}" at ${resolution}x${resolution} (${firstLine(problem)}).`);
  }

  const { dims } = check;
  const out = chosen.graph!;
  let features: number;
  const post = fragment();
  if (dims.length === 2) {
    post.nodeAs(OUTPUT, 'Identity', [value]);
    features = dims[1];
  } else if (dims.length === 4) {
    // Square images: the two equal axes are the spatial ones.
    const nhwc = dims[1] === dims[2] && dims[3] !== dims[1];
    const map = nhwc ? post.node('Transpose', [value], { perm: NHWC_TO_NCHW }, 'loupe_features_nchw') : value;
    post.nodeAs(OUTPUT, 'Flatten', [post.node('GlobalAveragePool', [map], {}, 'loupe_features_pooled')], { axis: 1 });
    features = nhwc ? dims[3] : dims[1];
  } else {
    throw bad(file, `its value "${value}" has ${dims.length} dimensions (${dims.join('x')}); features are a vector or a spatial map.`);
  }
  out.node!.push(...post.graph().node!);
  out.output = [valueInfo(OUTPUT, [batchable ? 'N' : 1, features])];
  prune(chosen, [OUTPUT]);
  const scanned = !batchable && scanOverBatch(chosen, resolution, features);
  if (scanned) out.output = [valueInfo(OUTPUT, ['N', features])];
  return { bytes: onnx.ModelProto.encode(chosen).finish(), features, output: value, batchable: batchable || scanned, singly: !batchable };
}

/**
 * One graph: the features graph, then the head (an ONNX graph from `features` [N, F] to
 * `probabilities`), whose names are prefixed so they cannot collide with the backbone's.
 */
export function appendHead(featureBytes: Uint8Array, headBytes: Uint8Array): Uint8Array {
  const model = onnx.ModelProto.decode(featureBytes);
  const head = onnx.ModelProto.decode(headBytes);
  const keep = new Set(['features', 'probabilities', '']);
  const rename = (n: string) => (keep.has(n) ? n : `head/${n}`);
  const graph = model.graph!;
  for (const node of head.graph?.node ?? []) {
    graph.node!.push({ ...node, name: rename(node.name ?? ''), input: (node.input ?? []).map(rename), output: (node.output ?? []).map(rename) });
  }
  for (const t of head.graph?.initializer ?? []) graph.initializer!.push({ ...t, name: rename(t.name!) });
  graph.output = head.graph!.output;
  model.producerName = 'Loupe';
  return onnx.ModelProto.encode(model).finish();
}

/** The model with these metadata entries (replacing ones of the same key) and doc string. */
export function withMetadata(bytes: Uint8Array, metadata: Record<string, string>, docString = ''): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  model.metadataProps = [...(model.metadataProps ?? []).filter((p) => !(p.key! in metadata)), ...Object.entries(metadata).map(([key, value]) => ({ key, value }))];
  if (docString) model.docString = docString;
  model.producerName = 'Loupe';
  return onnx.ModelProto.encode(model).finish();
}
