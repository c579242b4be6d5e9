// Reads an ONNX file back: its inputs, outputs and metadata, or a clear refusal when the bytes
// are not an ONNX model (damaged, truncated, something else renamed .onnx).

import { LoupeError } from '../../../shared/errors';
import { onnx } from './proto';

export interface OnnxTensorInfo {
  name: string;
  /** Dimensions; null where symbolic (the batch). */
  dims: (number | null)[];
  elemType: number;
}

export interface OnnxSummary {
  producer: string;
  opset: number | null;
  inputs: OnnxTensorInfo[];
  outputs: OnnxTensorInfo[];
  metadata: Record<string, string>;
  nodes: number;
}

export const FLOAT = onnx.TensorProto.DataType.FLOAT;

function info(v: { name?: string | null; type?: { tensorType?: { elemType?: number | null; shape?: { dim?: { dimValue?: unknown; dimParam?: string | null }[] | null } | null } | null } | null }): OnnxTensorInfo {
  const dims = (v.type?.tensorType?.shape?.dim ?? []).map((d) => {
    const n = Number(d.dimValue ?? 0);
    return d.dimParam || !n ? null : n;
  });
  return { name: v.name ?? '', dims, elemType: v.type?.tensorType?.elemType ?? 0 };
}

/** Decodes an ONNX model's header; `label` names the file in messages. */
export function inspectOnnx(bytes: Uint8Array, label: string): OnnxSummary {
  let model: ReturnType<typeof onnx.ModelProto.decode>;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch {
    throw new LoupeError('INVALID_INPUT', `${label} is damaged or not an ONNX model (it cannot be decoded).`);
  }
  const graph = model.graph;
  const initializers = new Set((graph?.initializer ?? []).map((t) => t.name));
  const inputs = (graph?.input ?? []).filter((v) => !initializers.has(v.name)).map(info);
  const outputs = (graph?.output ?? []).map(info);
  if (!graph || (graph.node ?? []).length === 0 || inputs.length === 0 || outputs.length === 0 || !model.irVersion) {
    throw new LoupeError('INVALID_INPUT', `${label} is damaged or not an ONNX model (it has no graph to run).`);
  }
  const opset = (model.opsetImport ?? []).find((o) => !o.domain)?.version;
  return {
    producer: model.producerName ?? '',
    opset: opset === undefined || opset === null ? null : Number(opset),
    inputs,
    outputs,
    metadata: Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? ''])),
    nodes: graph.node!.length,
  };
}
