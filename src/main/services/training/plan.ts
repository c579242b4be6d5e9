// One click: choose architecture, input size, epochs, batch size, optimizer, schedule and
// augmentation from the data and the backend, estimate the time, and say why. Pure: the data
// statistics, backend and cost model come in, the plan goes out. Overrides replace any choice.

import fs from 'node:fs';
import path from 'node:path';
import type {
  ArchName,
  Augmentation,
  BackendInfo,
  LrSchedule,
  TrainConfig,
  TrainDataStats,
  TrainOverrides,
  TrainPlan,
  TransferConfig,
} from '../../../shared/types';
import type { Project } from '../../store/project';
import { backboneOnnx, calibrateExtraction, featureDir, findCopy, flipKey, loadRegistry, measuredRate, resolveBackbone, type ResolvedBackbone } from '../backbones';
import { ARCHITECTURES } from './architectures';
import type { TrainItem } from './dataset';
import {
  EXTRACT_RATE_224_PER_CORE,
  EXTRACT_SETUP_SECONDS,
  estimateStages,
  estimateTransferStages,
  type CostModel,
  type TransferCost,
} from './estimates';
import { BEST_EPOCH_MIN_VAL } from './kept-epoch';

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

// One click with a pretrained backbone: whether transfer learning suits the data, at which input
// resolution the backbone runs, whether features of flipped copies are worth extracting, and the
// head's training settings, each with why.

/** What the planner needs to know of a backbone. */
export interface PlanBackbone {
  name: string;
  title: string;
  copy: string;
  fingerprint: string;
  inputSize: number;
  resolutions: number[];
  features: number;
  license: string;
  /** ONNX backbones' runs are one ONNX graph, without flip averaging. */
  format?: 'tfjs-layers' | 'onnx';
}

/** Below this side (median, px) images are too small for an ImageNet backbone to see much. */
const MIN_SIDE = 16;
/** Greyscale images up to this side are digits, letters and scans: small CNNs learn them from scratch. */
const SMALL_GREYSCALE = 48;
/** One click keeps feature extraction within this many seconds where a smaller input allows it. */
export const EXTRACT_BUDGET_SECONDS = 20 * 60;
/**
 * Small images are upscaled at most this much: further, they only look blurred to the backbone.
 * Measured on CIFAR-10 (32 px) with MobileNet v1: on 2,000 train / 1,000 test images the dense
 * head reached about 77% at 128 px and 73% at 96; on the full set its validation accuracy after
 * 9 epochs was 81.6% at 128 px against 78.8% at 224.
 */
export const MAX_UPSCALE = 4;

/** Whether one click should use a backbone for this data (a forced or refused backbone is the caller's). */
export function transferSuits(stats: TrainDataStats): { suits: boolean; why: string } {
  const side = Math.max(stats.medianWidth, stats.medianHeight);
  if (stats.greyscale && side <= SMALL_GREYSCALE) {
    return { suits: false, why: 'From scratch: small greyscale images (digits, letters, scans) look nothing like the photos a pretrained backbone knows; a small CNN learns them directly.' };
  }
  if (side > 0 && side < MIN_SIDE) return { suits: false, why: `From scratch: the images are tiny (median ${stats.medianWidth}x${stats.medianHeight}); a pretrained backbone needs more pixels to see anything.` };
  return { suits: true, why: '' };
}

const minutes = (s: number) => (s < 90 ? `${Math.max(1, Math.round(s))} s` : `${Math.round(s / 60)} min`);

/**
 * The backbone's input resolution: its native size for photos; small images are upscaled at most
 * MAX_UPSCALE times (to the nearest size the backbone runs at); and cost grows with the square
 * of the side, so on a large data set the largest size whose extraction fits
 * EXTRACT_BUDGET_SECONDS is used.
 */
