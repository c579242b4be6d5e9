// A transfer run's backbone in the training bundle, for a torch-only reader: the features graph
// Loupe runs through onnxruntime (pixels 0..255 [N, H, W, 3] in, `features` [N, F] out, the
// backbone's preprocessing inside), written as a small JSON graph (each node's operator, inputs,
// outputs and attributes, in order) and its initializers as raw little-endian bytes in one file
// with offsets in the JSON. train.py's interpreter (onnx_graph.py) runs the nodes with torch ops,
// so the cluster needs neither the onnx nor the protobuf package. Only operators the interpreter
// implements are written: another is refused here, by name, before anything is trained.

import { LoupeError } from '../../../shared/errors';
import type { TransferConfig } from '../../../shared/types';
import { onnx, type Onnx } from '../onnx/proto';
import { transferFeaturesOnnx } from '../training';

export const GRAPH_FORMAT = 'loupe-onnx-graph';
export const BACKBONE_JSON = 'backbone.json';
export const BACKBONE_BIN = 'backbone.bin';

/** The operators onnx_graph.py runs (keep the two lists together). */
export const SUPPORTED_OPERATORS: readonly string[] = [
  'Add', 'AveragePool', 'BatchNormalization', 'Clip', 'Concat', 'Constant', 'Conv', 'Div', 'Dropout', 'Flatten', 'Gemm',
  'GlobalAveragePool', 'GlobalMaxPool', 'HardSigmoid', 'HardSwish', 'Identity', 'LeakyRelu', 'MatMul', 'MaxPool', 'Mul', 'Pad',
  'ReduceMean', 'Relu', 'Reshape', 'Sigmoid', 'Softmax', 'Squeeze', 'Sub', 'Tanh', 'Transpose', 'Unsqueeze',
];

type AttrJson = number | number[] | string | string[];

export interface GraphTensor {
  dtype: 'float32' | 'int64' | 'int32';
  shape: number[];
  /** Byte offset in backbone.bin (8-aligned) and length. */
  offset: number;
  bytes: number;
}

export interface GraphJson {
  format: typeof GRAPH_FORMAT;
  version: 1;
  /** Input: float pixels [N, H, W, 3] in 0..255; output: the features the head trains on. */
  input: string;
  output: string;
  inputShape: number[];
  features: number;
  /**
   * 'blocks' fine-tuning: the value Loupe cuts the backbone at; the nodes it feeds (and their
   * weights) train, those before it stay frozen. Null for 'head' and 'all'.
   */
  cutValue: string | null;
  nodes: { op: string; name: string; inputs: string[]; outputs: string[]; attrs: Record<string, AttrJson> }[];
  tensors: Record<string, GraphTensor>;
}

const num = (v: number | Long | null | undefined): number => (v === null || v === undefined ? 0 : typeof v === 'number' ? v : Number(v.toString()));
type Long = { toString(): string };

function tensorBytes(t: Onnx.ITensorProto, where: string): { dtype: GraphTensor['dtype']; data: Buffer } {
  const T = onnx.TensorProto.DataType;
  const dims = (t.dims ?? []).map(num);
  const count = dims.reduce((a, b) => a * b, 1);
  const raw = t.rawData && t.rawData.length > 0 ? Buffer.from(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength) : null;
  if (t.dataType === T.FLOAT) return { dtype: 'float32', data: raw ?? Buffer.from(Float32Array.from(t.floatData ?? []).buffer) };
  if (t.dataType === T.INT64) return { dtype: 'int64', data: raw ?? Buffer.from(BigInt64Array.from((t.int64Data ?? []).map((v) => BigInt(num(v as number)))).buffer) };
  if (t.dataType === T.INT32) return { dtype: 'int32', data: raw ?? Buffer.from(Int32Array.from(t.int32Data ?? []).buffer) };
  throw new LoupeError('NOT_SUPPORTED', `${where} holds a tensor of ONNX data type ${t.dataType} (${count} values): the training bundle carries float32, int64 and int32 tensors.`);
}

