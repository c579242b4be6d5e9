// An ONNX image model as a backbone: its graph is wrapped so that it takes what every Loupe
// model takes (raw pixels, [N, H, W, 3], 0..255) and gives the chosen value as features
// ([N, F]; a spatial map is global-average pooled), with everything it does not need for them
// pruned. A transfer run's model is that graph with the trained head appended: one ONNX graph.

import fs from 'node:fs';
import { LoupeError } from '../../../shared/errors';
import { GraphBuilder } from './graph-builder';
import { NHWC_TO_NCHW } from './layout';
import { onnx, valueInfo, type Onnx } from './proto';
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

/** The dimensions `value` has for a [1, res, res, 3] image (found by running the graph once). */
async function probe(model: Model, value: string, resolution: number, file: string): Promise<number[]> {
  const copy = onnx.ModelProto.decode(onnx.ModelProto.encode(model).finish());
  copy.graph!.output = [valueInfo(value, null)];
  prune(copy, [value]);
  const ort = await onnxruntime();
  let session: Awaited<ReturnType<typeof ort.InferenceSession.create>>;
  try {
    session = await ort.InferenceSession.create(onnx.ModelProto.encode(copy).finish(), { executionProviders: ['cpu'] });
  } catch (err) {
    throw bad(file, `onnxruntime cannot run it up to "${value}" (${err instanceof Error ? err.message.split('\n')[0] : String(err)}).`);
  }
  try {
    const out = await session.run({ [INPUT]: new ort.Tensor('float32', new Float32Array(resolution * resolution * 3), [1, resolution, resolution, 3]) });
    return [...out[value].dims].map(Number);
  } finally {
    await session.release();
  }
}

/** Every value name the graph computes (for people choosing the feature output). */
export function onnxValueNames(file: string): string[] {
  return (readOnnxModel(file).graph?.node ?? []).flatMap((n) => n.output ?? []).filter(Boolean) as string[];
}

/**
 * The features graph of an ONNX backbone at `resolution`: input `pixels` [N, res, res, 3] in
 * 0..255, then x / 255 * scale + offset, the model's own layout, its nodes up to `output`, and
 * global average pooling when that value is a spatial map.
 */
export async function onnxFeatureGraph(file: string, output: string | null, resolution: number, preprocess: Preprocess): Promise<{ bytes: Uint8Array; features: number }> {
  // Null: find the features value (helper branch onnxbb implements the discovery).
  if (output === null) throw bad(file, 'Loupe cannot find its features value by itself yet: give it (--output NAME).');
  const model = readOnnxModel(file);
  if (!model.graph) throw bad(file, 'it has no graph.');
  const graph = model.graph;
  const input = imageInput(model, file);
  const spatial = input.layout === 'nchw' ? input.dims.slice(2) : input.dims.slice(1, 3);
  if (spatial.some((d) => d !== null && d !== resolution)) throw bad(file, `it takes ${spatial.join('x')} images only, not ${resolution}x${resolution}.`);
  const produced = new Set((graph.node ?? []).flatMap((n) => n.output ?? []));
  if (!produced.has(output)) throw bad(file, `it computes no value named "${output}".`);

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

  const dims = await probe(model, output, resolution, file);
  let features: number;
  const post = fragment();
  if (dims.length === 2) {
    post.nodeAs(OUTPUT, 'Identity', [output]);
    features = dims[1];
  } else if (dims.length === 4) {
    // Square images: the two equal axes are the spatial ones.
    const nhwc = dims[1] === dims[2] && dims[3] !== dims[1];
    const map = nhwc ? post.node('Transpose', [output], { perm: NHWC_TO_NCHW }, 'loupe_features_nchw') : output;
    post.nodeAs(OUTPUT, 'Flatten', [post.node('GlobalAveragePool', [map], {}, 'loupe_features_pooled')], { axis: 1 });
    features = nhwc ? dims[3] : dims[1];
  } else {
    throw bad(file, `its value "${output}" has ${dims.length} dimensions (${dims.join('x')}); features are a vector or a spatial map.`);
  }
  graph.node.push(...post.graph().node!);
  graph.output = [valueInfo(OUTPUT, ['N', features])];
  prune(model, [OUTPUT]);
  return { bytes: onnx.ModelProto.encode(model).finish(), features };
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
