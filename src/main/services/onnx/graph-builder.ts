// The one ONNX graph builder. The exporter (convert.ts, layers.ts), the training compiler
// (training-graph.ts) and backbone surgery (surgery.ts) add their nodes and constants here; the
// options say how they differ: generated value names readable (layer names become tensor names,
// for exported files people open) or from a counter (compiled graphs of thousands of values no
// one reads), and whether equal small constants share one initializer. Graph inputs, outputs and
// nodeAs outputs keep their exact names; a node may have several outputs. The opset is chosen when encoding:
// a fragment spliced into another model (surgery) takes that model's.

import { attribute, encodeModel, FLOAT, INT64, valueInfo, type AttrValue, type Dim, type Onnx } from './proto';

/** Node attributes; undefined ones are left out. */
export type Attrs = Record<string, AttrValue | undefined>;

export interface GraphOptions {
  /** The graph's name in the model. */
  name?: string;
  /**
   * How a value name is made from a hint: `readable` keeps the hint (cleaned, then `_1`, `_2`, ...
   * when taken); `counter` appends one running number to every hint (`relu_41`).
   */
  names: 'readable' | 'counter';
  /** Equal constants of up to 16 values share one initializer. */
  dedupeConstants: boolean;
}

export interface EncodeOptions {
  opset: number;
  producerVersion?: string;
  docString?: string;
  /** Key/value metadata stored in the model. */
  metadata?: Record<string, string>;
}

/** The IR version that goes with each opset Loupe writes: 13 (ONNX 1.8) and 17 (ONNX 1.12). */
const IR_VERSIONS: Record<number, number> = { 13: 7, 17: 8 };

/** Constants up to this many values are shared when `dedupeConstants` is on. */
const SHARED_CONSTANT_MAX = 16;

export class GraphBuilder {
  readonly #nodes: Onnx.INodeProto[] = [];
  readonly #inputs: Onnx.IValueInfoProto[] = [];
  readonly #outputs: Onnx.IValueInfoProto[] = [];
  readonly #initializers: Onnx.ITensorProto[] = [];
  readonly #used = new Set<string>();
  /** Names claimed for graph outputs that no node produces yet. */
  readonly #reserved = new Set<string>();
  readonly #constants = new Map<string, string>();
  /** Operator domains other than ONNX's own that nodes use (each imported at version 1). */
  readonly #domains = new Set<string>();
  #counter = 0;

  constructor(readonly options: GraphOptions) {}