function attrValue(a: Onnx.IAttributeProto, where: string): AttrJson {
  const A = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case A.FLOAT:
      return a.f ?? 0;
    case A.INT:
      return num(a.i as number);
    case A.STRING:
      return Buffer.from(a.s ?? []).toString('utf8');
    case A.FLOATS:
      return (a.floats ?? []).map(Number);
    case A.INTS:
      return (a.ints ?? []).map((v) => num(v as number));
    case A.STRINGS:
      return (a.strings ?? []).map((s) => Buffer.from(s).toString('utf8'));
    default:
      throw new LoupeError('NOT_SUPPORTED', `${where}: attribute ${a.name} of type ${a.type} is not carried by the training bundle.`);
  }
}

/** The graph of ONNX bytes as JSON and one binary of its initializers; refuses an operator onnx_graph.py lacks, naming it. */
export function graphFromOnnx(bytes: Uint8Array, options: { title: string; inputShape: number[]; features: number; cutLayer: string | null }): { json: GraphJson; bin: Buffer } {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph!;
  const nodes = graph.node ?? [];
  const unsupported = [...new Set(nodes.map((n) => n.opType ?? '').filter((op) => !SUPPORTED_OPERATORS.includes(op)))];
  if (unsupported.length > 0) {
    throw new LoupeError(
      'NOT_SUPPORTED',
      `${options.title}'s features graph uses ${unsupported.length === 1 ? 'an operator' : 'operators'} the training bundle's PyTorch interpreter does not run: ${unsupported.join(', ')}. It runs ${SUPPORTED_OPERATORS.join(', ')}.`,
    );
  }
  const chunks: Buffer[] = [];
  let offset = 0;
  const tensors: Record<string, GraphTensor> = {};
  const add = (name: string, t: Onnx.ITensorProto, where: string) => {
    const { dtype, data } = tensorBytes(t, where);
    const pad = (8 - (offset % 8)) % 8;
    if (pad) chunks.push(Buffer.alloc(pad));
    offset += pad;
    tensors[name] = { dtype, shape: (t.dims ?? []).map(num), offset, bytes: data.length };
    chunks.push(data);
    offset += data.length;
  };
  for (const t of graph.initializer ?? []) add(t.name!, t, `initializer ${t.name}`);
  const out: GraphJson['nodes'] = [];
  for (const n of nodes) {
    const where = `node ${n.name} (${n.opType})`;
    if (n.opType === 'Constant') {
      // A constant is one more tensor: no node to run.
      const value = (n.attribute ?? []).find((a) => a.name === 'value');
      if (!value?.t) throw new LoupeError('NOT_SUPPORTED', `${where}: only Constant nodes holding a tensor are carried.`);
      add(n.output![0], value.t, where);
      continue;
    }
    out.push({
      op: n.opType!,
      name: n.name ?? '',
      inputs: [...(n.input ?? [])],
      outputs: [...(n.output ?? [])],
      attrs: Object.fromEntries((n.attribute ?? []).map((a) => [a.name!, attrValue(a, where)])),
    });
  }
  const input = graph.input!.find((i) => !tensors[i.name!])!.name!;
  const output = graph.output![0].name!;
  let cutValue: string | null = null;
  if (options.cutLayer) {
    // Loupe's converter names values after their layers: the cut layer's output is the last value named after it.
    const named = out.flatMap((n) => n.outputs).filter((v) => v === options.cutLayer || v.startsWith(`${options.cutLayer}/`));
    if (named.length === 0) throw new LoupeError('INTERNAL', `${options.title}'s features graph has no value of the cut layer ${options.cutLayer}.`);
    cutValue = named[named.length - 1];
  }
  return {
    json: { format: GRAPH_FORMAT, version: 1, input, output, inputShape: options.inputShape, features: options.features, cutValue, nodes: out, tensors },
    bin: Buffer.concat(chunks),
  };
}

/** The features graph of a transfer run's backbone, at its resolution, for the bundle. */
export async function backboneGraph(transfer: TransferConfig): Promise<{ json: GraphJson; bin: Buffer }> {
  const { bytes, features, title } = await transferFeaturesOnnx(transfer);
  const ft = transfer.fineTune;
  return graphFromOnnx(bytes, {
    title,
    inputShape: [transfer.resolution, transfer.resolution, 3],
    features,
    cutLayer: ft?.mode === 'blocks' ? ft.cutLayer : null,
  });
}
