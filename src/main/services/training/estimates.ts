// What a run will cost here, for the plan: the training throughput of each backend and the
// measured one, an architecture's multiply-adds, and the backbone's feature extraction (what the
// project's feature cache still lacks, at what rate), with the run's wall time by step estimated
// from them.

import fs from 'node:fs';
import path from 'node:path';
import { LoupeError } from '../../../shared/errors';
import type { ArchName, BackboneSpeed, BackendInfo, TrainConfig, TrainDataStats } from '../../../shared/types';
import type { Project } from '../../store/project';
import { spawnWorker } from '../../workers/spawn';
import { calibrateExtraction, featureDir, flipKey, measuredRate, readSpeeds, type ResolvedBackbone } from '../backbones';
import type { TrainItem } from './dataset';

/** Sustained training throughput of each backend, GFLOP/s per replica (measured by bench:train). */
export const BACKEND_GFLOPS: Record<BackendInfo['name'], number> = {
  tensorflow: 40,
  webgpu: 400,
  /** Per core: onnxruntime threads use every core. */
  onnxruntime: 35,
  wasm: 6,
  cpu: 0.3,
};

export interface CostModel {
  /** Forward multiply-adds of one image through `arch` at the given input. */
  forwardMacs(arch: ArchName, width: number, height: number, channels: 1 | 3, classes: number): number;
  /** Cores that data-parallel replicas can use. */
  cores: number;
  /** Training images per second measured on this machine for the planned configuration. */
  imagesPerSecond?: number | null;
  /** The backbone's feature extraction: a transfer plan's cost. */
  extraction?: ExtractionCost;
  /** How fast the trained part of a backbone trains here: a fine-tuning plan's cost. */
  fineTune?: FineTuneRates;
}

/** What the backbone's trained part is: its last `blocks` blocks, or all of it. */
export interface TrainedPart {
  mode: 'blocks' | 'all';
  blocks: number;
  resolution: number;
  batchSize: number;
}

export interface FineTuneRates {
  /** Training images per second through the trained part and the head, measured on this machine; null until measured. */
  trainRate(part: TrainedPart): number | null;
}

export interface ExtractionCost {
  /** Images (and, with `flip`, their flipped copies) whose features are not cached yet, at `resolution`. */
  pending(resolution: number, flip: boolean): number;
  /** Backbone images per second through onnxruntime at `resolution`. */
  extractRate(resolution: number): number;
}

/**
 * Backbone images per second at 224 px, per core, until this machine has measured its own (a
 * backbone too costly to calibrate, no image to calibrate on). MobileNet v1 here, 2 cores:
 * bench:transfer measured 301 images/s through onnxruntime alone at 224 px on an idle machine;
 * inside a run, decoding beside it and other work on the cores, 80 to 400 at 128 px.
 */
export const EXTRACT_RATE_224_PER_CORE = 60;

/**
 * Images decoded into the pixel cache per second, before a run's first epoch (hashing, decoding,
 * resizing and writing). Measured here: CIFAR-10's 60,000 JPEGs took 65-67 s at 32 px and about
 * 103 s at 96 px, Fashion-MNIST's 70,000 PNGs 41 s. It was 2,000, which made the plan say 30 s
 * where CIFAR-10 took 65.
 */
export const PIXEL_PREPARE_RATE = 1000;

/** The run's wall time by step: decoding the images into the pixel cache, then training. */
export function estimateStages(config: TrainConfig, stats: TrainDataStats, classes: number, backend: BackendInfo, cost: CostModel): { prepareSeconds: number; trainSeconds: number } {
  const prepareSeconds = (stats.train + stats.val + stats.test) / PIXEL_PREPARE_RATE; // first run only; pixel cache after
  const rate = cost.imagesPerSecond;
  const passes = config.flipAverage ? 2 : 1;
  if (rate) {
    // Evaluation is forward only: about a third of a training step per image (two passes where it averages mirror images).
    const evaluated = (stats.val * config.epochs + stats.val + stats.test) * passes;
    return { prepareSeconds, trainSeconds: (stats.train * config.epochs) / rate + evaluated / (3 * rate) + 3 };
  }
  const macs = cost.forwardMacs(config.arch, config.width, config.height, config.channels, classes);
  const replicas = backend.name === 'wasm' || backend.name === 'cpu' ? Math.min(config.workers, cost.cores) : backend.name === 'onnxruntime' ? cost.cores : 1;
  const flopsPerSecond = BACKEND_GFLOPS[backend.name] * 1e9 * replicas * (replicas > 1 ? 0.9 : 1);
  // Training: forward + backward ~ 3x forward; validation each epoch and the test pass: forward only.
  const flops = 2 * macs * (3 * stats.train * config.epochs + (stats.val * config.epochs + stats.val + stats.test) * passes);
  return { prepareSeconds, trainSeconds: flops / flopsPerSecond + 3 };
}