export function resolutionFor(stats: TrainDataStats, backbone: PlanBackbone, pending: (r: number) => number, extractRate: (r: number) => number): { resolution: number; why: string } {
  const native = backbone.inputSize;
  const options = [...new Set([...backbone.resolutions.filter((r) => r <= native), native])].sort((a, b) => b - a);
  const side = Math.max(stats.medianWidth, stats.medianHeight);
  const sharp = side > 0 && side * MAX_UPSCALE < native ? options.reduce((best, r) => (Math.abs(r - side * MAX_UPSCALE) < Math.abs(best - side * MAX_UPSCALE) ? r : best)) : native;
  const seconds = (r: number) => pending(r) / extractRate(r);
  const fits = options.filter((r) => r <= sharp).find((r) => seconds(r) <= EXTRACT_BUDGET_SECONDS) ?? options.at(-1)!;
  const extract = `extraction: about ${minutes(seconds(fits))}`;
  if (fits === native) return { resolution: native, why: `Backbone input ${native}x${native}, its native size, where its features are best (${extract}).` };
  if (fits === sharp) {
    return {
      resolution: fits,
      why: `Backbone input ${fits}x${fits}: the images are small (median ${stats.medianWidth}x${stats.medianHeight}); upscaled further than about ${MAX_UPSCALE}x they only look blurred to the backbone (${extract}).`,
    };
  }
  return {
    resolution: fits,
    why: `Backbone input ${fits}x${fits}: ${pending(sharp).toLocaleString('en-US')} images at ${sharp} px would take about ${minutes(seconds(sharp))} to extract here; ${fits} px takes about ${minutes(seconds(fits))}.`,
  };
}

function headEpochs(train: number): number {
  if (train < 5000) return 40;
  return 30;
}

/** The transfer-learning plan: a dense head trained on `backbone`'s features. */
export function makeTransferPlan(
  stats: TrainDataStats,
  backend: BackendInfo,
  backbone: PlanBackbone,
  cost: TransferCost,
  overrides: TrainOverrides,
  base: { why: string; blocker: string | null; notes: string[] },
): TrainPlan {
  const explanation = [base.why];
  const sized = resolutionFor(stats, backbone, (r) => cost.pending(r, false), cost.extractRate);
  const requested = overrides.width ?? overrides.height;
  const resolution = requested ?? sized.resolution;
  explanation.push(requested ? `Backbone input ${resolution}x${resolution}: set in Advanced settings.` : sized.why);

  const flipAllowed = overrides.augmentation?.flip ?? !stats.greyscale;
  const flipFits = cost.pending(resolution, true) / cost.extractRate(resolution) <= EXTRACT_BUDGET_SECONDS;
  const flip = flipAllowed && (overrides.augmentation?.flip === true || flipFits);
  const flipAverage = flip && backbone.format !== 'onnx';
  if (overrides.augmentation?.flip === false) explanation.push('Augmentation: off (Advanced settings); the head trains on each image\'s features once per epoch.');
  else if (flip) {
    explanation.push(
      `Augmentation: features of left-right flipped copies are extracted too and the head sees either copy at random: as good as twice the training images, for the cost of extracting them (the backbone stays frozen).` +
        (flipAverage
          ? ' Predictions average each image and its mirror image (the model holds both passes): on CIFAR-10 that added 0.8 points on the full set and 1 on 2,000 images.'
          : ''),
    );
  } else if (stats.greyscale) explanation.push('Augmentation: none (no flips for greyscale images such as digits or text).');
  else {
    explanation.push(
      `Augmentation: none: extracting the features of flipped copies too would take about ${minutes(cost.pending(resolution, true) / cost.extractRate(resolution))} here, more than ${EXTRACT_BUDGET_SECONDS / 60} minutes.`,
    );
  }

  const epochs = overrides.epochs ?? headEpochs(stats.train);
  const batchSize = overrides.batchSize ?? (stats.train >= 10_000 ? 128 : 64);
  const optimizer = overrides.optimizer ?? 'adam';
  const learningRate = overrides.learningRate ?? (optimizer === 'adam' ? 0.001 : 0.01);
  const schedule: TrainConfig['schedule'] =
    overrides.schedule?.kind === 'step'
      ? { kind: 'step', stepSize: overrides.schedule.stepSize ?? Math.max(1, Math.round(epochs / 3)), gamma: overrides.schedule.gamma ?? 0.1 }
      : { kind: overrides.schedule?.kind ?? 'cosine' };
  // Picking the best epoch on a few hundred validation images fits their noise: on CIFAR-10's
  // 2,000-image subset (200 held out) the best-validation epoch scored 0.5 to 3 points below the
  // last one on the test set, across seeds. The cosine schedule ends at a rate near zero, so the
  // last epoch is the converged head.
  const restoreBest = overrides.restoreBest ?? stats.val >= BEST_EPOCH_MIN_VAL;
  const kept =
    overrides.restoreBest !== undefined
      ? restoreBest
        ? 'the epoch with the best validation accuracy is kept (Advanced settings)'
        : 'the last epoch is kept (Advanced settings)'
      : restoreBest
        ? 'the epoch with the best validation accuracy is kept'
        : `the last epoch is kept: ${stats.val.toLocaleString('en-US')} validation images are too few to pick a better one (one image is ${(100 / Math.max(1, stats.val)).toFixed(1)} points)`;
  explanation.push(
    `Head: dense 1024 with ReLU, dropout 0.2, ${epochs} epochs of ${optimizer === 'adam' ? 'Adam' : 'SGD'} at ${learningRate} with a ${schedule.kind} learning rate; it trains in seconds to minutes on the cached features, and ${kept}.`,
  );
  const transfer: TransferConfig = {
    name: backbone.name,
    title: backbone.title,
    copy: backbone.copy,
    fingerprint: backbone.fingerprint,
    resolution,
    features: backbone.features,
    augment: flip ? 'flip' : 'none',
    flipAverage,
  };
  const config: TrainConfig = {
    arch: 'dense-head',
    width: resolution,
    height: resolution,
    channels: 3,
    epochs,
    batchSize,
    optimizer,
    learningRate,
    momentum: overrides.momentum ?? 0.9,
    weightDecay: overrides.weightDecay ?? 0,
    schedule,
    augmentation: { flip, shift: 0, brightness: 0 },
    patience: overrides.patience !== undefined ? overrides.patience : null,
    restoreBest,
    seed: overrides.seed ?? DEFAULT_SEED,
    backend: overrides.backend ?? 'auto',
    workers: 1,
    backbone: transfer,
  };
  const pending = cost.pending(resolution, false);
  const passes = cost.pending(resolution, flip);
  explanation.push(
    passes > 0
      ? `Features: ${[pending > 0 ? `${pending.toLocaleString('en-US')} images` : '', passes > pending ? `${(passes - pending).toLocaleString('en-US')} mirror images` : ''].filter(Boolean).join(' and ')} go through ${backbone.title} once through onnxruntime, about ${minutes(passes / cost.extractRate(resolution) + EXTRACT_SETUP_SECONDS)} here; they are cached in the project for later runs.`
      : `Features: every image's features are already cached in the project.`,
  );
  explanation.push(`Backend for the head: ${backend.name} — ${backend.reason}`);
  explanation.push(...base.notes);
  const estimate = estimateTransferStages(config, stats, backend, cost);
  const estimatedSeconds = base.blocker ? 0 : Math.round(estimate.prepareSeconds + estimate.trainSeconds);
  return { config, backend, data: stats, estimatedSeconds, estimate, explanation, blocker: base.blocker };
}

