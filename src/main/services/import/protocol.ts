// Messages between the import pipeline (main thread) and its workers.

import type { ImageFormat } from '../pixels/formats';
import type { ImageLimits } from './limits';

export interface WorkerConfig {
  root: string;
  limits: ImageLimits;
  syncEachFile: boolean;
  /** From knownHashesBuffer(). */
  known: SharedArrayBuffer;
  /** Files a worker works on at once (reads and decodes overlap on libuv's thread pool). */
  depth: number;
}

export interface FileTask {
  /** Position in the pipeline's work list. */
  i: number;
  file: string;
  /** The file's bytes when it was made in memory (the sample); else it is read from `file`. */
  bytes?: Uint8Array;
}

export interface DecodedImage {
  format: ImageFormat;
  width: number;
  height: number;
  channels: number;
  bytes: number;
}

export type FileOutcome =
  | ({ ok: true; hash: string; duplicate: false } & DecodedImage)
  | { ok: true; hash: string; duplicate: true }
  | { ok: false; reason: string };

export type FileResult = FileOutcome & { i: number };

export type ToWorker = { type: 'tasks'; tasks: FileTask[] };

export type FromWorker =
  | { type: 'results'; results: FileResult[] }
  /** The worker cannot go on (e.g. the project's disk is full): the import stops. */
  | { type: 'fatal'; error: { code: string | null; message: string } };