export function estimateSeconds(config: TrainConfig, stats: TrainDataStats, classes: number, backend: BackendInfo, cost: CostModel): number {
  const { prepareSeconds, trainSeconds } = estimateStages(config, stats, classes, backend, cost);
  return Math.round(prepareSeconds + trainSeconds);
}

/** The extraction cost a transfer plan needs. */
export function extractionOf(cost: CostModel): ExtractionCost {
  if (!cost.extraction) throw new LoupeError('INTERNAL', 'A transfer plan needs the cost of extracting the backbone\'s features.');
  return cost.extraction;
}

/** Keys already in a backbone's feature cache (to tell what a run still has to extract). */
function cachedKeys(project: Project, backbone: ResolvedBackbone, resolution: number): Set<string> {
  try {
    return new Set(JSON.parse(fs.readFileSync(path.join(featureDir(project, backbone, resolution), 'index.json'), 'utf8')) as string[]);
  } catch {
    return new Set();
  }
}

/**
 * A backbone's extraction rate at `resolution` from the speeds measured on this machine
 * (Backbones → Measure): the one at that resolution, else the nearest one scaled by the pixel
 * count; null when none was measured.
 */
export function speedAt(speeds: BackboneSpeed[], resolution: number): number | null {
  const usable = speeds.filter((s) => s.imagesPerSecond > 0 && s.resolution > 0);
  if (usable.length === 0) return null;
  const nearest = usable.reduce((best, s) => (Math.abs(s.resolution - resolution) < Math.abs(best.resolution - resolution) ? s : best));
  return nearest.imagesPerSecond * (nearest.resolution / resolution) ** 2;
}

/**
 * What extracting `backbone`'s features of a run's images costs in this project: the images its
 * feature cache still lacks, and the rate measured by the project's last extraction (decoding
 * included), else calibrated here through the same pipeline (once the plan knows its resolution:
 * plan, calibrate, plan again), else the speed measured on this machine for the Backbones panel
 * (onnxruntime alone: faster than a run), else a typical one; other resolutions scale with the
 * pixel count.
 */
export function extractionCost(project: Project, backbone: ResolvedBackbone, items: TrainItem[], cores: number): ExtractionCost & { calibrate(resolution: number, flip?: boolean): Promise<boolean> } {
  const cache = new Map<number, Set<string>>();
  const averages = backbone.format !== 'onnx';
  let calibration: { resolution: number; rate: number } | null = null;
  const speeds = readSpeeds(backbone.fingerprint);
  const extractRate = (r: number) =>
    measuredRate(project, backbone, r) ??
    (calibration ? calibration.rate * (calibration.resolution / r) ** 2 : null) ??
    speedAt(speeds, r) ??
    EXTRACT_RATE_224_PER_CORE * cores * (224 / r) ** 2;
  const pending = (r: number, flip: boolean) => {
    let keys = cache.get(r);
    if (!keys) cache.set(r, (keys = cachedKeys(project, backbone, r)));
    let n = 0;
    for (const it of items) {
      if (!keys.has(it.hash)) n++;
      // Flipped copies: training draws them; predictions average with them (all but ONNX backbones).
      if (flip && (averages || it.split === 'train') && !keys.has(flipKey(it.hash))) n++;
    }
    return n;
  };
  return {
    extractRate,
    pending,
    /**
     * Measures the rate at `resolution` by extracting a few images still to extract (with their
     * flipped copies where the plan flips) through the run's own pipeline, unless the project
     * measured it or none is left; true when it did.
     */
    async calibrate(resolution: number, flip = false): Promise<boolean> {
      if (measuredRate(project, backbone, resolution) !== null || pending(resolution, false) === 0) return false;
      const keys = cachedKeys(project, backbone, resolution);
      const rate = await calibrateExtraction(project, backbone, resolution, items.filter((it) => !keys.has(it.hash)), { flip }).catch(() => null);
      if (rate === null) return false;
      calibration = { resolution, rate };
      return true;
    },
  };
}

/** Converting the backbone to ONNX and opening its session, before the first image (measured here: 0.2 to 1.5 s). */
export const EXTRACT_SETUP_SECONDS = 1;

