// Training reads pixels, not files: every image is decoded, oriented and resized once into a
// pack file per input shape (cache/pixels-<w>x<h>x<c>-<fit>/), one fixed-size row per image,
// found by content hash. Adding images appends rows; labels and splits are not in the pack,
// so relabeling never invalidates it. Training streams rows from the file, so memory stays
// bounded however large the images and the data set are.

import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { throwIfCancelled } from '../../jobs/jobs';
import { mediaRelPath } from '../../store/media';
import type { Project } from '../../store/project';
import { centreCrop, coverUpsize } from './upsize';

export type ResizeFit = 'cover' | 'fill';

export interface InputSpec {
  width: number;
  height: number;
  channels: 1 | 3;
  /** cover: scale to fill, then centre-crop (keeps aspect); fill: stretch. */
  fit: ResizeFit;
}

export interface PackImage {
  hash: string;
  ext: string;
}

export interface PixelPack {
  file: string;
  spec: InputSpec;
  rowBytes: number;
  /** Row of each image, by content hash. */
  rows: Map<string, number>;
  /** Images that could not be decoded now (e.g. a media file damaged on disk), with why. */
  failed: Map<string, string>;
}

const CONCURRENCY = 4;

export function packDir(project: Project, spec: InputSpec): string {
  return path.join(project.paths.cache, `pixels-${spec.width}x${spec.height}x${spec.channels}-${spec.fit}`);
}

/** The most pixels an image may have to be decoded for training or prediction (sharp's default). */
export const DECODE_PIXEL_LIMIT = 268_402_689;

/**
 * Decodes one image file to exactly `spec`'s raw pixels (HWC, uint8). Project images passed the
 * import's checks already; a file from outside (`strict`) is refused when truncated, as the
 * import refuses it, rather than read as far as it goes.
 */
export async function decodeToSpec(input: string | Buffer, spec: InputSpec, options: { strict?: boolean } = {}): Promise<Buffer> {
  const bytes = typeof input === 'string' ? await readImageFile(input) : input;
  const open = () => sharp(bytes, { failOn: options.strict ? 'truncated' : 'none', limitInputPixels: DECODE_PIXEL_LIMIT }).rotate();
  const sharpResize = async () =>
    checked(await open().resize(spec.width, spec.height, { fit: spec.fit, position: 'centre' }).removeAlpha().toColourspace(colourspace(spec.channels)).raw().toBuffer({ resolveWithObject: true }), spec);
  // Greyscale is converted after resizing, so it takes sharp's path whole.
  if (spec.fit === 'fill' || spec.channels === 1) return sharpResize();
  // Cover: sharp shrinks what is larger than the target (shrink-on-load, then lanczos3), exactly as
  // its own cover does, and leaves what is smaller at its own size, for upsize.ts to enlarge
  // (libvips' bicubic done separably, a fraction of libvips' cost). Then the same centre crop.
  const { data, info } = await open()
    .resize(spec.width, spec.height, { fit: 'outside', withoutEnlargement: true })
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  // An alpha channel: sharp resizes such images premultiplied, so they take its own path.
  if (info.channels !== spec.channels) return sharpResize();
  const pixels =
    info.width >= spec.width && info.height >= spec.height
      ? centreCrop(data, info.width, info.height, spec.channels, spec.width, spec.height)
      : coverUpsize(data, info.width, info.height, spec.channels, spec.width, spec.height);
  return checked({ data: pixels, info: { width: spec.width, height: spec.height, channels: spec.channels } }, spec);
}

/**
 * The file's bytes. Small files (most images a data set holds) are read synchronously: libvips
 * opening the file itself cost about 0.4 ms more per image, and an asynchronous read 0.2 to 0.4 ms
 * more (a thread-pool hop for each of open, stat, read and close), against 0.02 ms for the read.
 */
async function readImageFile(file: string): Promise<Buffer> {
  return fs.statSync(file).size <= SYNC_READ_BYTES ? fs.readFileSync(file) : fs.promises.readFile(file);
}

const SYNC_READ_BYTES = 1 << 20;

const colourspace = (channels: 1 | 3) => (channels === 1 ? 'b-w' : 'srgb');

