// Generated, learnable image sets for training tests: each class is a stripe pattern (horizontal,
// vertical, diagonal, ...) with a random phase and noise, so a model must learn the pattern,
// not a colour or a single pixel.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { expect } from 'vitest';
import { ensureClasses } from '../../../src/main/services/classes';
import { runInfo } from '../../../src/main/services/evaluation/evaluate';
import { predictImages } from '../../../src/main/services/evaluation/run-predictions';
import { seededRandom } from '../../../src/main/services/rng';
import { Project } from '../../../src/main/store/project';

export const PATTERNS = ['horizontal', 'vertical', 'diagonal', 'checker'] as const;

export function patternPixels(kind: number, size: number, random: () => number): Buffer {
  const px = Buffer.alloc(size * size * 3);
  const phase = Math.floor(random() * 4);
  const tint = [random() * 80, random() * 80, random() * 80];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const on = [(y + phase) % 4 < 2, (x + phase) % 4 < 2, (x + y + phase) % 4 < 2, ((x >> 1) + (y >> 1) + phase) % 2 === 0][kind];
      for (let c = 0; c < 3; c++) px[(y * size + x) * 3 + c] = Math.min(255, (on ? 150 : 30) + tint[c] + random() * 40);
    }
  }
  return px;
}

export interface PatternProjectOptions {
  perClass: number;
  classes?: number;
  size?: number;
  seed?: number;
  /** Single-channel PNGs. */
  greyscale?: boolean;
}

/** A project of `classes` x `perClass` labeled PNGs (80/10/10 splits), rows inserted directly. */
export async function makePatternProject(dir: string, options: PatternProjectOptions): Promise<void> {
  const { perClass, classes = 3, size = 16, seed = 1, greyscale = false } = options;
  const random = seededRandom(seed);
  const project = Project.create(dir, path.basename(dir, '.loupe'));
  try {
    const rows: { hash: string; bytes: number; cls: number; i: number }[] = [];
    for (let cls = 0; cls < classes; cls++) {
      for (let i = 0; i < perClass; i++) {
        let image = sharp(patternPixels(cls, size, random), { raw: { width: size, height: size, channels: 3 } });
        if (greyscale) image = image.toColourspace('b-w');
        const buf = await image.png().toBuffer();
        const hash = createHash('sha256').update(buf).digest('hex');
        const file = path.join(dir, 'media', hash.slice(0, 2), `${hash}.png`);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, buf);
        rows.push({ hash, bytes: buf.length, cls, i });
      }
    }
    const db = project.db;
    const insert = db.prepare(
      `INSERT OR IGNORE INTO images (hash, ext, format, width, height, channels, bytes, original_name, split, added_at)
       VALUES (?, 'png', 'png', ?, ?, ?, ?, ?, ?, 0)`,
    );
    const label = db.prepare("INSERT INTO labels (image_id, class_id, source, updated_at) VALUES (?, ?, 'import', 0)");
    db.transaction(() => {
      const ids = ensureClasses(db, PATTERNS.slice(0, classes));
      for (const r of rows) {
        const split = (['train', 'train', 'train', 'train', 'train', 'train', 'train', 'train', 'val', 'test'] as const)[r.i % 10];
        const result = insert.run(r.hash, size, size, greyscale ? 1 : 3, r.bytes, `${PATTERNS[r.cls]}_${r.i}.png`, split);
        if (result.changes) label.run(Number(result.lastInsertRowid), ids.get(PATTERNS[r.cls])!);
      }
    })();
    project.checkpoint();
  } finally {
    project.close();
  }
}

/**
 * The test predictions a run stored (computed while training: from pixels, a cached cut layer, or
 * averaged with mirror images) against its saved model run on each image's pixels: the same model.
 */
export async function storedMatchSavedModel(project: Project, runId: number): Promise<void> {
  const stored = project.db
    .prepare(`SELECT p.image_id AS imageId, i.hash, i.ext, p.probs FROM predictions p JOIN images i ON i.id = p.image_id WHERE p.run_id = ? AND p.split = 'test' ORDER BY i.id`)
    .all(runId) as { imageId: number; hash: string; ext: string; probs: Buffer }[];
  expect(stored.length).toBeGreaterThan(0);
  const predicted = await predictImages(project, runInfo(project.db, runId), stored.map(({ imageId, hash, ext }) => ({ imageId, hash, ext })));
  expect(predicted.imageIds).toEqual(stored.map((r) => r.imageId));
  let worst = 0;
  stored.forEach((r, i) => {
    const p = new Float32Array(r.probs.buffer.slice(r.probs.byteOffset, r.probs.byteOffset + r.probs.byteLength));
    p.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - predicted.probs[i * p.length + k]))));
  });
  expect(worst).toBeLessThan(1e-3);
}
