// `npm run bench:infer`: inference speed of the CIFAR-10 model through the training framework
// (TensorFlow.js, wasm backend) and through onnxruntime-node on the exported model.onnx, on the
// same images, on this machine, in one run. Targets: onnxruntime at least 3x TF.js and at least
// 1,000 images/s at batch 64; batch-1 latency is reported for both.
//
// The model: the Keras CIFAR-10 CNN trained for one epoch on a CIFAR-10 subset (from
// /tmp/cifar10, unpacked from ../shared/datasets/cifar10-jpeg.tar.gz when missing; without the
// data set, on generated 32x32 colour patterns), exported with `exportRun` (so the parity figure
// is the export's own). Options: --train N (training images per class, default 500),
// --images N (timed images, default 1024), --arch A (default keras-cifar), --dir DIR (default /var/tmp).

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import type { ArchName } from '../src/shared/types';
import { exportRun } from '../src/main/services/export/export';
import { createImport, runImport } from '../src/main/services/import';
import { createSession, onnxruntime } from '../src/main/services/onnx/runtime';
import { activateBackend } from '../src/main/services/tfjs/backends';
import { loadModel } from '../src/main/services/tfjs/checkpoint';
import { decodeToSpec } from '../src/main/services/pixels/pixel-pack';
import { runTraining } from '../src/main/services/training/train';
import { Project } from '../src/main/store/project';
import { makePatternProject } from '../test/services/training/train-helpers';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CIFAR = '/tmp/cifar10';
const TARBALL = path.resolve(repo, '..', 'shared', 'datasets', 'cifar10-jpeg.tar.gz');
const { values } = parseArgs({
  options: { train: { type: 'string' }, images: { type: 'string' }, arch: { type: 'string' }, dir: { type: 'string' } },
});
const perClass = Number(values.train ?? 500);
const timedImages = Number(values.images ?? 1024);
const arch = (values.arch ?? 'keras-cifar') as ArchName;
const BATCH = 64;
const num = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** A CIFAR-10 subset as train/test class folders (copies), or null without the data set. */
function cifarSubset(dir: string): string | null {
  if (!fs.existsSync(CIFAR)) {
    if (!fs.existsSync(TARBALL)) return null;
    execFileSync('tar', ['xzf', TARBALL, '-C', '/tmp']);
  }
  const out = path.join(dir, 'cifar10-subset');
  for (const [split, count] of [['train', perClass], ['test', Math.ceil(timedImages / 10)]] as const) {
    for (const cls of fs.readdirSync(path.join(CIFAR, split)).sort()) {
      fs.mkdirSync(path.join(out, split, cls), { recursive: true });
      for (const f of fs.readdirSync(path.join(CIFAR, split, cls)).sort().slice(0, count)) {
        fs.copyFileSync(path.join(CIFAR, split, cls, f), path.join(out, split, cls, f));
      }
    }
  }
  return out;
}

async function makeProject(dir: string): Promise<{ root: string; source: string }> {
  const root = path.join(dir, 'cifar.loupe');
  const subset = cifarSubset(dir);
  if (!subset) {
    await makePatternProject(root, { perClass: perClass + Math.ceil(timedImages / 4), classes: 4, size: 32, seed: 1 });
    return { root, source: 'generated 32x32 patterns (CIFAR-10 not found)' };
  }
  const project = Project.create(root, 'cifar10');
  try {
    const importId = createImport(project.db, [{ kind: 'path', path: subset }]);
    await runImport(project, importId);
  } finally {
    project.close();
  }
  return { root, source: `CIFAR-10 subset (${perClass} training images per class)` };
}

/** One timed pass: images per second of `run` over `count` images in batches of `batch`. */
async function pass(count: number, batch: number, run: (start: number, n: number) => Promise<void>): Promise<number> {
  const started = performance.now();
  for (let start = 0; start + batch <= count; start += batch) await run(start, batch);
  return (Math.floor(count / batch) * batch) / ((performance.now() - started) / 1000);
}

/**
 * Best images/s of each engine over interleaved passes: other work on a shared machine then
 * slows both alike instead of whichever happened to run during it.
 */
async function rates(count: number, batch: number, engines: ((start: number, n: number) => Promise<void>)[], passes = 5): Promise<number[]> {
  for (const run of engines) await run(0, Math.min(batch, count)); // warm-up
  const best = engines.map(() => 0);
  for (let p = 0; p < passes; p++) {
    for (let e = 0; e < engines.length; e++) best[e] = Math.max(best[e], await pass(count, batch, engines[e]));
  }
  return best;
}

