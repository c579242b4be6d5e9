// A training run, from the main thread's side: plan it, prepare the pixel cache, record the run
// with its exact data snapshot, start one replica per core or one on a GPU (trainReplicas, which
// the label checker's fold models use too), record each epoch as it ends, store the predictions
// on val and test, and finish the record. The main thread only moves messages and writes rows;
// all tensor work happens in the replicas.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { LoupeError } from '../../../shared/errors';
import type {
  BackendInfo,
  BackendName,
  EpochMetrics,
  RunStatus,
  TrainConfig,
  TrainOverrides,
  TrainPlan,
  TrainProgress,
  TrainResult,
} from '../../../shared/types';
import type { DB } from '../../store/database';
import { requireWritable, type Project } from '../../store/project';
import { throwIfCancelled } from '../../jobs/jobs';
import { spawnWorker, watchExit } from '../../workers/spawn';
import { snapshotOf, trainingData, withValidationHoldout, type TrainingData } from './dataset';
import { chooseBackend } from '../tfjs/backends';
import { modelSize } from './estimates';
import { DEFAULT_SEED, planRun } from './plan';
import { ensurePixelPack, type PixelPack } from '../pixels/pixel-pack';
import { oversampled, withClassBalance } from './balance';
import { prepareFeatures, saveTransferModel } from './transfer';
import { afterHead, fineTuneBackend, fineTuning, modelFloats, prepareCut, saveFineTunedModel, trainableModel } from './finetune';
import { readTfjsFolder, withFlipAverage, writeTfjsFolder } from '../backbones';
import {
  CONTROL_INTS,
  CTL_ABORT,
  CTL_CANCEL,
  SLOT_EXTRA,
  type BatchMessage,
  type FromReplica,
  type ReplicaInit,
  type ReplicaInput,
  type ReplicaModel,
  type SplitRows,
} from './protocol';
import { keptEpochOf } from './kept-epoch';
import { createRun, finishRun, predictionWriter, recordEpoch, refitEpochs } from './records';

let probes: Promise<BackendInfo[]> | null = null;

/** Which backends can train here; asked once per process, in a worker (never loads tfjs here). */
export function trainingBackends(): Promise<BackendInfo[]> {
  probes ??= new Promise<BackendInfo[]>((resolve, reject) => {
    const worker = spawnWorker('train', { workerData: { mode: 'probe' } });
    worker.once('message', (msg: { type: 'backends'; backends: BackendInfo[] }) => {
      resolve(msg.backends);
      void worker.terminate();
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new LoupeError('INTERNAL', `The backend probe stopped (exit code ${code}).`)));
  }).catch((err: unknown) => {
    probes = null;
    throw err;
  });
  return probes;
}

/** The one-click plan for the open project's data, with any overrides applied. */
export async function planTraining(project: Project, overrides: TrainOverrides = {}): Promise<{ plan: TrainPlan; data: TrainingData }> {
  const data = withValidationHoldout(trainingData(project.db), overrides.seed ?? DEFAULT_SEED);
  const backend = chooseBackend(await trainingBackends(), overrides.backend ?? 'auto');
  return { plan: withClassBalance(await planRun(project, data, backend, overrides), data), data };
}

export interface TrainOptions {
  signal?: AbortSignal;
  /** Progress: done/total steps, a phase for people, and the live curves. */
  onProgress?: (done: number, total: number | null, phase: string, detail?: TrainProgress) => void;
  /** Called once the run is recorded, before training starts. */
  onRunCreated?: (runId: number, plan: TrainPlan) => void;
  /** Right after a step's first progress: how long the plan expects that step to take (seconds), for the time left until it has measured itself. */
  onExpect?: (seconds: number | null) => void;
  /** The run's time budget fitted its epochs to the speed it measured: the new count and why (also added to the run's plan). */
  onEpochs?: (epochs: number, why: string) => void;
}

function splitRows(data: TrainingData, split: 'train' | 'val' | 'test', rowOf: Map<string, number>): { rows: SplitRows; imageIds: number[] } {
  const items = data.items.filter((it) => it.split === split && rowOf.has(it.hash));
  return {
    rows: { rows: Int32Array.from(items, (it) => rowOf.get(it.hash)!), labels: Int32Array.from(items, (it) => it.label) },
    imageIds: items.map((it) => it.imageId),
  };
}

