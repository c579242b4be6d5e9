// `npm run bench:profile`: where a compiled training step spends its time, per onnxruntime
// operator, for each architecture (random pixels, 10 classes, Adam).
//
//   npm run bench:profile                          every architecture at batch 64
//   npm run bench:profile -- --arch resnet-small   one (or a,b,c)
//   Options: --batch N (default 64), --steps N (timed steps per repetition, default 10),
//            --reps N (repetitions, best reported, wall and CPU time, default 3), --threads N (default: every core),
//            --top N (operators and nodes listed, default 12), --no-profile (timings only),
//            --baseline DIR (a checkout of another commit, e.g. a `git worktree add /tmp/base main`:
//            its trainer is timed in the same run, alternating, and the ratio printed),
//            --session JSON (extra onnxruntime session options for this checkout's trainer, e.g.
//            '{"extra":{"session":{"intra_op.allow_spinning":"0"}}}'; with --baseline . they are
//            compared with the defaults)
//
// The per-operator table comes from onnxruntime's own profiler (a JSON trace of every kernel's
// time), summed over the profiled steps and divided by their count: ms per step and share of the
// summed kernel time. "run" is the session's whole run (kernels plus its own overhead); "step" is
// what the trainer's step takes in JS (feeds, run, outputs), the figure images/s comes from.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import '../src/main/services/tfjs/quiet-tf';
import { ARCHITECTURES } from '../src/main/services/training/architectures';
import { OrtTrainer } from '../src/main/services/training/ort-trainer';
import { seededRandom } from '../src/main/services/rng';
import { ARCH_NAMES, type ArchName } from '../src/shared/types';
import { benchInput } from './arch-input';
import { printProfile } from './ort-profile';

const { values } = parseArgs({
  options: {
    arch: { type: 'string' },
    batch: { type: 'string' },
    steps: { type: 'string' },
    reps: { type: 'string' },
    threads: { type: 'string' },
    top: { type: 'string' },
    'no-profile': { type: 'boolean' },
    baseline: { type: 'string' },
    session: { type: 'string' },
  },
});
const archs = (values.arch?.split(',') ?? ARCH_NAMES) as ArchName[];
const batch = Number(values.batch ?? 64);
const steps = Number(values.steps ?? 10);
const reps = Number(values.reps ?? 3);
const threads = Number(values.threads ?? os.availableParallelism());
const top = Number(values.top ?? 12);
const fmt = (n: number, digits = 1) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

type Trainer = Pick<OrtTrainer, 'step' | 'release' | 'endProfiling'>;
type Create = (...args: Parameters<typeof OrtTrainer.create>) => Promise<Trainer>;

function shapeOf(arch: ArchName): { height: number; width: number; channels: 1 | 3 } {
  const { size, channels } = benchInput(arch);
  return { height: size, width: size, channels };
}

function data(arch: ArchName): { x: Float32Array; labels: Int32Array } {
  const { height, width, channels } = shapeOf(arch);
  const rand = seededRandom(7);
  const x = new Float32Array(batch * height * width * channels).map(rand);
  const labels = new Int32Array(batch).map(() => Math.floor(rand() * 10));
  return { x, labels };
}

/**
 * Seconds per step of each of `repetitions` repetitions of `steps` steps (after two warm-up
 * steps): wall time, and the process's CPU time (every thread's), which other jobs on a shared
 * machine disturb far less than the wall time (onnxruntime's threads do not spin for
 * convolutional models, so CPU time is the work done).
 */
async function timeSteps(trainer: Trainer, arch: ArchName, repetitions: number): Promise<{ wall: number; cpu: number }[]> {
  const { x, labels } = data(arch);
  const random = () => 0.5;
  for (let i = 0; i < 2; i++) await trainer.step(x, labels, batch, 1e-3, random);
  const times: { wall: number; cpu: number }[] = [];
  for (let r = 0; r < repetitions; r++) {
    const started = performance.now();
    const cpu = process.cpuUsage();
    for (let i = 0; i < steps; i++) await trainer.step(x, labels, batch, 1e-3, random);
    const used = process.cpuUsage(cpu);
    times.push({ wall: (performance.now() - started) / 1000 / steps, cpu: (used.user + used.system) / 1e6 / steps });
  }
  return times;
}

async function profile(create: Create, arch: ArchName, label: string): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-profile-'));
  const model = ARCHITECTURES[arch].build({ ...shapeOf(arch), classes: 10 });
  const trainer = await create(model, { kind: 'adam', weightDecay: 0 }, threads, {}, { enableProfiling: true, profileFilePrefix: path.join(dir, arch) });
  const profiled = 5;
  const { x, labels } = data(arch);
  for (let i = 0; i < 2 + profiled; i++) await trainer.step(x, labels, batch, 1e-3, () => 0.5);
  trainer.endProfiling();
  await trainer.release();
  model.dispose();
  printProfile(dir, profiled, top, label);
}

async function main(): Promise<void> {
  const session = JSON.parse(values.session ?? '{}') as Parameters<typeof OrtTrainer.create>[4];
  const create: Create = (model, optimizer, n, training, extra) => OrtTrainer.create(model, optimizer, n, training, { ...session, ...extra });
  let baseline: Create | null = null;
  if (values.baseline) {
    const mod = (await import(path.resolve(values.baseline, 'src/main/services/training/ort-trainer.ts'))) as { OrtTrainer: typeof OrtTrainer };
    baseline = (...args) => mod.OrtTrainer.create(...args);
  }
  console.log(`Batch ${batch}, Adam, ${threads} threads, ${steps} steps x ${reps} repetitions (best), load average ${os.loadavg().map((l) => fmt(l, 2)).join(' ')}`);
  for (const arch of archs) {
    console.log(`\n${arch}`);
    const model = ARCHITECTURES[arch].build({ ...shapeOf(arch), classes: 10 });
    const trainers: [string, Trainer][] = [['this', await create(model, { kind: 'adam', weightDecay: 0 }, threads)]];
    if (baseline) trainers.push(['baseline', await baseline(model, { kind: 'adam', weightDecay: 0 }, threads)]);
    // Alternate the trainers one repetition at a time, so that the machine's load hits both alike.
    const best = new Map<string, { wall: number; cpu: number }>(trainers.map(([name]) => [name, { wall: Infinity, cpu: Infinity }]));
    for (let r = 0; r < reps; r++) {
      for (const [name, t] of trainers) {
        const [time] = await timeSteps(t, arch, 1);
        const b = best.get(name)!;
        best.set(name, { wall: Math.min(b.wall, time.wall), cpu: Math.min(b.cpu, time.cpu) });
      }
    }
    for (const [name, t] of trainers) {
      const { wall, cpu } = best.get(name)!;
      console.log(`  ${name.padEnd(8)} step ${fmt(wall * 1000)} ms, ${fmt(batch / wall, 0)} img/s; CPU ${fmt(cpu * 1000)} ms/step`);
      await t.release();
    }
    if (baseline) {
      const [a, b] = [best.get('this')!, best.get('baseline')!];
      console.log(`  speed-up over baseline: ${fmt(b.wall / a.wall, 2)}x (wall), ${fmt(b.cpu / a.cpu, 2)}x (CPU time)`);
    }
    model.dispose();
    if (!values['no-profile']) {
      await profile(create, arch, 'this'); // (a baseline from before bench:profile existed cannot profile)
    }
  }
}

await main();