/** Median milliseconds of one image at batch 1. */
async function latency(count: number, run: (start: number, n: number) => Promise<void>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await run(i, 1);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const dir = fs.mkdtempSync(path.join(values.dir ?? '/var/tmp', 'loupe-bench-infer-'));
try {
  const wall = performance.now();
  const { root, source } = await makeProject(dir);
  const project = Project.open(root);
  let runId: number;
  let exportDir: string;
  let parity: string;
  try {
    const trained = await runTraining(project, { arch, epochs: 1, batchSize: 64, seed: 1, patience: null });
    runId = trained.runId;
    console.log(`Model: ${arch} trained 1 epoch on ${source} (${trained.backend}, ${num(trained.seconds, 1)} s), test accuracy ${num(100 * (trained.testAccuracy ?? 0), 1)}%.`);
    const exported = await exportRun(project, { runId, format: 'onnx', dir: path.join(dir, 'export') });
    exportDir = exported.path;
    parity = `${exported.parity!.images} test images, top-1 agreement ${num(100 * exported.parity!.top1Agreement, 1)}%, max |Δp| ${exported.parity!.maxAbsDiff.toExponential(2)}`;
  } finally {
    project.close();
  }

  // The same images for both: the project's images, decoded as for training.
  const files = fs.readdirSync(path.join(root, 'media'), { recursive: true }).map(String).filter((f) => /\.(jpe?g|png)$/.test(f)).sort().slice(0, timedImages);
  const shape = [32, 32, 3];
  const size = 32 * 32 * 3;
  const count = files.length;
  const raw = new Float32Array(count * size);
  for (let i = 0; i < count; i++) raw.set(await decodeToSpec(path.join(root, 'media', files[i]), { width: 32, height: 32, channels: 3, fit: 'cover' }), i * size);
  const scaled = raw.map((x) => x / 255);

  await activateBackend('wasm');
  const model = await loadModel(path.join(root, 'models', String(runId), 'model'));
  const tfjsRun = async (start: number, n: number) => {
    const out = tf.tidy(() => model.predict(tf.tensor4d(scaled.subarray(start * size, (start + n) * size), [n, ...shape] as [number, number, number, number])) as tf.Tensor);
    await out.data();
    out.dispose();
  };
  const ort = await onnxruntime();
  // The session as Loupe's predictions open it (best provider, every core), and one on one thread.
  const { session, provider } = await createSession(path.join(exportDir, 'model.onnx'));
  const single = await ort.InferenceSession.create(path.join(exportDir, 'model.onnx'), { graphOptimizationLevel: 'all', intraOpNumThreads: 1 });
  const ortRunOn = (s: typeof session) => async (start: number, n: number) => {
    await s.run({ pixels: new ort.Tensor('float32', raw.subarray(start * size, (start + n) * size), [n, ...shape]) });
  };
  const ortRun = ortRunOn(session);

  const [tfjsRate, ortRate, ortSingleRate] = await rates(count, BATCH, [tfjsRun, ortRun, ortRunOn(single)]);
  const tfjsLatency = await latency(Math.min(200, count), tfjsRun);
  const ortLatency = await latency(Math.min(200, count), ortRun);
  await session.release();
  await single.release();

  const cores = os.availableParallelism();
  console.log(`Machine: ${os.cpus()[0]?.model ?? os.arch()}, ${cores} cores. Images: the same ${num(count)} images for each, 32x32x3, best of 5 interleaved passes; load average ${os.loadavg()[0].toFixed(1)}.`);
  console.log(`Export parity: ${parity}.`);
  console.log('');
  console.log('engine                                  batch 64 (img/s)   batch 1 (ms/img, median)');
  console.log(`TensorFlow.js ${tf.version.tfjs} (wasm, 1 thread)     ${num(tfjsRate).padStart(12)}   ${num(tfjsLatency, 2).padStart(12)}`);
  console.log(`onnxruntime-node (${provider}, ${cores} threads)        ${num(ortRate).padStart(12)}   ${num(ortLatency, 2).padStart(12)}`);
  console.log(`onnxruntime-node (cpu, 1 thread)         ${num(ortSingleRate).padStart(12)}`);
  console.log('');
  const speedup = ortRate / tfjsRate;
  console.log(`onnxruntime / TF.js at batch 64: ${num(speedup, 1)}x (target >= 3x): ${speedup >= 3 ? 'PASS' : 'FAIL'}`);
  console.log(`onnxruntime at batch 64: ${num(ortRate)} img/s (target >= 1,000): ${ortRate >= 1000 ? 'PASS' : 'FAIL'}`);
  console.log(`Wall time ${num((performance.now() - wall) / 1000, 0)} s.`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
