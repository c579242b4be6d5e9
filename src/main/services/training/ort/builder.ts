// A small ONNX graph builder over onnx-proto: named values, nodes with typed attributes, float
// and int64 constants, and symbolic dimensions. It writes the protobuf bytes onnxruntime loads.

import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
export const FLOAT = onnx.TensorProto.DataType.FLOAT;
export const INT64 = onnx.TensorProto.DataType.INT64;

export type Attr = number | number[] | string | { float: number };
export type Dim = number | string;

function attribute(name: string, value: Attr): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'object' && !Array.isArray(value)) return { name, type: T.FLOAT, f: value.float };
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  return { name, type: T.INT, i: value };
}

function valueInfo(name: string, dims: Dim[], elemType = FLOAT): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  };
}

export class GraphBuilder {
  readonly #nodes: onnxProto.onnx.INodeProto[] = [];
  readonly #inputs: onnxProto.onnx.IValueInfoProto[] = [];
  readonly #outputs: onnxProto.onnx.IValueInfoProto[] = [];
  readonly #initializers: onnxProto.onnx.ITensorProto[] = [];
  readonly #constants = new Map<string, string>();
  #counter = 0;

  constructor(readonly name: string) {}

  fresh(hint: string): string {
    return `${hint}_${this.#counter++}`;
  }

  input(name: string, dims: Dim[], elemType = FLOAT): string {
    this.#inputs.push(valueInfo(name, dims, elemType));
    return name;
  }

  /** Declares `value` a graph output under `name` (through an Identity when the names differ). */
  output(name: string, value: string, dims: Dim[], elemType = FLOAT): void {
    if (value !== name) this.#nodes.push({ opType: 'Identity', input: [value], output: [name], name: this.fresh('out') });
    this.#outputs.push(valueInfo(name, dims, elemType));
  }

  /** A float constant (deduplicated by value). */
  floats(values: ArrayLike<number>, dims: number[] = [values.length]): string {
    const key = `f:${dims.join('x')}:${Array.from(values).join(',')}`;
    const hit = this.#constants.get(key);
    if (hit && values.length <= 16) return hit;
    const name = this.fresh('const');
    this.#initializers.push({ name, dataType: FLOAT, dims, floatData: Array.from(values) });
    if (values.length <= 16) this.#constants.set(key, name);
    return name;
  }

  scalar(value: number): string {
    return this.floats([value], []);
  }

  ints(values: number[], dims: number[] = [values.length]): string {
    const key = `i:${dims.join('x')}:${values.join(',')}`;
    const hit = this.#constants.get(key);
    if (hit) return hit;
    const name = this.fresh('ints');
    this.#initializers.push({ name, dataType: INT64, dims, int64Data: values });
    this.#constants.set(key, name);
    return name;
  }

  /** Adds a node; returns its output names. */
  nodeN(opType: string, inputs: string[], outputs: number, attrs: Record<string, Attr> = {}): string[] {
    const names = Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase()));
    this.#nodes.push({
      opType,
      input: inputs,
      output: names,
      name: this.fresh(`n_${opType}`),
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return names;
  }

  node(opType: string, inputs: string[], attrs: Record<string, Attr> = {}): string {
    return this.nodeN(opType, inputs, 1, attrs)[0];
  }

  encode(opset = 17): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'loupe',
      opsetImport: [{ domain: '', version: opset }],
      graph: { name: this.name, node: this.#nodes, input: this.#inputs, output: this.#outputs, initializer: this.#initializers },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}
