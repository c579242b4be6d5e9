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
  FineTuneConfig,
  FineTuneMode,
  LrSchedule,
  TrainConfig,
  TrainDataStats,
  TrainOverrides,
  TrainPlan,
  TransferConfig,
} from '../../../shared/types';
import { FINE_TUNE_TITLES, HEAD_ENOUGH } from '../../../shared/fine-tune';
import type { Project } from '../../store/project';
import { backboneOnnx, findCopy, fineTuneSupport, loadRegistry, resolveBackbone, type BlockCut, type FineTuneSupport, type ResolvedBackbone } from '../backbones';
import { ARCHITECTURES } from './architectures';
import type { TrainingData } from './dataset';
import {
  EXTRACT_SETUP_SECONDS,
  estimateFineTuneStages,
  estimateStages,
  estimateTransferStages,
  extractionCost,
  extractionOf,
  measuredImagesPerSecond,
  measuredPartRate,
  modelSize,
  PIXEL_PREPARE_RATE,
  type CostModel,
  type TrainedPart,
} from './estimates';
import { BEST_EPOCH_MIN_VAL } from './kept-epoch';
import { learningRateAt } from './loop/schedule';
import { SAVE_SECONDS } from './loop/time-budget';

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

/** One click aims to finish training within this long on the machine at hand. */
export const ONE_CLICK_BUDGET_SECONDS = 20 * 60;
const MIN_EPOCHS = 5;
/**
 * Below this many training images one click aims at a quick answer, whether the labels work:
 * about SMALL_DATA_SECONDS of training at the speed measured here (as many epochs as fit,
 * between what a one-cycle schedule needs and what is worth running). From this many on, it runs
 * the epochs the data is worth within ONE_CLICK_BUDGET_SECONDS.
 */
export const SMALL_DATA = 10_000;
export const SMALL_DATA_SECONDS = 90;
/**
 * The fewest epochs, and steps, in which a one-cycle schedule gets near its best. Measured on the
 * sample digits (7,204 training images, 113 steps an epoch): bench/README.md, "One click on the
 * sample digits".
 */
export const MIN_CYCLE_EPOCHS = 8;
const MIN_CYCLE_STEPS = 500;
/**
 * One cycle (Smith & Topin's super-convergence; fastai's fit_one_cycle): the rate rises from zero
 * over this share of the steps, to a peak higher than a constant rate could hold (with batch norm),
 * then follows a cosine down to zero. The peak was measured on the sample digits (cnn-small, 8
 * epochs): Adam at 0.003, 0.005, 0.01 and 0.02 reached 98.35%, 98.80%, 99.00% and 98.80% test
 * accuracy, within the noise of 2,000 test images of each other from 0.005 up; 0.005 is the
 * smaller step from the 0.002 that trained every architecture before.
 */
export const ONE_CYCLE_WARMUP = 0.25;
const ONE_CYCLE_PEAK = { adam: 0.005, sgd: 0.05 } as const;
/** Architectures with batch norm, which keeps activations in range: their cycle can peak higher. */
const BATCH_NORM: ReadonlySet<ArchName> = new Set<ArchName>(['cnn-small', 'resnet-small']);
/** The rates that train well from the first step, without a warm-up (the schedules chosen in Advanced settings), and the peak of a cycle without batch norm. */
const STEADY_RATE = { adam: 0.002, sgd: 0.05 } as const;
/**
 * Why ResNet-8 trains in batches of 32 (bench/README.md, "One click on CIFAR-10": 9,000 CIFAR-10
 * images, 5 epochs, 10,000 test images; seeds 42 and 7).
 */
const SMALL_BATCH_EVIDENCE = 'in 5 epochs on 9,000 CIFAR-10 images, batches of 32 reached 62.0% and 63.4% test accuracy (two seeds), 64 reached 60.9% and 62.1%, and 128 51.5%.';
/** Early stopping waits until the one-cycle rate has annealed to this share of its peak. */
const STOP_BELOW_PEAK = 0.25;

/**
 * On larger data, the steps a one-cycle run is worth: each epoch holds more, so fewer passes do.
 * Measured on Fashion-MNIST (54,000 training images, 844 steps an epoch; cnn-small, Adam peaking
 * at 0.005, seed 42): 9, 10 and 15 epochs reached 92.34%, 92.35% and 92.73% test accuracy (one
 * standard error on 10,000 test images is about 0.27 points), so 15 epochs bought 0.4 points for
 * two thirds more time. bench/README.md, "One click on Fashion-MNIST".
 */
export const LARGE_DATA_STEPS = 7_500;
/** The batch LARGE_DATA_STEPS were measured in: the passes they make are what larger data is worth, whatever a run's own batch. */
const LARGE_DATA_BATCH = 64;
const MOST_LARGE_EPOCHS = 15;

/** The most epochs worth running on `train` images: fewer images need more passes; beyond these, validation no longer improves. */
export function mostEpochs(train: number): number {
  if (train < 1000) return 40;
  if (train < SMALL_DATA) return 30;
  const steps = Math.max(1, Math.ceil(train / LARGE_DATA_BATCH));
  return Math.min(MOST_LARGE_EPOCHS, Math.max(MIN_EPOCHS, Math.ceil(LARGE_DATA_STEPS / steps)));
}

/** Why `epochs` on larger data: the steps of 64 they make, against what a one-cycle run is worth. */
function largeWorth(train: number, batchSize: number, epochs: number): string {
  const steps = epochs * Math.ceil(train / LARGE_DATA_BATCH);
  const n = train.toLocaleString('en-US');
  if (epochs === MOST_LARGE_EPOCHS) return `${n} training images; fewer images need more passes`;
  if (epochs === MIN_EPOCHS && steps > LARGE_DATA_STEPS) return `${n} training images; the fewest passes worth running`;
  const own = batchSize === LARGE_DATA_BATCH ? '' : ` (${(epochs * Math.ceil(train / batchSize)).toLocaleString('en-US')} of the ${batchSize} this run takes)`;
  return `${steps.toLocaleString('en-US')} steps of ${LARGE_DATA_BATCH} images${own}, about the ${LARGE_DATA_STEPS.toLocaleString('en-US')} a one-cycle run on larger data is worth (more epochs gained Fashion-MNIST under half a point)`;
}

/** The fewest epochs a one-cycle schedule needs on `train` images in batches of `batchSize`: MIN_CYCLE_EPOCHS, more when an epoch is only a few steps. */
export function fewestEpochs(train: number, batchSize: number): number {
  const steps = Math.max(1, Math.ceil(train / batchSize));
  return Math.min(mostEpochs(train), Math.max(MIN_CYCLE_EPOCHS, Math.ceil(MIN_CYCLE_STEPS / steps)));
}

