// Generated images whose doctor findings are known, and a project imported from them.

import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { seededRandom } from '../../../src/main/services/rng';
import type { Project } from '../../../src/main/store/project';
import { importInto, newProject, put } from '../import/import-helpers';
import { tempDir } from '../../helpers';

/** A photo-like image: a colour gradient with a few sharp-edged rectangles, different for each seed. */
export function scene(seed: number, width = 64, height = 64): Buffer {
  const random = seededRandom(seed);
  const pixels = Buffer.alloc(width * height * 3);
  const base = [random() * 200, random() * 200, random() * 200];
  // Per pixel, scaled so that a larger image has the same gradient from corner to corner.
  const slope = [random() * 2 - 1, random() * 2 - 1, random() * 2 - 1].map((v) => (v * 64) / Math.max(width, height));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) pixels[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, base[c] + slope[c] * (x + y)));
    }
  }
  for (let r = 0; r < 6; r++) {
    const x0 = Math.floor(random() * width * 0.8);
    const y0 = Math.floor(random() * height * 0.8);
    const w = 4 + Math.floor(random() * width * 0.4);
    const h = 4 + Math.floor(random() * height * 0.4);
    const colour = [random() * 255, random() * 255, random() * 255];
    for (let y = y0; y < Math.min(height, y0 + h); y++) {
      for (let x = x0; x < Math.min(width, x0 + w); x++) for (let c = 0; c < 3; c++) pixels[(y * width + x) * 3 + c] = colour[c];
    }
  }
  return pixels;
}

/** A dark shape on a white background: bright on average, with its contrast. */
export function onWhite(): Buffer {
  const pixels = Buffer.alloc(64 * 64 * 3);
  for (let i = 0; i < 64 * 64; i++) pixels.set(i % 64 >= 16 && i % 64 < 48 && i >= 28 * 64 && i < 36 * 64 ? [40, 40, 120] : [250, 245, 235], i * 3);
  return pixels;
}

export const png = (pixels: Buffer, width = 64, height = 64) => sharp(pixels, { raw: { width, height, channels: 3 } }).png().toBuffer();
export const solid = (r: number, g: number, b: number, width = 64, height = 64) =>
  sharp({ create: { width, height, channels: 3, background: { r, g, b } } }).png().toBuffer();

/**
 * A project whose problems are known: 27 distinct scenes (train: cat 16, dog 8; test: rare 3) and
 *  - blurred.png: a blurred copy of scene 3 (train);
 *  - black.png (too dark, one colour), red.png (one colour), bright.png (too bright: washed out),
 *    on-white.png (a dark subject on white: bright, not washed out), wide.png (4:1 among squares),
 *    grey.png (greyscale among colour), all in train;
 *  - mirror.png in test: scene 5 (train) mirrored, a leak;
 *  - rare: a class of 3 images against cat's 19 (16 scenes, blurred, grey and mirror).
 */
export async function knownProblems(): Promise<{ project: Project }> {
  const project = newProject('doctor.loupe');
  await importInto(project, [await knownProblemsFolder()]);
  return { project };
}

/** The folder knownProblems() imports (train/ and test/ of class folders). */
export async function knownProblemsFolder(): Promise<string> {
  const dir = tempDir('loupe-doctor-src-');
  for (let i = 0; i < 16; i++) put(dir, `train/cat/scene${i}.png`, await png(scene(i + 1)));
  for (let i = 16; i < 24; i++) put(dir, `train/dog/scene${i}.png`, await png(scene(i + 1)));
  for (let i = 24; i < 27; i++) put(dir, `test/rare/scene${i}.png`, await png(scene(i + 1)));
  put(dir, 'train/cat/blurred.png', await sharp(await png(scene(4))).blur(3).png().toBuffer());
  put(dir, 'train/dog/black.png', await solid(0, 0, 0));
  put(dir, 'train/dog/red.png', await solid(200, 40, 40));
  put(dir, 'train/dog/bright.png', await sharp(await png(scene(103))).linear(0.35, 200).png().toBuffer());
  put(dir, 'train/dog/on-white.png', await png(onWhite()));
  put(dir, 'train/dog/wide.png', await png(scene(101, 192, 48), 192, 48));
  put(dir, 'train/cat/grey.png', await sharp(await png(scene(102))).greyscale().png().toBuffer());
  put(dir, 'test/cat/mirror.png', await sharp(await png(scene(6))).flop().png().toBuffer());
  return dir;
}

/**
 * A features cache written the way an extraction leaves it (cache/features-<name>-<resolution>/:
 * meta.json, index.json of content hashes, one float32 row each), holding the given vectors.
 */
export function writeFeatureCache(project: Project, vectors: Map<string, number[]>, name = 'handmade'): void {
  const dir = path.join(project.paths.cache, `features-${name}-32`);
  fs.mkdirSync(dir, { recursive: true });
  const keys = [...vectors.keys()];
  const dim = vectors.get(keys[0])!.length;
  fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ name, resolution: 32, features: dim }));
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify(keys));
  fs.writeFileSync(path.join(dir, 'features.f32'), Buffer.from(Float32Array.from(keys.flatMap((k) => vectors.get(k)!)).buffer));
}

/**
 * A point of `dim` near centre number `centre` (each centre a seeded point with coordinates up to
 * ±3, so that every dimension tells centres apart, as backbone features do), with seeded noise
 * of 0.3 a dimension.
 */
export function around(centre: number, random: () => number, dim = 16, spread = 0.3): number[] {
  const at = seededRandom(1000 + centre);
  return Array.from({ length: dim }, () => (at() * 2 - 1) * 3 + (random() * 2 - 1) * spread * Math.sqrt(3));
}

/**
 * Features for knownProblems() with a known shape: cat's scenes 0-7 (and the blurred copy of
 * scene 3, the mirror image of scene 5) around one point, its scenes 8-15 and grey.png around
 * another (a class in two); dog's images around a third, and rare's near dog's; on-white.png
 * (a dog) far from every class: an outlier.
 */
export function knownShapeFeatures(project: Project): void {
  const random = seededRandom(7);
  const rows = project.db
    .prepare(`SELECT i.hash, i.original_name AS name, c.name AS label FROM images i JOIN labels l ON l.image_id = i.id JOIN classes c ON c.id = l.class_id`)
    .all() as { hash: string; name: string; label: string }[];
  const vectors = new Map<string, number[]>();
  for (const r of rows) {
    const n = /^scene(\d+)\.png$/.exec(r.name)?.[1];
    const axis =
      r.name === 'on-white.png' ? 9
      : r.label === 'cat' ? (r.name === 'blurred.png' || r.name === 'mirror.png' || (n !== undefined && Number(n) < 8) ? 0 : r.name === 'grey.png' || n !== undefined ? 1 : 0)
      : 2;
    vectors.set(r.hash, around(axis, random));
  }
  writeFeatureCache(project, vectors);
}
