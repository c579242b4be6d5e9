// Stand-ins for the ONNX Model Zoo's classifiers (same architectures, random seeded weights,
// opset 17, a fixed batch of 1 as the zoo's files are), made by scripts/make-standins.py with
// Debian's PyTorch. They are built once per version of that script into a cache outside the
// repository (LOUPE_STANDINS_DIR, else ~/.cache/loupe-standins/<script hash>): about 500 MB and
// a minute or two of export, never committed. Two test files asking at once build them once: the
// first takes a lock (a folder), the other waits for the finished folder.
//
// The script exports each model with a second output, the value PyTorch feeds its final
// classifier; this helper removes that output from the stand-in (so it has one output, as the
// zoo's files) and keeps its name in the manifest, for tests to check Loupe's features against.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { onnx } from '../../../src/main/services/onnx/proto';

export const PYTHON = '/usr/bin/python3';
// Not test/helpers' repoRoot: the benchmark uses this file too, outside vitest.
const SCRIPT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'make-standins.py');

export interface StandIn {
  name: string;
  /** The zoo model (onnx-model-zoo-pins.json id) it stands in for. */
  zoo: string;
  /** Absolute path of the .onnx file. */
  file: string;
  input: string;
  layout: 'nchw' | 'nhwc';
  resolution: number;
  dynamicBatch: boolean;
  features: number;
  /** The value (still in the graph, no longer an output) PyTorch fed the final classifier. */
  referenceOutput: string;
}

/** Whether Debian's PyTorch and torchvision are here (CI installs them; see .ci/run). */
export function torchAvailable(): boolean {
  try {
    execFileSync(PYTHON, ['-c', 'import torch, torchvision'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function cacheDir(): string {
  const hash = createHash('sha256').update(fs.readFileSync(SCRIPT)).digest('hex').slice(0, 16);
  return path.join(process.env.LOUPE_STANDINS_DIR ?? path.join(os.homedir(), '.cache', 'loupe-standins'), hash);
}

function readManifest(dir: string): StandIn[] | null {
  try {
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'standins.json'), 'utf8')) as { standins: StandIn[] };
    return json.standins.map((s) => ({ ...s, file: path.join(dir, s.file) }));
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A lock whose process is gone (or that never got a process id within a minute). */
function abandoned(lock: string): boolean {
  try {
    const owner = Number(fs.readFileSync(path.join(lock, 'pid'), 'utf8'));
    return !alive(owner);
  } catch {
    try {
      return Date.now() - fs.statSync(lock).mtimeMs > 60_000;
    } catch {
      return false;
    }
  }
}

function build(dir: string): void {
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  execFileSync(PYTHON, [SCRIPT, tmp], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20 * 60_000 });
  for (const s of readManifest(tmp) ?? []) {
    const model = onnx.ModelProto.decode(fs.readFileSync(s.file));
    model.graph!.output = model.graph!.output!.filter((o) => o.name !== s.referenceOutput);
    fs.writeFileSync(s.file, onnx.ModelProto.encode(model).finish());
  }
  fs.renameSync(tmp, dir);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The stand-ins, built if this version of the script has not built them yet. */
export async function standIns(): Promise<StandIn[]> {
  const dir = cacheDir();
  const lock = `${dir}.lock`;
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  for (;;) {
    const ready = readManifest(dir);
    if (ready) return ready;
    try {
      fs.mkdirSync(lock);
    } catch {
      // Another process builds them: wait for its folder, or take over if it died.
      if (abandoned(lock)) fs.rmSync(lock, { recursive: true, force: true });
      await sleep(500);
      continue;
    }
    try {
      fs.writeFileSync(path.join(lock, 'pid'), String(process.pid));
      if (!readManifest(dir)) build(dir);
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }
}

/** One stand-in by name. */
export function standIn(all: StandIn[], name: string): StandIn {
  const found = all.find((s) => s.name === name);
  if (!found) throw new Error(`No stand-in "${name}" (${all.map((s) => s.name).join(', ')})`);
  return found;
}
