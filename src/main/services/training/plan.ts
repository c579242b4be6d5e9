// The planner: one click's plan for a run, made in one pass over the data statistics and the
// user's overrides. The first decision is from scratch or transfer learning on a pretrained
// backbone (chooseRoute), and why; makePlan then resolves the rest for that route (input size
// and architecture, or the backbone's resolution and the head; epochs, batch size, optimizer,
// schedule, augmentation, backend), each with why, and estimates the time (estimates.ts).
// Overrides replace any choice; a further decision for a route (how much of the backbone to
// fine-tune) is one more step of its plan, like the backbone's resolution. chooseRoute and
// makePlan are pure; planRun gathers what they decide from (the backbones here, the feature
// cache, measured rates), plans, measures what the plan's estimate needs, and plans again.

import os from 'node:os';
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
import { backboneOnnx, findCopy, loadRegistry, resolveBackbone, type ResolvedBackbone } from '../backbones';
import { ARCHITECTURES } from './architectures';
import type { TrainingData } from './dataset';
import {
  EXTRACT_SETUP_SECONDS,
  estimateStages,
  estimateTransferStages,
  extractionCost,
  extractionOf,
  measuredImagesPerSecond,
  modelSize,
  type CostModel,
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

/** Training from scratch: input size, architecture, epochs and the rest, each with why. */
function scratchPlan(stats: TrainDataStats, backend: BackendInfo, cost: CostModel, overrides: TrainOverrides, route: ScratchRoute, blocked: string | null): TrainPlan {
  const explanation: string[] = route.why ? [route.why] : [];
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
    backbone: null,
  };
  explanation.push(`Backend: ${backend.name} — ${backend.reason}`);

  if (stats.heldOut > 0) {
    explanation.push(`No val split: ${stats.heldOut.toLocaleString('en-US')} training images (10%, per class) are held out to pick the best epoch and stop early.`);
  } else if (stats.val === 0) {
    explanation.push('No validation images: the best epoch is judged on training accuracy. Move some images to the val split for an honest measure.');
  }
  if (stats.excluded > 0) explanation.push(`${stats.excluded} labeled images are left out: their classes have no training images.`);

  const estimate = estimateStages(config, stats, stats.classes.length, backend, cost);
  // A backbone asked for but unusable (the route's blocker) stops the run too; the estimate stays then.
  const estimatedSeconds = blocked ? 0 : Math.round(estimate.prepareSeconds + estimate.trainSeconds);
  return { config, backend, data: stats, estimatedSeconds, estimate, explanation, blocker: blocked ?? route.blocker };
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
  /** False for a user's own model (not checked against the registry's checksums), found at `location`. */
  verified?: boolean;
  location?: string;
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

/** Whether one click should use a backbone for this data (a forced or refused backbone is chooseRoute's). */
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

/** Transfer learning: a dense head trained on the route's backbone's features; the backbone's resolution, flips and the head's settings, each with why. */
function transferPlan(stats: TrainDataStats, backend: BackendInfo, cost: CostModel, overrides: TrainOverrides, route: TransferRoute<PlanBackbone>, blocked: string | null): TrainPlan {
  const { backbone } = route;
  const extraction = extractionOf(cost);
  const explanation = [route.why];
  const sized = resolutionFor(stats, backbone, (r) => extraction.pending(r, false), extraction.extractRate);
  const requested = overrides.width ?? overrides.height;
  const resolution = requested ?? sized.resolution;
  explanation.push(requested ? `Backbone input ${resolution}x${resolution}: set in Advanced settings.` : sized.why);

  const flipAllowed = overrides.augmentation?.flip ?? !stats.greyscale;
  const flipFits = extraction.pending(resolution, true) / extraction.extractRate(resolution) <= EXTRACT_BUDGET_SECONDS;
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
      `Augmentation: none: extracting the features of flipped copies too would take about ${minutes(extraction.pending(resolution, true) / extraction.extractRate(resolution))} here, more than ${EXTRACT_BUDGET_SECONDS / 60} minutes.`,
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
  const pending = extraction.pending(resolution, false);
  const passes = extraction.pending(resolution, flip);
  explanation.push(
    passes > 0
      ? `Features: ${[pending > 0 ? `${pending.toLocaleString('en-US')} images` : '', passes > pending ? `${(passes - pending).toLocaleString('en-US')} mirror images` : ''].filter(Boolean).join(' and ')} go through ${backbone.title} once through onnxruntime, about ${minutes(passes / extraction.extractRate(resolution) + EXTRACT_SETUP_SECONDS)} here; they are cached in the project for later runs.`
      : `Features: every image's features are already cached in the project.`,
  );
  explanation.push(`Backend for the head: ${backend.name} — ${backend.reason}`);
  if (stats.heldOut > 0) explanation.push(`No val split: ${stats.heldOut.toLocaleString('en-US')} training images (10%, per class) are held out for validation.`);
  else if (stats.val === 0) explanation.push('No validation images: the best epoch is judged on training accuracy. Move some images to the val split for an honest measure.');
  if (stats.excluded > 0) explanation.push(`${stats.excluded} labeled images are left out: their classes have no training images.`);
  if (backbone.verified === false) explanation.push(`${backbone.title} is your own model (${backbone.location}): not verified against the registry's checksums.`);
  const estimate = estimateTransferStages(config, stats, backend, cost);
  const estimatedSeconds = blocked ? 0 : Math.round(estimate.prepareSeconds + estimate.trainSeconds);
  return { config, backend, data: stats, estimatedSeconds, estimate, explanation, blocker: blocked };
}

/** From scratch, and why (or what stops a run that asked for a backbone), or on a pretrained backbone, and why. */
export type ScratchRoute = { kind: 'scratch'; why: string; blocker: string | null };
export type TransferRoute<B> = { kind: 'transfer'; backbone: B; why: string };
export type Route<B = PlanBackbone> = ScratchRoute | TransferRoute<B>;

/** From scratch with nothing to say about it: a plan made without asking about backbones. */
export const FROM_SCRATCH: ScratchRoute = { kind: 'scratch', why: '', blocker: null };

/** A backbone as the route decision sees it: its features are known once counted. */
export interface RouteBackbone {
  title: string;
  copy: string;
  features: number | null;
}

/** The backbones on this machine, asked only as far as the decision needs them. */
export interface BackboneLookup<B extends RouteBackbone> {
  /** The backbone a name or folder in the overrides means, or why it cannot be used. */
  named(name: string): { backbone: B } | { problem: string };
  /** The registry's backbones in order, each with its first usable copy here or what was wrong. */
  registry(): Iterable<{ title: string; dataset?: string | null; license: string; backbone: B | null; problem: string | null }>;
}

/**
 * The plan's first decision: train from scratch or on a pretrained backbone, and why. A backbone
 * named in the overrides is used (or blocks the run when it cannot be); "no backbone" or another
 * architecture means from scratch; otherwise the first usable registry backbone, when transfer
 * learning suits the data.
 */
export function chooseRoute<B extends RouteBackbone>(stats: TrainDataStats, overrides: TrainOverrides, backbones: BackboneLookup<B>): Route<B> {
  if (overrides.backbone === null) return { kind: 'scratch', why: 'From scratch: chosen in Advanced settings (no backbone).', blocker: null };
  if (overrides.backbone !== undefined) {
    const named = backbones.named(overrides.backbone);
    if ('problem' in named) return { kind: 'scratch', why: '', blocker: named.problem };
    return { kind: 'transfer', backbone: named.backbone, why: `Transfer learning on ${named.backbone.title} (${named.backbone.copy}): chosen in settings.` };
  }
  if (overrides.arch !== undefined && overrides.arch !== 'dense-head') return { kind: 'scratch', why: '', blocker: null };
  const suits = transferSuits(stats);
  if (!suits.suits) return { kind: 'scratch', why: suits.why, blocker: null };
  const missing: string[] = [];
  for (const entry of backbones.registry()) {
    if (entry.backbone) {
      return {
        kind: 'transfer',
        backbone: entry.backbone,
        why: `Transfer learning: these look like photos, so ${entry.title} (pretrained${entry.dataset ? ` on ${entry.dataset}` : ''}, ${entry.license}) turns each into ${entry.backbone.features} features and a small head learns the classes from them — far more accurate than training from scratch on ${stats.train.toLocaleString('en-US')} images.`,
      };
    }
    missing.push(entry.problem ?? `${entry.title} is not on this machine`);
  }
  return {
    kind: 'scratch',
    why: `From scratch: transfer learning would suit these photos, but no backbone is usable here (${missing.join('; ').replace(/\.$/, '')}). Get one under Backbones (download or a local folder) for a more accurate model.`,
    blocker: null,
  };
}

/** Why no run can start on this data or backend, whichever the route; null when one can. */
function blockerOf(stats: TrainDataStats, backend: BackendInfo): string | null {
  if (stats.classes.length < 2) {
    return stats.classes.length === 0
      ? 'Label some images first: training needs at least two classes with training images.'
      : `Only one class ("${stats.classes[0].name}") has training images: training needs at least two.`;
  }
  if (!backend.available) return `The ${backend.name} backend cannot run here: ${backend.reason}`;
  return null;
}

/**
 * The plan for a route: every setting the overrides leave open, each with why, and the time it
 * will take at `cost`. A transfer route needs `cost.extraction`. Pure.
 */
export function makePlan(stats: TrainDataStats, backend: BackendInfo, cost: CostModel, overrides: TrainOverrides = {}, route: Route = FROM_SCRATCH): TrainPlan {
  const blocked = blockerOf(stats, backend);
  return route.kind === 'transfer' ? transferPlan(stats, backend, cost, overrides, route, blocked) : scratchPlan(stats, backend, cost, overrides, route, blocked);
}

/** The backbones on this machine: the registry's (verified copies) and any the overrides name. */
const backbonesHere: BackboneLookup<ResolvedBackbone> = {
  named(name) {
    try {
      const backbone = resolveBackbone(name);
      // A registry copy given by its folder is found again by that folder.
      return { backbone: backbone.name === name ? backbone : { ...backbone, name: path.resolve(name) } };
    } catch (err) {
      return { problem: err instanceof Error ? err.message : String(err) };
    }
  },
  *registry() {
    for (const entry of loadRegistry()) {
      const { backbone, problems } = findCopy(entry);
      yield { title: entry.title, dataset: entry.dataset, license: entry.license, backbone, problem: problems[0] ?? null };
    }
  },
};

/** A backbone with its feature count (a user's model is read for it). */
async function planBackbone(backbone: ResolvedBackbone): Promise<PlanBackbone> {
  const features = backbone.features ?? (await backboneOnnx(backbone, backbone.inputSize)).features;
  return { ...backbone, features, format: backbone.format };
}

/**
 * The plan for a run on `data` with `backend`: decides the route, plans, then measures what the
 * plan's estimate needs (the chosen architecture's cost and this machine's training speed, or the
 * backbone's extraction rate here) and plans again with it.
 */
export async function planRun(project: Project, data: TrainingData, backend: BackendInfo, overrides: TrainOverrides): Promise<TrainPlan> {
  const { stats } = data;
  const macs = new Map<string, number>();
  const cost: CostModel = {
    cores: os.availableParallelism(),
    forwardMacs: (arch, width, height, channels, classes) => macs.get([arch, width, height, channels, classes].join(':')) ?? 0,
  };
  const route = chooseRoute(stats, overrides, backbonesHere);
  if (route.kind === 'transfer') {
    const planned: Route = { ...route, backbone: await planBackbone(route.backbone) };
    const extraction = extractionCost(project, route.backbone, data.items, cost.cores);
    cost.extraction = extraction;
    const draft = makePlan(stats, backend, cost, overrides, planned);
    if (draft.blocker || !(await extraction.calibrate(draft.config.backbone!.resolution))) return draft;
    return makePlan(stats, backend, cost, overrides, planned);
  }
  // Count the chosen architecture's cost and measure its speed here, then plan again with them.
  const draft = makePlan(stats, backend, cost, overrides, route);
  const { config } = draft;
  if (draft.blocker) return draft;
  const size = await modelSize(config.arch, config.width, config.height, config.channels, data.classes.length);
  macs.set([config.arch, config.width, config.height, config.channels, data.classes.length].join(':'), size.macs);
  cost.imagesPerSecond = await measuredImagesPerSecond(backend, config, data.classes.length, cost.cores);
  return makePlan(stats, backend, cost, overrides, route);
}
