// Fine-tuning a transfer run, from the main thread's side: after the head's warm-up on the
// cached pooled features, either the backbone's last blocks train with the head on the cut
// layer's output (cached once per image and augmented copy, so each epoch runs only what trains)
// or the whole backbone does from pixels; then the trained weights go back into the backbone's
// features model, so the run's model is one TF.js model like any transfer run's.

import fs from 'node:fs';
import path from 'node:path';
import { LoupeError } from '../../../shared/errors';
import type { BackendName, FineTuneConfig, TrainConfig, TransferConfig } from '../../../shared/types';
import type { Project } from '../../store/project';
import {
  backboneFeatureFiles,
  ensureFeatures,
  outputLayerOf,
  partAfter,
  readTfjsFolder,
  variantKey,
  withFlipAverage,
  withHead,
  withWeightsFrom,
  writeTfjsFolder,
} from '../backbones';
import type { ReplicaModel, SplitRows } from './protocol';
import { decideAfterHead } from './plan';
import { backboneOf } from './transfer';

/** The fine-tuning a transfer config asks for beyond its head, or null (head only, or not a transfer run). */
export function fineTuning(transfer: TransferConfig | null | undefined): FineTuneConfig | null {
  const ft = transfer?.fineTune;
  return ft && ft.mode !== 'head' ? ft : null;
}

/** Whether a run's saved model holds backbone weights it trained (so its cached features no longer describe it). */
export function isFineTuned(config: TrainConfig): boolean {
  return fineTuning(config.backbone) !== null;
}

/**
 * After the head's warm-up: whether the backbone trains too. The plan decides from the head's
 * validation accuracy (plan.ts decideAfterHead); a mode forced in Advanced settings stands.
 */
export function afterHead(fineTune: FineTuneConfig, headValAccuracy: number | null, forced: boolean): { fineTune: FineTuneConfig; why: string } {
  if (!forced) return decideAfterHead(fineTune, headValAccuracy);
  const part = fineTune.mode === 'all' ? 'the whole backbone trains' : `the last ${fineTune.blocks === 1 ? 'block trains' : `${fineTune.blocks} blocks train`}`;
  const head = headValAccuracy === null ? 'The head has warmed up' : `The head reached ${(headValAccuracy * 100).toFixed(1)}% on validation`;
  return { fineTune, why: `${head}; ${part} with it (Advanced settings)` };
}

/**
 * The backend the fine-tuning replicas train on: the run's (the onnxruntime training compiler
 * handles depthwise convolutions, ReLU6, frozen batch norm and per-layer learning rates), except
 * plain JavaScript, where WebAssembly's kernels are far faster.
 */
export function fineTuneBackend(planned: BackendName): BackendName {
  return planned === 'cpu' ? 'wasm' : planned;
}

/**
 * Which cached copies of a training image the blocks train on: the image, its mirror image
 * (where the run flips) and shifted crops (mirrored every other one where it flips), `count` in all.
 */
export function variantIndices(count: number, flip: boolean): number[] {
  return flip ? Array.from({ length: count }, (_, k) => k) : Array.from({ length: count }, (_, k) => (k === 0 ? 0 : 2 * k));
}

export interface PreparedCut {
  pack: { file: string; rowBytes: number; rows: Map<string, number> };
  shape: number[];
  /** Rows of a split's images: the image's, its copies' (training) and its mirror image's (evaluation with flip averaging). */
  splitRows(items: { hash: string; label: number }[], train: boolean): SplitRows;
}

