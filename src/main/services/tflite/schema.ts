// TensorFlow Lite's file format, written and read through Google's `flatbuffers` runtime: a
// .tflite file is a FlatBuffer whose root is the `Model` table of TFLite's public schema
// (tensorflow/lite/schema/schema.fbs, file identifier "TFL3"). Only what Loupe writes is here:
// the tables and fields below, each with its slot number in that schema (a table's fields are
// numbered in the order the schema declares them, and new ones only ever go at the end, so
// these numbers never change). Reading back is for tests and for checking what was written.

import { createHash } from 'node:crypto';
import * as flatbuffers from 'flatbuffers';

export const FILE_IDENTIFIER = 'TFL3';
export const SCHEMA_VERSION = 3;

/** schema.fbs `TensorType`. */
export const TensorType = { float32: 0, int32: 2, uint8: 3, int8: 9 } as const;
export type TensorTypeName = keyof typeof TensorType;

/** schema.fbs `BuiltinOperator` (the ones Loupe writes). */
export const Op = {
  ADD: 0,
  AVERAGE_POOL_2D: 1,
  CONCATENATION: 2,
  CONV_2D: 3,
  DEPTHWISE_CONV_2D: 4,
  DEQUANTIZE: 6,
  FULLY_CONNECTED: 9,
  LOGISTIC: 14,
  MAX_POOL_2D: 17,
  MUL: 18,
  RELU: 19,
  RELU6: 21,
  RESHAPE: 22,
  SOFTMAX: 25,
  TANH: 28,
  PAD: 34,
  TRANSPOSE: 39,
  MEAN: 40,
  REDUCE_MAX: 82,
  LEAKY_RELU: 98,
  QUANTIZE: 114,
} as const;
export type OpName = keyof typeof Op;
export const OP_NAMES = Object.fromEntries(Object.entries(Op).map(([k, v]) => [v, k])) as Record<number, OpName>;

/** schema.fbs `ActivationFunctionType`. */
export const Activation = { NONE: 0, RELU: 1, RELU6: 3 } as const;
/** schema.fbs `Padding`. */
export const Padding = { SAME: 0, VALID: 1 } as const;

/** One field of an options table: its slot in the table and how it is stored. */
export type OptionField = { slot: number; kind: 'int8' | 'int32' | 'float32' | 'bool'; value: number } | { slot: number; kind: 'int32s'; value: number[] };

/** An operator's builtin options: the position of its table in the `BuiltinOptions` union (1-based, 0 = none) and its fields. */
export interface Options {
  union: number;
  fields: OptionField[];
}

/** Positions in schema.fbs `union BuiltinOptions` (the table's place in the list, counted from 1). */
export const OptionsUnion = {
  Conv2DOptions: 1,
  DepthwiseConv2DOptions: 2,
  Pool2DOptions: 5,
  FullyConnectedOptions: 8,
  SoftmaxOptions: 9,
  ConcatenationOptions: 10,
  AddOptions: 11,
  ReshapeOptions: 17,
  MulOptions: 21,
  PadOptions: 22,
  TransposeOptions: 26,
  ReducerOptions: 27,
  LeakyReluOptions: 75,
} as const;

export interface Quantization {
  scale: number[];
  zeroPoint: number[];
  /** The axis that `scale` and `zeroPoint` run along when there is one per channel. */
  dimension: number;
  min?: number[];
  max?: number[];
}

export interface Tensor {
  name: string;
  /** With the batch dimension. */
  shape: number[];
  type: TensorTypeName;
  /** Constant data (weights), little-endian; undefined for activations. */
  data?: Uint8Array;
  quantization?: Quantization;
}

export interface Operator {
  op: number;
  /** The operator's version (what its inputs and options ask of a runtime). */
  version: number;
  inputs: number[];
  outputs: number[];
  options?: Options;
}

export interface TfliteModel {
  description: string;
  tensors: Tensor[];
  operators: Operator[];
  inputs: number[];
  outputs: number[];
  /** Named metadata entries (each stored as a buffer the `metadata` table points at). */
  metadata: { name: string; data: Uint8Array }[];
}

// Slots of the tables written (schema.fbs field order).
const MODEL = { version: 0, operatorCodes: 1, subgraphs: 2, description: 3, buffers: 4, metadata: 6 };
const OPERATOR_CODE = { deprecatedBuiltinCode: 0, version: 2, builtinCode: 3 };
const SUBGRAPH = { tensors: 0, inputs: 1, outputs: 2, operators: 3, name: 4 };
const TENSOR = { shape: 0, type: 1, buffer: 2, name: 3, quantization: 4 };
const QUANT = { min: 0, max: 1, scale: 2, zeroPoint: 3, dimension: 6 };
const OPERATOR = { opcodeIndex: 0, inputs: 1, outputs: 2, optionsType: 3, options: 4 };
const BUFFER = { data: 0 };
const METADATA = { name: 0, buffer: 1 };
/** BuiltinOperator values at or above this live only in OperatorCode.builtin_code. */
const PLACEHOLDER_FOR_GREATER_OP_CODES = 127;

