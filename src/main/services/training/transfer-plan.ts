// One click with a pretrained backbone: whether transfer learning suits the data, at which input
// resolution the backbone runs, whether features of flipped copies are worth extracting, and the
// head's training settings, each with why. Pure: the data statistics, the backbone and the cost
// of extraction come in, the plan goes out.

import type { BackendInfo, TrainConfig, TrainDataStats, TrainOverrides, TrainPlan, TransferConfig } from '../../../shared/types';
import { BEST_EPOCH_MIN_VAL } from './kept-epoch';
import { EXTRACT_SETUP_SECONDS, estimateTransferStages, type TransferCost } from './estimates';
import { DEFAULT_SEED } from './plan';

export { BEST_EPOCH_MIN_VAL };

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
