// The training compiler's ONNX graph builder: named values, several graph inputs and outputs,
// multi-output nodes, deduplicated float and int64 constants, and symbolic dimensions. The
// protobuf shapes are in onnx/proto.ts, shared with the exporter's builder.

import { attribute, encodeModel, FLOAT, INT64, valueInfo, type AttrValue, type Dim, type Onnx } from './proto';

export { FLOAT, INT64, type Dim };
export type Attr = AttrValue;

export class GraphBuilder {
  readonly #nodes: Onnx.INodeProto[] = [];
  readonly #inputs: Onnx.IValueInfoProto[] = [];
  readonly #outputs: Onnx.IValueInfoProto[] = [];
  readonly #initializers: Onnx.ITensorProto[] = [];
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
    return encodeModel({
      irVersion: 8,
      opset,
      producerName: 'loupe',
      graph: { name: this.name, node: this.#nodes, input: this.#inputs, output: this.#outputs, initializer: this.#initializers },
    });
  }
}
