// Transfer learning inside a run: which backbone one click uses (or why none), the features a
// run trains on (extracted once, cached in the project), and the model a run saves: the
// backbone up to its features with the trained head on top, one TF.js model that evaluation,
// export (one ONNX graph) and prediction use like any other run's.

import fs from 'node:fs';
import path from 'node:path';
import { LoupeError } from '../../../shared/errors';
import type { BackendInfo, TrainConfig, TrainDataStats, TrainOverrides, TrainPlan, TransferConfig } from '../../../shared/types';
import type { Project } from '../../store/project';
import {
  backboneFeatureFiles,
  backboneOnnx,
  calibrateExtraction,
  ensureFeatures,
  featureDir,
  type FeaturePack,
  findCopy,
  flipKey,
  loadRegistry,
  measuredRate,
  readTfjsFolder,
  resolveBackbone,
  type ResolvedBackbone,
  withFlipAverage,
  withHead,
  writeTfjsFolder,
} from '../backbones';
import { appendHead } from '../onnx/surgery';
import { convertToOnnx } from '../onnx/convert';
import { readLayersModelDir } from '../onnx/layers-model';
import { loupeVersion } from '../../version';
import type { TrainItem } from './dataset';
import { EXTRACT_RATE_224_PER_CORE, type CostModel, type TransferCost } from './estimates';
import { makePlan } from './plan';
import { makeTransferPlan, transferSuits, type PlanBackbone } from './transfer-plan';

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

/** The backbone a recorded transfer config used, checked to be the same files (else its features would differ). */
export function backboneOf(transfer: TransferConfig): ResolvedBackbone {
  const backbone = resolveBackbone(transfer.name);
  if (backbone.fingerprint !== transfer.fingerprint) {
    throw new LoupeError(
      'INVALID_INPUT',
      `${transfer.title} on this machine is not the copy this model was trained with (${transfer.copy}): its files changed. Train again with the backbone you have now.`,
    );
  }
  return backbone;
}

export interface PreparedFeatures {
  pack: FeaturePack;
  /** Row of each image by hash, and of its flipped copy. */
  rowOf: (hash: string) => number | undefined;
  flipRowOf: (hash: string) => number;
}

/** Extracts (or finds cached) the features of a run's images: flipped copies of training images too when the config asks. */
export async function prepareFeatures(
  project: Project,
  config: TrainConfig,
  items: { hash: string; ext: string; split?: string }[],
  options: { signal?: AbortSignal; onProgress?: (done: number, total: number, phase: string) => void } = {},
): Promise<PreparedFeatures> {
  const transfer = config.backbone!;
  const backbone = backboneOf(transfer);
  const phase = `Extracting features (${backbone.title})`;
  options.onProgress?.(0, items.length, phase);
  const pack = await ensureFeatures(
    project,
    backbone,
    transfer.resolution,
    items.map((it) => ({ hash: it.hash, ext: it.ext, flip: transfer.flipAverage === true || (transfer.augment === 'flip' && it.split === 'train') })),
    { signal: options.signal, onProgress: (d, t) => options.onProgress?.(d, t, phase) },
  );
  if (pack.features !== transfer.features) throw new LoupeError('INTERNAL', `${backbone.title} gave ${pack.features} features where the plan expected ${transfer.features}.`);
  return { pack, rowOf: (hash) => pack.rows.get(hash), flipRowOf: (hash) => pack.rows.get(flipKey(hash)) ?? -1 };
}

/** Where an ONNX backbone's run keeps its model: one ONNX graph, backbone and head. */
export const TRANSFER_ONNX = 'model.onnx';

/**
 * Turns the head a run trained (models/<run>/model, saved by the replica) into the run's model:
 * the backbone's features model with the head on top, at models/<run>/model (TF.js backbones) or
 * models/<run>/model.onnx (ONNX backbones); the head alone stays at models/<run>/head.
 */
export async function saveTransferModel(modelDir: string, transfer: TransferConfig): Promise<void> {
  const backbone = backboneOf(transfer);
  const headDir = path.join(modelDir, 'head');
  const modelPath = path.join(modelDir, 'model');
  fs.rmSync(headDir, { recursive: true, force: true });
  fs.renameSync(modelPath, headDir);
  if (backbone.format === 'onnx') {
    const { bytes } = await backboneOnnx(backbone, transfer.resolution);
    const head = convertToOnnx(readLayersModelDir(headDir), { preprocess: null, inputName: 'features', producerVersion: loupeVersion() });
    const tmp = path.join(modelDir, `${TRANSFER_ONNX}.tmp`);
    fs.writeFileSync(tmp, appendHead(bytes, head.bytes));
    fs.renameSync(tmp, path.join(modelDir, TRANSFER_ONNX));
    return;
  }
  const combined = withHead(backboneFeatureFiles(backbone, transfer.resolution), readTfjsFolder(headDir));
  writeTfjsFolder(transfer.flipAverage ? withFlipAverage(combined, transfer.resolution) : combined, modelPath);
}
