import { trainOverrides } from '../../../shared/api';
import * as format from '../../../shared/format';
import { ARCH_NAMES, BACKEND_NAMES, type TrainOverrides, type TrainPlan } from '../../../shared/types';
import { ARCHITECTURES } from '../../services/training/architectures';
import { planTraining, runTraining } from '../../services/training/train';
import { Project } from '../../store/project';
import { keptText } from '../../../shared/kept-epoch';
import { fineTunePart } from '../../../shared/fine-tune';
import { planSummary } from '../../../shared/plan-summary';
import { scheduleName } from '../../../shared/schedule';
import { optionHelp, requirePositional, schemaOption, type CliIO, type Command, type OptionValues } from '../command';
import { progressLine } from '../progress';

// The CLI's figures: two decimals of a percent, the same grouping on every machine, m:ss times.
const pct = (x: number | null) => format.percent(x, 2);
const imagesPerSecond = (n: number) => format.perSecond(n, 'img', format.PLAIN_LOCALE);
const formatDuration = (s: number) => format.duration(s, 'clock');

/** The API's schema entries of the Advanced settings: the flags accept exactly what the API does. */
const entries = trainOverrides.shape;

function overridesOf(values: OptionValues): TrainOverrides {
  const o: TrainOverrides = {
    arch: schemaOption(values.arch, 'arch', entries.arch),
    backend: schemaOption(values.backend, 'backend', entries.backend),
    optimizer: schemaOption(values.optimizer, 'optimizer', entries.optimizer),
    epochs: schemaOption(values.epochs, 'epochs', entries.epochs),
    seed: schemaOption(values.seed, 'seed', entries.seed),
    batchSize: schemaOption(values['batch-size'], 'batch-size', entries.batchSize),
    workers: schemaOption(values.workers, 'workers', entries.workers),
    patience: schemaOption(values.patience, 'patience', entries.patience),
    learningRate: schemaOption(values.lr, 'lr', entries.learningRate),
    fineTune: schemaOption(values['fine-tune'], 'fine-tune', entries.fineTune),
  };
  o.width = o.height = schemaOption(values.size, 'size', entries.width);
  if (values['no-early-stop']) o.patience = null;
  if (values['step-lr'] !== undefined) o.schedule = { kind: 'step', stepSize: schemaOption(values['step-lr'], 'step-lr', entries.schedule.shape.stepSize) };
  if (values['no-augment']) o.augmentation = { flip: false, shift: 0, brightness: 0 };
  if (values.backbone !== undefined) o.backbone = values.backbone === 'none' ? null : String(values.backbone);
  for (const key of Object.keys(o) as (keyof TrainOverrides)[]) if (o[key] === undefined) delete o[key];
  return o;
}

/** The plan for people first (one plain sentence, the key choices), then its details. */
export function describePlan(plan: TrainPlan): string[] {
  if (plan.blocker) return [`Cannot train yet: ${plan.blocker}`, '', 'Details:', ...planDetails(plan)];
  const { headline, choices } = planSummary(plan);
  return [headline, ...choices.map((line) => `  - ${line}`), '', 'Details:', ...planDetails(plan)];
}

function planDetails(plan: TrainPlan): string[] {
  const c = plan.config;
  const b = c.backbone;
  if (b) {
    return [
      `Plan: transfer learning, ${ARCHITECTURES[c.arch].title} on ${b.title} (${b.copy}) features at ${b.resolution}x${b.resolution}${b.augment === 'flip' ? ' with flipped copies' : ''}${b.flipAverage ? ' (flip-averaged predictions)' : ''}, ` +
        `${b.fineTune && b.fineTune.mode !== 'head' ? `fine-tuning ${fineTunePart(b.fineTune)}${b.fineTune.cutLayer ? ` (after ${b.fineTune.cutLayer})` : ''} at ${b.fineTune.backboneLrScale}x the head's rate after ${b.fineTune.headEpochs} head-only epochs, ` : 'head only, '}` +
        `${c.epochs} epochs, batch ${c.batchSize}, ${c.optimizer} lr ${c.learningRate} (${scheduleName(c.schedule)}), seed ${c.seed}; head on ${plan.backend.name}; about ${formatDuration(plan.estimatedSeconds)}.`,
      ...plan.explanation.map((line) => `  - ${line}`),
    ];
  }
  return [
    `Plan: ${ARCHITECTURES[c.arch].title} (${c.arch}) on ${c.width}x${c.height}x${c.channels}${c.flipAverage ? ' (flip-averaged predictions)' : ''}, ${c.epochs} epochs, batch ${c.batchSize}, ` +
      `${c.optimizer} lr ${c.learningRate} (${scheduleName(c.schedule)}), seed ${c.seed}; backend ${plan.backend.name} on ${plan.backend.device}` +
      `${c.workers > 1 && (plan.backend.name === 'wasm' || plan.backend.name === 'cpu') ? ` x${c.workers} replicas` : ''}; about ${formatDuration(plan.estimatedSeconds)}.`,
    ...plan.explanation.map((line) => `  - ${line}`),
  ];
}