export interface TransferChoice {
  backbone: ResolvedBackbone | null;
  /** Why transfer learning or not, for the plan. */
  why: string;
  /** A forced backbone that cannot be used: the plan's blocker. */
  blocker: string | null;
}

/** The backbone one click (or the overrides) choose for this data, and why. */
export function chooseTransfer(stats: TrainDataStats, overrides: TrainOverrides): TransferChoice {
  if (overrides.backbone === null) return { backbone: null, why: 'From scratch: chosen in Advanced settings (no backbone).', blocker: null };
  if (overrides.backbone !== undefined) {
    try {
      let backbone = resolveBackbone(overrides.backbone);
      // A registry copy given by its folder is found again by that folder.
      if (backbone.name !== overrides.backbone) backbone = { ...backbone, name: path.resolve(overrides.backbone) };
      return { backbone, why: `Transfer learning on ${backbone.title} (${backbone.copy}): chosen in settings.`, blocker: null };
    } catch (err) {
      return { backbone: null, why: '', blocker: err instanceof Error ? err.message : String(err) };
    }
  }
  if (overrides.arch !== undefined && overrides.arch !== 'dense-head') return { backbone: null, why: '', blocker: null };
  const suits = transferSuits(stats);
  if (!suits.suits) return { backbone: null, why: suits.why, blocker: null };
  const missing: string[] = [];
  for (const entry of loadRegistry()) {
    const { backbone, problems } = findCopy(entry);
    if (backbone) {
      return {
        backbone,
        why: `Transfer learning: these look like photos, so ${entry.title} (pretrained${entry.dataset ? ` on ${entry.dataset}` : ''}, ${entry.license}) turns each into ${backbone.features} features and a small head learns the classes from them — far more accurate than training from scratch on ${stats.train.toLocaleString('en-US')} images.`,
        blocker: null,
      };
    }
    missing.push(problems[0] ?? `${entry.title} is not on this machine`);
  }
  return {
    backbone: null,
    why: `From scratch: transfer learning would suit these photos, but no backbone is usable here (${missing.join('; ').replace(/\.$/, '')}). Get one under Backbones (download or a local folder) for a more accurate model.`,
    blocker: null,
  };
}

