// Feature extraction at native speed: the backbone, cut at its feature layer, is converted to
// ONNX by Loupe's own exporter and run through onnxruntime-node (every core, or a GPU where
// onnxruntime has one). Features are cached per project like decoded pixels
// (cache/features-<fingerprint>-<resolution>/: one float32 row per image and variant, found by
// content hash), so each image goes through the backbone once per backbone. A changed image is
// a new hash; a changed backbone is a new fingerprint, and the old one's cache is removed.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LoupeError } from '../../../shared/errors';
import { throwIfCancelled } from '../../jobs/jobs';
import { mediaRelPath } from '../../store/media';
import type { Project } from '../../store/project';
import { removeFolder } from '../../store/swap';
import { loupeVersion } from '../../version';
import { convertToOnnx } from '../onnx/convert';
import { parseLayersModel } from '../onnx/layers-model';
import { createSession, onnxruntime, type OrtSession } from '../onnx/runtime';
import { decodeToSpec } from '../pixels/pixel-pack';
import { seededRandom, subSeed } from '../rng';
import type { ResolvedBackbone } from './locate';
import { onnxFeatureGraph } from '../onnx/surgery';
import { featureModel, readTfjsFolder, type LayersFiles } from './tfjs-model';

export const FEATURES_OUTPUT = 'features';
export const BATCH = 32;
/**
 * Decodes in flight per chunk. onnxruntime runs a batch on the main thread and blocks it for
 * 100 ms or more, and a decode needs the main thread to start the next one: with 4 lanes only
 * 4 images per batch decoded beside it, and the backbone then waited 8% of the time for the rest.
 * With 16, sharp's queue (libuv's 4 threads) holds enough to decode through the whole batch
 * (the wait 0-1%; end to end 85% of onnxruntime alone against 78-82%, CIFAR-10 at 128 px). At most
 * DECODE_AHEAD x 16 files are read and held at once.
 */
const DECODE_LANES = 16;
/** Chunks of `batch` images decoded ahead of the backbone. */
const DECODE_AHEAD = 2;
const INDEX_SAVE_MS = 15_000;

/**
 * The backbone's features model at `resolution`, as TF.js files (what a transfer run's model starts
 * from); with `cut`, the backbone up to that layer, its spatial output unpooled (fine-tuning).
 */
export function backboneFeatureFiles(backbone: ResolvedBackbone, resolution: number, cut?: string): LayersFiles {
  if (backbone.format !== 'tfjs-layers') throw new LoupeError('NOT_SUPPORTED', `${backbone.title} is an ONNX model; only TensorFlow.js backbones make a TF.js features model.`);
  const { scale, offset } = backbone.preprocess;
  if (typeof scale !== 'number' || typeof offset !== 'number') throw new LoupeError('INVALID_INPUT', `${backbone.title}: a TensorFlow.js backbone's preprocessing is one scale and one offset, not one per channel.`);
  // A TF.js copy always names its layer (registry.ts refuses one that does not).
  return featureModel(readTfjsFolder(backbone.location), { featureLayer: cut ?? backbone.featureLayer!, resolution, channels: 3, preprocess: { scale, offset }, spatial: cut !== undefined });
}

const onnxCache = new Map<string, BackboneGraph>();

/**
 * A features graph; `batchable` false: it takes one image at a time; `singly`: it computes one at a
 * time (even where it takes a batch); `shape`: a cut layer's output [H, W, C] (fine-tuning).
 */
export type BackboneGraph = { bytes: Uint8Array; features: number; batchable: boolean; singly: boolean; shape?: number[] };

/**
 * The features graph: input `pixels` [N, res, res, 3] holding 0..255, output `features` [N, F]; with
 * `cut` (TF.js backbones), the cut layer's output [N, H, W, C] (F = H*W*C floats per image, `shape`).
 */
export async function backboneOnnx(backbone: ResolvedBackbone, resolution: number, cut?: string): Promise<BackboneGraph> {
  const key = `${backbone.fingerprint}:${resolution}${cut ? `:${cut}` : ''}`;
  const hit = onnxCache.get(key);
  if (hit) return hit;
  if (cut && backbone.format === 'onnx') throw new LoupeError('NOT_SUPPORTED', `${backbone.title} is an ONNX model: Loupe fine-tunes only TensorFlow.js backbones.`);
  const out = backbone.format === 'onnx' ? await onnxFeatureGraph(backbone.location, backbone.featureLayer || null, resolution, backbone.preprocess) : tfjsFeatureGraph(backbone, resolution, cut);
  if (onnxCache.size >= 2) onnxCache.delete(onnxCache.keys().next().value!);
  onnxCache.set(key, out);
  return out;
}

