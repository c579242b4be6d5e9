// Many distinct PNGs, fast: encoded here (zlib) rather than through sharp, so a 5,000-image
// source folder takes a fraction of a second to write.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import { pngChunk } from '../../src/main/services/sample';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** An 8-bit RGB PNG of `size`x`size` whose pixels come from `seed` (noise when `noise`, else a flat tint plus the seed's bytes). */
export function png(seed: number, size = 8, noise = false): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const stride = size * 3 + 1;
  const raw = Buffer.alloc(stride * size);
  if (noise) {
    for (let block = 0; block * 32 < raw.length; block++) createHash('sha256').update(`${seed}:${block}`).digest().copy(raw, block * 32);
    for (let y = 0; y < size; y++) raw[y * stride] = 0; // filter byte: none
  } else {
    raw.fill(seed % 251, 1);
    for (let y = 0; y < size; y++) raw[y * stride] = 0;
    raw.writeUInt32BE(seed >>> 0, 1); // distinct content for every seed
  }
  return Buffer.concat([SIGNATURE, pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND', Buffer.alloc(0))]);
}

export const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/**
 * Writes `count` distinct PNGs as class folders (`<class>/<i>.png`, classes in turn) under
 * `dir`. Returns their hashes in order.
 */
export function writePngs(dir: string, count: number, options: { size?: number; classes?: string[]; noise?: boolean; seed?: number } = {}): string[] {
  const { size = 8, classes = ['a', 'b', 'c', 'd'], noise = false, seed = 0 } = options;
  for (const c of classes) fs.mkdirSync(path.join(dir, c), { recursive: true });
  const hashes: string[] = [];
  for (let i = 0; i < count; i++) {
    const bytes = png(seed + i, size, noise);
    fs.writeFileSync(path.join(dir, classes[i % classes.length], `${String(i).padStart(5, '0')}.png`), bytes);
    hashes.push(sha256(bytes));
  }
  return hashes;
}

/** Incompressible images (so they take real room on a small disk). */
export function noisePngs(dir: string, count: number, options: { size?: number; classes?: string[] } = {}): string[] {
  return writePngs(dir, count, { ...options, noise: true });
}
