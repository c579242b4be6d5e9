// One click: choose architecture, input size, epochs, batch size, optimizer, schedule and
// augmentation from the data and the backend, estimate the time, and say why. Pure: the data
// statistics, backend and cost model come in, the plan goes out. Overrides replace any choice.

import type {
  ArchName,
  Augmentation,
  BackendInfo,
  LrSchedule,
  TrainConfig,
  TrainDataStats,
  TrainOverrides,
  TrainPlan,
} from '../../../shared/types';
import { ARCHITECTURES } from './architectures';
import { estimateStages, type CostModel } from './estimates';

export const DEFAULT_SEED = 42;

const SMALL_IMAGE = 48;

function side(stats: TrainDataStats, backend: BackendInfo): { size: number; why: string } {
  const typical = Math.max(stats.medianWidth, stats.medianHeight);
  if (typical <= SMALL_IMAGE) {
    const size = Math.max(8, Math.round(typical));
    return { size, why: `Input ${size}x${size}: the images' own size (median ${stats.medianWidth}x${stats.medianHeight}), so no detail is lost.` };
  }
  const gpu = backend.name === 'webgpu' || (backend.name === 'tensorflow' && /gpu/i.test(backend.device));
  const size = gpu ? 128 : 64;
  return {
    size,
    why: `Input ${size}x${size}: the images are larger (median ${stats.medianWidth}x${stats.medianHeight}); ${size} px keeps training ${gpu ? 'fast on the GPU' : 'within minutes on this CPU'}.`,
  };
}

function archFor(stats: TrainDataStats, size: number): { arch: ArchName; why: string } {
  if (stats.greyscale && size <= 32) {
    return { arch: 'cnn-small', why: 'Small CNN: small greyscale images (digits, symbols, clothing) need little depth; three conv blocks with batch norm learn them fast.' };
  }
  return { arch: 'resnet-small', why: 'ResNet-8: colour images need more capacity; residual blocks with batch norm train reliably from scratch.' };
}

function augmentationFor(stats: TrainDataStats, size: number): { augmentation: Augmentation; why: string } {
  const shift = Math.max(1, Math.round(size / 12));
  if (stats.greyscale) {
    return {
      augmentation: { flip: false, shift, brightness: 0 },
      why: `Augmentation: shifts of up to ${shift} px; no flips (mirrored digits and letters change meaning) and no brightness change (greyscale scans are already uniform).`,
    };
  }
  return {
    augmentation: { flip: true, shift, brightness: 0.1 },
    why: `Augmentation: left-right flips, shifts of up to ${shift} px and ±10% brightness, so the model sees more variety than ${stats.train.toLocaleString('en-US')} images hold.`,
  };
}

function epochsFor(train: number): number {
  if (train < 1000) return 40;
  if (train < 10_000) return 30;
  return 15;
}

/** One click aims to finish training within this long on the machine at hand. */
export const ONE_CLICK_BUDGET_SECONDS = 20 * 60;
const MIN_EPOCHS = 5;

/** Epochs for the data, capped so the run fits the one-click budget at the measured speed. */
function epochsWithin(stats: TrainDataStats, cost: CostModel, explanation: string[]): number {
  const wanted = epochsFor(stats.train);
  const why = `${stats.train.toLocaleString('en-US')} training images; fewer images need more passes`;
  const rate = cost.imagesPerSecond;
  if (!rate) {
    explanation.push(`${wanted} epochs: ${why}.`);
    return wanted;
  }
  const perEpoch = stats.train / rate + stats.val / (3 * rate);
  const fit = Math.max(MIN_EPOCHS, Math.floor(ONE_CLICK_BUDGET_SECONDS / perEpoch));
  if (fit >= wanted) {
    explanation.push(`${wanted} epochs: ${why}.`);
    return wanted;
  }
  const minutes = (s: number) => Math.round(s / 60);
  explanation.push(
    `${fit} epochs: what fits in about ${minutes(ONE_CLICK_BUDGET_SECONDS)} minutes at the ${Math.round(rate).toLocaleString('en-US')} images/s measured here ` +
      `(${wanted} would take about ${minutes(wanted * perEpoch)}); set more in Advanced settings.`,
  );
  return fit;
}

function normalizeSchedule(s: TrainOverrides['schedule'], epochs: number): LrSchedule | undefined {
  if (!s) return undefined;
  if (s.kind === 'step') return { kind: 'step', stepSize: s.stepSize ?? Math.max(1, Math.round(epochs / 3)), gamma: s.gamma ?? 0.1 };
  return { kind: s.kind };
}

