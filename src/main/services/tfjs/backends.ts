// Which backend trains here, best first: native TensorFlow (optional packages that need
// libtensorflow), WebGPU through Dawn (only on a hardware adapter: a CPU Vulkan adapter is
// slower than wasm), onnxruntime (native CPU kernels on every core, from the npm package), wasm
// (with Loupe's gradient kernels, one replica per core), plain JS. Probing and activation run
// in the thread that trains: TensorFlow.js keeps its backend per thread.

import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import type { BackendInfo, BackendName } from '../../../shared/types';
import { BACKEND_NAMES } from '../../../shared/types';
import { LoupeError } from '../../../shared/errors';
import { initWasmBackend } from './wasm-kernels';

const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

export function cpuName(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model?.trim() || os.arch();
  return `${model} (${os.availableParallelism()} cores)`;
}

async function probeNative(): Promise<BackendInfo> {
  const failures: string[] = [];
  for (const pkg of NATIVE_PACKAGES) {
    try {
      await import(/* @vite-ignore */ pkg);
      const gpu = pkg.endsWith('-gpu');
      return { name: 'tensorflow', available: true, reason: `native TensorFlow through ${pkg}.`, device: gpu ? 'GPU (CUDA) or CPU, native TensorFlow' : `${cpuName()}, native TensorFlow` };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      failures.push(code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' ? `${pkg} is not installed` : `${pkg} failed to load (${(err as Error).message.split('\n')[0]})`);
    }
  }
  return { name: 'tensorflow', available: false, reason: `${failures.join('; ')}.`, device: '' };
}

const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|swiftshader|software|microsoft basic render/i;

interface GpuAdapterLike {
  isFallbackAdapter?: boolean;
  info?: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean };
}

let gpuReady: Promise<GpuAdapterLike | null> | null = null;

/** Sets up navigator.gpu from the `webgpu` package (Dawn) once, and asks for an adapter. */
function gpuAdapter(): Promise<GpuAdapterLike | null> {
  gpuReady ??= (async () => {
    const { create, globals } = (await import('webgpu')) as unknown as {
      create(options: string[]): { requestAdapter(o?: unknown): Promise<GpuAdapterLike | null> };
      globals: Record<string, unknown>;
    };
    Object.assign(globalThis, globals);
    const gpu = create([]);
    Object.defineProperty(globalThis, 'navigator', { value: { ...(globalThis.navigator ?? {}), gpu }, configurable: true, writable: true });
    return gpu.requestAdapter({ powerPreference: 'high-performance' });
  })();
  return gpuReady;
}

/**
 * Linux: Dawn reaches a GPU through the Vulkan loader. Without one it finds nothing and prints a
 * warning to the terminal, so ask the dynamic loader first (it says "cannot open shared object"
 * only when the library is absent; a library that is there fails later, as not a Node addon).
 */
function vulkanLoaderMissing(): boolean {
  if (process.platform !== 'linux') return false;
  try {
    process.dlopen({ exports: {} }, 'libvulkan.so.1');
  } catch (err) {
    return /cannot open shared object/i.test((err as Error).message);
  }
  return false;
}

async function probeWebGpu(): Promise<BackendInfo> {
  if (vulkanLoaderMissing()) return { name: 'webgpu', available: false, reason: 'no Vulkan loader (libvulkan.so.1), so no GPU to reach.', device: '' };
  try {
    const adapter = await gpuAdapter();
    if (!adapter) return { name: 'webgpu', available: false, reason: 'no WebGPU adapter (no GPU, or no Vulkan/Metal/D3D12 driver).', device: '' };
    const info = adapter.info ?? {};
    const device = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') || 'WebGPU adapter';
    if (adapter.isFallbackAdapter || info.isFallbackAdapter || SOFTWARE_ADAPTER.test(device)) {
      return { name: 'webgpu', available: false, reason: `only a software adapter (${device}); slower than wasm.`, device };
    }
    return { name: 'webgpu', available: true, reason: `GPU adapter ${device}.`, device };
  } catch (err) {
    return { name: 'webgpu', available: false, reason: `WebGPU failed to start (${(err as Error).message.split('\n')[0]}).`, device: '' };
  }
}

/**
 * onnxruntime-node ships native CPU kernels for every desktop OS in its npm package; Loupe
 * compiles each model's training step to an ONNX graph for it (onnx/training-graph.ts).
 */
async function probeOnnxRuntime(): Promise<BackendInfo> {
  try {
    const ort = await import('onnxruntime-node');
    const cpu = ort.listSupportedBackends?.().some((b) => b.name === 'cpu') ?? true;
    if (!cpu) return { name: 'onnxruntime', available: false, reason: 'onnxruntime-node has no CPU backend here.', device: '' };
    return {
      name: 'onnxruntime',
      available: true,
      reason: `native CPU kernels through onnxruntime-node on all ${os.availableParallelism()} cores (Loupe compiles the training step to ONNX).`,
      device: cpuName(),
    };
  } catch (err) {
    return { name: 'onnxruntime', available: false, reason: `onnxruntime-node failed to load (${(err as Error).message.split('\n')[0]}).`, device: '' };
  }
}

/** Every backend, best first, with whether it can train here and why. */
export async function probeBackends(): Promise<BackendInfo[]> {
  const [native, webgpu] = [await probeNative(), await probeWebGpu()];
  return [
    native,
    webgpu,
    await probeOnnxRuntime(),
    { name: 'wasm', available: true, reason: 'WebAssembly with SIMD and Loupe\'s gradient kernels, one replica per core.', device: cpuName() },
    { name: 'cpu', available: true, reason: 'plain JavaScript: works everywhere, but slow for convolutions.', device: cpuName() },
  ];
}

/** The backend a run uses: the requested one (if it can run here) or the best available. */
export function chooseBackend(probes: BackendInfo[], requested: BackendName | 'auto'): BackendInfo {
  if (requested !== 'auto') {
    const info = probes.find((p) => p.name === requested);
    if (!info) throw new LoupeError('INVALID_INPUT', `Unknown backend "${requested}". Use one of ${BACKEND_NAMES.join(', ')}.`);
    return { ...info, reason: info.available ? `chosen in settings; ${info.reason}` : info.reason };
  }
  const best = probes.find((p) => p.available)!;
  const skipped = probes.slice(0, probes.indexOf(best)).map((p) => `${p.name}: ${p.reason.replace(/\.$/, '')}`);
  return { ...best, reason: `${best.reason}${skipped.length ? ` (Not ${skipped.join('; not ')}.)` : ''}` };
}

/** Makes `name` TensorFlow.js's backend in this thread. */
export async function activateBackend(name: BackendName): Promise<void> {
  if (name === 'tensorflow') {
    const native = await probeNative();
    if (!native.available) throw new LoupeError('NOT_SUPPORTED', `Native TensorFlow cannot run here: ${native.reason}`);
    await tf.setBackend('tensorflow');
  } else if (name === 'webgpu') {
    const adapter = await gpuAdapter();
    if (!adapter) throw new LoupeError('NOT_SUPPORTED', 'WebGPU has no adapter here.');
    await import('@tensorflow/tfjs-backend-webgpu');
    if (!(await tf.setBackend('webgpu'))) throw new LoupeError('NOT_SUPPORTED', 'The WebGPU backend failed to initialise.');
  } else if (name === 'onnxruntime') {
    // The training step runs in onnxruntime; TF.js only holds the model, on plain JS.
    await tf.setBackend('cpu');
  } else if (name === 'wasm') {
    await initWasmBackend();
  } else {
    await tf.setBackend('cpu');
  }
  await tf.ready();
}