  /** A value name not used yet, made from `hint` as `options.names` says. */
  name(hint: string): string {
    let name: string;
    if (this.options.names === 'counter') {
      do name = `${hint}_${this.#counter++}`;
      while (this.#used.has(name));
    } else {
      const clean = hint.replace(/[^\w./:-]/g, '_') || 'v';
      name = clean;
      for (let i = 1; this.#used.has(name); i++) name = `${clean}_${i}`;
    }
    this.#used.add(name);
    return name;
  }

  /** Declares a graph input under exactly `name`; returns it. */
  input(name: string, dims: Dim[], elemType = FLOAT): string {
    this.#claim(name);
    this.#inputs.push(valueInfo(name, dims, elemType));
    return name;
  }

  /** Claims exactly `name` for a graph output declared later, so no value made before takes it. */
  reserve(name: string): string {
    this.#claim(name);
    this.#reserved.add(name);
    return name;
  }

  /** Declares `value` a graph output under exactly `name` (through an Identity when the names differ). */
  output(name: string, value: string, dims: Dim[], elemType = FLOAT): void {
    if (value !== name) this.nodeAs(name, 'Identity', [value]);
    this.#outputs.push(valueInfo(name, dims, elemType));
  }

  /** Adds a node whose one output is exactly `name` (reserved before, or not used yet); returns it. */
  nodeAs(name: string, opType: string, inputs: string[], attrs: Attrs = {}): string {
    if (!this.#reserved.delete(name)) this.#claim(name);
    return this.#add(opType, inputs, attrs, [name])[0];
  }

  /** Adds a node with one output, named from `output` (a hint) or the op; returns the output's name. */
  node(opType: string, inputs: string[], attrs: Attrs = {}, output?: string): string {
    return this.#add(opType, inputs, attrs, [this.name(output ?? opType.toLowerCase())])[0];
  }

  /** Adds a node of another operator domain (onnxruntime's `com.microsoft.nchwc`), with one output; returns its name. */
  nodeIn(domain: string, opType: string, inputs: string[], attrs: Attrs = {}): string {
    this.#domains.add(domain);
    return this.#add(opType, inputs, attrs, [this.name(opType.toLowerCase())], domain)[0];
  }

  /** Adds a node with `count` outputs (MaxPool's values and indices); returns their names. */
  nodeN(opType: string, inputs: string[], count: number, attrs: Attrs = {}): string[] {
    return this.#add(opType, inputs, attrs, Array.from({ length: count }, () => this.name(opType.toLowerCase())));
  }

  /** A float32 constant named from `hint`. */
  floats(values: ArrayLike<number>, dims: number[] = [values.length], hint = 'const'): string {
    const data = values instanceof Float32Array ? values : Float32Array.from(values);
    return this.#constant(FLOAT, values, dims, hint, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }

  /** A float32 scalar (dims []). */
  scalar(value: number, hint = 'const'): string {
    return this.floats([value], [], hint);
  }

  /** A constant of any element type from its little-endian bytes (int8 weights, int32 biases, zero points). */
  typed(dataType: number, rawData: Uint8Array, dims: number[], hint = 'const'): string {
    const name = this.name(hint);
    this.#initializers.push({ name, dataType, dims, rawData });
    return name;
  }

  /** Marks names of the graph a fragment will be spliced into as taken, so no new value takes one. */
  taken(names: Iterable<string>): void {
    for (const name of names) this.#used.add(name);
  }

  /** A 1-D int64 constant (a shape, axes, pads). */
  ints(values: number[], hint = 'ints'): string {
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    return this.#constant(INT64, values, [values.length], hint, new Uint8Array(data.buffer));
  }

  /** The graph built so far (surgery splices its nodes and initializers into another model). */
  graph(): Onnx.IGraphProto {
    return {
      ...(this.options.name !== undefined && { name: this.options.name }),
      node: this.#nodes,
      initializer: this.#initializers,
      input: this.#inputs,
      output: this.#outputs,
    };
  }

  encode(options: EncodeOptions): Uint8Array {
    const irVersion = IR_VERSIONS[options.opset];
    if (irVersion === undefined) throw new Error(`No IR version is known for opset ${options.opset}.`);
    return encodeModel({
      irVersion,
      opset: options.opset,
      producerName: 'Loupe',
      producerVersion: options.producerVersion,
      docString: options.docString,
      metadata: options.metadata,
      domains: [...this.#domains],
      graph: this.graph(),
    });
  }

  #claim(name: string): void {
    if (this.#used.has(name)) throw new Error(`ONNX name ${name} is taken`);
    this.#used.add(name);
  }

  #add(opType: string, inputs: string[], attrs: Attrs, outputs: string[], domain?: string): string[] {
    this.#nodes.push({
      ...(domain !== undefined && { domain }),
      opType,
      input: inputs,
      output: outputs,
      name: this.name(`${outputs[0]}/${opType}`),
      attribute: Object.entries(attrs)
        .filter((e): e is [string, AttrValue] => e[1] !== undefined)
        .map(([k, v]) => attribute(k, v)),
    });
    return outputs;
  }

  #constant(dataType: number, values: ArrayLike<number>, dims: number[], hint: string, rawData: Uint8Array): string {
    const key = this.options.dedupeConstants && values.length <= SHARED_CONSTANT_MAX ? `${dataType}:${dims.join('x')}:${Array.from(values).join(',')}` : null;
    const shared = key === null ? undefined : this.#constants.get(key);
    if (shared) return shared;
    const name = this.name(hint);
    this.#initializers.push({ name, dataType, dims, rawData });
    if (key !== null) this.#constants.set(key, name);
    return name;
  }
}