/**
 * Epochs for the data at the measured speed, and why: on small data what fits about
 * SMALL_DATA_SECONDS (between what the one-cycle schedule needs and what is worth running), on
 * larger data what the data is worth; either capped so the run fits the one-click budget.
 */
function epochsWithin(stats: TrainDataStats, batchSize: number, cost: CostModel, explanation: string[], evalPasses: number): number {
  const n = stats.train.toLocaleString('en-US');
  const most = mostEpochs(stats.train);
  const small = stats.train < SMALL_DATA;
  const fewest = small ? fewestEpochs(stats.train, batchSize) : most;
  const rate = cost.imagesPerSecond;
  if (!rate) {
    explanation.push(
      small
        ? `${fewest} epochs: the fewest in which a one-cycle schedule gets near its best on ${n} training images (this machine's speed is not measured, so the time is a guess).`
        : `${most} epochs: ${largeWorth(stats.train, batchSize, most)}.`,
    );
    return fewest;
  }
  const perEpoch = stats.train / rate + (evalPasses * stats.val) / (3 * rate);
  const speed = `at the ${Math.round(rate).toLocaleString('en-US')} images/s measured here`;
  const about = (epochs: number) => `about ${roughly(epochs * perEpoch)}`;
  // The budget is the whole run's: preparing the images and the final evaluation come out of it.
  const around = (stats.train + stats.val + stats.test) / PIXEL_PREPARE_RATE + (evalPasses * (stats.val + stats.test)) / (3 * rate) + SAVE_SECONDS;
  const budgetFit = Math.max(MIN_EPOCHS, Math.floor((ONE_CLICK_BUDGET_SECONDS - around) / perEpoch));
  if (!small || budgetFit < fewest) {
    // Timed over a few steps, the speed can be a fifth off what the run's own epochs show: the run fits its epochs again to them.
    const refit = small ? '' : ` After the first epoch the run fits its epochs again (${MIN_EPOCHS} to ${most}) to the speed that epoch shows.`;
    if (budgetFit >= most) {
      explanation.push(`${most} epochs: ${largeWorth(stats.train, batchSize, most)} (${about(most)} ${speed}).${refit}`);
      return most;
    }
    const longer = small ? fewest : most;
    explanation.push(
      budgetFit * perEpoch + around > ONE_CLICK_BUDGET_SECONDS
        ? `${budgetFit} epochs: the fewest worth running; ${about(budgetFit)} ${speed}, longer than the ${minutes(ONE_CLICK_BUDGET_SECONDS)} one click aims at ` +
            `(${longer} would take ${about(longer)}); a smaller input size or a backbone in Advanced settings trains faster.${refit}`
        : `${budgetFit} epochs: what fits in about ${minutes(ONE_CLICK_BUDGET_SECONDS)} ${speed}, preparing the images and the final test included ` +
            `(${longer} would take ${about(longer)}); set more in Advanced settings.${refit}`,
    );
    return budgetFit;
  }
  const fit = Math.floor(SMALL_DATA_SECONDS / perEpoch);
  const aim = `one click aims at about ${roughly(SMALL_DATA_SECONDS)} of training on fewer than ${SMALL_DATA.toLocaleString('en-US')} images, to show soon whether the labels work`;
  if (fit >= most) {
    explanation.push(`${most} epochs: ${n} training images; fewer images need more passes, and ${most} take only ${about(most)} ${speed}.`);
    return most;
  }
  if (fit <= fewest) {
    explanation.push(
      `${fewest} epochs: the fewest in which a one-cycle schedule gets near its best on ${n} training images; ${about(fewest)} ${speed}` +
        `${fit < fewest ? ` (${aim}; this machine is slower than that allows)` : ` (${aim})`}.`,
    );
    return fewest;
  }
  explanation.push(
    `${fit} epochs: ${about(fit)} ${speed}; ${aim}, and a one-cycle schedule gets near its best in ${fewest} or more ` +
      `(${most} would take ${about(most)}; set more in Advanced settings).`,
  );
  return fit;
}

/** A time to within seconds under two minutes: what a plan of a minute or two says it takes. */
const roughly = (s: number) => (s < 120 ? `${Math.max(1, Math.round(s))} s` : minutes(s));

/**
 * The epoch from which early stopping may end a one-cycle run: the first after the warm-up whose
 * last step runs at no more than STOP_BELOW_PEAK of the peak rate. Pure, so the plan can say it.
 */
