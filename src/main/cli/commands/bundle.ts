// `loupe export-training` and `loupe import-run`: a run's data, plan and PyTorch script out to a
// GPU server or cluster (torchrun), and the model it trained back in as a run.

import { percent, seconds } from '../../../shared/format';
import { id } from '../../../shared/api';
import type { FineTuneMode } from '../../../shared/types';
import { exportTraining, importRun, type ExportTrainingResult, type ImportRunResult } from '../../services/bundle';
import { Project } from '../../store/project';
import { requirePositional, schemaOption, UsageError, type CliIO, type Command } from '../command';
import { progressLine } from '../progress';

function describeBundle(r: ExportTrainingResult): string[] {
  return [
    `Training bundle of ${r.runId !== null ? `run #${r.runId}` : r.backbone ? 'a transfer plan' : 'the one-click plan from scratch'} (${r.arch}${r.backbone ? ` on ${r.backbone}` : ''}) in ${r.dir}: ` +
      `${r.images.train} train, ${r.images.val} val, ${r.images.test} test images in ${r.shards} shard${r.shards === 1 ? '' : 's'} (${(r.bytes / 1e6).toFixed(1)} MB)` +
      `${r.skipped ? `; ${r.skipped} images could not be read and were left out` : ''}, in ${seconds(r.seconds, 1)}.`,
    `Train it: cd ${r.dir} && torchrun --standalone --nproc_per_node=N train.py   (README.md: one GPU, N GPUs, Slurm)`,
    `Then: loupe import-run <project> ${r.dir}`,
  ];
}

function describeImport(r: ImportRunResult): string[] {
  const acc = (a: number | null) => (a === null ? '–' : percent(a));
  return [
    `Run #${r.runId}: ${r.arch} trained by PyTorch on ${r.device}, ${r.epochs} epochs (kept epoch ${r.keptEpoch}), val ${acc(r.valAccuracy)}, test ${acc(r.testAccuracy)}.`,
    `Checked: onnxruntime here reproduces the bundle's own predictions on ${r.parity.images} ${r.parity.split} images (top-1 agreement ${percent(r.parity.top1Agreement)}, max |Δp| ${r.parity.maxAbsDiff.toExponential(2)}).`,
    r.origin,
  ];
}

async function withProject<T>(dir: string, io: CliIO, work: (project: Project, signal: AbortSignal, update: (done: number, total: number | null, phase: string) => void) => Promise<T>): Promise<T> {
  const project = Project.open(dir);
  const controller = new AbortController();
  void io.interrupted.then(() => controller.abort());
  const line = progressLine((t) => process.stderr.write(t), { tty: Boolean(process.stderr.isTTY), unit: 'images' });
  try {
    return await work(project, controller.signal, (d, t, p) => line.update(d, t, p));
  } finally {
    line.end();
    project.close();
  }
}

export const exportTrainingCommand: Command = {
  name: 'export-training',
  usage: 'loupe export-training <project> [--run ID | --backbone NAME [--fine-tune head|blocks|all]] --out DIR [--json]',
  summary:
    'Write a training bundle into DIR: the data as WebDataset tar shards, manifest.json (hashes, classes, plan), train.py for torchrun (DDP, mixed precision, resumable) and a README (one GPU, N GPUs, Slurm). Without --run: the one-click plan from scratch, or with --backbone a transfer plan (the backbone goes in as a graph PyTorch runs).',
  options: { run: { type: 'string' }, backbone: { type: 'string' }, 'fine-tune': { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' } },
  async run(positionals, values, io: CliIO) {
    const dir = requirePositional(positionals, 0, 'the project folder', this.usage);
    if (typeof values.out !== 'string' || values.out === '') throw new UsageError(`Missing --out DIR (a new folder for the bundle).\nUsage: ${this.usage}`);
    const runId = schemaOption(values.run, 'run', id);
    const backbone = typeof values.backbone === 'string' && values.backbone !== '' ? values.backbone : undefined;
    const fineTune = values['fine-tune'];
    if (fineTune !== undefined && !['head', 'blocks', 'all'].includes(fineTune as string)) throw new UsageError(`--fine-tune is head, blocks or all.\nUsage: ${this.usage}`);
    if (runId !== undefined && (backbone || fineTune)) throw new UsageError(`--run carries the run's own plan: --backbone and --fine-tune plan a new one.\nUsage: ${this.usage}`);
    if (fineTune && !backbone) throw new UsageError(`--fine-tune applies to a --backbone.\nUsage: ${this.usage}`);
    const overrides = backbone ? { backbone, ...(fineTune ? { fineTune: fineTune as FineTuneMode } : {}) } : undefined;
    try {
      const result = await withProject(dir, io, (project, signal, onProgress) => exportTraining(project, { runId, overrides, out: values.out as string }, { signal, onProgress }));
      if (values.json) io.json(result);
      else for (const l of describeBundle(result)) io.out(l);
      return 0;
    } catch (err) {
      if ((err as { code?: string }).code === 'CANCELLED') {
        io.err('Cancelled. Nothing was written.');
        return 130;
      }
      throw err;
    }
  },
};

export const importRunCommand: Command = {
  name: 'import-run',
  usage: 'loupe import-run <project> <bundle-dir> [--outputs DIR] [--json]',
  summary:
    "Bring home a model trained from a training bundle as a run (Evaluate, label errors, suggestions, export). Refuses another project's bundle, changed images or files, and a model that does not reproduce the bundle's predictions; nothing changes on a refusal.",
  options: { outputs: { type: 'string' }, json: { type: 'boolean' } },
  async run(positionals, values, io: CliIO) {
    const dir = requirePositional(positionals, 0, 'the project folder', this.usage);
    const bundle = requirePositional(positionals, 1, 'the training bundle folder', this.usage);
    const outputsDir = typeof values.outputs === 'string' && values.outputs !== '' ? values.outputs : undefined;
    try {
      const result = await withProject(dir, io, (project, signal, onProgress) => importRun(project, bundle, { outputsDir, signal, onProgress }));
      if (values.json) io.json(result);
      else for (const l of describeImport(result)) io.out(l);
      return 0;
    } catch (err) {
      if ((err as { code?: string }).code === 'CANCELLED') {
        io.err('Cancelled. Nothing was imported.');
        return 130;
      }
      throw err;
    }
  },
};