type B = flatbuffers.Builder;

function int32Vector(b: B, values: readonly number[]): flatbuffers.Offset {
  b.startVector(4, values.length, 4);
  for (let i = values.length - 1; i >= 0; i--) b.addInt32(values[i]);
  return b.endVector();
}

function float32Vector(b: B, values: readonly number[]): flatbuffers.Offset {
  b.startVector(4, values.length, 4);
  for (let i = values.length - 1; i >= 0; i--) b.addFloat32(values[i]);
  return b.endVector();
}

function int64Vector(b: B, values: readonly number[]): flatbuffers.Offset {
  b.startVector(8, values.length, 8);
  for (let i = values.length - 1; i >= 0; i--) b.addInt64(BigInt(values[i]));
  return b.endVector();
}

function offsetVector(b: B, offsets: readonly flatbuffers.Offset[]): flatbuffers.Offset {
  b.startVector(4, offsets.length, 4);
  for (let i = offsets.length - 1; i >= 0; i--) b.addOffset(offsets[i]);
  return b.endVector();
}

/** A buffer's bytes, 16-byte aligned as the schema asks (`force_align: 16`), so runtimes can read weights in place. */
function alignedBytes(b: B, data: Uint8Array): flatbuffers.Offset {
  b.prep(16, data.length);
  return b.createByteVector(data);
}

function table(b: B, slots: number, add: () => void): flatbuffers.Offset {
  b.startObject(slots);
  add();
  return b.endObject();
}

function writeOptions(b: B, options: Options): flatbuffers.Offset {
  // Vectors are written before the table that points at them.
  const vectors = new Map<number, flatbuffers.Offset>();
  for (const f of options.fields) if (f.kind === 'int32s') vectors.set(f.slot, int32Vector(b, f.value));
  const slots = Math.max(0, ...options.fields.map((f) => f.slot + 1));
  return table(b, slots, () => {
    for (const f of options.fields) {
      if (f.kind === 'int32s') b.addFieldOffset(f.slot, vectors.get(f.slot)!, 0);
      else if (f.kind === 'int32') b.addFieldInt32(f.slot, f.value, null);
      else if (f.kind === 'float32') b.addFieldFloat32(f.slot, f.value, null);
      else b.addFieldInt8(f.slot, f.value, null);
    }
  });
}

function writeQuantization(b: B, q: Quantization): flatbuffers.Offset {
  const min = q.min ? float32Vector(b, q.min) : 0;
  const max = q.max ? float32Vector(b, q.max) : 0;
  const scale = float32Vector(b, q.scale);
  const zeroPoint = int64Vector(b, q.zeroPoint);
  return table(b, QUANT.dimension + 1, () => {
    if (min) b.addFieldOffset(QUANT.min, min, 0);
    if (max) b.addFieldOffset(QUANT.max, max, 0);
    b.addFieldOffset(QUANT.scale, scale, 0);
    b.addFieldOffset(QUANT.zeroPoint, zeroPoint, 0);
    b.addFieldInt32(QUANT.dimension, q.dimension, 0);
  });
}

