// The protobuf shapes of ONNX, in one place: node attributes, typed value infos and the
// ModelProto around a graph, encoded through onnx-proto (protobufjs). The one graph builder
// (graph-builder.ts) uses them for the exporter (opset 13, for the widest runtime support) and
// the training compiler (opset 17, for its gradient ops); backbone surgery (surgery.ts) uses
// them to read and rewrite other tools' models.

import onnxProto, { type onnx as Onnx } from 'onnx-proto';

export const { onnx } = onnxProto;
export type { Onnx };

export const FLOAT = onnx.TensorProto.DataType.FLOAT;
export const INT64 = onnx.TensorProto.DataType.INT64;
export const INT32 = onnx.TensorProto.DataType.INT32;
export const INT8 = onnx.TensorProto.DataType.INT8;
export const UINT8 = onnx.TensorProto.DataType.UINT8;

/** An attribute value: an int, ints, a string, or a float / floats (boxed, so 1.0 is not taken for an int). */
export type AttrValue = number | number[] | string | { float: number } | { floats: number[] };
/** A dimension; a string names a symbolic one (the batch). */
export type Dim = number | string;

export function attribute(name: string, value: AttrValue): Onnx.IAttributeProto {
  const { AttributeType } = onnx.AttributeProto;
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`attribute ${name}: use { float } for ${value}`);
    return { name, type: AttributeType.INT, i: value };
  }
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  if ('float' in value) return { name, type: AttributeType.FLOAT, f: value.float };
  return { name, type: AttributeType.FLOATS, floats: value.floats };
}

/** A typed value; `dims` null leaves its shape unknown. */
export function valueInfo(name: string, dims: Dim[] | null, elemType: number = FLOAT): Onnx.IValueInfoProto {
  const shape = dims ? { shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } : {};
  return { name, type: { tensorType: { elemType, ...shape } } };
}

export interface ModelOptions {
  irVersion: number;
  opset: number;
  producerName: string;
  producerVersion?: string;
  docString?: string;
  metadata?: Record<string, string>;
  /** Operator domains besides ONNX's own that the graph uses, imported at version 1. */
  domains?: string[];
  graph: Onnx.IGraphProto;
}

export function encodeModel(options: ModelOptions): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: options.irVersion,
    opsetImport: [{ domain: '', version: options.opset }, ...(options.domains ?? []).map((domain) => ({ domain, version: 1 }))],
    producerName: options.producerName,
    producerVersion: options.producerVersion ?? '',
    docString: options.docString ?? '',
    graph: options.graph,
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
  });
  return onnx.ModelProto.encode(model).finish();
}