async function planBackbone(backbone: ResolvedBackbone): Promise<PlanBackbone> {
  const features = backbone.features ?? (await backboneOnnx(backbone, backbone.inputSize)).features;
  return { ...backbone, features, format: backbone.format };
}

/** Keys already in a backbone's feature cache (to tell what a run still has to extract). */
function cachedKeys(project: Project, backbone: ResolvedBackbone, resolution: number): Set<string> {
  try {
    return new Set(JSON.parse(fs.readFileSync(path.join(featureDir(project, backbone, resolution), 'index.json'), 'utf8')) as string[]);
  } catch {
    return new Set();
  }
}

/** A transfer plan when the choice has a backbone; null otherwise. */
export async function transferPlan(
  project: Project,
  stats: TrainDataStats,
  items: TrainItem[],
  backend: BackendInfo,
  cost: CostModel,
  overrides: TrainOverrides,
  choice: TransferChoice,
): Promise<TrainPlan | null> {
  if (!choice.backbone) return null;
  const backbone = choice.backbone;
  const plan = await planBackbone(backbone);
  const scratch = makePlan(stats, backend, cost, { seed: overrides.seed, backend: overrides.backend });
  const notes: string[] = [];
  if (stats.heldOut > 0) notes.push(`No val split: ${stats.heldOut.toLocaleString('en-US')} training images (10%, per class) are held out for validation.`);
  else if (stats.val === 0) notes.push('No validation images: the best epoch is judged on training accuracy. Move some images to the val split for an honest measure.');
  if (stats.excluded > 0) notes.push(`${stats.excluded} labeled images are left out: their classes have no training images.`);
  if (!backbone.verified) notes.push(`${backbone.title} is your own model (${backbone.location}): not verified against the registry's checksums.`);
  const cache = new Map<number, Set<string>>();
  const averages = backbone.format !== 'onnx';
  // Measured by this project's last extraction, else calibrated here (once the resolution is
  // known: plan, measure, plan again), else a typical rate; other resolutions scale with the pixel count.
  let calibration: { resolution: number; rate: number } | null = null;
  const extractRate = (r: number) =>
    measuredRate(project, backbone, r) ?? (calibration ? calibration.rate * (calibration.resolution / r) ** 2 : EXTRACT_RATE_224_PER_CORE * cost.cores * (224 / r) ** 2);
  const transferCost: TransferCost = {
    cores: cost.cores,
    extractRate,
    pending: (r, flip) => {
      let keys = cache.get(r);
      if (!keys) cache.set(r, (keys = cachedKeys(project, backbone, r)));
      let n = 0;
      for (const it of items) {
        if (!keys.has(it.hash)) n++;
        // Flipped copies: training draws them; predictions average with them (all but ONNX backbones).
        if (flip && (averages || it.split === 'train') && !keys.has(flipKey(it.hash))) n++;
      }
      return n;
    },
  };
  const base = { why: choice.why, blocker: scratch.blocker, notes };
  const draft = makeTransferPlan(stats, backend, plan, transferCost, overrides, base);
  const resolution = draft.config.backbone!.resolution;
  if (draft.blocker || measuredRate(project, backbone, resolution) !== null || transferCost.pending(resolution, false) === 0) return draft;
  const keys = cachedKeys(project, backbone, resolution);
  const rate = await calibrateExtraction(project, backbone, resolution, items.filter((it) => !keys.has(it.hash))).catch(() => null);
  if (rate === null) return draft;
  calibration = { resolution, rate };
  return makeTransferPlan(stats, backend, plan, transferCost, overrides, base);
}