/** The .tflite bytes of a model (one subgraph). */
export function writeTflite(model: TfliteModel): Uint8Array {
  const weightBytes = model.tensors.reduce((n, t) => n + (t.data?.length ?? 0), 0);
  const b = new flatbuffers.Builder(weightBytes + 64 * 1024);

  // Buffer 0 is the empty sentinel; then each distinct constant (a layer called twice, as in flip
  // averaging, has its weights once), then the metadata.
  const bufferData: (Uint8Array | null)[] = [null];
  const seen = new Map<string, number>();
  const tensorBuffer = model.tensors.map((t) => {
    if (!t.data) return 0;
    const key = `${t.data.length}:${createHash('sha256').update(t.data).digest('hex')}`;
    let index = seen.get(key);
    if (index === undefined) seen.set(key, (index = bufferData.push(t.data) - 1));
    return index;
  });
  const metadataBuffer = model.metadata.map((m) => bufferData.push(m.data) - 1);
  const buffers = bufferData.map((data) => {
    const bytes = data ? alignedBytes(b, data) : 0;
    return table(b, 1, () => {
      if (bytes) b.addFieldOffset(BUFFER.data, bytes, 0);
    });
  });

  const codes: { op: number; version: number }[] = [];
  const codeIndex = (op: Operator) => {
    let i = codes.findIndex((c) => c.op === op.op && c.version === op.version);
    if (i < 0) i = codes.push({ op: op.op, version: op.version }) - 1;
    return i;
  };
  const operators = model.operators.map((op) => {
    const index = codeIndex(op);
    const inputs = int32Vector(b, op.inputs);
    const outputs = int32Vector(b, op.outputs);
    const options = op.options ? writeOptions(b, op.options) : 0;
    return table(b, OPERATOR.options + 1, () => {
      b.addFieldInt32(OPERATOR.opcodeIndex, index, 0);
      b.addFieldOffset(OPERATOR.inputs, inputs, 0);
      b.addFieldOffset(OPERATOR.outputs, outputs, 0);
      if (op.options) {
        b.addFieldInt8(OPERATOR.optionsType, op.options.union, 0);
        b.addFieldOffset(OPERATOR.options, options, 0);
      }
    });
  });
  const operatorCodes = codes.map((c) =>
    table(b, OPERATOR_CODE.builtinCode + 1, () => {
      b.addFieldInt8(OPERATOR_CODE.deprecatedBuiltinCode, Math.min(c.op, PLACEHOLDER_FOR_GREATER_OP_CODES), 0);
      b.addFieldInt32(OPERATOR_CODE.version, c.version, 1);
      b.addFieldInt32(OPERATOR_CODE.builtinCode, c.op, 0);
    }),
  );

  const tensors = model.tensors.map((t, i) => {
    const shape = int32Vector(b, t.shape);
    const name = b.createString(t.name);
    const quantization = t.quantization ? writeQuantization(b, t.quantization) : 0;
    return table(b, TENSOR.quantization + 1, () => {
      b.addFieldOffset(TENSOR.shape, shape, 0);
      b.addFieldInt8(TENSOR.type, TensorType[t.type], 0);
      b.addFieldInt32(TENSOR.buffer, tensorBuffer[i], 0);
      b.addFieldOffset(TENSOR.name, name, 0);
      if (quantization) b.addFieldOffset(TENSOR.quantization, quantization, 0);
    });
  });

  const subgraphTensors = offsetVector(b, tensors);
  const subgraphInputs = int32Vector(b, model.inputs);
  const subgraphOutputs = int32Vector(b, model.outputs);
  const subgraphOperators = offsetVector(b, operators);
  const subgraphName = b.createString('main');
  const subgraph = table(b, SUBGRAPH.name + 1, () => {
    b.addFieldOffset(SUBGRAPH.tensors, subgraphTensors, 0);
    b.addFieldOffset(SUBGRAPH.inputs, subgraphInputs, 0);
    b.addFieldOffset(SUBGRAPH.outputs, subgraphOutputs, 0);
    b.addFieldOffset(SUBGRAPH.operators, subgraphOperators, 0);
    b.addFieldOffset(SUBGRAPH.name, subgraphName, 0);
  });
  const metadata = model.metadata.map((m, i) => {
    const name = b.createString(m.name);
    return table(b, METADATA.buffer + 1, () => {
      b.addFieldOffset(METADATA.name, name, 0);
      b.addFieldInt32(METADATA.buffer, metadataBuffer[i], 0);
    });
  });

  const codesVector = offsetVector(b, operatorCodes);
  const subgraphs = offsetVector(b, [subgraph]);
  const description = b.createString(model.description);
  const buffersVector = offsetVector(b, buffers);
  const metadataVector = offsetVector(b, metadata);
  const root = table(b, MODEL.metadata + 1, () => {
    b.addFieldInt32(MODEL.version, SCHEMA_VERSION, 0);
    b.addFieldOffset(MODEL.operatorCodes, codesVector, 0);
    b.addFieldOffset(MODEL.subgraphs, subgraphs, 0);
    b.addFieldOffset(MODEL.description, description, 0);
    b.addFieldOffset(MODEL.buffers, buffersVector, 0);
    b.addFieldOffset(MODEL.metadata, metadataVector, 0);
  });
  b.finish(root, FILE_IDENTIFIER);
  return b.asUint8Array().slice();
}

// ---- Reading (tests, and the checks on what was written) ----

