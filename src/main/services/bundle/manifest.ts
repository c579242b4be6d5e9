// What a training bundle and its outputs hold (manifest.json, outputs/outputs.json), and the file
// hashes both sides check.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { LoupeError } from '../../../shared/errors';
import type { PreprocessSpec, Split, TrainConfig, TrainPlan } from '../../../shared/types';

export const BUNDLE_FORMAT = 'loupe-training-bundle';
export const OUTPUTS_FORMAT = 'loupe-training-outputs';
export const MANIFEST_FILE = 'manifest.json';
export const OUTPUTS_DIR = 'outputs';
export const OUTPUTS_FILE = 'outputs.json';

export interface BundleSample {
  /** The WebDataset key: the image's content hash (sha256 of the original file, as in media/). */
  key: string;
  imageId: number;
  split: Split;
  /** Index into `classes`. */
  label: number;
}

export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  version: 1;
  createdAt: string;
  loupeVersion: string;
  project: { id: string; name: string };
  /** The run whose plan this is; null for the one-click plan of the data when the bundle was made. */
  run: { id: number | null };
  config: TrainConfig;
  /** The plan as Loupe made it (the run's, or the one-click one); the imported run keeps it. */
  plan: TrainPlan | null;
  preprocess: PreprocessSpec;
  classes: { index: number; id: number; name: string }[];
  splits: Record<Split, { images: number; shards: string[] }>;
  samples: BundleSample[];
  /** sha256 of every other file of the bundle, by path relative to it. */
  files: Record<string, string>;
}

export interface EpochRecordOut {
  epoch: number;
  trainLoss: number | null;
  trainAccuracy: number | null;
  valLoss: number | null;
  valAccuracy: number | null;
  learningRate: number | null;
  seconds: number;
  imagesPerSecond: number;
}

export interface BundleOutputs {
  format: typeof OUTPUTS_FORMAT;
  version: 1;
  bundle: { manifestSha256: string; projectId: string; runId: number | null };
  trainedOn: {
    host: string;
    platform: string;
    python: string;
    torch: string;
    cuda: string | null;
    device: 'cuda' | 'cpu';
    gpu: string | null;
    gpusPerNode: number;
    processes: number;
    nodes: number;
    distributed: string | null;
    mixedPrecision: string | null;
    cpuThreads: number;
  };
  config: TrainConfig;
  epochs: number;
  stoppedEarly: boolean;
  bestEpoch: number | null;
  keptEpoch: number;
  history: EpochRecordOut[];
  trainSeconds: number;
  wallSeconds: number;
  valAccuracy: number | null;
  testAccuracy: number | null;
  finishedAt: string;
  files: Record<string, string>;
}

export interface BundlePredictions {
  classes: string[];
  val: { keys: string[]; labels: number[]; probs: number[][] };
  test: { keys: string[]; labels: number[]; probs: number[][] };
}

export function sha256File(file: string): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) hash.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/** A path from a manifest, refused when it would leave `dir`. */
export function inBundle(dir: string, rel: string): string {
  const file = path.resolve(dir, rel);
  if (path.isAbsolute(rel) || (file !== dir && !file.startsWith(dir + path.sep))) {
    throw new LoupeError('INVALID_INPUT', `The bundle names a file outside itself (${rel}): refused.`);
  }
  return file;
}

/**
 * Checks every file against its recorded sha256; throws a message naming the first that
 * differs or is missing. `label` says whose record it is ("the bundle's manifest").
 */
export function verifyFiles(dir: string, files: Record<string, string>, label: string, onProgress?: (done: number, total: number) => void): void {
  const entries = Object.entries(files);
  entries.forEach(([rel, sha], i) => {
    const file = inBundle(dir, rel);
    if (!fs.existsSync(file)) throw new LoupeError('INVALID_INPUT', `${rel} is missing from ${dir}: it is listed in ${label}. Nothing was imported.`);
    if (sha256File(file) !== sha) {
      throw new LoupeError('INVALID_INPUT', `${rel} in ${dir} does not match ${label} (its sha256 differs): the file was changed after it was written. Nothing was imported.`);
    }
    onProgress?.(i + 1, entries.length);
  });
}