function storePredictions(db: DB, runId: number, split: 'val' | 'test', imageIds: number[], labels: Int32Array, probs: Float32Array, classes: number): number | null {
  if (imageIds.length === 0) return null;
  const insert = predictionWriter(db);
  let correct = 0;
  db.transaction(() => {
    for (let i = 0; i < imageIds.length; i++) {
      const p = probs.subarray(i * classes, (i + 1) * classes);
      let arg = 0;
      for (let k = 1; k < classes; k++) if (p[k] > p[arg]) arg = k;
      if (arg === labels[i]) correct++;
      const loss = -Math.log(Math.max(p[labels[i]], 1e-7));
      insert(runId, imageIds[i], split, labels[i], arg, p[arg], loss, Buffer.from(p.buffer, p.byteOffset, p.byteLength));
    }
  })();
  return correct / imageIds.length;
}

type DoneMessage = Extract<FromReplica, { type: 'done' }>;

/** One model trained by data-parallel replicas: what it is given. */
export interface ReplicaJob {
  backend: BackendName;
  config: TrainConfig;
  classes: number;
  pack: Pick<PixelPack, 'file' | 'rowBytes'>;
  /** What pack rows hold; pixels when absent. */
  input?: ReplicaInput;
  /** Fine-tuning: the model to train, instead of a fresh one of config.arch. */
  model?: ReplicaModel;
  train: SplitRows;
  /** Picks the best epoch and stops early; empty: training accuracy decides. */
  val: SplitRows;
  /** Predicted once at the end, with every class probability. */
  test: SplitRows;
  /** Where the model (and the best checkpoint while training) is written. */
  modelDir: string;
  /** With the config's time budget: when the whole run is to end (Date.now milliseconds). */
  deadline?: number;
  signal?: AbortSignal;
  onReady?: (device: string) => void;
  onBatch?: (msg: BatchMessage) => void;
  onEpoch?: (metrics: EpochMetrics) => void;
  /** The time budget fitted the epochs to the speed measured: the new count and why. */
  onEpochs?: (epochs: number, why: string) => void;
}

/** How it ended. A replica's failure is returned (not thrown), so the caller can record it. */
export interface ReplicaOutcome {
  done: DoneMessage | null;
  failure: LoupeError | null;
  cancelled: boolean;
  /** Probabilities (rows of `classes`) of the val and test images, in their order; complete only when neither failed nor cancelled. */
  predictions: { val: Float32Array; test: Float32Array };
}

/**
 * Starts one replica per core on CPU backends (one on a GPU), relays their batches and epochs,
 * and collects the predictions on val and test. Used by runs and by the label checker's folds.
 */
