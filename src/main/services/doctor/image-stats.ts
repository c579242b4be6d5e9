// What the data doctor reads from an image's pixels, decoded once: a perceptual hash of it and of
// its mirror image (for near-duplicates), and the few figures the quality checks judge (exposure,
// contrast, sharpness, colour). Everything here is a pure function of the decoded pixels, so the
// figures can be stored per image and an unchanged image is never decoded again.

import sharp from 'sharp';
import { DECODE_PIXEL_LIMIT } from '../pixels/pixel-pack';

/** Images are read at most this many pixels a side: enough for sharpness, cheap to decode. */
export const STATS_SIDE = 512;
/** The perceptual hash is of a HASH_SIDE x HASH_SIDE greyscale copy's lowest 8 x 8 frequencies. */
export const HASH_SIDE = 32;

export interface ImageStats {
  /** 64-bit DCT hash as 16 hex digits, of the image and of its left-right mirror image. */
  phash: string;
  phashMirror: string;
  /** Mean and standard deviation of the luma (0..255). */
  mean: number;
  std: number;
  /** Variance of the 4-neighbour Laplacian of the luma, divided by the luma's variance: sharpness whatever the contrast. */
  sharpness: number;
  /** Mean over pixels of the largest difference between two channels (0 for a greyscale image). */
  colour: number;
}

/** Decodes an image file (EXIF orientation applied) to RGB no larger than STATS_SIDE a side, and reads its figures. */
export async function readImageStats(file: string): Promise<ImageStats> {
  const { data, info } = await sharp(file, { failOn: 'none', limitInputPixels: DECODE_PIXEL_LIMIT })
    .rotate()
    .resize(STATS_SIDE, STATS_SIDE, { fit: 'inside', withoutEnlargement: true })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  return pixelStats(data, info.width, info.height, info.channels);
}

/** The figures of RGB(A) pixels, `channels` bytes per pixel, row-major. */
export function pixelStats(pixels: Uint8Array, width: number, height: number, channels: number): ImageStats {
  const n = width * height;
  const luma = new Float32Array(n);
  let sum = 0;
  let colour = 0;
  for (let i = 0, p = 0; i < n; i++, p += channels) {
    const r = pixels[p];
    const g = channels >= 3 ? pixels[p + 1] : r;
    const b = channels >= 3 ? pixels[p + 2] : r;
    const y = 0.299 * r + 0.587 * g + 0.114 * b;
    luma[i] = y;
    sum += y;
    colour += Math.max(Math.abs(r - g), Math.abs(g - b), Math.abs(r - b));
  }
  const mean = sum / n;
  let variance = 0;
  for (let i = 0; i < n; i++) variance += (luma[i] - mean) ** 2;
  variance /= n;
  const hashes = perceptualHashes(luma, width, height);
  return { ...hashes, mean, std: Math.sqrt(variance), sharpness: variance > 0 ? laplacianVariance(luma, width, height) / variance : 0, colour: colour / n };
}

/** Variance of the 4-neighbour Laplacian over the inner pixels (0 for an image under 3 px a side). */
function laplacianVariance(luma: Float32Array, width: number, height: number): number {
  let sum = 0;
  let squares = 0;
  let count = 0;
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1; x < width - 1; x++) {
      const i = y * width + x;
      const l = luma[i - 1] + luma[i + 1] + luma[i - width] + luma[i + width] - 4 * luma[i];
      sum += l;
      squares += l * l;
      count += 1;
    }
  }
  return count > 0 ? squares / count - (sum / count) ** 2 : 0;
}

/** `luma` averaged into a side x side grid (each cell the mean of the pixels it covers; small images repeat pixels). */
export function shrinkTo(luma: Float32Array, width: number, height: number, side: number): Float32Array {
  const out = new Float32Array(side * side);
  for (let cy = 0; cy < side; cy++) {
    const y0 = Math.floor((cy * height) / side);
    const y1 = Math.max(y0 + 1, Math.floor(((cy + 1) * height) / side));
    for (let cx = 0; cx < side; cx++) {
      const x0 = Math.floor((cx * width) / side);
      const x1 = Math.max(x0 + 1, Math.floor(((cx + 1) * width) / side));
      let s = 0;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) s += luma[y * width + x];
      out[cy * side + cx] = s / ((y1 - y0) * (x1 - x0));
    }
  }
  return out;
}

const FREQUENCIES = 8;
// cos((2x + 1) u pi / 2N) for the lowest frequencies u of an N-point DCT-II.
const COSINES = (() => {
  const table = new Float64Array(FREQUENCIES * HASH_SIDE);
  for (let u = 0; u < FREQUENCIES; u++) for (let x = 0; x < HASH_SIDE; x++) table[u * HASH_SIDE + x] = Math.cos(((2 * x + 1) * u * Math.PI) / (2 * HASH_SIDE));
  return table;
})();

/** The 8 x 8 lowest DCT frequencies of a HASH_SIDE x HASH_SIDE grid, row-major (u down, v across). */
function lowFrequencies(grid: Float32Array, mirror: boolean): Float64Array {
  const N = HASH_SIDE;
  const rows = new Float64Array(N * FREQUENCIES);
  for (let y = 0; y < N; y++) {
    for (let v = 0; v < FREQUENCIES; v++) {
      let s = 0;
      for (let x = 0; x < N; x++) s += grid[y * N + (mirror ? N - 1 - x : x)] * COSINES[v * N + x];
      rows[y * FREQUENCIES + v] = s;
    }
  }
  const out = new Float64Array(FREQUENCIES * FREQUENCIES);
  for (let u = 0; u < FREQUENCIES; u++) {
    for (let v = 0; v < FREQUENCIES; v++) {
      let s = 0;
      for (let y = 0; y < N; y++) s += rows[y * FREQUENCIES + v] * COSINES[u * N + y];
      out[u * FREQUENCIES + v] = s;
    }
  }
  return out;
}

/** One bit per frequency: above the median of the 63 that are not the mean (the DC term's bit is 0). */
function hashOf(freq: Float64Array): string {
  const ac = [...freq.subarray(1)].sort((a, b) => a - b);
  const median = (ac[31] + ac[32]) / 2;
  let hex = '';
  for (let nibble = 0; nibble < 16; nibble++) {
    let d = 0;
    for (let b = 0; b < 4; b++) {
      const i = nibble * 4 + b;
      d = (d << 1) | (i > 0 && freq[i] > median ? 1 : 0);
    }
    hex += d.toString(16);
  }
  return hex;
}

/** DCT perceptual hashes of a luma image and of its left-right mirror image. */
export function perceptualHashes(luma: Float32Array, width: number, height: number): { phash: string; phashMirror: string } {
  const grid = shrinkTo(luma, width, height, HASH_SIDE);
  return { phash: hashOf(lowFrequencies(grid, false)), phashMirror: hashOf(lowFrequencies(grid, true)) };
}

/** Bits set in a 32-bit integer. */
export function popcount(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** A 64-bit hex hash as two 32-bit halves, for fast Hamming distances. */
export function hashWords(hex: string): [number, number] {
  return [parseInt(hex.slice(0, 8), 16) | 0, parseInt(hex.slice(8, 16), 16) | 0];
}

/** Bits that differ between hashes stored as pairs of 32-bit words in `words` at items i and j. */
export function hamming(words: Int32Array, i: number, j: number, other: Int32Array = words): number {
  return popcount(words[2 * i] ^ other[2 * j]) + popcount(words[2 * i + 1] ^ other[2 * j + 1]);
}