/** The run's wall time by step: feature extraction, then the head's training. */
export function estimateTransferStages(config: TrainConfig, stats: TrainDataStats, backend: BackendInfo, cost: CostModel): { prepareSeconds: number; trainSeconds: number } {
  const t = config.backbone!;
  const extraction = extractionOf(cost);
  const passes = extraction.pending(t.resolution, t.augment === 'flip');
  const prepareSeconds = passes > 0 ? passes / extraction.extractRate(t.resolution) + EXTRACT_SETUP_SECONDS : 0;
  const macs = t.features * 1024 + 1024 * stats.classes.length;
  const flops = 2 * macs * (3 * stats.train * config.epochs + stats.val * (config.epochs + 1) + stats.test);
  const train = flops / (BACKEND_GFLOPS[backend.name] * 1e9 * Math.max(1, cost.cores));
  // Sessions, workers and the combined model written at the end.
  return { prepareSeconds, trainSeconds: train + 3 * config.epochs * 0.05 + 6 };
}

export function estimateTransferSeconds(config: TrainConfig, stats: TrainDataStats, backend: BackendInfo, cost: CostModel): number {
  const { prepareSeconds, trainSeconds } = estimateTransferStages(config, stats, backend, cost);
  return Math.round(prepareSeconds + trainSeconds);
}

/**
 * The backend a fine-tuning run's replicas train on, and how many (as training/finetune.ts and
 * train.ts pick them): the run's own (onnxruntime: one replica on every core), except plain
 * JavaScript, which trains on WebAssembly with one replica per core (up to 4).
 */
export function fineTuneReplicas(backend: BackendInfo['name'], cores: number): { name: BackendInfo['name']; replicas: number; perCore: boolean } {
  const name = backend === 'cpu' ? 'wasm' : backend;
  return { name, replicas: name === 'wasm' ? Math.max(1, Math.min(cores, 4)) : 1, perCore: name === 'onnxruntime' };
}

/** The share of the head's sustained FLOP rate a backbone's convolutions reach, unmeasured (memory traffic, depthwise kernels). */
const FINE_TUNE_EFFICIENCY = 0.5;

/**
 * Training images per second of a backbone's trained part until this machine has measured it:
 * its forward multiply-adds (`trainedMacs`) times three for forward and backward, at the
 * fine-tuning backend's sustained rate on its replicas.
 */
export function flopTrainRate(trainedMacs: number, backend: BackendInfo, cores: number): number {
  const { name, replicas, perCore } = fineTuneReplicas(backend.name, cores);
  const flopsPerSecond = BACKEND_GFLOPS[name] * 1e9 * (perCore ? Math.max(1, cores) : replicas * (replicas > 1 ? REPLICA_EFFICIENCY : 1)) * FINE_TUNE_EFFICIENCY;
  return flopsPerSecond / (2 * 3 * Math.max(1, trainedMacs));
}

/** What a fine-tuning plan needs to time it: the trained part and its cost. */
export interface FineTuneTiming {
  part: TrainedPart;
  /** Forward multiply-adds per image of the trained part at the planned resolution. */
  trainedMacs: number;
  /** Images each training image is cached as ('blocks': the cut layer's output of each variant). */
  variants: number;
  headEpochs: number;
}

/**
 * A fine-tuning run's wall time by step. First, as for the head alone, the pooled features are
 * extracted and the head trains on them for `headEpochs`. Then 'blocks': the frozen part runs
 * once per training image and variant (and once per validation and test image, twice with flip
 * averaging) to cache the cut layer's output, and blocks and head train on it; 'all': the images
 * are decoded at the backbone's resolution and every epoch trains the whole backbone on pixels.
 */
export function estimateFineTuneStages(
  config: TrainConfig,
  stats: TrainDataStats,
  backend: BackendInfo,
  cost: CostModel,
  timing: FineTuneTiming,
): { prepareSeconds: number; trainSeconds: number; imagesPerSecond: number; measured: boolean } {
  const t = config.backbone!;
  const extraction = extractionOf(cost);
  const measured = cost.fineTune?.trainRate(timing.part) ?? null;
  const rate = measured ?? flopTrainRate(timing.trainedMacs, backend, cost.cores);
  const rateHere = extraction.extractRate(t.resolution);
  const head = estimateTransferStages({ ...config, epochs: timing.headEpochs }, stats, backend, cost);
  const tuned = Math.max(0, config.epochs - timing.headEpochs);
  const epoch = stats.train / rate + stats.val / (3 * rate);
  const evalImages = (stats.val + stats.test) * (t.flipAverage ? 2 : 1);
  const prepare =
    timing.part.mode === 'blocks'
      ? (stats.train * timing.variants + evalImages) / rateHere + EXTRACT_SETUP_SECONDS
      : (stats.train + stats.val + stats.test) / PIXEL_PREPARE_RATE;
  return {
    prepareSeconds: head.prepareSeconds + prepare,
    trainSeconds: head.trainSeconds + tuned * epoch + evalImages / (3 * rate) + 6,
    imagesPerSecond: rate,
    measured: measured !== null,
  };
}