export async function trainReplicas(job: ReplicaJob): Promise<ReplicaOutcome> {
  const { config, classes, signal } = job;
  const cpu = job.backend === 'wasm' || job.backend === 'cpu';
  const trainN = job.train.rows.length;
  // Fewer replicas than cores when a batch would leave one with almost nothing to do.
  const replicas = cpu ? Math.max(1, Math.min(config.workers, Math.floor(config.batchSize / 8), trainN)) : 1;
  const floats = job.model ? modelFloats(job.model) : (await modelSize(config.arch, config.width, config.height, config.channels, classes, config.backbone?.features)).floats;
  const slotFloats = floats + SLOT_EXTRA;
  const control = new SharedArrayBuffer(CONTROL_INTS * 4);
  const exchange = new SharedArrayBuffer(2 * replicas * slotFloats * 4);
  const ctl = new Int32Array(control);
  const predictions = { val: new Float32Array(job.val.rows.length * classes), test: new Float32Array(job.test.rows.length * classes) };
  let done: DoneMessage | null = null;
  let failure: LoupeError | null = null;
  const workers: Worker[] = [];

  let killTimer: NodeJS.Timeout | null = null;
  let fail: (err: LoupeError) => void = () => {};
  // Cancel is honoured at the next batch; a replica stuck in one long kernel is stopped. The
  // listener is removed when the run ends: a job's signal outlives it in the job registry, and
  // this closure holds the run's whole state (workers, predictions, the data snapshot).
  const onAbort = () => {
    Atomics.store(ctl, CTL_CANCEL, 1);
    killTimer = setTimeout(() => fail(new LoupeError('CANCELLED', 'Cancelled.')), 5000);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  /** Each worker's exit watch; disposed once the run is over, so that no grace timer holds the process. */
  const exits: ReturnType<typeof watchExit>[] = [];
  try {
    await new Promise<void>((resolve) => {
      let finished = 0;
      fail = (err: LoupeError) => {
        failure ??= err;
        Atomics.store(ctl, CTL_ABORT, 1);
        resolve();
      };
      for (let rank = 0; rank < replicas; rank++) {
        const init: ReplicaInit & { mode: 'replica' } = {
          mode: 'replica',
          rank,
          replicas,
          backend: job.backend,
          config,
          classes,
          pack: { file: job.pack.file, rowBytes: job.pack.rowBytes },
          input: job.input,
          model: job.model,
          train: job.train,
          val: job.val,
          test: job.test,
          modelDir: job.modelDir,
          deadline: job.deadline,
          control,
          exchange,
          slotFloats,
        };
        const worker = spawnWorker('train', { workerData: init, resourceLimits: { maxOldGenerationSizeMb: 4096 } });
        workers.push(worker);
        let last = 'none';
        // A replica that said it was done may end while the others still evaluate their share.
        const exit = watchExit(
          worker,
          (code) => {
            if (!failure) fail(new LoupeError('INTERNAL', `Training worker ${rank} stopped unexpectedly (exit code ${code}, last message: ${last}).`));
          },
          1000,
        );
        exits.push(exit);
        worker.on('message', (msg: FromReplica) => {
          last = msg.type;
          switch (msg.type) {
            case 'ready':
              if (rank === 0) job.onReady?.(msg.device);
              break;
            case 'batch':
              job.onBatch?.(msg);
              break;
            case 'epoch':
              job.onEpoch?.(msg.metrics);
              break;
            case 'epochs':
              job.onEpochs?.(msg.epochs, msg.why);
              break;
            case 'predictions':
              predictions[msg.split].set(msg.probs, msg.offset * classes);
              break;
            case 'done':
              exit.done();
              if (rank === 0) done = msg;
              if (++finished === replicas) resolve();
              break;
            case 'error':
              fail(
                msg.code === 'ENOSPC' || msg.code === 'SQLITE_FULL'
                  ? new LoupeError('DISK_FULL', `The disk is full: training stopped (${msg.message}). Free some space and train again.`)
                  : new LoupeError(msg.code === 'NOT_SUPPORTED' ? 'NOT_SUPPORTED' : 'INTERNAL', `Training failed: ${msg.message}`),
              );
              break;
          }
        });
        worker.on('error', (err) => fail(new LoupeError('INTERNAL', `A training worker failed: ${err.message}`)));
      }
    });
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (killTimer) clearTimeout(killTimer);
    await Promise.all(workers.map((w) => w.terminate()));
    for (const exit of exits) exit.dispose();
  }
  const d = done as DoneMessage | null;
  const f = failure as LoupeError | null;
  const cancelled = signal?.aborted === true || d?.cancelled === true || f?.code === 'CANCELLED';
  return { done: d, failure: f, cancelled, predictions };
}

export async function runTraining(project: Project, overrides: TrainOverrides = {}, options: TrainOptions = {}): Promise<TrainResult> {
  requireWritable(project);
  const { signal } = options;
  // The run's duration is its whole wall time: planning and preparing the data count too.
  const started = performance.now();
  const startedAt = Date.now();
  const { plan, data } = await planTraining(project, overrides);
  // Each step's first progress is followed by the time the plan expects it to take.
  let expecting: number | null | undefined;
  const onProgress = (done: number, total: number | null, phase: string, detail?: TrainProgress): void => {
    options.onProgress?.(done, total, phase, detail);
    if (expecting !== undefined) options.onExpect?.(expecting);
    expecting = undefined;
  };
  if (plan.blocker) throw new LoupeError('INVALID_INPUT', plan.blocker);
  const { config } = plan;
  const classes = data.classes.length;

  // Transfer runs train on the backbone's features (extracted once, cached); others on pixels.
  let pack: Pick<PixelPack, 'file' | 'rowBytes' | 'rows'>;
  let input: ReplicaInput = { kind: 'pixels' };
  let flipRowOf: ((hash: string) => number) | null = null;
  expecting = plan.estimate?.prepareSeconds ?? null;
  if (config.backbone) {
    const features = await prepareFeatures(project, config, data.items, { signal, onProgress });
    pack = features.pack;
    input = { kind: 'features', features: features.pack.features };
    if (config.backbone.augment === 'flip') flipRowOf = features.flipRowOf;
  } else {
    onProgress(0, data.items.length, 'Preparing images');
    pack = await ensurePixelPack(
      project,
      data.items,
      { width: config.width, height: config.height, channels: config.channels, fit: 'cover' },
      { signal, onProgress: (done, total) => onProgress(done, total, 'Preparing images') },
    );
  }
  if (signal) throwIfCancelled(signal);
  const prepareSeconds = (performance.now() - started) / 1000;
  const train = splitRows(data, 'train', pack.rows);
  if (flipRowOf) {
    const flips = flipRowOf;
    const trainItems = data.items.filter((it) => it.split === 'train' && pack.rows.has(it.hash));
    train.rows.flipRows = Int32Array.from(trainItems, (it) => flips(it.hash));
  }
  train.rows = oversampled(train.rows, config.balance);
  const val = splitRows(data, 'val', pack.rows);
  const test = splitRows(data, 'test', pack.rows);
  if (!config.backbone && config.flipAverage) {
    // From scratch: evaluation averages each image with its mirror image, as the saved model does.
    val.rows = { ...val.rows, mirror: true };
    test.rows = { ...test.rows, mirror: true };
  }
  if (flipRowOf && config.backbone?.flipAverage) {
    // Evaluation averages each image with its mirror image, as the saved model does.
    for (const [split, rows] of [['val', val], ['test', test]] as const) {
      const flips = flipRowOf;
      rows.rows.flipRows = Int32Array.from(
        data.items.filter((it) => it.split === split && pack.rows.has(it.hash)),
        (it) => flips(it.hash),
      );
    }
  }
  if (train.imageIds.length === 0) throw new LoupeError('INVALID_INPUT', 'None of the training images could be read.');

  const runId = createRun(project.db, {
    arch: config.arch,
    backend: plan.backend.name,
    backendReason: plan.backend.reason,
    device: plan.backend.device,
    seed: config.seed,
    plan,
    config,
    classes: data.classes,
    snapshot: snapshotOf(
      { ...data, items: data.items.filter((it) => pack.rows.has(it.hash)) },
      data.classes.map((c) => c.id),
    ),
  });
  options.onRunCreated?.(runId, plan);
  const modelDir = path.join(project.paths.models, String(runId));
  fs.mkdirSync(modelDir, { recursive: true });

  const history: EpochMetrics[] = [];
  // Fine-tuning: the head warms up alone on the cached features for its first epochs.
  const fineTune = fineTuning(config.backbone);
  const headConfig = fineTune ? { ...config, epochs: Math.min(config.epochs, fineTune.headEpochs) } : config;
  const trainN = train.rows.rows.length;
  const batchesPerEpoch = Math.ceil(trainN / config.batchSize);
  // The epochs the run is to train: the plan's, until its time budget fits them to the speed measured.
  let epochs = config.epochs;
  // Progress counts training images, so the job's rate is images/s like the import's.
  let totalImages = trainN * epochs;
  const imagesDone = (epoch: number, batch: number) => epoch * trainN + Math.min(trainN, batch * config.batchSize);
  let device = plan.backend.device;
  const progressOf = (epoch: number, batch: number, batches: number, loss: number | null, acc: number | null, rate: number | null): TrainProgress => ({
    runId,
    epoch,
    epochs,
    batch,
    batches,
    trainLoss: loss,
    trainAccuracy: acc,
    imagesPerSecond: rate,
    history,
  });

  type Replicas = Parameters<typeof trainReplicas>[0];
  /** Progress and the epochs' records of a phase whose first epoch is the run's epoch `offset` + 1 (the fine-tuning after the head's warm-up). */
  const epochReports = (offset: number): Pick<Replicas, 'onBatch' | 'onEpoch'> => ({
    onBatch: (msg) =>
      onProgress(
        imagesDone(msg.epoch + offset, msg.batch),
        totalImages,
        `Epoch ${msg.epoch + offset + 1}/${epochs}`,
        progressOf(msg.epoch + offset + 1, msg.batch, msg.batches, msg.trainLoss, msg.trainAccuracy, msg.imagesPerSecond),
      ),
    onEpoch: (m) => {
      const metrics: EpochMetrics = { ...m, epoch: m.epoch + offset };
      history.push(metrics);
      recordEpoch(project.db, runId, metrics);
      onProgress(
        imagesDone(metrics.epoch, 0),
        totalImages,
        `Epoch ${metrics.epoch}/${epochs}`,
        progressOf(metrics.epoch, batchesPerEpoch, batchesPerEpoch, metrics.trainLoss, metrics.trainAccuracy, metrics.imagesPerSecond),
      );
    },
  });

  expecting = plan.estimate?.trainSeconds ?? null;
  onProgress(0, totalImages, 'Starting', progressOf(0, 0, batchesPerEpoch, null, null, null));
  let outcome = await trainReplicas({
    backend: plan.backend.name,
    config: headConfig,
    classes,
    pack,
    input,
    train: train.rows,
    val: val.rows,
    test: test.rows,
    modelDir,
    // One click's budget counts the whole run, from planning on (fine-tuning runs plan theirs by phase).
    ...(config.timeBudget && !fineTune ? { deadline: startedAt + config.timeBudget.seconds * 1000 } : {}),
    signal,
    onReady: (d) => (device = d),
    onEpochs: (n, why) => {
      epochs = n;
      totalImages = trainN * n;
      refitEpochs(project.db, runId, n, why);
      options.onEpochs?.(n, why);
    },
    ...epochReports(0),
  });

  // Then the backbone's last blocks (or all of it) train with the head, if the plan still says so after the warm-up.
  let tunedDir: string | null = null;
  if (fineTune && !outcome.failure && !outcome.cancelled && headConfig.epochs < config.epochs) {
    const decision = afterHead(fineTune, val.imageIds.length > 0 ? (outcome.done?.bestValAccuracy ?? null) : null, overrides.fineTune !== undefined);
    const epochOffset = headConfig.epochs;
    onProgress(imagesDone(epochOffset, 0), totalImages, decision.why, progressOf(epochOffset, 0, batchesPerEpoch, null, null, null));
    const backend = fineTuneBackend(plan.backend.name);
    const tuned: TrainConfig = {
      ...config,
      epochs: config.epochs - epochOffset,
      backbone: { ...config.backbone!, fineTune: decision.fineTune },
      // The head is trained and the backbone pretrained: in phases of 3 or more epochs the first
      // epoch's rates rise from zero (with Adam's state fresh, full rates at once undid the warm-up:
      // CIFAR-10's training accuracy fell from 80% to 59% in the first epoch of the whole backbone).
      schedule: config.schedule.kind === 'cosine' && decision.fineTune.mode !== 'head' && config.epochs - epochOffset >= 3 ? { kind: 'cosine', warmup: 1 / (config.epochs - epochOffset) } : config.schedule,
      // TF.js on CPUs: one replica per core (a head on features needs one).
      workers: backend === 'wasm' ? Math.max(1, Math.min(os.availableParallelism(), 4)) : config.workers,
      // The whole backbone from pixels: shifts of up to an eighth of the side, besides the flips (the cached copies hold them for 'blocks').
      augmentation: decision.fineTune.mode === 'all' ? { ...config.augmentation, shift: config.augmentation.shift || Math.round(config.width / 8) } : config.augmentation,
    };
    const headDir = path.join(modelDir, 'model');
    const phaseDir = path.join(modelDir, 'finetune');
    let phaseInput: ReplicaInput = input;
    let phasePack = pack;
    let splits = { train: train.rows, val: val.rows, test: test.rows };
    let model: ReplicaModel;
    try {
      if (decision.fineTune.mode === 'head') {
        // The head alone goes on from where its warm-up ended.
        model = trainableModel(tuned.backbone!, headDir);
      } else if (decision.fineTune.mode === 'blocks') {
        const cut = await prepareCut(project, tuned, data.items, { signal, onProgress });
        const rowsOf = (split: 'train' | 'val' | 'test') =>
          cut.splitRows(
            data.items.filter((it) => it.split === split && pack.rows.has(it.hash)),
            split === 'train',
          );
        splits = { train: rowsOf('train'), val: rowsOf('val'), test: rowsOf('test') };
        phasePack = cut.pack;
        phaseInput = { kind: 'cut', shape: cut.shape };
        model = trainableModel(tuned.backbone!, headDir, cut.shape);
      } else {
        // The whole backbone from pixels at its resolution, with the run's pixel augmentation.
        onProgress(0, data.items.length, 'Preparing images');
        const pixels = await ensurePixelPack(
          project,
          data.items,
          { width: config.width, height: config.height, channels: config.channels, fit: 'cover' },
          { signal, onProgress: (d, t) => onProgress(d, t, 'Preparing images') },
        );
        const rowsOf = (split: 'train' | 'val' | 'test'): SplitRows => {
          const r = splitRows(data, split, pixels.rows).rows;
          return split !== 'train' && config.backbone?.flipAverage ? { ...r, mirror: true } : r;
        };
        splits = { train: rowsOf('train'), val: rowsOf('val'), test: rowsOf('test') };
        phasePack = pixels;
        phaseInput = { kind: 'pixels' };
        model = trainableModel(tuned.backbone!, headDir);
      }
    } catch (err) {
      model = null as never;
      outcome = { ...outcome, failure: err instanceof LoupeError ? err : new LoupeError('INTERNAL', String(err)), cancelled: signal?.aborted === true };
    }
    if (!outcome.failure && !outcome.cancelled) {
      const phase = await trainReplicas({
        backend,
        config: tuned,
        classes,
        pack: phasePack,
        input: phaseInput,
        model,
        train: splits.train === train.rows ? splits.train : oversampled(splits.train, config.balance),
        val: splits.val,
        test: splits.test,
        modelDir: phaseDir,
        signal,
        ...epochReports(epochOffset),
      });
      const first = outcome.done;
      const d = phase.done;
      outcome = {
        ...phase,
        done: d && {
          ...d,
          epochs: d.epochs + epochOffset,
          bestEpoch: d.bestEpoch === null ? null : d.bestEpoch + epochOffset,
          keptEpoch: d.keptEpoch === null ? null : d.keptEpoch + epochOffset,
          trainSeconds: d.trainSeconds + (first?.trainSeconds ?? 0),
          trainImages: d.trainImages + (first?.trainImages ?? 0),
        },
      };
      Object.assign(val, { rows: splits.val });
      Object.assign(test, { rows: splits.test });
      if (decision.fineTune.mode !== 'head') tunedDir = path.join(phaseDir, 'model');
      else if (!phase.failure && !phase.cancelled) {
        // The head went on alone: its final weights are the run's head.
        fs.rmSync(headDir, { recursive: true, force: true });
        fs.renameSync(path.join(phaseDir, 'model'), headDir);
        fs.rmSync(phaseDir, { recursive: true, force: true });
      }
    }
  }

  const { done, cancelled, predictions } = outcome;
  let { failure } = outcome;
  if (!failure && !cancelled && !config.backbone && config.flipAverage) {
    // The saved model averages each image with its mirror image, as its evaluation did.
    try {
      const dir = path.join(modelDir, 'model');
      writeTfjsFolder(withFlipAverage(readTfjsFolder(dir), config.width), dir);
    } catch (err) {
      failure = err instanceof LoupeError ? err : new LoupeError('INTERNAL', `Saving the model failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (!failure && !cancelled && config.backbone) {
    // The run's model: the backbone's features model (its trained layers' weights put back) with the trained head on top.
    try {
      if (tunedDir) {
        saveFineTunedModel(modelDir, config.backbone, tunedDir);
        fs.rmSync(path.dirname(tunedDir), { recursive: true, force: true });
      } else await saveTransferModel(modelDir, config.backbone);
    } catch (err) {
      failure = err instanceof LoupeError ? err : new LoupeError('INTERNAL', `Saving the model failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const status: RunStatus = failure && !cancelled ? 'failed' : cancelled ? 'cancelled' : 'completed';
  // Without validation images the best epoch was chosen on training accuracy: not a val score.
  let valAccuracy = val.imageIds.length > 0 ? (done?.bestValAccuracy ?? null) : null;
  let testAccuracy: number | null = null;
  if (status === 'completed') {
    valAccuracy = storePredictions(project.db, runId, 'val', val.imageIds, val.rows.labels, predictions.val, classes) ?? valAccuracy;
    testAccuracy = storePredictions(project.db, runId, 'test', test.imageIds, test.rows.labels, predictions.test, classes);
  }
  const imagesPerSecond = done && done.trainSeconds > 0 ? done.trainImages / done.trainSeconds : null;
  // What the saved model holds; no model, no kept epoch.
  const keptEpoch = status === 'completed' ? (done?.keptEpoch ?? null) : null;
  const seconds = (performance.now() - started) / 1000;
  finishRun(project.db, runId, {
    status,
    seconds,
    imagesPerSecond,
    bestEpoch: done?.bestEpoch ?? null,
    keptEpoch,
    prepareSeconds,
    valAccuracy,
    testAccuracy,
    error: status === 'failed' ? failure?.message ?? null : null,
  });
  if (status === 'failed') throw failure!;
  return {
    runId,
    status,
    arch: config.arch,
    backend: plan.backend.name,
    device,
    epochs: history.length,
    bestEpoch: done?.bestEpoch ?? null,
    valAccuracy,
    testAccuracy,
    seconds,
    prepareSeconds,
    trainSeconds: seconds - prepareSeconds,
    imagesPerSecond,
    backbone: config.backbone?.name ?? null,
    kept: keptEpochOf(config, data.stats.val, keptEpoch),
  };
}