/** Caches the cut layer's output of the run's images (and of the training images' augmented copies), extracting what is missing. */
export async function prepareCut(
  project: Project,
  config: TrainConfig,
  items: { hash: string; ext: string; split?: string }[],
  options: { signal?: AbortSignal; onProgress?: (done: number, total: number, phase: string) => void } = {},
): Promise<PreparedCut> {
  const transfer = config.backbone!;
  const ft = fineTuning(transfer);
  if (!ft?.cutLayer) throw new LoupeError('INTERNAL', 'Caching a cut layer needs a fine-tuning cut.');
  const backbone = backboneOf(transfer);
  const flip = transfer.augment === 'flip';
  const copies = variantIndices(Math.max(1, ft.variants), flip);
  const phase = `Caching the input of the trained blocks (${backbone.title}, ${ft.cutLayer})`;
  options.onProgress?.(0, items.length, phase);
  const pack = await ensureFeatures(
    project,
    backbone,
    transfer.resolution,
    items.map((it) => ({
      hash: it.hash,
      ext: it.ext,
      // A training image's mirror image is one of its copies where the run flips (variant 1);
      // the others' where predictions average it.
      flip: it.split !== 'train' && transfer.flipAverage === true,
      copies: it.split === 'train' ? copies : [],
    })),
    { signal: options.signal, onProgress: (d, t) => options.onProgress?.(d, t, phase), cut: ft.cutLayer },
  );
  const shape = pack.shape!;
  return {
    pack,
    shape,
    splitRows(list, train) {
      const rows = Int32Array.from(list, (it) => pack.rows.get(it.hash) ?? -1);
      const labels = Int32Array.from(list, (it) => it.label);
      if (train) {
        const variantRows = new Int32Array(list.length * copies.length);
        list.forEach((it, i) => copies.forEach((k, j) => (variantRows[i * copies.length + j] = pack.rows.get(variantKey(it.hash, k)) ?? -1)));
        return { rows, labels, variantRows, variantCount: copies.length };
      }
      if (!transfer.flipAverage) return { rows, labels };
      return { rows, labels, flipRows: Int32Array.from(list, (it) => pack.rows.get(variantKey(it.hash, 1)) ?? -1) };
    },
  };
}

/** Names of the layers that hold a model's weights. */
function weightedLayers(files: { json: { weightsManifest: { weights: { name: string }[] }[] } }): string[] {
  const names = files.json.weightsManifest.flatMap((g) => g.weights).map((w) => w.name.slice(0, w.name.lastIndexOf('/')).split('/').pop()!);
  return [...new Set(names)];
}

/**
 * What the fine-tuning replicas train: the backbone after the cut ('blocks': its input the cut
 * layer's [H, W, C]) or all of it ('all': pixels), then the pooled features and the warmed-up
 * head (at `headDir`), with their real weights.
 */
export function trainableModel(transfer: TransferConfig, headDir: string, cutShape?: number[]): ReplicaModel {
  const ft = fineTuning(transfer)!;
  const backbone = backboneOf(transfer);
  const head = readTfjsFolder(headDir);
  const part =
    ft.mode === 'blocks'
      ? partAfter(readTfjsFolder(backbone.location), ft.cutLayer!, backbone.featureLayer!, cutShape!)
      : backboneFeatureFiles(backbone, transfer.resolution);
  const files = withHead(part, head);
  return {
    json: files.json,
    weights: files.weights,
    headLayers: weightedLayers(head),
    backboneLrScale: ft.backboneLrScale,
    frozenBatchNorm: ft.frozenBatchNorm,
  };
}

/** Floats of a replica model's weights (every one: the exchange slot holds gradients and batch-norm statistics). */
export function modelFloats(model: ReplicaModel): number {
  return model.weights.byteLength / 4;
}

/**
 * The run's model from what the fine-tuning replicas saved (at `trainedDir`): the backbone's
 * features model with the trained layers' weights put back, then the trained head, with flip
 * averaging where the config has it; written to `modelDir/model` like any transfer run's.
 */
export function saveFineTunedModel(modelDir: string, transfer: TransferConfig, trainedDir: string): void {
  const backbone = backboneOf(transfer);
  const trained = readTfjsFolder(trainedDir);
  const features = backboneFeatureFiles(backbone, transfer.resolution);
  const { files: tuned, replaced } = withWeightsFrom(features, trained);
  if (replaced === 0) throw new LoupeError('INTERNAL', 'The fine-tuned model holds none of the backbone\'s weights.');
  const head = partAfter(trained, outputLayerOf(features), outputLayerOf(trained), [transfer.features]);
  const combined = withHead(tuned, head);
  writeTfjsFolder(transfer.flipAverage ? withFlipAverage(combined, transfer.resolution) : combined, path.join(modelDir, 'model'));
  // The warm-up's head alone would describe the frozen backbone's features, not this model.
  fs.rmSync(path.join(modelDir, 'head'), { recursive: true, force: true });
}