function tfjsFeatureGraph(backbone: ResolvedBackbone, resolution: number, cut?: string): BackboneGraph {
  const files = backboneFeatureFiles(backbone, resolution, cut);
  const converted = convertToOnnx(parseLayersModel(files.json, files.weights), {
    preprocess: { scale: 1 / 255, offset: 0 },
    outputName: FEATURES_OUTPUT,
    producerVersion: loupeVersion(),
    docString: `${backbone.title} (${backbone.copy}) features at ${resolution}x${resolution}.`,
  });
  if (cut) return { bytes: converted.bytes, features: converted.outputShape.reduce((a, b) => a * b, 1), shape: converted.outputShape, batchable: true, singly: false };
  if (converted.outputShape.length !== 1) throw new LoupeError('INVALID_INPUT', `${backbone.title}'s feature layer gives ${converted.outputShape.join('x')} values per image, not a vector.`);
  return { bytes: converted.bytes, features: converted.outputShape[0], batchable: true, singly: false };
}

/** One onnxruntime session of a backbone's features graph. */
export class FeatureExtractor {
  private constructor(
    private readonly ort: OrtSession,
    readonly resolution: number,
    readonly features: number,
    /** False: the graph takes one image at a time, so run() feeds it singly. */
    readonly batchable: boolean,
  ) {}

  get provider(): string {
    return this.ort.provider;
  }

