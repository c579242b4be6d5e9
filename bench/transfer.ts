// `npm run bench:transfer`: transfer learning on a pretrained backbone.
//
//   1. Feature extraction speed: the same backbone (MobileNet v1, cut at its feature layer)
//      through onnxruntime-node (Loupe's exporter's ONNX graph, every core) and through
//      TensorFlow.js on WebAssembly (one core), images/s at each resolution.
//   2. CIFAR-10, 2,000 train / 1,000 test (class-balanced, fixed seed): one click from the CLI
//      on a fresh project; test accuracy and wall time of `loupe train` (feature extraction
//      included).
//   3. With --full: CIFAR-10's full 50,000 / 10,000, one click.
//
//   Options: --only speed|subset|full  --full  --dir DIR (projects; default /var/tmp)
//            --resolutions 128,160,224 (speed)  --size PX (forces the backbone input size)
//            --fine-tune head|blocks|all (forces how much of the backbone trains; default: one click's choice)
//            --keep (keeps the projects, for a look in Loupe afterwards)
// The backbone comes from LOUPE_BACKBONE_DIR (default: ../shared/models).

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { backboneFeatureFiles, FeatureExtractor } from '../src/main/services/backbones/extract';
import { resolveBackbone } from '../src/main/services/backbones/locate';
import { permutation, seededRandom } from '../src/main/services/rng';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    full: { type: 'boolean' },
    dir: { type: 'string' },
    resolutions: { type: 'string' },
    size: { type: 'string' },
    'fine-tune': { type: 'string' },
    keep: { type: 'boolean' },
  },
});
process.env.LOUPE_BACKBONE_DIR ??= path.join(repo, '..', 'shared', 'models');
const workDir = values.dir ?? '/var/tmp';
const num = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const CIFAR = '/tmp/cifar10';

function cifar(): string {
  if (!fs.existsSync(CIFAR)) execFileSync('tar', ['xzf', path.join(repo, '..', 'shared', 'datasets', 'cifar10-jpeg.tar.gz'), '-C', '/tmp']);
  return CIFAR;
}

// ---- 1. extraction speed ----

async function speed(): Promise<void> {
  const backbone = resolveBackbone('mobilenet_v1');
  console.log(`Backbone: ${backbone.title} (${backbone.copy}) from ${backbone.location}; ${os.availableParallelism()} cores.`);
  const resolutions = (values.resolutions ?? '128,160,224').split(',').map(Number);
  const files = fs.readdirSync(path.join(cifar(), 'test', 'cat')).slice(0, 64).map((f) => path.join(CIFAR, 'test', 'cat', f));
  const sharp = (await import('sharp')).default;
  await import('@tensorflow/tfjs-backend-wasm');
  await tf.setBackend('wasm');
  for (const r of resolutions) {
    const pixels = new Float32Array(files.length * r * r * 3);
    for (let i = 0; i < files.length; i++) {
      const raw = await sharp(files[i]).resize(r, r, { fit: 'cover' }).removeAlpha().raw().toBuffer();
      for (let j = 0; j < raw.length; j++) pixels[i * r * r * 3 + j] = raw[j];
    }
    const extractor = await FeatureExtractor.create(backbone, r);
    await extractor.run(pixels, 32); // warm-up
    let started = performance.now();
    for (let rep = 0; rep < 2; rep++) for (let b = 0; b < files.length; b += 32) await extractor.run(pixels.subarray(b * r * r * 3), 32);
    const ortRate = (2 * files.length) / ((performance.now() - started) / 1000);
    await extractor.release();

    const lf = backboneFeatureFiles(backbone, r);
    const model = await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: lf.json.modelTopology as object, weightSpecs: lf.json.weightsManifest.flatMap((g) => g.weights) as never, weightData: lf.weights.slice().buffer }),
    );
    const n = 8;
    const batch = tf.tensor4d(pixels.subarray(0, n * r * r * 3).map((v) => v / 255), [n, r, r, 3]);
    tf.tidy(() => model.predict(batch.slice(0, 1)));
    started = performance.now();
    const reps = r >= 192 ? 2 : 3;
    for (let rep = 0; rep < reps; rep++) {
      const out = tf.tidy(() => model.predict(batch) as tf.Tensor);
      await out.data();
      out.dispose();
    }
    const tfjsRate = (reps * n) / ((performance.now() - started) / 1000);
    batch.dispose();
    model.dispose();
    console.log(
      `extraction ${r}x${r}: onnxruntime-node ${num(ortRate, 1)} img/s (all cores), TF.js wasm ${num(tfjsRate, 1)} img/s (one core): ${num(ortRate / tfjsRate, 1)}x`,
    );
  }
}

