// A real TensorFlow Lite interpreter in this process: the TFLite C++ runtime (the interpreter and
// its builtin kernels, XNNPACK for float) compiled to WebAssembly, as shipped in
// @tensorflow/tfjs-tflite's wasm/ folder. That package's own loader expects a browser (it fetches
// the .wasm by URL and asks `navigator` for cores), but the Emscripten module under it runs in
// Node when handed the .wasm bytes, so exported .tflite files are checked in the core service
// like every other export, with no browser. The single-threaded SIMD build is used: Node has
// wasm SIMD, and the threaded build needs browser workers.

import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { LoupeError } from '../../../shared/errors';

interface TensorInfo {
  id: number;
  dataType: string;
  name: string;
  shape: string;
  data(): Float32Array | Int8Array | Uint8Array | Int32Array;
  delete(): void;
}
interface CppVector<T> {
  size(): number;
  get(i: number): T;
  delete(): void;
}
interface CppRunner {
  GetInputs(): CppVector<TensorInfo>;
  GetOutputs(): CppVector<TensorInfo>;
  Infer(): boolean;
  delete(): void;
}
interface WasmModule {
  _malloc(n: number): number;
  _free(p: number): void;
  HEAPU8: Uint8Array;
  TFLiteWebModelRunner: {
    CreateFromBufferAndOptions(
      pointer: number,
      length: number,
      options: { numThreads: number; enableProfiling: boolean; maxProfilingBufferEntries: number },
    ): { ok(): boolean; errorMessage(): string; value(): CppRunner; delete?(): void };
  };
}

/** The interpreter's build: which file of @tensorflow/tfjs-tflite runs the models (for the card). */
export const TFLITE_RUNTIME = 'TensorFlow Lite interpreter (C++, wasm SIMD build of @tensorflow/tfjs-tflite)';

let loading: Promise<WasmModule> | null = null;

function wasmDir(): string {
  const entry = createRequire(import.meta.url).resolve('@tensorflow/tfjs-tflite');
  return path.join(path.dirname(entry), '..', 'wasm');
}

/** The wasm interpreter module, loaded once per process. */
function wasmModule(): Promise<WasmModule> {
  loading ??= (async () => {
    const dir = wasmDir();
    const factory = createRequire(import.meta.url)(path.join(dir, 'tflite_web_api_cc_simd.js')) as (m: object) => Promise<WasmModule>;
    return factory({ wasmBinary: fs.readFileSync(path.join(dir, 'tflite_web_api_cc_simd.wasm')), print: () => {}, printErr: () => {} });
  })().catch((err: unknown) => {
    loading = null;
    throw new LoupeError('INTERNAL', `The TensorFlow Lite interpreter cannot start here: ${err instanceof Error ? err.message : String(err)}`);
  });
  return loading;
}

function list<T>(v: CppVector<T>): T[] {
  try {
    return Array.from({ length: v.size() }, (_, i) => v.get(i));
  } finally {
    v.delete();
  }
}

/** `use` of a C++ vector's tensors; then the vector and each tensor (embind copies of C++ objects, which only delete() frees) go. */
function withTensors<R>(v: CppVector<TensorInfo>, use: (tensors: TensorInfo[]) => R): R {
  const tensors = list(v);
  try {
    return use(tensors);
  } finally {
    for (const t of tensors) t.delete();
  }
}

export interface TensorSpec {
  name: string;
  type: string;
  shape: number[];
}

/** One .tflite model loaded in the interpreter, with fixed input and output shapes. */
export class TfliteInterpreter {
  private constructor(
    private readonly module: WasmModule,
    private readonly runner: CppRunner,
    private readonly modelPointer: number,
    readonly inputs: TensorSpec[],
    readonly outputs: TensorSpec[],
  ) {}

  static async load(bytes: Uint8Array): Promise<TfliteInterpreter> {
    const m = await wasmModule();
    const pointer = m._malloc(bytes.length);
    m.HEAPU8.set(bytes, pointer);
    const created = m.TFLiteWebModelRunner.CreateFromBufferAndOptions(pointer, bytes.length, { numThreads: 1, enableProfiling: false, maxProfilingBufferEntries: 1024 });
    if (!created.ok()) {
      const why = created.errorMessage();
      m._free(pointer);
      throw new LoupeError('INTERNAL', `The TensorFlow Lite interpreter cannot load the model: ${why}`);
    }
    const runner = created.value();
    const spec = (t: TensorInfo): TensorSpec => ({ name: t.name, type: t.dataType, shape: t.shape.split(',').map(Number) });
    const inputs = withTensors(runner.GetInputs(), (ts) => ts.map(spec));
    const outputs = withTensors(runner.GetOutputs(), (ts) => ts.map(spec));
    return new TfliteInterpreter(m, runner, pointer, inputs, outputs);
  }

  /** Runs the model on one input (already in the input tensor's type) and returns a copy of every output. */
  run(input: ArrayLike<number>): (Float32Array | Int8Array | Uint8Array | Int32Array)[] {
    withTensors(this.runner.GetInputs(), ([tensor]) => {
      const view = tensor.data();
      if (view.length !== input.length) throw new LoupeError('INTERNAL', `The model takes ${view.length} values; ${input.length} were given.`);
      view.set(input);
    });
    if (!this.runner.Infer()) throw new LoupeError('INTERNAL', 'The TensorFlow Lite interpreter failed to run the model.');
    return withTensors(this.runner.GetOutputs(), (ts) => ts.map((t) => t.data().slice()));
  }

  close(): void {
    this.runner.delete();
    this.module._free(this.modelPointer);
  }
}