function checked(result: { data: Buffer; info: { width: number; height: number; channels: number } }, spec: InputSpec): Buffer {
  const { data, info } = result;
  if (info.channels !== spec.channels || data.length !== spec.width * spec.height * spec.channels) {
    throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${spec.width}x${spec.height}x${spec.channels}`);
  }
  return data;
}

function loadIndex(dir: string, rowBytes: number): string[] {
  let hashes: string[];
  try {
    hashes = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as string[];
  } catch {
    return [];
  }
  // A crash between writing rows and the index leaves rows the index does not name (harmless,
  // overwritten next time) — or, if the pack was truncated, index entries without rows.
  let size: number;
  try {
    size = fs.statSync(path.join(dir, 'pack.u8')).size;
  } catch {
    return [];
  }
  return hashes.slice(0, Math.floor(size / rowBytes));
}

/**
 * Returns the pack for `spec`, first decoding the images it lacks. Progress counts the images
 * decoded now (already-packed ones are free).
 */
export function ensurePixelPack(
  project: Project,
  images: PackImage[],
  spec: InputSpec,
  options: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
): Promise<PixelPack> {
  // Two jobs (a run and a suggest job) may want the same pack at once: one at a time, so rows
  // are never numbered twice; the second then finds the first one's rows in the index.
  const dir = packDir(project, spec);
  const previous = packLocks.get(dir) ?? Promise.resolve();
  const mine = previous.catch(() => {}).then(() => fillPack(project, dir, images, spec, options));
  packLocks.set(dir, mine);
  void mine.catch(() => {}).finally(() => {
    if (packLocks.get(dir) === mine) packLocks.delete(dir);
  });
  return mine;
}

const packLocks = new Map<string, Promise<PixelPack>>();

async function fillPack(
  project: Project,
  dir: string,
  images: PackImage[],
  spec: InputSpec,
  options: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void },
): Promise<PixelPack> {
  fs.mkdirSync(dir, { recursive: true });
  const rowBytes = spec.width * spec.height * spec.channels;
  const hashes = loadIndex(dir, rowBytes);
  const rows = new Map(hashes.map((h, i) => [h, i]));
  const missing = [...new Map(images.filter((im) => !rows.has(im.hash)).map((im) => [im.hash, im])).values()];
  const file = path.join(dir, 'pack.u8');

  const failed = new Map<string, string>();
  if (missing.length > 0) {
    const fd = fs.openSync(file, fs.existsSync(file) ? 'r+' : 'w+');
    try {
      let done = 0;
      let cursor = 0;
      // An image that cannot be decoded is left out; a pack that cannot be written (a full
      // disk) stops everything, rather than quietly training on the images that fitted.
      let writeError: unknown = null;
      // Rows are numbered as decodes finish and written at once, so the index never has holes.
      const worker = async () => {
        while (cursor < missing.length && !options.signal?.aborted && writeError === null) {
          const image = missing[cursor++];
          let pixels: Buffer;
          try {
            pixels = await decodeToSpec(path.join(project.root, mediaRelPath(image.hash, image.ext)), spec);
          } catch (err) {
            failed.set(image.hash, (err as Error).message);
            options.onProgress?.(++done, missing.length);
            continue;
          }
          if (writeError !== null) return;
          try {
            const row = hashes.length;
            fs.writeSync(fd, pixels, 0, rowBytes, row * rowBytes);
            hashes.push(image.hash);
            rows.set(image.hash, row);
          } catch (err) {
            writeError = err;
            return;
          }
          options.onProgress?.(++done, missing.length);
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      if (writeError !== null) throw writeError;
    } finally {
      fs.closeSync(fd);
      // Keep whatever was decoded, even when cancelled.
      const tmp = path.join(dir, 'index.json.tmp');
      fs.writeFileSync(tmp, JSON.stringify(hashes));
      fs.renameSync(tmp, path.join(dir, 'index.json'));
    }
    if (options.signal) throwIfCancelled(options.signal);
  }
  return { file, spec, rowBytes, rows, failed };
}

/** Reads rows (in the given order) into one buffer: a batch of raw HWC pixels. */
export function readRows(fd: number, pack: Pick<PixelPack, 'rowBytes'>, rowNumbers: ArrayLike<number>, out?: Uint8Array): Uint8Array {
  const buffer = out ?? new Uint8Array(rowNumbers.length * pack.rowBytes);
  for (let i = 0; i < rowNumbers.length; i++) {
    fs.readSync(fd, buffer, i * pack.rowBytes, pack.rowBytes, rowNumbers[i] * pack.rowBytes);
  }
  return buffer;
}
