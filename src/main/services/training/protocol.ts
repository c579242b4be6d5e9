// Messages between the main thread and the training replicas (worker threads). Replicas share
// two buffers: a control block (barrier, cancel) and a float exchange area where each replica
// writes its gradients (and, once per epoch, its batch-norm statistics and evaluation sums).

import type { BackendName, EpochMetrics, TrainConfig } from '../../../shared/types';
import type { TrainingOptions } from '../onnx/training-graph';

export interface SplitRows {
  /** Pack row of each image. */
  rows: Int32Array;
  labels: Int32Array;
  /** Features packs: the row of each image's flipped copy (-1: none), drawn half the time in training; in val and test, averaged with the image's. */
  flipRows?: Int32Array;
  /** Fine-tuning caches: `variantCount` rows per image (-1: none), one drawn at random each time the image trains. */
  variantRows?: Int32Array;
  variantCount?: number;
  /** Pixel packs (a whole backbone fine-tuned): predictions average each image with its mirror image, as the saved model does. */
  mirror?: boolean;
}

/** What a pack row holds: raw pixels (uint8 HWC) or a backbone's features (float32). */
export type ReplicaInput = { kind: 'pixels' } | { kind: 'features'; features: number } | { kind: 'cut'; shape: number[] };

/** A fine-tuning run's model, given as TF.js files instead of built from the architecture. */
export interface ReplicaModel {
  json: unknown;
  weights: Uint8Array;
  /** Layers trained at the head's learning rate; every other layer's rate is scaled by `backboneLrScale`. */
  headLayers: string[];
  backboneLrScale: number;
  /** Batch norm runs on its stored statistics while training (they stay as they are). */
  frozenBatchNorm: boolean;
}

export interface ReplicaInit {
  rank: number;
  replicas: number;
  backend: BackendName;
  config: TrainConfig;
  classes: number;
  pack: { file: string; rowBytes: number };
  /** Pixels when absent. */
  input?: ReplicaInput;
  /** Fine-tuning: the model to train (else a fresh model of config.arch). */
  model?: ReplicaModel;
  /** The onnxruntime engine's treatment of layers (fine-tuning: frozen batch norm, per-layer learning-rate scale); none when absent. */
  training?: TrainingOptions;
  train: SplitRows;
  val: SplitRows;
  test: SplitRows;
  /** Where rank 0 keeps the best checkpoint and writes the final model. */
  modelDir: string;
  /** With the config's time budget: when the whole run is to end (Date.now milliseconds). */
  deadline?: number;
  control: SharedArrayBuffer;
  exchange: SharedArrayBuffer;
  /** Floats per replica slot in `exchange`. */
  slotFloats: number;
}

// Control block (Int32Array indices).
export const CTL_COUNT = 0;
export const CTL_GENERATION = 1;
export const CTL_CANCEL = 2;
/** Set by the main thread when a replica failed: the others stop waiting at the barrier. */
export const CTL_ABORT = 3;
export const CONTROL_INTS = 4;

/** Extra floats per slot after the weights: loss sum, correct count, sample count, cancel vote. */
export const SLOT_EXTRA = 4;

export interface BatchMessage {
  type: 'batch';
  epoch: number;
  batch: number;
  batches: number;
  trainLoss: number;
  trainAccuracy: number;
  imagesPerSecond: number;
}

export type FromReplica =
  | { type: 'ready'; rank: number; device: string; backend: BackendName }
  | BatchMessage
  | { type: 'epoch'; metrics: EpochMetrics; improved: boolean }
  /** The time budget fitted the run's epochs to the speed measured. */
  | { type: 'epochs'; epochs: number; why: string }
  | { type: 'predictions'; rank: number; split: 'val' | 'test'; offset: number; probs: Float32Array }
  | {
      type: 'done';
      rank: number;
      epochs: number;
      bestEpoch: number | null;
      bestValAccuracy: number | null;
      /** The epoch whose weights were saved as the model: the best one with restoreBest, else the last one trained; null when cancelled. */
      keptEpoch: number | null;
      cancelled: boolean;
      trainSeconds: number;
      trainImages: number;
      numTensors: number;
    }
  | { type: 'error'; rank: number; code: string | null; message: string };