// ---- 2, 3. one click from the CLI ----

function cli(args: string[], json = false): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'src/main/cli/run.ts'), ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(json ? JSON.parse(out) : out) : reject(new Error(`loupe ${args[0]} exited with ${code}`))));
  });
}

/** CIFAR-10 class-balanced subset (seeded): <dir>/{train,test}/<class>/*.jpg. */
function subsetFolders(dir: string, perClass: { train: number; test: number }, seed = 1): string {
  for (const split of ['train', 'test'] as const) {
    for (const [k, cls] of fs.readdirSync(path.join(cifar(), split)).sort().entries()) {
      const files = fs.readdirSync(path.join(CIFAR, split, cls)).sort();
      const order = permutation(files.length, seededRandom(seed * 1000 + k + (split === 'test' ? 500 : 0)));
      fs.mkdirSync(path.join(dir, split, cls), { recursive: true });
      for (let i = 0; i < perClass[split]; i++) fs.copyFileSync(path.join(CIFAR, split, cls, files[order[i]]), path.join(dir, split, cls, files[order[i]]));
    }
  }
  return dir;
}

async function oneClick(name: string, source: string): Promise<void> {
  const dir = fs.mkdtempSync(path.join(workDir, `loupe-bench-transfer-${name}-`));
  const project = path.join(dir, `${name}.loupe`);
  try {
    let started = performance.now();
    await cli(['create', project]);
    await cli(['import', project, source === 'subset' ? subsetFolders(path.join(dir, 'images'), { train: 200, test: 100 }) : cifar()]);
    const imported = (performance.now() - started) / 1000;
    const forced = [...(values.size ? ['--size', values.size] : []), ...(values['fine-tune'] ? ['--fine-tune', values['fine-tune']] : [])];
    started = performance.now();
    const plan = (await cli(['train', project, ...forced, '--plan', '--json'], true)) as { estimatedSeconds?: number; fineTuneWhy?: string };
    const planned = (performance.now() - started) / 1000;
    console.log(`\n${name}: the plan (${num(planned, 0)} s to make): ${plan.fineTuneWhy ?? '(no fine-tuning step)'} Estimated ${num((plan.estimatedSeconds ?? 0) / 60, 1)} min.`);
    started = performance.now();
    const result = (await cli(['train', project, ...forced, '--json'], true)) as Record<string, unknown>;
    const seconds = (performance.now() - started) / 1000;
    console.log(`\n${name}: one click ->`, JSON.stringify(result));
    console.log(
      `${name}: test accuracy ${num(100 * Number(result.testAccuracy), 2)}%, val ${num(100 * Number(result.valAccuracy), 2)}%, backbone ${String(result.backbone)}; ` +
        `wall time of loupe train ${num(seconds, 0)} s (feature extraction included; import took ${num(imported, 0)} s)`,
    );
  } finally {
    if (values.keep) console.log(`${name}: kept ${project}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
}

const only = values.only;
if (!only || only === 'speed') await speed();
if (!only || only === 'subset') await oneClick('cifar10-2000', 'subset');
if (only === 'full' || values.full) await oneClick('cifar10-full', 'full');