class Reader {
  constructor(readonly bb: flatbuffers.ByteBuffer) {}
  /** Absolute position of a field of the table at `pos`, or 0 when absent. */
  field(pos: number, slot: number): number {
    const o = this.bb.__offset(pos, 4 + 2 * slot);
    return o ? pos + o : 0;
  }
  table(pos: number, slot: number): number {
    const at = this.field(pos, slot);
    return at ? this.bb.__indirect(at) : 0;
  }
  int(pos: number, slot: number, fallback = 0): number {
    const at = this.field(pos, slot);
    return at ? this.bb.readInt32(at) : fallback;
  }
  byte(pos: number, slot: number, fallback = 0): number {
    const at = this.field(pos, slot);
    return at ? this.bb.readInt8(at) : fallback;
  }
  string(pos: number, slot: number): string {
    const at = this.field(pos, slot);
    return at ? (this.bb.__string(at) as string) : '';
  }
  vector(pos: number, slot: number): { start: number; length: number } | null {
    const at = this.field(pos, slot);
    return at ? { start: this.bb.__vector(at), length: this.bb.__vector_len(at) } : null;
  }
  ints(pos: number, slot: number): number[] {
    const v = this.vector(pos, slot);
    return v ? Array.from({ length: v.length }, (_, i) => this.bb.readInt32(v.start + 4 * i)) : [];
  }
  floats(pos: number, slot: number): number[] {
    const v = this.vector(pos, slot);
    return v ? Array.from({ length: v.length }, (_, i) => this.bb.readFloat32(v.start + 4 * i)) : [];
  }
  longs(pos: number, slot: number): number[] {
    const v = this.vector(pos, slot);
    return v ? Array.from({ length: v.length }, (_, i) => Number(this.bb.readInt64(v.start + 8 * i))) : [];
  }
  bytes(pos: number, slot: number): Uint8Array | null {
    const v = this.vector(pos, slot);
    return v ? this.bb.bytes().slice(v.start, v.start + v.length) : null;
  }
  tables(pos: number, slot: number): number[] {
    const v = this.vector(pos, slot);
    return v ? Array.from({ length: v.length }, (_, i) => this.bb.__indirect(v.start + 4 * i)) : [];
  }
}

const TYPE_NAMES = Object.fromEntries(Object.entries(TensorType).map(([k, v]) => [v, k])) as Record<number, TensorTypeName>;

/** Reads a .tflite file back (the first subgraph), with every tensor's data and quantization. */
export function readTflite(bytes: Uint8Array): TfliteModel & { operatorCodes: { op: number; version: number }[] } {
  const bb = new flatbuffers.ByteBuffer(bytes);
  if (!bb.__has_identifier(FILE_IDENTIFIER)) throw new Error('not a TFLite file (no TFL3 identifier)');
  const r = new Reader(bb);
  const root = bb.readInt32(bb.position()) + bb.position();
  const buffers = r.tables(root, MODEL.buffers).map((p) => r.bytes(p, BUFFER.data));
  const operatorCodes = r.tables(root, MODEL.operatorCodes).map((p) => {
    const code = r.int(p, OPERATOR_CODE.builtinCode, -1);
    return { op: code >= 0 ? code : r.byte(p, OPERATOR_CODE.deprecatedBuiltinCode), version: r.int(p, OPERATOR_CODE.version, 1) };
  });
  const [subgraph] = r.tables(root, MODEL.subgraphs);
  const tensors: Tensor[] = r.tables(subgraph, SUBGRAPH.tensors).map((p) => {
    const q = r.table(p, TENSOR.quantization);
    const data = buffers[r.int(p, TENSOR.buffer)];
    const tensor: Tensor = { name: r.string(p, TENSOR.name), shape: r.ints(p, TENSOR.shape), type: TYPE_NAMES[r.byte(p, TENSOR.type)] };
    if (data && data.length > 0) tensor.data = data;
    if (q && r.field(q, QUANT.scale)) {
      tensor.quantization = { scale: r.floats(q, QUANT.scale), zeroPoint: r.longs(q, QUANT.zeroPoint), dimension: r.int(q, QUANT.dimension) };
      if (r.field(q, QUANT.min)) tensor.quantization.min = r.floats(q, QUANT.min);
      if (r.field(q, QUANT.max)) tensor.quantization.max = r.floats(q, QUANT.max);
    }
    return tensor;
  });
  const operators: Operator[] = r.tables(subgraph, SUBGRAPH.operators).map((p) => {
    const code = operatorCodes[r.int(p, OPERATOR.opcodeIndex)];
    return { op: code.op, version: code.version, inputs: r.ints(p, OPERATOR.inputs), outputs: r.ints(p, OPERATOR.outputs) };
  });
  const metadata = r.tables(root, MODEL.metadata).map((p) => ({ name: r.string(p, METADATA.name), data: buffers[r.int(p, METADATA.buffer)] ?? new Uint8Array(0) }));
  return {
    description: r.string(root, MODEL.description),
    tensors,
    operators,
    inputs: r.ints(subgraph, SUBGRAPH.inputs),
    outputs: r.ints(subgraph, SUBGRAPH.outputs),
    metadata,
    operatorCodes,
  };
}