export const trainCommand: Command = {
  name: 'train',
  usage: 'loupe train <project> [--arch A] [--backbone NAME|PATH|none] [--fine-tune head|blocks|all] [--epochs N] [--backend B] [--seed N] [--plan] [--json]',
  summary:
    'Train a classifier on the labeled images (one click: Loupe plans it, with a pretrained backbone for photos when one is here; --backbone forces one, or none). Also --batch-size, --lr, --optimizer adam|sgd, --step-lr N, --size PX, --workers N, --patience N, --no-early-stop, --no-augment.',
  help: [
    optionHelp('--arch A', `the model: ${ARCH_NAMES.join(', ')}`),
    optionHelp('--backbone NAME', 'a pretrained backbone (name, folder or .onnx file), or none'),
    optionHelp('--fine-tune M', 'how much of the backbone trains: head, blocks (its last blocks) or all'),
    optionHelp('--epochs N', 'epochs to train', entries.epochs.limits),
    optionHelp('--batch-size N', 'images per step', entries.batchSize.limits),
    optionHelp('--lr X', 'learning rate (the peak of a one-cycle schedule)', entries.learningRate.limits),
    optionHelp('--optimizer O', 'adam or sgd'),
    optionHelp('--step-lr N', 'step schedule: lower the rate every N epochs', entries.schedule.shape.stepSize.limits),
    optionHelp('--size PX', 'input width and height', entries.width.limits),
    optionHelp('--workers N', 'CPU backends: replicas', entries.workers.limits),
    optionHelp('--patience N', 'epochs without progress before stopping early', entries.patience.limits),
    optionHelp('--seed N', 'seed of every random choice', entries.seed.limits),
    optionHelp('--backend B', `auto or one of ${BACKEND_NAMES.join(', ')}`),
    optionHelp('--no-early-stop', 'train every epoch'),
    optionHelp('--no-augment', 'no flips, shifts or brightness changes'),
    optionHelp('--plan', 'print the plan and stop'),
    optionHelp('--json', 'print one JSON object'),
  ],
  options: {
    json: { type: 'boolean' },
    plan: { type: 'boolean' },
    arch: { type: 'string' },
    backbone: { type: 'string' },
    'fine-tune': { type: 'string' },
    epochs: { type: 'string' },
    backend: { type: 'string' },
    seed: { type: 'string' },
    'batch-size': { type: 'string' },
    lr: { type: 'string' },
    optimizer: { type: 'string' },
    'step-lr': { type: 'string' },
    size: { type: 'string' },
    workers: { type: 'string' },
    patience: { type: 'string' },
    'no-early-stop': { type: 'boolean' },
    'no-augment': { type: 'boolean' },
  },
  async run(positionals, values, io: CliIO) {
    const dir = requirePositional(positionals, 0, 'the project folder', this.usage);
    const overrides = overridesOf(values);
    const project = Project.open(dir);
    try {
      if (values.plan) {
        const { plan } = await planTraining(project, overrides);
        if (values.json) io.json(plan);
        else for (const line of describePlan(plan)) io.out(line);
        return plan.blocker ? 1 : 0;
      }
      const controller = new AbortController();
      void io.interrupted.then(() => controller.abort());
      const line = progressLine((t) => process.stderr.write(t), { tty: Boolean(process.stderr.isTTY), unit: 'images' });
      let epochsShown = 0;
      const result = await runTraining(project, overrides, {
        signal: controller.signal,
        onExpect: (seconds) => line.expect(seconds),
        onRunCreated: (runId, plan) => {
          io.err(`Run #${runId}`);
          for (const l of describePlan(plan)) io.err(l);
        },
        onEpochs: (_, why) => {
          line.discard();
          io.err(`${process.stderr.isTTY ? '\r\x1b[2K' : ''}${why}`);
        },
        onProgress: (done, total, phase, detail) => {
          if (!detail) return line.update(done, total, phase);
          if (epochsShown < detail.history.length) line.discard();
          for (; epochsShown < detail.history.length; epochsShown++) {
            const e = detail.history[epochsShown];
            io.err(
              `${process.stderr.isTTY ? '\r\x1b[2K' : ''}Epoch ${e.epoch}/${detail.epochs}: loss ${e.trainLoss?.toFixed(4)} acc ${pct(e.trainAccuracy)}  val loss ${e.valLoss?.toFixed(4) ?? '–'} acc ${pct(e.valAccuracy)}  ` +
                `${imagesPerSecond(e.imagesPerSecond)}  ${format.seconds(e.seconds)}`,
            );
          }
          if (detail.batch < detail.batches) line.update(done, total, `Epoch ${Math.max(1, detail.epoch)}/${detail.epochs}`);
        },
      });
      line.end();
      if (values.json) io.json(result);
      else {
        const prepared = result.backbone ? 'feature extraction' : 'preparing images';
        io.out(
          `Run #${result.runId} ${result.status}: ${result.arch}${result.backbone ? ` (${result.backbone} features)` : ''} on ${result.backend}, ${result.epochs} epochs, ` +
            `val ${pct(result.valAccuracy)}, test ${pct(result.testAccuracy)}, ${formatDuration(result.seconds)} ` +
            `(${prepared} ${format.seconds(result.prepareSeconds)}, training ${format.seconds(result.trainSeconds)}` +
            `${result.imagesPerSecond ? ` at ${imagesPerSecond(result.imagesPerSecond)}` : ''}).`,
        );
        if (result.kept) io.out(`Kept: ${keptText(result.kept)}; the scores above are this epoch's.`);
      }
      if (result.status === 'cancelled') {
        io.err('Cancelled. The run is recorded as cancelled; its best checkpoint so far is kept.');
        return 130;
      }
      return 0;
    } finally {
      project.close();
    }
  },
};