  static async create(backbone: ResolvedBackbone, resolution: number, cut?: string): Promise<FeatureExtractor> {
    const { bytes, features, batchable } = await backboneOnnx(backbone, resolution, cut);
    const session = await createSession(bytes, { spinning: false }).catch((err: unknown) => {
      throw new LoupeError('INTERNAL', `onnxruntime cannot load ${backbone.title}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    });
    return new FeatureExtractor(session, resolution, features, batchable);
  }

  /** Features of `n` images of raw HWC pixels (0..255). */
  async run(pixels: Float32Array, n: number): Promise<Float32Array> {
    const ort = await onnxruntime();
    const r = this.resolution;
    if (this.batchable || n === 1) {
      const out = await this.ort.session.run({ pixels: new ort.Tensor('float32', pixels.subarray(0, n * r * r * 3), [n, r, r, 3]) });
      return out[FEATURES_OUTPUT].data as Float32Array;
    }
    const rows = new Float32Array(n * this.features);
    for (let i = 0; i < n; i++) rows.set(await this.run(pixels.subarray(i * r * r * 3, (i + 1) * r * r * 3), 1), i * this.features);
    return rows;
  }

  release(): Promise<void> {
    return this.ort.session.release();
  }
}

export interface FeatureImage {
  hash: string;
  ext: string;
  /** Also extract the features of the left-right flipped image (training augmentation). */
  flip?: boolean;
  /** Fine-tuning: the augmented copies to extract too (variantKey's k: 1 the mirror image, 2.. shifted crops). */
  copies?: number[];
}

export interface FeaturePack {
  dir: string;
  file: string;
  features: number;
  rowBytes: number;
  /** Row of each image by content hash, and of its flipped copy by `${hash}:flip`. */
  rows: Map<string, number>;
  failed: Map<string, string>;
  /** A cut cache's rows: the cut layer's [H, W, C]. */
  shape?: number[];
}

export const flipKey = (hash: string) => `${hash}:flip`;

/** The key of an image's augmented copy k: 0 the image, 1 its mirror image, 2.. shifted crops (odd ones mirrored). */
export const variantKey = (hash: string, k: number) => (k === 0 ? hash : k === 1 ? flipKey(hash) : `${hash}:v${k}`);

/**
 * Copy k >= 2 of an image: shifted by up to an eighth of its side each way (edge pixels repeat
 * into the gap), mirrored when k is odd. The shift is drawn from the image's hash and k, so a
 * copy is the same whenever and wherever it is extracted.
 */
function shiftedCopy(pixels: Buffer, size: number, hash: string, k: number): Buffer {
  const random = seededRandom(subSeed(parseInt(hash.slice(0, 8), 16) || 0, k));
  const reach = Math.max(1, Math.round(size / 8));
  const dx = Math.round((random() * 2 - 1) * reach);
  const dy = Math.round((random() * 2 - 1) * reach);
  const mirror = k % 2 === 1;
  const out = Buffer.allocUnsafe(pixels.length);
  const clamp = (v: number) => (v < 0 ? 0 : v >= size ? size - 1 : v);
  for (let y = 0; y < size; y++) {
    const sy = clamp(y + dy);
    for (let x = 0; x < size; x++) {
      const sx = clamp((mirror ? size - 1 - x : x) + dx);
      const s = (sy * size + sx) * 3;
      const d = (y * size + x) * 3;
      out[d] = pixels[s];
      out[d + 1] = pixels[s + 1];
      out[d + 2] = pixels[s + 2];
    }
  }
  return out;
}

interface Meta {
  name: string;
  copy: string;
  fingerprint: string;
  resolution: number;
  features: number;
  /** Backbone images per second measured by the last extraction (for the plan's estimate). */
  imagesPerSecond?: number;
  /** A fine-tuning cut's cache: the layer and its output shape. */
  cut?: string;
  shape?: number[];
}

/** The extraction rate last measured for this backbone and resolution in this project, if any. */
export function measuredRate(project: Project, backbone: ResolvedBackbone, resolution: number): number | null {
  try {
    const meta = JSON.parse(fs.readFileSync(path.join(featureDir(project, backbone, resolution), 'meta.json'), 'utf8')) as Meta;
    return meta.imagesPerSecond ?? null;
  } catch {
    return null;
  }
}

/** Images a calibration extracts (with their flipped copies where asked): four batches of 32 with flips. */
export const CALIBRATION_IMAGES = 64;
const calibrated = new Map<string, number>();

/**
 * Backbone images per second here, measured by extracting the first few of `images` through the
 * same pipeline a run uses (decodes beside the backbone, the flipped copy made from the decoded
 * pixels, rows written to a cache), counted as a run counts them (each image and, with `flip`, its
 * flipped copy), into a scratch folder so that planning leaves the project as it was: the plan's
 * estimate before a project has extracted anything. Measured once per backbone, resolution and
 * process. A figure from onnxruntime alone on decoded images said 735 images/s where a run did
 * 280; 8 images decoded one after another then run as one batch, 0.7x to 1.5x what a run did.
 */
export async function calibrateExtraction(project: Project, backbone: ResolvedBackbone, resolution: number, images: { hash: string; ext: string }[], options: { flip?: boolean } = {}): Promise<number | null> {
  const key = `${backbone.fingerprint}:${resolution}:${options.flip === true}`;
  const hit = calibrated.get(key);
  if (hit !== undefined) return hit;
  const sample = images.slice(0, CALIBRATION_IMAGES).map((im) => ({ hash: im.hash, ext: im.ext, flip: options.flip === true }));
  if (sample.length === 0) return null;
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-calibrate-extraction-'));
  try {
    const timings = newTimings();
    await fillFeatures(project, backbone, resolution, scratch, sample, { timings }, { scratch: true });
    if (timings.backboneImages === 0 || timings.total <= 0) return null;
    // The steady rate: without the wait for the first images' decodes, which nothing overlaps in
    // the first batch; a run of thousands of images waits so once.
    const rate = timings.backboneImages / ((timings.total - timings.firstWait) / 1000);
    calibrated.set(key, rate);
    return rate;
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

export function featureDir(project: Project, backbone: ResolvedBackbone, resolution: number, cut?: string): string {
  return path.join(project.paths.cache, `features-${backbone.fingerprint}-${resolution}${cut ? `-cut-${cut.replace(/[^\w.-]/g, '_')}` : ''}`);
}

/** Caches of the same backbone (same name and resolution) made from other files: no longer valid. */
function removeStale(project: Project, backbone: ResolvedBackbone, resolution: number, keep: string, cut?: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(project.paths.cache).filter((n) => n.startsWith('features-'));
  } catch {
    return;
  }
  for (const name of names) {
    const dir = path.join(project.paths.cache, name);
    if (dir === keep) continue;
    try {
      const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8')) as Meta;
      if (meta.name === backbone.name && meta.resolution === resolution && meta.fingerprint !== backbone.fingerprint && meta.cut === cut) removeFolder(dir);
    } catch {
      // Not ours to judge.
    }
  }
}

function loadIndex(dir: string, rowBytes: number): string[] {
  try {
    const keys = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as string[];
    const size = fs.statSync(path.join(dir, 'features.f32')).size;
    return keys.slice(0, Math.floor(size / rowBytes));
  } catch {
    return [];
  }
}

/** Writes `pixels` (HWC, uint8), mirrored left-right, into `out` at `offset` as floats. */
function flipInto(pixels: Buffer, size: number, out: Float32Array, offset: number): void {
  for (let y = 0; y < size; y++) {
    const row = y * size * 3;
    for (let x = 0; x < size; x++) {
      const s = row + x * 3;
      const d = offset + row + (size - 1 - x) * 3;
      out[d] = pixels[s];
      out[d + 1] = pixels[s + 1];
      out[d + 2] = pixels[s + 2];
    }
  }
}

const locks = new Map<string, Promise<unknown>>();

export interface FeatureOptions {
  signal?: AbortSignal;
  /** Images extracted now (already cached ones are free) out of those missing. */
  onProgress?: (done: number, total: number) => void;
  /** Tests: how many images go through the backbone at once. */
  batch?: number;
  /** Fine-tuning: cache this layer's spatial output instead of the pooled features (TF.js backbones). */
  cut?: string;
  /** Benches: where the time goes (added to). */
  timings?: ExtractTimings;
}

/**
 * Milliseconds by step of one extraction. `decode` is the sum over decodes, which run several at
 * once beside the backbone; `waitDecode` is the time the backbone waited for them.
 */
export interface ExtractTimings {
  decode: number;
  waitDecode: number;
  /** Of waitDecode, the wait for the first batch's decodes (nothing runs beside them yet). */
  firstWait: number;
  copy: number;
  run: number;
  write: number;
  total: number;
  images: number;
  backboneImages: number;
}

export function newTimings(): ExtractTimings {
  return { decode: 0, waitDecode: 0, firstWait: 0, copy: 0, run: 0, write: 0, total: 0, images: 0, backboneImages: 0 };
}

/** The feature rows of `images` (and of their flipped copies where asked), extracting the ones not cached. */
export function ensureFeatures(project: Project, backbone: ResolvedBackbone, resolution: number, images: FeatureImage[], options: FeatureOptions = {}): Promise<FeaturePack> {
  const dir = featureDir(project, backbone, resolution, options.cut);
  const mine = (locks.get(dir) ?? Promise.resolve()).catch(() => {}).then(() => fillFeatures(project, backbone, resolution, dir, images, options));
  locks.set(dir, mine);
  void mine.catch(() => {}).finally(() => {
    if (locks.get(dir) === mine) locks.delete(dir);
  });
  return mine;
}

async function fillFeatures(project: Project, backbone: ResolvedBackbone, resolution: number, dir: string, images: FeatureImage[], options: FeatureOptions, where: { scratch?: boolean } = {}): Promise<FeaturePack> {
  if (!where.scratch) removeStale(project, backbone, resolution, dir, options.cut);
  fs.mkdirSync(dir, { recursive: true });
  const readMeta = (): Meta | null => {
    try {
      return JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8')) as Meta;
    } catch {
      return null;
    }
  };
  let meta = readMeta();
  const file = path.join(dir, 'features.f32');
  const keys = meta ? loadIndex(dir, meta.features * 4) : [];
  const rows = new Map(keys.map((k, i) => [k, i]));
  // Per image, the copies still missing (0 the image, 1 its mirror image, 2.. shifted crops).
  const wanted = new Map<string, { image: FeatureImage; copies: Set<number> }>();
  for (const im of images) {
    const copies = [0, ...(im.flip ? [1] : []), ...(im.copies ?? [])].filter((k) => !rows.has(variantKey(im.hash, k)));
    if (copies.length === 0) continue;
    const w = wanted.get(im.hash) ?? { image: im, copies: new Set<number>() };
    for (const k of copies) w.copies.add(k);
    wanted.set(im.hash, w);
  }
  const failed = new Map<string, string>();
  const todo = [...wanted.values()];
  if (todo.length === 0 && meta) return { dir, file, features: meta.features, rowBytes: meta.features * 4, rows, failed, shape: meta.shape };

  const extractor = await FeatureExtractor.create(backbone, resolution, options.cut);
  const shape = options.cut ? (await backboneOnnx(backbone, resolution, options.cut)).shape : undefined;
  const features = extractor.features;
  const rowBytes = features * 4;
  if (meta && meta.features !== features) {
    // Same fingerprint, another width: never mix rows.
    keys.length = 0;
    rows.clear();
  }
  meta = { name: backbone.name, copy: backbone.copy, fingerprint: backbone.fingerprint, resolution, features, ...(options.cut ? { cut: options.cut, shape } : {}) };
  fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify(meta));
  const saveIndex = () => {
    const tmp = path.join(dir, 'index.json.tmp');
    fs.writeFileSync(tmp, JSON.stringify(keys));
    fs.renameSync(tmp, path.join(dir, 'index.json'));
  };
  const spec = { width: resolution, height: resolution, channels: 3 as const, fit: 'cover' as const };
  const imageFloats = resolution * resolution * 3;
  const batch = options.batch ?? BATCH;
  const timings = options.timings;
  const fd = fs.openSync(file, keys.length > 0 && fs.existsSync(file) ? 'r+' : 'w+');
  let done = 0;
  // Two warm-up runs, so the rate measured below is the steady one that a calibration's few
  // batches can predict: in a fresh session the first two runs of MobileNet v1 at 128 px took
  // 150-190 ms, the later ones 100-150.
  const warm = Math.min(batch, todo.length);
  if (warm > 0) {
    const zeros = new Float32Array(warm * imageFloats);
    for (let i = 0; i < 2; i++) await extractor.run(zeros, warm);
  }
  // Images (and flipped copies) through the backbone per second of wall time, decoding included.
  let backboneImages = 0;
  const started = performance.now();
  let lastSave = performance.now();
  try {
    // Decode the next chunk while the backbone runs on this one.
    const decodeChunk = async (start: number) => {
      const chunk = todo.slice(start, start + batch);
      const decoded: ({ key: string; pixels: Buffer; mirror: boolean }[] | null)[] = new Array(chunk.length).fill(null);
      let cursor = 0;
      const lane = async () => {
        while (cursor < chunk.length && !options.signal?.aborted) {
          const i = cursor++;
          const { image, copies } = chunk[i];
          try {
            const t0 = performance.now();
            const pixels = await decodeToSpec(path.join(project.root, mediaRelPath(image.hash, image.ext)), spec);
            if (timings) timings.decode += performance.now() - t0;
            // The mirror image is written from the decoded pixels straight into the backbone's input.
            decoded[i] = [...copies].map((k) => ({
              key: variantKey(image.hash, k),
              pixels: k <= 1 ? pixels : shiftedCopy(pixels, resolution, image.hash, k),
              mirror: k === 1,
            }));
          } catch (err) {
            failed.set(image.hash, (err as Error).message);
          }
        }
      };
      await Promise.all(Array.from({ length: DECODE_LANES }, lane));
      return { count: chunk.length, items: decoded.flatMap((d) => d ?? []) };
    };
    // Decodes run AHEAD chunks ahead of the backbone, so a slow decode (the cores are shared
    // with onnxruntime's threads) rarely leaves the backbone waiting.
    const ahead: ReturnType<typeof decodeChunk>[] = [];
    let queued = 0;
    const refill = () => {
      while (ahead.length < DECODE_AHEAD && queued < todo.length) {
        const chunk = decodeChunk(queued);
        void chunk.catch(() => {});
        ahead.push(chunk);
        queued += batch;
      }
    };
    refill();
    const input = new Float32Array(batch * imageFloats);
    while (ahead.length > 0) {
      let t0 = performance.now();
      const current: Awaited<ReturnType<typeof decodeChunk>> = await ahead.shift()!;
      if (timings) {
        timings.waitDecode += performance.now() - t0;
        if (done === 0) timings.firstWait += performance.now() - t0;
      }
      if (options.signal) throwIfCancelled(options.signal);
      refill();
      for (let from = 0; from < current.items.length; from += batch) {
        t0 = performance.now();
        const part = current.items.slice(from, from + batch);
        part.forEach((it, i) => {
          if (it.mirror) flipInto(it.pixels, resolution, input, i * imageFloats);
          else input.set(it.pixels, i * imageFloats);
        });
        let t1 = performance.now();
        if (timings) timings.copy += t1 - t0;
        const out = await extractor.run(input, part.length);
        backboneImages += part.length;
        t0 = performance.now();
        if (timings) timings.run += t0 - t1;
        part.forEach((it, i) => {
          const row = keys.length;
          fs.writeSync(fd, new Uint8Array(out.buffer, out.byteOffset + i * rowBytes, rowBytes), 0, rowBytes, row * rowBytes);
          keys.push(it.key);
          rows.set(it.key, row);
        });
        t1 = performance.now();
        if (timings) timings.write += t1 - t0;
      }
      done += current.count;
      options.onProgress?.(done, todo.length);
      if (performance.now() - lastSave > INDEX_SAVE_MS) {
        saveIndex();
        lastSave = performance.now();
      }
    }
  } finally {
    fs.closeSync(fd);
    saveIndex();
    await extractor.release();
    const seconds = (performance.now() - started) / 1000;
    if (timings) {
      timings.total += seconds * 1000;
      timings.images += done;
      timings.backboneImages += backboneImages;
    }
    if (backboneImages >= 64) fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ ...meta, imagesPerSecond: backboneImages / seconds }));
  }
  return { dir, file, features, rowBytes, rows, failed, shape };
}