export function makePlan(
  stats: TrainDataStats,
  backend: BackendInfo,
  cost: CostModel,
  overrides: TrainOverrides = {},
): TrainPlan {
  const explanation: string[] = [];
  const sized = side(stats, backend);
  const width = overrides.width ?? overrides.height ?? sized.size;
  const height = overrides.height ?? overrides.width ?? sized.size;
  if (overrides.width === undefined && overrides.height === undefined) explanation.push(sized.why);
  const channels = overrides.channels ?? (stats.greyscale ? 1 : 3);
  if (overrides.channels === undefined) {
    explanation.push(stats.greyscale ? 'Greyscale: every image has one channel, so the model reads one.' : 'Colour: three channels (RGB).');
  }
  const chosen = archFor(stats, Math.max(width, height));
  const arch = overrides.arch ?? chosen.arch;
  explanation.push(overrides.arch ? `${ARCHITECTURES[arch].title}: chosen in Advanced settings.` : chosen.why);

  const batchSize = overrides.batchSize ?? (stats.train >= 1000 ? 64 : 32);
  const epochs = overrides.epochs ?? epochsWithin(stats, cost, explanation);
  const optimizer = overrides.optimizer ?? 'adam';
  const learningRate = overrides.learningRate ?? (optimizer === 'adam' ? 0.002 : 0.05);
  const schedule = normalizeSchedule(overrides.schedule, epochs) ?? { kind: 'cosine' as const };
  if (!overrides.optimizer && !overrides.schedule) {
    explanation.push(`Adam at ${learningRate} with a cosine schedule down to zero: robust without tuning, and the last epochs settle the weights.`);
  }
  const aug = augmentationFor(stats, Math.max(width, height));
  const augmentation = { ...aug.augmentation, ...overrides.augmentation };
  explanation.push(overrides.augmentation ? 'Augmentation: as set in Advanced settings.' : aug.why);
  // A cosine schedule does its best work in the last epochs, where early stopping would cut it
  // short; the best epoch is kept either way. Other schedules stop when validation stalls.
  const patience = overrides.patience !== undefined ? overrides.patience : schedule.kind === 'cosine' ? null : Math.max(3, Math.round(epochs / 4));
  if (overrides.patience === undefined) {
    explanation.push(
      patience === null
        ? 'No early stopping: the cosine schedule settles the weights in its last epochs; the epoch with the best validation accuracy is kept.'
        : `Early stopping after ${patience} epochs without a better validation accuracy; the best epoch is kept.`,
    );
  }
  const cpuBackend = backend.name === 'wasm' || backend.name === 'cpu';
  const workers = overrides.workers ?? (cpuBackend ? Math.max(1, Math.min(cost.cores, 4)) : 1);
  if (cpuBackend && workers > 1) explanation.push(`${workers} data-parallel replicas, one per core, averaging their gradients every step.`);

  const config: TrainConfig = {
    arch,
    width,
    height,
    channels,
    epochs,
    batchSize,
    optimizer,
    learningRate,
    momentum: overrides.momentum ?? 0.9,
    weightDecay: overrides.weightDecay ?? (arch === 'resnet-small' || arch === 'cnn-small' ? 1e-4 : 0),
    schedule,
    augmentation,
    patience,
    restoreBest: overrides.restoreBest ?? true,
    seed: overrides.seed ?? DEFAULT_SEED,
    backend: overrides.backend ?? 'auto',
    workers,
  };
  explanation.push(`Backend: ${backend.name} — ${backend.reason}`);

  let blocker: string | null = null;
  if (stats.classes.length < 2) {
    blocker =
      stats.classes.length === 0
        ? 'Label some images first: training needs at least two classes with training images.'
        : `Only one class ("${stats.classes[0].name}") has training images: training needs at least two.`;
  } else if (!backend.available) {
    blocker = `The ${backend.name} backend cannot run here: ${backend.reason}`;
  }
  if (stats.heldOut > 0) {
    explanation.push(`No val split: ${stats.heldOut.toLocaleString('en-US')} training images (10%, per class) are held out to pick the best epoch and stop early.`);
  } else if (stats.val === 0) {
    explanation.push('No validation images: the best epoch is judged on training accuracy. Move some images to the val split for an honest measure.');
  }
  if (stats.excluded > 0) explanation.push(`${stats.excluded} labeled images are left out: their classes have no training images.`);

  const estimate = estimateStages(config, stats, stats.classes.length, backend, cost);
  const estimatedSeconds = blocker ? 0 : Math.round(estimate.prepareSeconds + estimate.trainSeconds);
  return { config, backend, data: stats, estimatedSeconds, estimate, explanation, blocker };
}