export function annealedFrom(epochs: number, warmup: number): number {
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const progress = epoch / epochs;
    // Past the warm-up (whose rate is low too), and a hair above the share: a cycle whose quarter falls on an epoch's end meets it there.
    if (progress > warmup && learningRateAt({ learningRate: 1, schedule: { kind: 'cosine', warmup } }, epoch - 1, progress) <= STOP_BELOW_PEAK + 1e-9) return epoch;
  }
  return epochs;
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

  const batchSize = overrides.batchSize ?? (arch === 'resnet-small' || stats.train < 1000 ? 32 : 64);
  if (overrides.batchSize === undefined && arch === 'resnet-small' && stats.train >= 1000) {
    explanation.push(
      `Batches of 32: this ResNet trains as many images a second in batches of 32 as of 64, and twice the steps learn more: ${SMALL_BATCH_EVIDENCE}`,
    );
  }
  const aug = augmentationFor(stats, Math.max(width, height));
  const augmentation = { ...aug.augmentation, ...overrides.augmentation };
  // A model that trained on mirror images predicts from both: the mean of the image's and its
  // mirror image's probabilities (test-time augmentation). On CIFAR-10 from scratch it gave the
  // same weights 0.8 points more on test (bench/README.md, "One click on CIFAR-10").
  const flipAverage = augmentation.flip;
  const epochs = overrides.epochs ?? epochsWithin(stats, batchSize, cost, explanation, flipAverage ? 2 : 1);
  // On larger data one click's epochs are what fits the budget: the run fits them again to its own speed.
  const timeBudget = overrides.epochs === undefined && stats.train >= SMALL_DATA ? { seconds: ONE_CLICK_BUDGET_SECONDS, minEpochs: MIN_EPOCHS, maxEpochs: mostEpochs(stats.train) } : undefined;
  const optimizer = overrides.optimizer ?? 'adam';
  const schedule = normalizeSchedule(overrides.schedule, epochs) ?? { kind: 'cosine' as const, warmup: ONE_CYCLE_WARMUP };
  const cycle = schedule.kind === 'cosine' && (schedule.warmup ?? 0) > 0;
  const higher = cycle && BATCH_NORM.has(arch) && ONE_CYCLE_PEAK[optimizer] > STEADY_RATE[optimizer];
  const learningRate = overrides.learningRate ?? (higher ? ONE_CYCLE_PEAK : STEADY_RATE)[optimizer];
  if (!overrides.schedule) {
    const name = optimizer === 'adam' ? 'Adam' : 'SGD';
    const warm = ONE_CYCLE_WARMUP * epochs;
    const peak = overrides.learningRate
      ? ' (Advanced settings)'
      : higher
        ? ` (higher than the ${STEADY_RATE[optimizer]} a run without warm-up holds; batch norm keeps it stable)`
        : '';
    explanation.push(
      `One cycle: ${name}'s rate rises from zero to ${learningRate}${peak} over the first ${Number.isInteger(warm) ? warm : warm.toFixed(1)} epochs, then follows a cosine down to zero: ` +
        'the warm-up starts the weights gently, the peak covers ground fast and the anneal settles them, so a short run gets near its best.',
    );
  }
  explanation.push(overrides.augmentation ? 'Augmentation: as set in Advanced settings.' : aug.why);
  if (flipAverage) {
    explanation.push(
      'Predictions average each image and its mirror image (the saved model holds both passes), since the model learned from flipped images: on CIFAR-10 that added 0.8 points to the same weights. Validation and test are scored the same way; evaluating costs twice as much.',
    );
  }
  // A one-cycle run does its best work as its rate anneals: early stopping waits for that, then
  // ends a run whose validation has stopped improving. A plain cosine settles the weights in its
  // last epochs, where early stopping would cut it short; other schedules stop when validation stalls.
  const patience = overrides.patience !== undefined ? overrides.patience : schedule.kind === 'cosine' && !cycle ? null : Math.max(3, Math.round(epochs / 4));
  const patienceFrom = cycle && patience !== null ? annealedFrom(epochs, schedule.warmup!) : undefined;
  const set = overrides.patience !== undefined ? ' (Advanced settings)' : '';
  if (patience === null) {
    if (overrides.patience === undefined) explanation.push('No early stopping: the cosine schedule settles the weights in its last epochs; the epoch with the best validation accuracy is kept.');
  } else if (patienceFrom === undefined) {
    explanation.push(`Early stopping after ${patience} epochs without a better validation accuracy${set}; the best epoch is kept.`);
  } else if (Math.max(patienceFrom, patience + 1) >= epochs) {
    explanation.push(
      `Early stopping after ${patience} epochs without a better validation accuracy${set}, only once the rate is down to a quarter of its peak (epoch ${patienceFrom}): ` +
        `${epochs} epochs are too few for it to end the run early, so the cycle runs out; the best epoch is kept.`,
    );
  } else {
    explanation.push(
      `Early stopping after ${patience} epochs without a better validation accuracy${set}, only once the rate is down to a quarter of its peak (from epoch ${patienceFrom}), ` +
        'so it never cuts the cycle short while the rate is high; the best epoch is kept.',
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
    ...(patienceFrom !== undefined ? { patienceFrom } : {}),
    restoreBest: overrides.restoreBest ?? true,
    seed: overrides.seed ?? DEFAULT_SEED,
    backend: overrides.backend ?? 'auto',
    workers,
    backbone: null,
    ...(flipAverage ? { flipAverage } : {}),
    ...(timeBudget ? { timeBudget } : {}),
  };
  explanation.push(`Backend: ${backend.name} — ${backend.reason}`);

  if (stats.heldOut > 0) {
    explanation.push(`No val split: ${stats.heldOut.toLocaleString('en-US')} training images (10%, per class) are held out to pick the best epoch and stop early.`);
  } else if (stats.val === 0) {
    explanation.push('No validation images: the best epoch is judged on training accuracy. Move some images to the val split for an honest measure.');
  }
  if (stats.excluded > 0) explanation.push(`${stats.excluded} labeled images are left out: their classes have no training images.`);
  if (overrides.fineTune) explanation.push(`Fine-tuning (${FINE_TUNE_TITLES[overrides.fineTune]}, Advanced settings) applies to a pretrained backbone: this run trains from scratch, so it has none.`);

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
  /** Which of its blocks a run can train (and where to cut it), or why none. */
  fineTune: FineTuneSupport;
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
export function resolutionFor(stats: TrainDataStats, backbone: Pick<PlanBackbone, 'inputSize' | 'resolutions'>, pending: (r: number) => number, extractRate: (r: number) => number): { resolution: number; why: string } {
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

// How much of the backbone one click trains: the head only, the last blocks (their input cached
// once per image and variant, so each epoch runs only what trains), or the whole backbone. The
// more that trains, the more the features adapt to images unlike the backbone's pretraining, and
// the more images that takes not to learn them by heart, and the longer it runs; so the data's
// size picks the most that makes sense, the time budget cuts it back, and after the head's
// warm-up its validation accuracy says whether the images are close enough to the pretraining
// that the head alone does (decideAfterHead).

/** Fewer training images than this: the head alone (the backbone's millions of weights would learn a few hundred images by heart). */
export const FINE_TUNE_MIN_IMAGES = 1000;
/** From this many training images on, batch norm re-estimates its statistics and fewer epochs and variants do. */
export const WHOLE_BACKBONE_MIN_IMAGES = 20_000;
/** Blocks one click trains, by data size: up to this many below 5,000 images, twice as many below WHOLE_BACKBONE_MIN_IMAGES. */
const BLOCKS_SMALL = 2;
const BLOCKS_MEDIUM = 4;
/**
 * The backbone's learning rate as a fraction of the head's. fastai's fine_tune spreads the rates
 * from a hundredth of the head's (first layers) up to the head's own; a tenth is their middle (the
 * geometric mean), and the right order for blocks next to the head.
 */
export const BACKBONE_LR_SCALE = 0.1;
/** Epochs the head trains alone on frozen features before the backbone trains too (fastai: freeze_epochs; Keras' guide: train the head first). */
export const HEAD_WARMUP_EPOCHS = 5;
/** Batches smaller than this keep batch norm's pretrained statistics (Keras' fine-tuning guide keeps them in any case). */
const BN_MIN_BATCH = 64;
/** Disk the cut layer's cached outputs may take (float32, every variant of every image); a cut whose single copy of each image would take more is not used. */
export const CUT_CACHE_BYTES = 4 * 1024 ** 3;
/** Fewer epochs than this with the backbone training are not worth its cost: the time budget then keeps fewer blocks or the head alone. */
const MIN_TUNED_EPOCHS = 3;

/** One click's time budget for a run that fine-tunes: 20 minutes, more for large data sets (72 ms an image), at most an hour. */
export function fineTuneBudget(train: number): number {
  return Math.min(60 * 60, Math.max(ONE_CLICK_BUDGET_SECONDS, Math.round(train * 0.072)));
}

/** Epochs with the backbone training (after the head's warm-up), by data size: fewer images need more passes. */
function tunedEpochs(mode: 'blocks' | 'all', train: number): number {
  if (mode === 'all') return train < 50_000 ? 8 : 6;
  return train < 5000 ? 15 : train < WHOLE_BACKBONE_MIN_IMAGES ? 10 : 6;
}

/**
 * Variants cached per training image ('blocks'): the image and its mirror image, and shifted crops
 * of each; fewer on large data and within CUT_CACHE_BYTES, beside the validation and test images
 * (and their mirror images, where predictions average them).
 */
function variantsFor(stats: TrainDataStats, cut: BlockCut, native: number, resolution: number, flipAverage: boolean): { variants: number; bytes: number; perVariant: number } {
  const wanted = stats.train < 5000 ? 8 : stats.train < WHOLE_BACKBONE_MIN_IMAGES ? 4 : 2;
  const perImage = cut.floatsAtNative * (resolution / native) ** 2 * 4;
  const perVariant = stats.train * perImage;
  const evaluated = perImage * (stats.val + stats.test) * (flipAverage ? 2 : 1);
  const variants = Math.min(wanted, Math.floor((CUT_CACHE_BYTES - evaluated) / Math.max(1, perVariant)));
  return { variants, bytes: perVariant * Math.max(1, variants) + evaluated, perVariant: perVariant + evaluated };
}

/** The cut to train from for this data: the most blocks up to its size's share (one below FINE_TUNE_MIN_IMAGES, where only a forced choice fine-tunes), else the fewest there are. */
function targetCut(cuts: BlockCut[], train: number): BlockCut {
  const most = train < FINE_TUNE_MIN_IMAGES ? 1 : train < 5000 ? BLOCKS_SMALL : BLOCKS_MEDIUM;
  return cuts.filter((c) => c.blocks <= most).at(-1) ?? cuts[0];
}

/** The head alone: the pooled features are cached, the backbone never changes. */
function headOnly(epochs: number, flip: boolean): FineTuneConfig {
  return { mode: 'head', cutLayer: null, blocks: 0, backboneLrScale: 0, headEpochs: epochs, variants: flip ? 2 : 1, frozenBatchNorm: true };
}

/**
 * After the head's warm-up (its first `headEpochs`), whether the planned fine-tuning still goes
 * on: a head alone that reached HEAD_ENOUGH on validation means the images are close to what the
 * backbone was pretrained on, so the backbone stays frozen and the remaining epochs train the head
 * only. Without a validation accuracy (no validation images) the plan holds. Training calls this;
 * the plan's explanation says so beforehand.
 */
export function decideAfterHead(config: FineTuneConfig, headValAccuracy: number | null): { fineTune: FineTuneConfig; why: string } {
  if (config.mode === 'head') return { fineTune: config, why: 'The head alone was planned: the backbone stays as it is.' };
  const part = config.mode === 'all' ? 'the whole backbone' : `the last ${config.blocks === 1 ? 'block' : `${config.blocks} blocks`}`;
  const trains = trainsOf(config);
  if (headValAccuracy === null || !Number.isFinite(headValAccuracy)) return { fineTune: config, why: `No validation accuracy to judge the head by: ${part} ${trains} as planned.` };
  const reached = `The head alone reached ${pct(headValAccuracy)} on validation after ${config.headEpochs} epoch${config.headEpochs === 1 ? '' : 's'}`;
  if (headValAccuracy >= HEAD_ENOUGH) {
    return {
      fineTune: { ...config, mode: 'head', cutLayer: null, blocks: 0, backboneLrScale: 0 },
      why: `${reached} (${pct(HEAD_ENOUGH)} or more): the pretrained features already fit these images, so the backbone stays as it is and the remaining epochs train the head only.`,
    };
  }
  return { fineTune: config, why: `${reached} (below ${pct(HEAD_ENOUGH)}): these images differ from what the backbone was pretrained on, so ${part} ${trains} too.` };
}

/** "train" or "trains", as what trains is plural or not. */
const trainsOf = (ft: Pick<FineTuneConfig, 'mode' | 'blocks'>) => (ft.mode === 'blocks' && ft.blocks > 1 ? 'train' : 'trains');

const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;

/** A fine-tuning candidate: what trains, for how many epochs, in batches of how many. */
interface Tuning {
  fineTune: FineTuneConfig;
  epochs: number;
  batchSize: number;
  part: TrainedPart | null;
  trainedMacs: number;
}

/** The fine-tuning step's outcome: the choice, its epochs and batch, each sentence of why, and what stops a forced choice. */
interface FineTuneChoice extends Tuning {
  /** The decision and its reason in one sentence, for the plan's headline. */
  why: string;
  /** Further sentences (learning rates, batch norm, variants, time). */
  notes: string[];
  blocker: string | null;
}

export { HEAD_ENOUGH };
const modeTitle: Record<FineTuneMode, string> = FINE_TUNE_TITLES;

/**
 * The fine-tuning step of a transfer plan (after the backbone's resolution, like it): the head
 * only, the last blocks or the whole backbone, from the data's size and the backbone's support,
 * cut back until it fits the time budget; or as forced in Advanced settings. `seconds` times a
 * candidate at this machine's measured rates.
 */
export function fineTuneFor(
  stats: TrainDataStats,
  backbone: PlanBackbone,
  resolution: number,
  head: { epochs: number; batchSize: number; flip: boolean; flipAverage: boolean; seconds: number },
  overrides: TrainOverrides,
  seconds: (t: Tuning) => { seconds: number; measured: boolean },
): FineTuneChoice {
  const support = backbone.fineTune;
  const headTuning: Tuning = { fineTune: headOnly(head.epochs, head.flip), epochs: head.epochs, batchSize: head.batchSize, part: null, trainedMacs: 0 };
  const budget = fineTuneBudget(stats.train);
  const forced = overrides.fineTune;
  const n = stats.train.toLocaleString('en-US');
  const keep = (why: string, blocker: string | null = null): FineTuneChoice => ({ ...headTuning, why, notes: [], blocker });
  if (forced === 'head') return keep('Head only: chosen in Advanced settings; the backbone stays as it is.');
  if (!support.ok) {
    if (forced) return keep(`Head only: ${modeTitle[forced]} was chosen in Advanced settings, but ${backbone.title} cannot be fine-tuned (${support.why.replace(/\.$/, '')}).`, `${modeTitle[forced]} was chosen in Advanced settings, but ${backbone.title} cannot be fine-tuned: ${support.why.replace(/\.$/, '')}. Choose Head only or Automatic.`);
    return keep(`Head only: ${backbone.title} cannot be fine-tuned here (${support.why.replace(/\.$/, '')}), so its features stay as they are.`);
  }
  const native = backbone.inputSize;
  const scale = (resolution / native) ** 2;
  const tuning = (mode: 'blocks' | 'all', cut: BlockCut | null, wanted: number): Tuning => {
    const epochs = overrides.epochs ?? wanted;
    const batchSize = overrides.batchSize ?? (mode === 'all' ? 32 : stats.train >= 10_000 ? 128 : 64);
    const variants = mode === 'blocks' && cut ? Math.max(1, variantsFor(stats, cut, native, resolution, head.flipAverage).variants) : head.flip ? 2 : 1;
    const headEpochs = Math.min(HEAD_WARMUP_EPOCHS, Math.max(1, epochs - 1));
    return {
      fineTune: {
        mode,
        cutLayer: mode === 'blocks' && cut ? cut.cutLayer : null,
        blocks: mode === 'blocks' && cut ? cut.blocks : 0,
        backboneLrScale: BACKBONE_LR_SCALE,
        headEpochs,
        variants,
        frozenBatchNorm: batchSize < BN_MIN_BATCH || stats.train < WHOLE_BACKBONE_MIN_IMAGES,
      },
      epochs,
      batchSize,
      part: { mode, blocks: mode === 'blocks' && cut ? cut.blocks : 0, resolution, batchSize },
      trainedMacs: (mode === 'all' || !cut ? support.macsAtNative : cut.macsAtNative) * scale,
    };
  };
  /** The candidate with the most epochs (up to the data's share) that fits the budget, else the time MIN_TUNED_EPOCHS would take. */
  const fitting = (mode: 'blocks' | 'all', cut: BlockCut | null): { fits: Tuning } | { seconds: number } => {
    const wanted = HEAD_WARMUP_EPOCHS + tunedEpochs(mode, stats.train);
    const fewest = HEAD_WARMUP_EPOCHS + MIN_TUNED_EPOCHS;
    for (let epochs = wanted; epochs >= fewest; epochs--) {
      const t = tuning(mode, cut, epochs);
      if (seconds(t).seconds <= budget) return { fits: t };
    }
    return { seconds: seconds(tuning(mode, cut, fewest)).seconds };
  };
  const target = support.cuts.length > 0 ? targetCut(support.cuts, stats.train) : null;
  const blocksText = (b: number) => (b === 1 ? 'the last block' : `the last ${b} blocks`);
  const decided = (t: Tuning, why: string): FineTuneChoice => {
    const time = seconds(t);
    const ft = t.fineTune;
    const part = ft.mode === 'all' ? 'the whole backbone' : blocksText(ft.blocks);
    const notes = [
      `Fine-tuning: the head trains alone for its first ${ft.headEpochs} epochs, then ${part} ${trainsOf(ft)} with it at ${ft.backboneLrScale}x its learning rate (fastai's discriminative rates: layers nearer the pixels change less), both rising from zero over that first epoch; ` +
        `${t.epochs} epochs in all, about ${minutes(time.seconds)} here${time.measured ? ' (a training step of the trained part measured on this machine)' : ' (from its multiply-adds; measured once a step of it has run here)'}.`,
      ft.frozenBatchNorm
        ? `Batch norm keeps its pretrained statistics: ${t.batchSize < BN_MIN_BATCH ? `batches of ${t.batchSize} are too few images to estimate them again` : `${n} images are too few to estimate them again`} (as Keras' fine-tuning guide advises).`
        : `Batch norm in the trained layers re-estimates its statistics on batches of ${t.batchSize}.`,
    ];
    const cut = support.cuts.find((c) => c.cutLayer === ft.cutLayer);
    if (ft.mode === 'blocks' && cut) {
      const { bytes } = variantsFor(stats, cut, native, resolution, head.flipAverage);
      notes.push(
        `The input of ${part} (${ft.cutLayer}) is computed once per image and cached (about ${formatBytes(bytes)}): ${ft.variants} variant${ft.variants === 1 ? '' : 's'} of each training image${ft.variants > 1 ? ` (${head.flip ? 'the image, its mirror image and shifted crops' : 'shifted crops'}), one drawn each epoch` : ''}; each epoch runs only what trains.`,
      );
    }
    return { ...t, why, notes, blocker: null };
  };
  if (forced) {
    const mode = forced;
    if (mode === 'blocks' && !target) return keep(`Head only: ${backbone.title} has no blocks Loupe can train alone.`, `Last blocks was chosen in Advanced settings, but ${backbone.title} has no blocks Loupe can train alone. Choose Whole backbone, Head only or Automatic.`);
    const t = tuning(mode, mode === 'blocks' ? target : null, HEAD_WARMUP_EPOCHS + tunedEpochs(mode, stats.train));
    const part = mode === 'all' ? 'the whole backbone' : blocksText(t.fineTune.blocks);
    return decided(t, `${modeTitle[mode]}: chosen in Advanced settings; ${part} of ${backbone.title} ${trainsOf(t.fineTune)} with the head after its ${t.fineTune.headEpochs} warm-up epochs, whatever the head alone reaches.`);
  }
  if (stats.train < FINE_TUNE_MIN_IMAGES) {
    return keep(`Head only: ${n} training images are too few to adapt the backbone's weights without learning the images by heart (fine-tuning starts at ${FINE_TUNE_MIN_IMAGES.toLocaleString('en-US')}); its pretrained features and a new head generalise better.`);
  }
  const unless = `unless the head alone reaches ${pct(HEAD_ENOUGH)} on validation after its ${HEAD_WARMUP_EPOCHS} warm-up epochs (then the pretrained features already fit)`;
  const budgetText = `the ${minutes(budget)} budget${budget > ONE_CLICK_BUDGET_SECONDS ? ` for ${n} images` : ''}`;
  const over = (what: string, s: number) => `${what} would take about ${minutes(s)} here, over ${budgetText}`;
  const skipped: string[] = [];
  // The whole backbone first wherever it fits the budget: on CIFAR-10's 2,000-image subset
  // (MobileNet v1, 128 px) one click reached 83.0% on test with it, against 77.9-78.8% for the
  // last 2 blocks and 78.8% for the head alone; the last blocks are what fits when it does not.
  const all = fitting('all', null);
  if ('fits' in all) {
    return decided(
      all.fits,
      `Whole backbone: ${n} training images are enough to adapt all of ${backbone.title}'s layers, and it fits ${budgetText}; it trains ${unless}. On CIFAR-10's 2,000-photo subset this reached 83% on test against 79% for the head alone; the last blocks gained none.`,
    );
  }
  skipped.push(over('the whole backbone', all.seconds));
  if (!target) return keep(`Head only: ${[...skipped, `${backbone.title} has no blocks Loupe can train alone`].join('; ')}.`);
  const size = `${n} training images are enough to adapt ${blocksText(target.blocks)}`;
  for (const cut of [...support.cuts].filter((c) => c.blocks <= target.blocks).sort((a, b) => b.blocks - a.blocks)) {
    const cache = variantsFor(stats, cut, native, resolution, head.flipAverage);
    if (cache.variants < 1) {
      skipped.push(`caching the input of ${blocksText(cut.blocks)} would take about ${formatBytes(cache.perVariant)}, over ${formatBytes(CUT_CACHE_BYTES)}`);
      continue;
    }
    const t = fitting('blocks', cut);
    if (!('fits' in t)) {
      skipped.push(over(blocksText(cut.blocks), t.seconds));
      continue;
    }
    return decided(t.fits, `Last blocks: fine-tunes ${blocksText(cut.blocks)} of ${backbone.title} ${unless}; ${[size, ...skipped].filter(Boolean).join('; ')}.`);
  }
  return keep(`Head only: ${skipped.join('; ')}; the head alone takes about ${minutes(head.seconds)}.`);
}

function formatBytes(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${Math.max(1, Math.round(bytes / 1e6))} MB`;
}

/** The lowest backbone input one click trains the whole backbone at, where the resolution the images call for does not fit the budget. */
export const WHOLE_BACKBONE_MIN_RESOLUTION = 96;

/**
 * Transfer learning: the backbone's resolution for these images, then the plan at it. Where that
 * plan keeps the backbone frozen or trains only its last blocks because the whole backbone does not
 * fit the time budget, the whole backbone at a lower input (not below
 * WHOLE_BACKBONE_MIN_RESOLUTION) is planned instead when it fits: adapting every layer gained more
 * than the pixels lost. On CIFAR-10's 20,000-photo subset (MobileNet v1, 18,000 training images)
 * the whole backbone at 96 px (3 epochs after the head's 5) reached 86.4% on test, against 85.2%
 * for the last 4 blocks and 84.4% for the head alone at 128 px; on the full set (45,000 training
 * images, 4 epochs after the head's 5) 90.2% in 46 minutes, against 85.5% for the head alone.
 */
function transferPlan(stats: TrainDataStats, backend: BackendInfo, cost: CostModel, overrides: TrainOverrides, route: TransferRoute<PlanBackbone>, blocked: string | null): TrainPlan {
  const { backbone } = route;
  const extraction = extractionOf(cost);
  const sized = resolutionFor(stats, backbone, (r) => extraction.pending(r, false), extraction.extractRate);
  const requested = overrides.width ?? overrides.height;
  const resolution = requested ?? sized.resolution;
  const planned = transferPlanAt(stats, backend, cost, overrides, route, blocked, resolution, requested ? `Backbone input ${resolution}x${resolution}: set in Advanced settings.` : sized.why);
  const mode = planned.config.backbone?.fineTune?.mode;
  if (requested !== undefined || overrides.fineTune !== undefined || mode === 'all' || stats.train < FINE_TUNE_MIN_IMAGES || !backbone.fineTune.ok) return planned;
  const kept = mode === 'blocks' ? `the last ${planned.config.backbone!.fineTune!.blocks} blocks` : 'the head alone';
  for (const lower of [...backbone.resolutions].filter((r) => r < resolution && r >= WHOLE_BACKBONE_MIN_RESOLUTION).sort((a, b) => b - a)) {
    const why =
      `Backbone input ${lower}x${lower}, below the ${resolution} px these images call for: there the whole backbone does not fit the time budget and ${kept} would train; at ${lower} px it fits, and adapting every layer gains more than the pixels lose ` +
      `(on CIFAR-10's 20,000-photo subset the whole of MobileNet v1 at 96 px reached 86.4% on test, against 85.2% for its last 4 blocks and 84.4% for the head alone at 128 px; ` +
      `on the full 50,000, 90.2% against 85.5% for the head alone).`;
    const whole = transferPlanAt(stats, backend, cost, overrides, route, blocked, lower, why);
    if (whole.config.backbone?.fineTune?.mode === 'all') return whole;
  }
  return planned;
}

/** Transfer learning at `resolution`: a dense head on the route's backbone's features, and how much of the backbone trains with it; flips and the head's settings, each with why. */
function transferPlanAt(
  stats: TrainDataStats,
  backend: BackendInfo,
  cost: CostModel,
  overrides: TrainOverrides,
  route: TransferRoute<PlanBackbone>,
  blocked: string | null,
  resolution: number,
  resolutionWhy: string,
): TrainPlan {
  const { backbone } = route;
  const extraction = extractionOf(cost);
  const explanation = [route.why, resolutionWhy];

  const flipAllowed = overrides.augmentation?.flip ?? !stats.greyscale;
  const flipFits = extraction.pending(resolution, true) / extraction.extractRate(resolution) <= EXTRACT_BUDGET_SECONDS;
  const flip = flipAllowed && (overrides.augmentation?.flip === true || flipFits);
  const flipAverage = flip && backbone.format !== 'onnx';

  const epochs = overrides.epochs ?? headEpochs(stats.train);
  const batchSize = overrides.batchSize ?? (stats.train >= 10_000 ? 128 : 64);
  const optimizer = overrides.optimizer ?? 'adam';
  const learningRate = overrides.learningRate ?? (optimizer === 'adam' ? 0.001 : 0.01);
  const schedule = (e: number): TrainConfig['schedule'] =>
    overrides.schedule?.kind === 'step'
      ? { kind: 'step', stepSize: overrides.schedule.stepSize ?? Math.max(1, Math.round(e / 3)), gamma: overrides.schedule.gamma ?? 0.1 }
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
  const headConfig: TrainConfig = {
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
    schedule: schedule(epochs),
    augmentation: { flip, shift: 0, brightness: 0 },
    patience: overrides.patience !== undefined ? overrides.patience : null,
    restoreBest,
    seed: overrides.seed ?? DEFAULT_SEED,
    backend: overrides.backend ?? 'auto',
    workers: 1,
    backbone: transfer,
  };
  const headEstimate = estimateTransferStages(headConfig, stats, backend, cost);
  // Shifted crops, as in the usual CIFAR recipe (4 px at 32 px): an eighth of the side.
  const shift = overrides.augmentation?.shift ?? Math.max(1, Math.round(resolution / 8));
  const tunedConfig = (t: { fineTune: FineTuneConfig; epochs: number; batchSize: number }): TrainConfig => ({
    ...headConfig,
    epochs: overrides.epochs ?? t.epochs,
    batchSize: t.batchSize,
    schedule: schedule(overrides.epochs ?? t.epochs),
    augmentation: { flip, shift, brightness: 0 },
    backbone: { ...transfer, fineTune: t.fineTune },
  });
  const choice = fineTuneFor(
    stats,
    backbone,
    resolution,
    { epochs, batchSize, flip, flipAverage, seconds: headEstimate.prepareSeconds + headEstimate.trainSeconds },
    overrides,
    (t) => {
      const timed = estimateFineTuneStages(tunedConfig(t), stats, backend, cost, { part: t.part!, trainedMacs: t.trainedMacs, variants: t.fineTune.variants, headEpochs: t.fineTune.headEpochs });
      return { seconds: timed.prepareSeconds + timed.trainSeconds, measured: timed.measured };
    },
  );
  const tuned = choice.fineTune.mode !== 'head';
  const config = tuned ? tunedConfig(choice) : { ...headConfig, backbone: { ...transfer, fineTune: choice.fineTune } };
  explanation.push(choice.why);

  if (overrides.augmentation?.flip === false) explanation.push(`Augmentation: off (Advanced settings); the ${tuned ? 'model' : 'head'} trains on each image's ${tuned ? 'pixels' : 'features'} once per epoch.`);
  else if (tuned) {
    explanation.push(
      `Augmentation: ${flip ? 'left-right flips and ' : ''}shifts of up to ${shift} px, as the backbone now learns from them too.` +
        (flipAverage ? ' Predictions average each image and its mirror image (the model holds both passes).' : ''),
    );
  } else if (flip) {
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

  explanation.push(
    `Head: dense 1024 with ReLU, dropout 0.2, ${config.epochs} epochs of ${optimizer === 'adam' ? 'Adam' : 'SGD'} at ${learningRate} with a ${config.schedule.kind} learning rate; ${tuned ? '' : 'it trains in seconds to minutes on the cached features, and '}${kept}.`,
  );
  explanation.push(...choice.notes);
  const pending = extraction.pending(resolution, false);
  const passes = extraction.pending(resolution, flip);
  if (choice.fineTune.mode !== 'blocks') {
    explanation.push(
      passes > 0
        ? `Features: ${[pending > 0 ? `${pending.toLocaleString('en-US')} images` : '', passes > pending ? `${(passes - pending).toLocaleString('en-US')} mirror images` : ''].filter(Boolean).join(' and ')} go through ${backbone.title} once through onnxruntime, about ${minutes(passes / extraction.extractRate(resolution) + EXTRACT_SETUP_SECONDS)} here; they are cached in the project for later runs.`
        : `Features: every image's features are already cached in the project.`,
    );
  }
  explanation.push(`Backend for the head: ${backend.name} — ${backend.reason}`);
  if (stats.heldOut > 0) explanation.push(`No val split: ${stats.heldOut.toLocaleString('en-US')} training images (10%, per class) are held out for validation.`);
  else if (stats.val === 0) explanation.push('No validation images: the best epoch is judged on training accuracy. Move some images to the val split for an honest measure.');
  if (stats.excluded > 0) explanation.push(`${stats.excluded} labeled images are left out: their classes have no training images.`);
  if (backbone.verified === false) explanation.push(`${backbone.title} is your own model (${backbone.location}): not verified against the registry's checksums.`);
  const estimate = tuned
    ? (({ prepareSeconds, trainSeconds }) => ({ prepareSeconds, trainSeconds }))(
        estimateFineTuneStages(config, stats, backend, cost, { part: choice.part!, trainedMacs: choice.trainedMacs, variants: choice.fineTune.variants, headEpochs: choice.fineTune.headEpochs }),
      )
    : headEstimate;
  const blocker = blocked ?? choice.blocker;
  const estimatedSeconds = blocker ? 0 : Math.round(estimate.prepareSeconds + estimate.trainSeconds);
  return { config, backend, data: stats, estimatedSeconds, estimate, explanation, blocker, fineTuneWhy: choice.why };
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
  /** The registry's backbones in order, each with its first usable copy here or what was wrong, and its published ImageNet top-1 (%). */
  registry(): Iterable<{ title: string; dataset?: string | null; license: string; imagenetTop1?: number | null; backbone: B | null; problem: string | null }>;
  /** How long extracting this data's features would take here, at the resolution its plan would use; absent: not known. */
  extractSeconds?(backbone: B): { seconds: number; resolution: number; rate: number } | null;
}

/**
 * Among the usable registry backbones, the most accurate (published ImageNet top-1; unknown counts
 * lowest, registry order breaks ties) whose feature extraction fits EXTRACT_BUDGET_SECONDS here,
 * else the fastest; and why, beside the others.
 */
function mostAccurate<B extends RouteBackbone, E extends { title: string; imagenetTop1?: number | null; backbone: B }>(usable: E[], backbones: BackboneLookup<B>): { entry: E; why: string } {
  const byTop1 = usable.map((entry, i) => ({ entry, i, top1: entry.imagenetTop1 ?? null })).sort((a, b) => (b.top1 ?? -1) - (a.top1 ?? -1) || a.i - b.i);
  const timed = byTop1.map((r) => ({ ...r, time: backbones.extractSeconds?.(r.entry.backbone) ?? null }));
  const fits = (t: (typeof timed)[number]) => t.time === null || t.time.seconds <= EXTRACT_BUDGET_SECONDS;
  const chosen = timed.find(fits) ?? timed.reduce((a, b) => (b.time!.seconds < a.time!.seconds ? b : a));
  if (timed.length === 1) return { entry: chosen.entry, why: '' };
  const top1 = (t: (typeof timed)[number]) => (t.top1 === null ? 'ImageNet top-1 not published' : `${t.top1}% ImageNet top-1`);
  const time = (t: (typeof timed)[number]) => (t.time ? `about ${minutes(t.time.seconds)} to extract here (${Math.round(t.time.rate).toLocaleString('en-US')} images/s at ${t.time.resolution} px)` : '');
  // Ranked by accuracy: the ones before the chosen one did not fit the budget.
  const slower = fits(chosen) ? timed.slice(0, timed.indexOf(chosen)) : [];
  const weaker = timed.filter((t) => t !== chosen && !slower.includes(t));
  const budget = `${EXTRACT_BUDGET_SECONDS / 60} minutes`;
  const ranked = timed.some((t) => t.top1 !== null);
  const head = !fits(chosen)
    ? `No backbone here extracts these images within ${budget}; ${chosen.entry.title} is the fastest (${time(chosen)})`
    : ranked
      ? `${chosen.entry.title} is the most accurate of the ${timed.length} backbones here (${top1(chosen)}) whose feature extraction fits ${budget}${chosen.time ? ` (${time(chosen)})` : ''}`
      : `${chosen.entry.title} comes first of the ${timed.length} backbones here in the registry's order (none publishes an ImageNet top-1 to rank them by)${chosen.time ? `, and its feature extraction fits ${budget} (${time(chosen)})` : ''}`;
  const list = (ts: typeof timed) => ts.map((t) => `${t.entry.title} (${top1(t)})`).join(', ');
  const are = (ts: typeof timed) => (ts.length === 1 ? 'is' : 'are');
  // Without published figures to tell them apart, the registry's order decides.
  const lower = weaker.filter((t) => !fits(chosen) || (t.top1 !== null && chosen.top1 !== null && t.top1 < chosen.top1));
  const unranked = weaker.filter((t) => !lower.includes(t));
  const parts = [
    ...slower.map((t) => `${t.entry.title} (${top1(t)}) would take ${time(t)}`),
    ...(lower.length > 0 ? [`${list(lower)} ${are(lower)} ${fits(chosen) ? 'less accurate' : 'slower'}`] : []),
    ...(unranked.length > 0 && ranked ? [`${list(unranked)} ${are(unranked)} not ranked above it (no higher published figure; the registry's order decides)`] : []),
  ];
  return { entry: chosen.entry, why: parts.length > 0 ? `${head}; ${parts.join('; ')}.` : `${head}.` };
}

/**
 * The plan's first decision: train from scratch or on a pretrained backbone, and why. A backbone
 * named in the overrides is used (or blocks the run when it cannot be); "no backbone" or another
 * architecture means from scratch; otherwise, when transfer learning suits the data, the most
 * accurate usable registry backbone whose extraction fits the time budget.
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
  const usable: { title: string; dataset?: string | null; license: string; imagenetTop1?: number | null; backbone: B }[] = [];
  for (const entry of backbones.registry()) {
    if (entry.backbone) usable.push({ ...entry, backbone: entry.backbone });
    else missing.push(entry.problem ?? `${entry.title} is not on this machine`);
  }
  if (usable.length > 0) {
    const { entry, why } = mostAccurate(usable, backbones);
    return {
      kind: 'transfer',
      backbone: entry.backbone,
      why:
        `Transfer learning: these look like photos, so ${entry.title} (pretrained${entry.dataset ? ` on ${entry.dataset}` : ''}, ${entry.license}) turns each into ${entry.backbone.features} features and a small head learns the classes from them — far more accurate than training from scratch on ${stats.train.toLocaleString('en-US')} images.` +
        (why ? ` ${why}` : ''),
    };
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

/** The published ImageNet top-1 (%) a registry entry lists, read defensively (older registries have none). */
function imagenetTop1(entry: object): number | null {
  const top1 = (entry as { imagenetTop1?: unknown }).imagenetTop1;
  return typeof top1 === 'number' && Number.isFinite(top1) ? top1 : null;
}

/** The backbones on this machine: the registry's (verified copies) and any the overrides name; extraction timed on `data`. */
function backbonesHere(project: Project, data: TrainingData, cores: number): BackboneLookup<ResolvedBackbone> {
  return {
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
        yield { title: entry.title, dataset: entry.dataset, license: entry.license, imagenetTop1: imagenetTop1(entry), backbone, problem: problems[0] ?? null };
      }
    },
    extractSeconds(backbone) {
      const extraction = extractionCost(project, backbone, data.items, cores);
      const { resolution } = resolutionFor(data.stats, backbone, (r) => extraction.pending(r, false), extraction.extractRate);
      const rate = extraction.extractRate(resolution);
      return { seconds: extraction.pending(resolution, false) / rate, resolution, rate };
    },
  };
}

/** Which blocks of `backbone` a run can train, or why none (a model Loupe cannot read says so). */
function fineTuneSupportOf(backbone: ResolvedBackbone): FineTuneSupport {
  try {
    return fineTuneSupport(backbone);
  } catch (err) {
    return { ok: false, why: `Loupe could not read its layers (${err instanceof Error ? err.message : String(err)})` };
  }
}

/** A backbone with its feature count (a user's model is read for it) and which of its blocks can train. */
async function planBackbone(backbone: ResolvedBackbone): Promise<PlanBackbone> {
  const features = backbone.features ?? (await backboneOnnx(backbone, backbone.inputSize)).features;
  return { ...backbone, features, format: backbone.format, fineTune: fineTuneSupportOf(backbone) };
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
  const route = chooseRoute(stats, overrides, backbonesHere(project, data, cost.cores));
  if (route.kind === 'transfer') {
    const planned: Route = { ...route, backbone: await planBackbone(route.backbone) };
    const extraction = extractionCost(project, route.backbone, data.items, cost.cores);
    cost.extraction = extraction;
    // Training rates of the backbone's parts, measured here as the plan comes to need them.
    const rates = new Map<string, number>();
    const partKey = (p: TrainedPart) => [p.mode, p.blocks, p.resolution, p.batchSize].join(':');
    cost.fineTune = { trainRate: (p) => rates.get(partKey(p)) ?? null };
    let plan = makePlan(stats, backend, cost, overrides, planned);
    if (plan.blocker) return plan;
    if (await extraction.calibrate(plan.config.backbone!.resolution, plan.config.backbone!.augment === 'flip')) plan = makePlan(stats, backend, cost, overrides, planned);
    // Time the part the plan fine-tunes and plan again with its rate; a slower part than its
    // multiply-adds said may make the plan pick a smaller one, which is timed in turn.
    for (let round = 0; round < 3 && !plan.blocker; round++) {
      const ft = plan.config.backbone?.fineTune;
      if (!ft || ft.mode === 'head') break;
      const part: TrainedPart = { mode: ft.mode, blocks: ft.blocks, resolution: plan.config.backbone!.resolution, batchSize: plan.config.batchSize };
      if (rates.has(partKey(part))) break;
      const rate = await measuredPartRate(backend, plan.config, data.classes.length, cost.cores);
      if (rate === null) break;
      rates.set(partKey(part), rate);
      plan = makePlan(stats, backend, cost, overrides, planned);
    }
    return plan;
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
