// The exporter's ONNX graph builder: nodes and initializers with unique names (layer names
// become tensor names), one input and one output, encoded through onnx/proto.ts (shared with
// the training compiler's builder).

import { attribute, encodeModel, onnx, valueInfo, type AttrValue, type Onnx } from './proto';

export { onnx, type AttrValue, type Onnx };

export const OPSET = 13;
/** IR version 7 is the one that goes with opset 13 (ONNX 1.8). */
export const IR_VERSION = 7;

type Attrs = Record<string, AttrValue | undefined>;

export interface ValueInfo {
  name: string;
  /** Dimensions; a string names a symbolic one (the batch). */
  dims: (number | string)[];
}

export class GraphBuilder {
  readonly #nodes: Onnx.INodeProto[] = [];
  readonly #initializers: Onnx.ITensorProto[] = [];
  readonly #used = new Set<string>();
  /** Reserved names no node has produced yet. */
  readonly #reserved = new Set<string>();

  /** A name not used yet, as close to `base` as possible (layer names become tensor names). */
  unique(base: string): string {
    const clean = base.replace(/[^\w./:-]/g, '_') || 'v';
    let name = clean;
    for (let i = 1; this.#used.has(name); i++) name = `${clean}_${i}`;
    this.#used.add(name);
    return name;
  }

  /**
   * Adds a node; returns the name of its (single) output: `output` made unique, or exactly
   * `output` when it was reserved for a graph output.
   */
  node(opType: string, inputs: string[], attrs: Attrs = {}, output_?: string): string {
    const output = output_ !== undefined && this.#reserved.delete(output_) ? output_ : this.unique(output_ ?? opType.toLowerCase());
    const attribute_ = Object.entries(attrs)
      .filter((e): e is [string, AttrValue] => e[1] !== undefined)
      .map(([k, v]) => attribute(k, v));
    this.#nodes.push({ opType, input: inputs, output: [output], name: this.unique(`${output}/${opType}`), attribute: attribute_ });
    return output;
  }

  /** Claims an exact name for a graph input or output before any node is added. */
  reserve(name: string): string {
    if (this.#used.has(name)) throw new Error(`ONNX name ${name} is taken`);
    this.#used.add(name);
    this.#reserved.add(name);
    return name;
  }

  floats(base: string, data: Float32Array, dims: number[]): string {
    const name = this.unique(base);
    this.#initializers.push({
      name,
      dataType: onnx.TensorProto.DataType.FLOAT,
      dims,
      rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    });
    return name;
  }

  int64s(base: string, values: number[]): string {
    const name = this.unique(base);
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.#initializers.push({
      name,
      dataType: onnx.TensorProto.DataType.INT64,
      dims: [values.length],
      rawData: new Uint8Array(data.buffer),
    });
    return name;
  }

  scalar(base: string, value: number): string {
    const name = this.unique(base);
    this.#initializers.push({ name, dataType: onnx.TensorProto.DataType.FLOAT, dims: [], rawData: new Uint8Array(Float32Array.of(value).buffer) });
    return name;
  }

  encode(options: {
    name: string;
    input: ValueInfo;
    output: ValueInfo;
    producerVersion: string;
    docString?: string;
    metadata?: Record<string, string>;
  }): Uint8Array {
    return encodeModel({
      irVersion: IR_VERSION,
      opset: OPSET,
      producerName: 'Loupe',
      producerVersion: options.producerVersion,
      docString: options.docString,
      metadata: options.metadata,
      graph: {
        name: options.name,
        node: this.#nodes,
        initializer: this.#initializers,
        input: [valueInfo(options.input.name, options.input.dims)],
        output: [valueInfo(options.output.name, options.output.dims)],
      },
    });
  }
}
