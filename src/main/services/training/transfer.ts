// Transfer learning inside a run: the features a run trains on (extracted once, cached in the
// project), and the model a run saves: the
// backbone up to its features with the trained head on top, one TF.js model that evaluation,
// export (one ONNX graph) and prediction use like any other run's.

import fs from 'node:fs';
import path from 'node:path';
import { LoupeError } from '../../../shared/errors';
import type { TrainConfig, TransferConfig } from '../../../shared/types';
import type { Project } from '../../store/project';
import {
  backboneFeatureFiles,
  backboneOnnx,
  ensureFeatures,
  type FeaturePack,
  flipKey,
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

/** The features graph of a transfer config's backbone at its resolution (ONNX bytes: pixels 0..255 in, `features` out), and the backbone's title. */
export async function transferFeaturesOnnx(transfer: TransferConfig): Promise<{ bytes: Uint8Array; features: number; title: string }> {
  const backbone = backboneOf(transfer);
  const { bytes, features } = await backboneOnnx(backbone, transfer.resolution);
  return { bytes, features, title: backbone.title };
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
