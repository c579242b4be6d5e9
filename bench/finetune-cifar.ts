// Fine-tuning on CIFAR-10's class-balanced 2,000 / 1,000 subset (seed 1, as bench/transfer.ts):
// a fresh project imported through the CLI, then one run with the fine-tuning mode given
// (--mode blocks|all|head), test accuracy and the run's wall time (extraction included).
//   npx tsx bench/finetune-cifar.ts --mode blocks [--epochs N] [--lr X] [--size 128] [--dir /var/tmp] [--project P (reuse its caches)]

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { FineTuneMode } from '../src/shared/types';
import { runTraining } from '../src/main/services/training/train';
import { runDetails } from '../src/main/services/training/records';
import { Project } from '../src/main/store/project';
import { permutation, seededRandom } from '../src/main/services/rng';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { mode: { type: 'string' }, epochs: { type: 'string' }, size: { type: 'string' }, dir: { type: 'string' }, project: { type: 'string' }, lr: { type: 'string' } } });
process.env.LOUPE_BACKBONE_DIR ??= path.join(repo, '..', 'shared', 'models');
const CIFAR = '/tmp/cifar10';
if (!fs.existsSync(CIFAR)) execFileSync('tar', ['xzf', path.join(repo, '..', 'shared', 'datasets', 'cifar10-jpeg.tar.gz'), '-C', '/tmp']);

function subset(dir: string): string {
  for (const split of ['train', 'test'] as const) {
    for (const [k, cls] of fs.readdirSync(path.join(CIFAR, split)).sort().entries()) {
      const files = fs.readdirSync(path.join(CIFAR, split, cls)).sort();
      const order = permutation(files.length, seededRandom(1000 + k + (split === 'test' ? 500 : 0)));
      fs.mkdirSync(path.join(dir, split, cls), { recursive: true });
      for (let i = 0; i < (split === 'train' ? 200 : 100); i++) fs.copyFileSync(path.join(CIFAR, split, cls, files[order[i]]), path.join(dir, split, cls, files[order[i]]));
    }
  }
  return dir;
}

let projectDir = values.project;
if (!projectDir) {
  const dir = fs.mkdtempSync(path.join(values.dir ?? '/var/tmp', 'loupe-bench-finetune-'));
  projectDir = path.join(dir, 'cifar.loupe');
  const cli = (args: string[]) => execFileSync(process.execPath, ['--import', 'tsx', path.join(repo, 'src/main/cli/run.ts'), ...args], { cwd: repo, stdio: 'inherit' });
  cli(['create', projectDir]);
  cli(['import', projectDir, subset(path.join(dir, 'images'))]);
}
const project = Project.open(projectDir);
const started = performance.now();
let last = '';
const result = await runTraining(
  project,
  { fineTune: (values.mode ?? 'blocks') as FineTuneMode, ...(values.epochs ? { epochs: Number(values.epochs) } : {}), ...(values.lr ? { learningRate: Number(values.lr) } : {}), ...(values.size ? { width: Number(values.size), height: Number(values.size) } : {}) },
  {
    onProgress: (_d, _t, phase) => {
      if (phase !== last) console.log(`${((performance.now() - started) / 1000).toFixed(0)} s: ${phase}`);
      last = phase;
    },
  },
);
const run = runDetails(project.db, result.runId);
for (const e of run.history) console.log(`epoch ${e.epoch}: train ${(100 * (e.trainAccuracy ?? 0)).toFixed(1)}%, val ${e.valAccuracy === null ? '-' : (100 * e.valAccuracy).toFixed(1)}%, ${e.seconds.toFixed(0)} s`);
console.log(JSON.stringify({ mode: values.mode, fineTune: run.config.backbone?.fineTune, resolution: run.config.backbone?.resolution, epochs: run.config.epochs }));
console.log(`test accuracy ${(100 * (result.testAccuracy ?? 0)).toFixed(2)}%, val ${(100 * (result.valAccuracy ?? 0)).toFixed(2)}%, wall ${result.seconds.toFixed(0)} s (prepare ${result.prepareSeconds.toFixed(0)} s); project ${projectDir}`);
project.close();