export interface ModelSize {
  macs: number;
  /** Every weight, trainable or not: the size of a replica's exchange slot. */
  floats: number;
}

const sizes = new Map<string, ModelSize>();

/** Counts an architecture's cost by building it (on the CPU backend, in this thread; cached). */
export async function modelSize(arch: ArchName, width: number, height: number, channels: number, classes: number, features?: number): Promise<ModelSize> {
  const key = [arch, width, height, channels, classes, features].join(':');
  const hit = sizes.get(key);
  if (hit) return hit;
  const tf = await import('@tensorflow/tfjs');
  const { ARCHITECTURES, forwardMacs } = await import('./architectures');
  if (tf.getBackend() !== 'cpu') await tf.setBackend('cpu');
  const model = ARCHITECTURES[arch].build({ width, height, channels, classes, features });
  const size = { macs: forwardMacs(model), floats: model.countParams() };
  model.dispose();
  sizes.set(key, size);
  return size;
}

// The plan's throughput figure, measured once per process and configuration in a short-lived
// training worker (TF.js never loads on the main thread). Plain JS is too slow to measure
// quickly: its estimate stays the FLOP-based one.

const TIMEOUT_MS = 30_000;

/** A training worker's measured images per second for `workerData` (a calibrate mode), or null when it cannot say within TIMEOUT_MS. */
function timeInWorker(workerData: { mode: 'calibrate' | 'calibrate-part'; backend: string; config: TrainConfig; classes: number }): Promise<number | null> {
  return new Promise<number | null>((resolve) => {
    const worker = spawnWorker('train', { workerData });
    const timer = setTimeout(() => void worker.terminate(), TIMEOUT_MS);
    worker.once('message', (msg: { type: 'rate'; imagesPerSecond: number } | { type: 'error' }) => {
      resolve(msg.type === 'rate' ? msg.imagesPerSecond : null);
      clearTimeout(timer);
      void worker.terminate();
    });
    worker.once('error', () => resolve(null));
    worker.once('exit', () => {
      clearTimeout(timer);
      resolve(null);
    });
  });
}

/** Two wasm replicas reached 1.46x one replica's throughput here (gradient exchange, barriers). */
const REPLICA_EFFICIENCY = 0.73;

const measured = new Map<string, Promise<number | null>>();

export function measuredImagesPerSecond(backend: BackendInfo, config: TrainConfig, classes: number, cores: number): Promise<number | null> {
  if (backend.name === 'cpu' || !backend.available) return Promise.resolve(null);
  const key = [backend.name, config.arch, config.width, config.height, config.channels, classes, config.batchSize].join(':');
  let rate = measured.get(key);
  if (!rate) {
    rate = timeInWorker({ mode: 'calibrate', backend: backend.name, config, classes });
    measured.set(key, rate);
  }
  const replicas = backend.name === 'wasm' ? Math.min(config.workers, cores) : 1;
  return rate.then((r) => (r === null ? null : replicas > 1 ? r * replicas * REPLICA_EFFICIENCY : r));
}

const measuredParts = new Map<string, Promise<number | null>>();

/**
 * Training images per second of a fine-tuning run's trained part (the backbone after its cut, or
 * all of it, with a head) on this machine, as its replicas train it: a few real steps in a
 * short-lived training worker, once per process and part; null when it cannot be measured.
 */
export function measuredPartRate(backend: BackendInfo, config: TrainConfig, classes: number, cores: number): Promise<number | null> {
  const ft = config.backbone?.fineTune;
  if (!backend.available || !ft || ft.mode === 'head') return Promise.resolve(null);
  const { name, replicas } = fineTuneReplicas(backend.name, cores);
  const t = config.backbone!;
  const key = [name, t.fingerprint, t.resolution, ft.mode, ft.cutLayer, ft.frozenBatchNorm, classes, config.batchSize].join(':');
  let rate = measuredParts.get(key);
  if (!rate) {
    rate = timeInWorker({ mode: 'calibrate-part', backend: name, config, classes });
    measuredParts.set(key, rate);
  }
  return rate.then((r) => (r === null ? null : replicas > 1 ? r * replicas * REPLICA_EFFICIENCY : r));
}
