// Which onnxruntime execution provider runs a model here. CPU works everywhere; CUDA (Linux,
// Windows), DirectML (Windows) and CoreML (macOS) are tried first where onnxruntime-node has
// them on this machine. A provider that fails once is not tried again by this process, and the
// provider that ran is reported with every prediction. LOUPE_ORT_PROVIDER=cpu forces the CPU.

import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type * as Ort from 'onnxruntime-node';

const ACCELERATED: Partial<Record<NodeJS.Platform, string[]>> = {
  linux: ['cuda'],
  win32: ['cuda', 'dml'],
  darwin: ['coreml'],
};

/** onnxruntime-node, loaded on first use (it is a large native library; most commands never need it). */
export function onnxruntime(): Promise<typeof Ort> {
  ortModule ??= import('onnxruntime-node');
  return ortModule;
}
let ortModule: Promise<typeof Ort> | null = null;

/** Providers that failed in this process, with why. */
const failed = new Map<string, string>();

/** The provider libraries beside onnxruntime-node's binding (CUDA's come from its install script). */
function bindingFiles(): string[] {
  try {
    const pkg = createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
    return fs.readdirSync(path.join(path.dirname(pkg), 'bin', 'napi-v6', process.platform, process.arch));
  } catch {
    return [];
  }
}

/** Accelerated providers onnxruntime-node offers on this machine, best first. */
export async function acceleratedProviders(): Promise<string[]> {
  const ort = await onnxruntime();
  const wanted = ACCELERATED[process.platform] ?? [];
  const listed = ort.listSupportedBackends?.() ?? [];
  let files: string[] | null = null;
  return wanted.filter((name) => {
    const backend = listed.find((b) => b.name === name);
    if (!backend || failed.has(name)) return false;
    if (backend.bundled) return true;
    files ??= bindingFiles();
    return files.some((f) => f.includes(`providers_${name}`));
  });
}

async function candidates(): Promise<string[]> {
  const forced = process.env.LOUPE_ORT_PROVIDER;
  if (forced) return forced === 'cpu' ? ['cpu'] : [forced, 'cpu'];
  return [...(await acceleratedProviders()), 'cpu'];
}

export interface OrtSession {
  session: Ort.InferenceSession;
  /** The execution provider that runs it. */
  provider: string;
}

/**
 * Opens a model on the best provider that accepts it, falling back to the CPU. `spinning: false`
 * lets onnxruntime's idle threads sleep instead of spinning: for work that shares the cores with
 * something else (feature extraction decodes the next images meanwhile), spinning threads took
 * the decoder's cores and extraction ran about half as fast.
 */
export async function createSession(model: string | Uint8Array, tuning: { spinning?: boolean } = {}): Promise<OrtSession> {
  const ort = await onnxruntime();
  const options: Ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    intraOpNumThreads: os.availableParallelism(),
    ...(tuning.spinning === false ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
  };
  let lastError: unknown = null;
  for (const provider of await candidates()) {
    try {
      const session =
        typeof model === 'string'
          ? await ort.InferenceSession.create(model, { ...options, executionProviders: [provider] })
          : await ort.InferenceSession.create(model, { ...options, executionProviders: [provider] });
      return { session, provider };
    } catch (err) {
      lastError = err;
      if (provider !== 'cpu') failed.set(provider, err instanceof Error ? err.message : String(err));
    }
  }
  throw lastError;
}

/** The onnxruntime-node version, for model cards. */
export function ortVersion(): string {
  try {
    const pkg = createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
    return (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
